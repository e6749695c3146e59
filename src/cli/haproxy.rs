//! The `haproxy` sidecar's options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::parse_duration;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HaproxyCommand {
    #[command(subcommand)]
    pub sub: Option<HaproxySub>,
    #[command(flatten)]
    pub opts: HaproxyOpts,
}

#[derive(Debug, Subcommand)]
pub enum HaproxySub {
    /// Exec probe: a leader is known and haproxy routes to it
    Readiness(HaproxyOpts),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthCheck {
    /// HTTP GET /readiness against each node's `checker serve`
    Httpchk,
    /// haproxy's mysql-check (needs a password-less 'haproxy'@'%' user; passes on donors)
    MysqlCheck,
}

#[derive(Debug, Clone, Args)]
pub struct HaproxyOpts {
    /// haproxy's SQL listen address
    #[arg(long, env = "GALERA_LISTEN", default_value = "0.0.0.0:3306")]
    pub listen: SocketAddr,
    /// The nodes' SQL port
    #[arg(long, env = "GALERA_BACKEND_PORT", default_value_t = 33306)]
    pub backend_port: u16,
    /// Health check of the backend
    #[arg(
        long,
        env = "GALERA_HEALTH_CHECK",
        value_enum,
        default_value = "httpchk"
    )]
    pub health_check: HealthCheck,
    /// Each node's `checker serve` port
    #[arg(long, env = "GALERA_CHECK_PORT", default_value_t = 8080)]
    pub check_port: u16,
    /// The rendered haproxy config
    #[arg(
        long,
        env = "GALERA_HAPROXY_CONFIG",
        default_value = "/etc/haproxy/haproxy.cfg"
    )]
    pub haproxy_config: PathBuf,
    /// A template to render instead of the built-in one
    #[arg(long, env = "GALERA_TEMPLATE")]
    pub template: Option<PathBuf>,
    /// The haproxy binary
    #[arg(long, env = "GALERA_HAPROXY_BIN", default_value = "haproxy")]
    pub haproxy_bin: PathBuf,
    /// Directory for haproxy's sockets and the last good config
    #[arg(
        long,
        env = "GALERA_HAPROXY_RUN_DIR",
        default_value = "/run/galera-haproxy"
    )]
    pub run_dir: PathBuf,
    /// haproxy stats/admin listen address (none when empty)
    #[arg(long, env = "GALERA_STATS_LISTEN")]
    pub stats_listen: Option<SocketAddr>,
    /// A second, read-only client port (none when empty): connections are balanced
    /// (leastconn) over the members other than the leader that pass their health check, the
    /// leader taking them only when none does. Reads there may lag the leader's commits unless
    /// the session sets wsrep_sync_wait (docs/leader.md, "The read port")
    #[arg(long, env = "GALERA_READ_LISTEN")]
    pub read_listen: Option<SocketAddr>,
    /// haproxy's `hard-stop-after`: an old worker left by a reload is killed after this long
    #[arg(long, env = "GALERA_HARD_STOP_AFTER", value_parser = parse_duration, default_value = "30s")]
    pub hard_stop_after: Duration,
    /// On SIGTERM, how long haproxy may finish its sessions (soft stop) before a hard stop
    #[arg(long, env = "GALERA_STOP_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub stop_timeout: Duration,
}
