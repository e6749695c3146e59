//! The liveness rules: [`liveness`] restarts only what a restart can fix (consecutive
//! connection failures, a Joined node without progress), with the [`Memory`] one probe leaves
//! to the next.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{fmt_age, MysqldKey, Observation, PhaseView, Probe, Rule, Verdict};
use crate::mysql::WsrepStatus;
use crate::state_file::Phase;

/// What liveness remembers between probes (persisted in the state dir; docs/design.md §9, a previous sample never updated: it is
/// rewritten by every probe).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    pub mysqld: MysqldKey,
    /// Consecutive probes in phase `running` that could not connect (refused or timed out).
    pub failures: u32,
    /// The last wsrep progress sample.
    pub sample: Option<Sample>,
}

/// A progress sample: the Joined rule fires when these stay unchanged long enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub local_state_comment: String,
    pub last_committed: Option<i64>,
    pub local_recv_queue: Option<i64>,
    /// Unix time these values were first seen (progress resets it).
    pub since: i64,
}

/// The liveness thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    pub liveness_failures: u32,
    pub stuck_join_timeout: Duration,
}

fn is_joined(w: &WsrepStatus) -> bool {
    w.local_state() == Some(3) || w.local_state_comment() == "Joined"
}

/// Liveness and the memory the next probe needs (always to be written back).
///
/// In order: a phase other than `running` (or no state file) → alive; SST in progress →
/// alive; the server answered with an error (too many connections, access denied) → alive;
/// refused/timed out for `--liveness-failures` consecutive probes → dead; Joined without
/// progress for `--stuck-join-timeout` → dead; anything else the server answers → alive
/// (a uuid mismatch included: a restart cannot repair split brain).
pub fn liveness(o: &Observation, prev: &Memory, cfg: &LivenessConfig) -> (Verdict, Memory) {
    let l = Probe::Liveness;
    // Memory of another mariadbd run is worthless.
    let prev = if prev.mysqld == o.mysqld {
        prev.clone()
    } else {
        Memory {
            mysqld: o.mysqld.clone(),
            ..Memory::default()
        }
    };
    let reset = Memory {
        mysqld: o.mysqld.clone(),
        failures: 0,
        sample: None,
    };
    match &o.phase {
        PhaseView::Missing(why) => {
            return (
                Verdict::new(
                    l,
                    true,
                    Rule::NoStateFile,
                    format!("{why}: the entrypoint has not started mariadbd"),
                ),
                reset,
            )
        }
        PhaseView::Known(p) if *p != Phase::Running => {
            return (
                Verdict::new(
                    l,
                    true,
                    Rule::NotRunning,
                    format!("phase={p}: the entrypoint bounds this phase itself"),
                ),
                reset,
            )
        }
        PhaseView::Known(_) => {}
    }
    if o.sst_in_progress {
        return (
            Verdict::new(
                l,
                true,
                Rule::SstInProgress,
                "sst_in_progress exists: a state transfer is running",
            ),
            reset,
        );
    }
    let w = match &o.wsrep {
        Ok(w) => w,
        Err(e) if e.server_answered() => {
            return (
                Verdict::new(
                    l,
                    true,
                    Rule::ServerAnswered,
                    format!("the server answered: {e} (not ready, but a restart would not help)"),
                ),
                Memory {
                    failures: 0,
                    ..prev
                },
            )
        }
        Err(e) => {
            let failures = prev.failures.saturating_add(1);
            let n = cfg.liveness_failures.max(1);
            let gone = match (o.mysqld_exists, o.mysqld.pid) {
                (Some(false), Some(pid)) => format!("; mariadbd pid {pid} does not exist"),
                _ => String::new(),
            };
            let mem = Memory { failures, ..prev };
            let v = if failures >= n {
                Verdict::new(
                    l,
                    false,
                    Rule::ConnectFailures,
                    format!("{e}: {failures} consecutive failures (limit --liveness-failures {n}){gone}"),
                )
            } else {
                Verdict::new(
                    l,
                    true,
                    Rule::ConnectFailures,
                    format!("{e}: failure {failures} of {n} before a restart{gone}"),
                )
            };
            return (v, mem);
        }
    };
    // The server answered: sample its progress (every probe rewrites the sample).
    let lsc = w.local_state_comment().to_string();
    let lc = w.last_committed();
    let rq = w.local_recv_queue();
    let since = match &prev.sample {
        Some(s)
            if s.local_state_comment == lsc
                && s.last_committed == lc
                && s.local_recv_queue == rq =>
        {
            s.since
        }
        _ => o.now,
    };
    let mem = Memory {
        mysqld: o.mysqld.clone(),
        failures: 0,
        sample: Some(Sample {
            local_state_comment: lsc.clone(),
            last_committed: lc,
            local_recv_queue: rq,
            since,
        }),
    };
    let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
    if is_joined(w) {
        let stuck = Duration::from_secs(o.now.saturating_sub(since).max(0) as u64);
        if stuck >= cfg.stuck_join_timeout {
            return (
                Verdict::new(
                    l,
                    false,
                    Rule::StuckJoin,
                    format!(
                        "wsrep_local_state_comment=Joined without progress for {} \
                         (wsrep_last_committed={} and wsrep_local_recv_queue={} unchanged; \
                         limit --stuck-join-timeout {})",
                        fmt_age(stuck),
                        show(lc),
                        show(rq),
                        fmt_age(cfg.stuck_join_timeout)
                    ),
                ),
                mem,
            );
        }
        return (
            Verdict::new(
                l,
                true,
                Rule::StuckJoin,
                format!(
                    "wsrep_local_state_comment=Joined, catching up (wsrep_last_committed={}, \
                     wsrep_local_recv_queue={}, no progress for {})",
                    show(lc),
                    show(rq),
                    fmt_age(stuck)
                ),
            ),
            mem,
        );
    }
    let lsc = if lsc.is_empty() { "(none)".into() } else { lsc };
    let mismatch = match &o.etcd.uuid {
        Some(u) if !u.eq_ignore_ascii_case(w.cluster_state_uuid()) => format!(
            "; uuid {} != P/uuid {u}: not ready, but a restart would not fix it",
            w.cluster_state_uuid()
        ),
        _ => String::new(),
    };
    (
        Verdict::new(
            l,
            true,
            Rule::Alive,
            format!(
                "the server answers (wsrep_local_state_comment={lsc}){mismatch}{}",
                o.etcd.note()
            ),
        ),
        mem,
    )
}
