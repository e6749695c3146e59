//! The readiness rules: [`readiness`] (phase, Synced, evs, connected, ready, uuid, Primary —
//! in that order) and the grace through a Galera membership change for a prober that
//! remembers its last `ready` answer ([`readiness_with_grace`], [`ReadyMemory`]).

use std::time::Duration;

use super::{MysqldKey, Observation, PhaseView, Probe, Rule, Verdict};
use crate::mysql::WsrepStatus;
use crate::state_file::Phase;

/// Readiness: phase `running`, Synced, evs OPERATIONAL, connected, ready, uuid = `P/uuid`,
/// Primary — in that order. With no state file the phase is not checked (the entrypoint is
/// not there to tell), and with no known `P/uuid` the uuid is not checked: an etcd without
/// data must not take every node out of service.
pub fn readiness(o: &Observation) -> Verdict {
    let r = Probe::Readiness;
    let note = o.etcd.note();
    let no_file = match &o.phase {
        PhaseView::Known(Phase::Running) => None,
        PhaseView::Known(p) => {
            return Verdict::new(r, false, Rule::Phase, format!("phase={p} (want running)"))
        }
        PhaseView::Missing(why) => Some(why.as_str()),
    };
    let w = match &o.wsrep {
        Ok(w) => w,
        Err(e) => return Verdict::new(r, false, Rule::MysqlError, format!("{e}{note}")),
    };
    let lsc = w.local_state_comment();
    if lsc != "Synced" {
        let lsc = if lsc.is_empty() { "(none)" } else { lsc };
        return Verdict::new(
            r,
            false,
            Rule::LocalState,
            format!("wsrep_local_state_comment={lsc} (want Synced)"),
        );
    }
    let evs = w.evs_state();
    if evs != "OPERATIONAL" {
        return Verdict::new(
            r,
            false,
            Rule::EvsState,
            format!("wsrep_evs_state={evs} (want OPERATIONAL)"),
        );
    }
    if !w.connected() {
        return Verdict::new(
            r,
            false,
            Rule::Connected,
            format!(
                "wsrep_connected={} (want ON)",
                w.get("connected").unwrap_or("")
            ),
        );
    }
    if !w.ready() {
        return Verdict::new(
            r,
            false,
            Rule::WsrepReady,
            format!("wsrep_ready={} (want ON)", w.get("ready").unwrap_or("")),
        );
    }
    let local_uuid = w.cluster_state_uuid();
    let uuid_part = match &o.etcd.uuid {
        Some(u) if !u.eq_ignore_ascii_case(local_uuid) => {
            return Verdict::new(
                r,
                false,
                Rule::Uuid,
                format!(
                    "wsrep_cluster_state_uuid={local_uuid} but P/uuid={u} \
                     (split brain or a replaced cluster: see `status`; a restart will not fix it){note}"
                ),
            )
        }
        Some(_) => "uuid = P/uuid".to_string(),
        None => "P/uuid unknown, not compared".to_string(),
    };
    let cs = w.cluster_status();
    if cs != "Primary" {
        return Verdict::new(
            r,
            false,
            Rule::ClusterStatus,
            format!("wsrep_cluster_status={cs} (want Primary)"),
        );
    }
    let file = match no_file {
        Some(why) => format!(", phase not checked: {why}"),
        None => String::new(),
    };
    Verdict::new(
        r,
        true,
        Rule::Ready,
        format!(
            "Synced, Primary, {uuid_part}, cluster size {}{file}{note}",
            w.cluster_size()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into())
        ),
    )
}

/// How long after its last `ready` answer a node stays `ready` through a Galera membership
/// change (docs/probes.md, "Membership changes"): long enough for the survivors of a crash to
/// install their new view (measured about 1 s) without haproxy marking every one of them down
/// at once, short enough that a node really cut off is `not ready` at most this long after it
/// was last seen ready.
pub const MEMBERSHIP_GRACE: Duration = Duration::from_secs(3);

/// The state a node in a non-Primary component reports (`wsrep_local_state` 0).
const NON_PRIMARY_LOCAL_STATE: &str = "Initialized";

/// Is this failed readiness verdict what a membership change shows on a healthy node? The
/// group layer between views (`wsrep_evs_state` GATHER, INSTALL…), `wsrep_ready=OFF`,
/// non-Primary, and the `Initialized` local state a non-Primary component reports. Not: the
/// phase, a failed status query, a donor, a joiner or a Joined node catching up (state
/// transfers, not membership), `wsrep_connected=OFF` (not in the group at all), a uuid that
/// differs from `P/uuid`.
fn membership_change(v: &Verdict, w: Option<&WsrepStatus>) -> bool {
    match v.rule {
        Rule::EvsState | Rule::WsrepReady | Rule::ClusterStatus => true,
        Rule::LocalState => w.is_some_and(|w| w.local_state_comment() == NON_PRIMARY_LOCAL_STATE),
        _ => false,
    }
}

/// Readiness for a prober that remembers its last `ready` answer (`checker serve`, haproxy's
/// check). `since_ready` is how long before this observation the same mariadbd run (pid and
/// start time) was last `ready` — `None` when never, or another run. A failure that a
/// membership change explains ([`membership_change`]) is answered `ready`, rule
/// `membership-change`, naming the failure, while `since_ready` is at most `grace`; after that,
/// and for every other failure, it is [`readiness`]'s verdict. So a node that stays non-Primary
/// (or between views) is `not ready` at most `grace` after it was last `ready`.
pub fn readiness_with_grace(
    o: &Observation,
    since_ready: Option<Duration>,
    grace: Duration,
) -> Verdict {
    let v = readiness(o);
    if v.ok || !membership_change(&v, o.wsrep.as_ref().ok()) {
        return v;
    }
    match since_ready {
        Some(since) if since <= grace => Verdict::new(
            Probe::Readiness,
            true,
            Rule::MembershipChange,
            format!(
                "membership change: {} — ready {:.1}s ago, tolerated for {} after that",
                v.reason,
                since.as_secs_f64(),
                humantime::format_duration(grace)
            ),
        ),
        _ => v,
    }
}

/// What readiness remembers between observations (`checker serve`, in memory): when, on a
/// monotonic clock, and for which mariadbd run it last answered `ready` (rule `ready`; a
/// `membership-change` answer does not extend the grace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadyMemory {
    last: Option<(MysqldKey, Duration)>,
}

impl ReadyMemory {
    /// Decide on `o`, observed at `at` (any monotonic clock, the same for every call), with
    /// [`readiness_with_grace`], and remember a `ready` answer.
    pub fn decide(&mut self, o: &Observation, at: Duration, grace: Duration) -> Verdict {
        let since = self
            .last
            .as_ref()
            .filter(|(k, _)| *k == o.mysqld)
            .map(|(_, t)| at.saturating_sub(*t));
        let v = readiness_with_grace(o, since, grace);
        if v.rule == Rule::Ready {
            self.last = Some((o.mysqld.clone(), at));
        }
        v
    }
}
