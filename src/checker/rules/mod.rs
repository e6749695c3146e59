//! The readiness and liveness verdicts of docs/design.md §4 as pure functions of an [`Observation`]
//! (state file, wsrep status, etcd view and its age) and, for liveness, the [`Memory`] the
//! previous probe left behind (consecutive connection failures, the last Joined sample).
//!
//! Rules are checked in a fixed order and the first that decides names itself in the one-line
//! reason. Liveness restarts only what a restart can fix: when in doubt, it says alive.
//!
//! The parts: the probe, the rule names and the [`Verdict`] here; the inputs in
//! `observation.rs`; the readiness rules in `readiness.rs`; the liveness rules and their memory
//! in `liveness.rs`.

mod liveness;
mod observation;
mod readiness;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use liveness::{liveness, LivenessConfig, Memory, Sample};
pub use observation::{EtcdViewObs, MysqldKey, Observation, PhaseView, ViewSource};
pub use readiness::{readiness, readiness_with_grace, ReadyMemory, MEMBERSHIP_GRACE};

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    Readiness,
    Liveness,
}

impl Probe {
    pub fn as_str(&self) -> &'static str {
        match self {
            Probe::Readiness => "readiness",
            Probe::Liveness => "liveness",
        }
    }
}

/// The rule that decided a verdict (stable names: they appear in metrics and docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    // readiness
    Phase,
    MysqlError,
    LocalState,
    EvsState,
    Connected,
    WsrepReady,
    Uuid,
    ClusterStatus,
    Ready,
    MembershipChange,
    // liveness
    NotRunning,
    NoStateFile,
    SstInProgress,
    ServerAnswered,
    ConnectFailures,
    StuckJoin,
    Alive,
}

impl Rule {
    pub fn as_str(&self) -> &'static str {
        match self {
            Rule::Phase => "phase",
            Rule::MysqlError => "mysql-error",
            Rule::LocalState => "local-state",
            Rule::EvsState => "evs-state",
            Rule::Connected => "connected",
            Rule::WsrepReady => "wsrep-ready",
            Rule::Uuid => "uuid",
            Rule::ClusterStatus => "cluster-status",
            Rule::Ready => "ready",
            Rule::MembershipChange => "membership-change",
            Rule::NotRunning => "not-running",
            Rule::NoStateFile => "no-state-file",
            Rule::SstInProgress => "sst-in-progress",
            Rule::ServerAnswered => "server-answered",
            Rule::ConnectFailures => "connect-failures",
            Rule::StuckJoin => "stuck-join",
            Rule::Alive => "alive",
        }
    }
}

/// A probe's answer: pass or fail, the deciding rule, and one line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub probe: Probe,
    pub ok: bool,
    pub rule: Rule,
    pub reason: String,
}

impl Verdict {
    fn new(probe: Probe, ok: bool, rule: Rule, reason: impl Into<String>) -> Self {
        Verdict {
            probe,
            ok,
            rule,
            reason: reason.into(),
        }
    }

    /// `ready`, `not ready`, `alive` or `dead`.
    pub fn word(&self) -> &'static str {
        match (self.probe, self.ok) {
            (Probe::Readiness, true) => "ready",
            (Probe::Readiness, false) => "not ready",
            (Probe::Liveness, true) => "alive",
            (Probe::Liveness, false) => "dead",
        }
    }

    /// The process exit code of the exec probe.
    pub fn exit_code(&self) -> u8 {
        if self.ok {
            0
        } else {
            1
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.word(), self.reason)
    }
}

/// `95s`, `12m 3s`: ages in reasons.
pub fn fmt_age(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
