//! The running loop's decision (pure, table-tested): one [`Observation`] — the local status,
//! the etcd snapshot, what this loop remembers — in, one [`Plan`] out: the steps to take in
//! order, and a sentence saying what was decided and why. The executor (`act.rs`) does the
//! steps; every rule it applies lives in `rules.rs`, `handover.rs`, `non_primary.rs`,
//! `read_only.rs` and `upgrade.rs`, composed here.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::etcd::snapshot::{CensusEntry, ClusterSnapshot, Fork, StateValue};
use crate::etcd::store::Registration;
use crate::galera::handover::{handover, Handover};
use crate::galera::heal::HEAL_IN_PLACE;
use crate::galera::non_primary::{
    non_primary_plan, non_primary_under_pause, NonPrimaryPlan, PortProbe,
};
use crate::galera::rules::{
    eligibility, forks_due, leader_action, mark_due, moot_force, preferred_successor,
    recovery_mark_due, should_register, steady_due, LeaderAction, CAMPAIGN_DEFER,
};
use crate::galera::upgrade;
use crate::mysql::WsrepStatus;

/// How long a running node stays non-Primary, with no Primary Component anywhere, before the
/// sidecar acts (heal in place, or leave for the recovery; see `non_primary::non_primary_plan`;
/// a heal beside members confirmed down waits `CONFIRMED_DOWN_GRACE` only).
pub const NON_PRIMARY_GRACE: Duration = Duration::from_secs(30);

/// Consecutive failed status queries after which a registered node deregisters.
pub const SILENT_SAMPLES_DEREGISTER: u32 = 3;

/// Everything one pass decides on. Built by the loop (`mod.rs`) from I/O; no I/O here.
#[derive(Debug, Clone)]
pub struct Observation {
    pub me: String,
    pub address: String,
    pub lease: i64,
    pub cluster_size: usize,
    /// Unix seconds.
    pub now: i64,
    /// `SHOW STATUS LIKE 'wsrep%'` this pass (None: the query failed).
    pub status: Option<WsrepStatus>,
    /// Consecutive failed status queries, this one included.
    pub sql_failures: u32,
    /// The etcd snapshot: this pass's, or the last one read when `etcd_ok` is false.
    pub snap: Option<ClusterSnapshot>,
    /// The snapshot was read (or confirmed current) this pass: etcd writes may be decided.
    pub etcd_ok: bool,
    /// This node's census entry now, and whether it is due to be written.
    pub census: CensusEntry,
    pub census_due: bool,
    /// Since when the loop has seen no leader key, and the address the key last held.
    pub vacant_for: Duration,
    pub last_leader: Option<String>,
    /// The forced recoveries the datadir's history went through (its forks file).
    pub forks: Vec<Fork>,
    /// The recovery record the datadir is marked as having joined.
    pub recovery_mark: Option<String>,
    /// Synced for the first time since mariadbd started (init.ok is due).
    pub first_synced: bool,
    /// Non-Primary since this long (zero while Primary); in a Primary Component at least once.
    pub non_primary_for: Duration,
    pub ever_primary: bool,
    /// The Galera ports of gone members, probed (only while non-Primary past the grace).
    pub probes: BTreeMap<String, PortProbe>,
    /// What woke this pass (said with a campaign).
    pub woken_by: String,
    /// mariadbd's version, the datadir's recorded one, and this loop's `mariadb-upgrade` runs.
    pub upgrade: upgrade::Facts,
}

pub use super::step::Step;

/// What one pass does, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Whether this node leads after the pass, when the pass settles it (`None`: unchanged,
    /// unless a campaign or a take-over in the steps wins).
    pub leader: Option<bool>,
    /// What was decided and why, in one sentence (logged when it changes, and as a heartbeat).
    pub sentence: String,
    /// The sentence's shape, its numbers blanked: what "changed" is judged on, so that a count
    /// of seconds or failures growing every pass does not make every pass a new line.
    pub key: String,
}

