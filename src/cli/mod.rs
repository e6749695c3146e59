//! The command line: every command of docs/design.md §1, every option with its `GALERA_*` environment
//! variable, parsed by clap (derive) and validated into typed values.
//!
//! Parsing errors and invalid values exit with code 2 and one line naming the option and the
//! problem (clap does this for syntax; [`ConfigError`] does it for the checks clap cannot make).
//!
//! - `global`: the options every command takes (etcd, cluster and node names, log format);
//! - `command`: the subcommands, with the operator commands' own options;
//! - `galera`, `checker`, `haproxy`, `mysql`: each component's options and their checks;
//! - `parse_error`: the one line printed for an error clap found;
//! - `host`: checks against this host (programs on `PATH`, listen addresses).

use std::time::Duration;

use clap::Parser;

mod checker;
mod command;
mod galera;
mod global;
mod haproxy;
mod host;
mod mysql;
mod parse_error;

pub use checker::{CheckerCommand, CheckerOpts};
pub use command::Command;
pub use galera::{validate_datadir, GaleraOpts};
pub use global::{validate_cluster_name, validate_global, GlobalOpts, LogFormat};
pub use haproxy::{HaproxyCommand, HaproxyOpts, HaproxySub, HealthCheck};
pub use host::{find_program, listen_fix, validate_program};
pub use mysql::{validate_extra_port, MysqlOpts};
pub use parse_error::parse_error_line;

/// A configuration problem: exit code 2, one line naming the option and the problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {option}: {problem}")]
pub struct ConfigError {
    pub option: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(option: &'static str, problem: impl Into<String>) -> Self {
        Self {
            option,
            problem: problem.into(),
        }
    }
}

/// Parse a duration such as `2s`, `500ms`, `10m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); use e.g. 2s, 500ms, 10m"))
}

#[derive(Debug, Parser)]
#[command(
    name = "galera-sidecar",
    version,
    about = "Self-assembling, self-healing MariaDB Galera on Kubernetes, coordinated through etcd",
    long_about = "galera-sidecar is the entrypoint of a MariaDB Galera container (`galera`), its \
                  liveness/readiness probes (`checker`), the haproxy sidecar that routes all SQL \
                  to one healthy leader (`haproxy`), and the operator's tools (`status`, \
                  `set-state`, `force-bootstrap`, `resync`, `remove-member`). All coordination \
                  goes through etcd under /galera/<cluster-name>/."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

pub use crate::names::validate_node_name;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
    }
}
