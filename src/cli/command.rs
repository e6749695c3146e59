//! The subcommands, with the options of the operator's commands (`status`, `set-state`,
//! `force-bootstrap`, `resync`, `switchover`, `pause`, `resume`, `can-restart`,
//! `remove-member`).

use std::time::Duration;

use clap::Subcommand;

use super::{parse_duration, CheckerCommand, GaleraOpts, HaproxyCommand, MysqlOpts};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Container entrypoint: prepare the datadir, decide, run and supervise mariadbd
    Galera(GaleraOpts),
    /// Liveness/readiness probes (exec) and their HTTP server
    Checker {
        #[command(subcommand)]
        probe: CheckerCommand,
    },
    /// Run haproxy and keep its config following the etcd leader
    Haproxy(HaproxyCommand),
    /// The cluster as etcd and the nodes see it
    Status {
        /// One JSON document instead of a table
        #[arg(long)]
        json: bool,
        /// The members' SQL port, where `status` asks each node for its live wsrep state
        /// (as the monitor user, GALERA_MONITOR_USER / GALERA_MONITOR_PASSWORD)
        #[arg(long, env = "GALERA_SQL_PORT", default_value_t = 33306)]
        sql_port: u16,
        /// Bound of each node's live query (they run concurrently)
        #[arg(long, env = "GALERA_SQL_TIMEOUT", value_parser = parse_duration, default_value = "1s")]
        sql_timeout: Duration,
        /// Show only the etcd view; do not ask the nodes
        #[arg(long)]
        no_live: bool,
        #[command(flatten)]
        mysql: MysqlOpts,
    },
    /// Set the cluster state (BUILDING, STEADY or RECOVERY)
    SetState {
        /// The new state, case-insensitive
        state: String,
        /// Allow RECOVERY while nodes are registered
        #[arg(long)]
        force: bool,
    },
    /// One-shot: in the current or next recovery, NAME bootstraps. Bound to NAME's reported
    /// position (ignored if it moves) and expiring; prints the known positions and the loss.
    ForceBootstrap {
        /// The node that bootstraps
        name: String,
        /// How long the request stands (e.g. 30m, 1h)
        #[arg(long, env = "GALERA_EXPIRES", value_parser = parse_duration, default_value = "1h")]
        expires: Duration,
        /// Allow a fresh (empty), unknown or foreign datadir to start the cluster: the other
        /// nodes' data is then refused, never overwritten, and the cluster starts from NAME's
        #[arg(long)]
        accept_data_loss: bool,
    },
    /// One-shot: a refused node moves its diverged datadir aside on its volume (kept, the
    /// default) or deletes it (--discard), and rejoins by SST. Bound to the position it was
    /// refused with, expiring; exit 1 and nothing written when NAME is not refused. The kept
    /// copy and what it held show in `status`; docs/operations.md §6 says how to delete it
    Resync {
        /// The refused node
        name: String,
        /// How long the request stands (e.g. 30m, 1h)
        #[arg(long, env = "GALERA_EXPIRES", value_parser = parse_duration, default_value = "1h")]
        expires: Duration,
        /// Keep the datadir: move it to <kept dir>/<uuid>_<seqno>_<UTC time> on the same
        /// volume (the default). The node refuses, changing nothing, when the kept dir is on
        /// another filesystem or the volume lacks room for the SST beside the copy
        #[arg(long, conflicts_with = "discard")]
        keep: bool,
        /// Delete the datadir instead of keeping it (its diverged data is then lost for good)
        #[arg(long)]
        discard: bool,
    },
    /// Move leadership to NAME (or the first eligible node in name order) with the graceful
    /// move haproxy makes on every leader change; waits until it is done, refused or timed out
    Switchover {
        /// The node that becomes leader (Synced, Primary, not a donor, on the cluster's uuid)
        #[arg(long)]
        to: Option<String>,
        /// How long to wait for the move (1s to 10m); the request is withdrawn after it
        #[arg(long, value_parser = parse_duration, default_value = "30s")]
        timeout: Duration,
        /// Move the leader although a maintenance pause is on
        #[arg(long)]
        during_pause: bool,
    },
    /// Pause the automatic cluster decisions (recovery election, bootstrap, heal, the leader
    /// giving up leadership) for DURATION; mariadbd keeps running, probes keep telling the truth
    Pause {
        /// How long the pause lasts (1s to 7d); it ends by itself
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Duration,
        /// Why (shown by `status` and in the entrypoints' logs)
        #[arg(long)]
        reason: String,
        /// Who pauses [default: $USER@hostname]
        #[arg(long)]
        by: Option<String>,
    },
    /// End a maintenance pause now
    Resume,
    /// Would restarting NAME now rejoin by IST, keep quorum and leave a leader? Exit 0 yes,
    /// 1 no, 2 bad input; one sentence saying why
    CanRestart {
        /// The node to restart
        name: String,
    },
    /// Forget a member after a scale-down, so recovery stops waiting for it
    RemoveMember {
        /// The member to forget
        name: String,
        /// Remove it even though it is registered (running) right now
        #[arg(long)]
        force: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    #[test]
    fn resync_keep_and_discard_conflict() {
        let parse =
            |a: &[&str]| Cli::try_parse_from([&["galera-sidecar", "resync", "g-1"], a].concat());
        let ok = |a: &[&str]| match parse(a).map(|c| c.command) {
            Ok(Command::Resync { keep, discard, .. }) => Some((keep, discard)),
            _ => None,
        };
        assert_eq!(ok(&[]), Some((false, false)), "keeping is the default");
        assert_eq!(ok(&["--keep"]), Some((true, false)));
        assert_eq!(ok(&["--discard"]), Some((false, true)));
        let e = parse(&["--keep", "--discard"])
            .err()
            .map(|e| (e.exit_code(), e.to_string()));
        assert!(
            e.as_ref()
                .is_some_and(|(c, t)| *c == 2 && t.contains("--discard")),
            "{e:?}"
        );
    }
}