/// Decide one pass of the running loop (pure).
pub fn decide(o: &Observation) -> Plan {
    let mut steps = vec![];
    let mut leader = None;
    let status = o.status.as_ref();
    if o.first_synced {
        steps.push(Step::WriteInitOk);
    }
    if let (Some(s), Some(snap), true) = (status, &o.snap, o.etcd_ok) {
        if let Some(step) = non_primary_step(o, s, snap) {
            if let Step::Leave(_) = step {
                return plan(vec![step], None, o);
            }
            steps.push(step);
        }
    }
    if let (Some(snap), true) = (&o.snap, o.etcd_ok) {
        etcd_steps(o, snap, &mut steps, &mut leader);
    }
    if let (Some(s), Some(snap)) = (status, &o.snap) {
        if let Some(id) = recovery_mark_due(s, snap, o.recovery_mark.as_deref()) {
            steps.push(Step::WriteRecoveryMark(id));
        }
        let missing = forks_due(s, snap, &o.me, &o.forks);
        if !missing.is_empty() {
            steps.push(Step::AddForks(missing));
        }
    }
    let synced = status.is_some_and(|s| s.is_synced() && s.is_primary());
    if let Some(why) = upgrade::run_due(synced, &o.upgrade, o.now) {
        steps.push(Step::Upgrade(why));
    }
    plan(steps, leader, o)
}

/// From `CONFIRMED_DOWN_GRACE` non-Primary on: stay (said), heal in place, or leave.
fn non_primary_step(o: &Observation, s: &WsrepStatus, snap: &ClusterSnapshot) -> Option<Step> {
    let paused = crate::pause::active(snap, o.now).map(crate::pause::sentence_until);
    let p = non_primary_plan(
        &o.me,
        s,
        o.ever_primary,
        snap,
        o.cluster_size,
        &o.probes,
        o.non_primary_for,
        NON_PRIMARY_GRACE,
    )?;
    Some(match non_primary_under_pause(p, paused.as_deref()) {
        NonPrimaryPlan::Leave(why) => Step::Leave(why),
        NonPrimaryPlan::HealInPlace(why) => Step::HealInPlace(why),
        NonPrimaryPlan::Stay(why) => Step::Note(format!(
            "staying non-Primary, mariadbd keeps running: {why}"
        )),
    })
}

