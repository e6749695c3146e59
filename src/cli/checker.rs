//! The `checker` probes' options, and their checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{parse_duration, ConfigError, MysqlOpts};

#[derive(Debug, Subcommand)]
pub enum CheckerCommand {
    /// Exec probe: exit 0 = ready, 1 = not ready; one-line reason on stdout
    Readiness(CheckerOpts),
    /// Exec probe: exit 0 = alive, 1 = must be restarted; one-line reason on stdout
    Liveness(CheckerOpts),
    /// HTTP server: GET /readiness, /liveness (200/503, reason in body), /metrics
    Serve {
        /// Listen address
        #[arg(long, env = "GALERA_CHECKER_LISTEN", default_value = "0.0.0.0:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        opts: CheckerOpts,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CheckerOpts {
    /// Directory of the entrypoint's state file
    #[arg(long, env = "GALERA_STATE_DIR", default_value = "/run/galera-sidecar")]
    pub state_dir: PathBuf,
    /// The datadir (sst_in_progress, pid file) [default: the datadir of --defaults-file, else
    /// /var/lib/mysql]
    #[arg(long, env = "GALERA_DATADIR")]
    pub datadir: Option<PathBuf>,
    /// Time budget of one probe; every SQL call gets less than this
    #[arg(long, env = "GALERA_TIMEOUT", value_parser = parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// A Joined node without progress for this long is dead
    #[arg(long, env = "GALERA_STUCK_JOIN_TIMEOUT", value_parser = parse_duration, default_value = "10m")]
    pub stuck_join_timeout: Duration,
    /// Consecutive refused/timed-out connections (phase running) before liveness fails
    #[arg(long, env = "GALERA_LIVENESS_FAILURES", default_value_t = 3)]
    pub liveness_failures: u32,
    /// The state file's etcd view older than this is stale: read etcd instead
    #[arg(long, env = "GALERA_STATE_MAX_AGE", value_parser = parse_duration, default_value = "30s")]
    pub state_max_age: Duration,
    #[command(flatten)]
    pub mysql: MysqlOpts,
}

impl CheckerOpts {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new("--timeout", "must be more than 0"));
        }
        if self.liveness_failures == 0 {
            return Err(ConfigError::new(
                "--liveness-failures",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