/// Registration, the records, STEADY, the switchover, leadership and the mark.
fn etcd_steps(
    o: &Observation,
    snap: &ClusterSnapshot,
    steps: &mut Vec<Step>,
    leader: &mut Option<bool>,
) {
    let me = o.me.as_str();
    let status = o.status.as_ref();
    let ours = snap.nodes.get(me).is_some_and(|n| n.lease == o.lease);
    match status {
        Some(s) if should_register(s) => {
            let mut r = Registration::needed(snap, me, &o.address, o.lease);
            if r.registers() {
                // The census goes in the same transaction: a registered node's history is
                // always published with it.
                r.census = o.census_due.then(|| o.census.clone());
                steps.push(Step::Register(r));
            }
        }
        Some(s) if ours => steps.push(Step::Deregister(format!(
            "{} / {}",
            s.local_state_comment(),
            s.cluster_status()
        ))),
        None if ours && o.sql_failures >= SILENT_SAMPLES_DEREGISTER => {
            steps.push(Step::Deregister("local server not answering".into()))
        }
        _ => {}
    }
    if o.census_due && !matches!(steps.last(), Some(Step::Register(_))) {
        steps.push(Step::PublishCensus(o.census.clone()));
    }
    if let Some(s) = status.filter(|s| s.is_synced() && s.is_primary()) {
        if snap.uuid.is_none() && !s.cluster_state_uuid().is_empty() {
            steps.push(Step::RestoreUuid(s.cluster_state_uuid().to_string()));
        }
    }
    let healed = snap
        .bootstrap
        .as_ref()
        .is_some_and(|b| b.node == me && b.reason == HEAL_IN_PLACE);
    if healed && snap.nodes.contains_key(me) {
        steps.push(Step::ClearHealRecord);
    }
    if let Some(m) = status.and_then(|s| moot_force(s, snap, me)) {
        steps.push(Step::DropMootForce(m));
    }
    if let Some(why) = steady_due(snap, me, o.cluster_size) {
        let expected = match &snap.state {
            Some(StateValue::Known(s)) => Some(s.as_str().to_string()),
            _ => None,
        };
        steps.push(Step::SetSteady { expected, why });
    }
    // Leadership.
    let mine = snap
        .leader
        .as_ref()
        .is_some_and(|l| l.lease == o.lease && l.address == o.address);
    let elig = eligibility(status, o.sql_failures, snap.uuid.as_deref());
    match handover(snap, me, &o.address, &elig, o.now) {
        Handover::Nothing => {}
        Handover::Take(why) => steps.push(Step::TakeOver(why)),
        Handover::Refuse(why) => steps.push(Step::RefuseSwitchover(why)),
    }
    match leader_action(snap, mine, &elig) {
        LeaderAction::Campaign if o.vacant_for < CAMPAIGN_DEFER => {
            match preferred_successor(snap, me, o.last_leader.as_deref()) {
                Some(first) => steps.push(Step::Note(format!(
                    "not campaigning yet: {first} is the first registered member (haproxy's \
                     first backup); campaigning if it has not won within {CAMPAIGN_DEFER:?}"
                ))),
                None => steps.push(Step::Campaign),
            }
        }
        LeaderAction::Campaign => steps.push(Step::Campaign),
        LeaderAction::Resign(why) => match crate::pause::active(snap, o.now) {
            // Paused: the leader stays (haproxy's health checks still route around a sick
            // one to its backup servers); a SIGTERM still hands over.
            Some(p) => {
                steps.push(Step::Note(format!(
                    "not giving up leadership although {why}: cluster paused ({})",
                    crate::pause::sentence_until(p)
                )));
                *leader = Some(mine);
            }
            None => {
                steps.push(Step::Resign(why));
                *leader = Some(false);
            }
        },
        LeaderAction::Keep => *leader = Some(mine),
    }
    // The commit high-water mark, written by the leader.
    if let (Some(s), Some(_)) = (status, snap.leader.as_ref()) {
        // The datadir's forks are the leader's branch (it is the only writer of the mark).
        let forks: &[Fork] = if mine { &o.forks } else { &[] };
        if let Some(m) = mark_due(s, snap, me, mine, forks, o.now) {
            let first = snap
                .hwm
                .as_ref()
                .is_none_or(|h| h.uuid != m.uuid || h.forks != m.forks);
            steps.push(Step::WriteMark { mark: m, first });
        }
    }
}

/// The plan, with its sentence.
fn plan(steps: Vec<Step>, leader: Option<bool>, o: &Observation) -> Plan {
    let said: Vec<String> = steps
        .iter()
        .filter(|s| !s.routine())
        .map(Step::describe)
        .collect();
    let sentence = if said.is_empty() {
        format!("no action: {}", situation(o))
    } else {
        said.join("; ")
    };
    Plan {
        steps,
        leader,
        key: shape(&sentence),
        sentence,
    }
}

/// `s` with every run of digits replaced by one `#` (pure).
pub fn shape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

/// Where this node stands, for a pass with nothing to do: the leader, the local state, the
/// cluster state.
fn situation(o: &Observation) -> String {
    let local = match &o.status {
        Some(s) => format!("{}/{}", s.local_state_comment(), s.cluster_status()),
        None => format!("local server not answering ({} failure(s))", o.sql_failures),
    };
    let Some(snap) = &o.snap else {
        return format!("{local}, etcd not read yet");
    };
    let leader = match &snap.leader {
        Some(l) if l.address == o.address && l.lease == o.lease => "this node leads".to_string(),
        Some(l) => format!("{} leads", l.address),
        None => "no leader".to_string(),
    };
    let state = match &snap.state {
        Some(StateValue::Known(s)) => s.as_str().to_string(),
        Some(StateValue::Invalid(v)) => format!("state {v:?} (invalid)"),
        None => "state unset".into(),
    };
    let etcd = if o.etcd_ok {
        ""
    } else {
        " (etcd unreachable: last view)"
    };
    format!("{}, {local}, {state}{etcd}", leader)
}
