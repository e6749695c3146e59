//! The product's pure functions as the simulated entrypoints call them, with an optional
//! mutation that emulates a reverted fix (to show the simulation can fail).

use std::collections::BTreeSet;

use galera_sidecar::etcd::snapshot::ClusterSnapshot;
use galera_sidecar::galera::plan::{self, Observation, Plan};
use galera_sidecar::galera::recovery::{self, Election};
use galera_sidecar::galera::safety::{self, Action, Evidence, Verdict};

/// Which decision the simulated nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    /// The real functions.
    None,
    /// The old behaviour: a fresh node bootstraps a new cluster although the census does not
    /// show `--cluster-size` fresh datadirs (e.g. after an etcd wipe).
    FreshBootstrap,
    /// The old join: a datadir of another history joins (and is overwritten by SST).
    JoinForeign,
    /// The old resync: any `resync/<name>` key is obeyed, bound or not, expired or not.
    UnboundResync,
    /// The old election: the commit high-water mark is not compared with the winner.
    IgnoreMark,
}

/// `recovery::elect`, possibly mutated.
pub fn elect(m: Mutant, snap: &ClusterSnapshot, cluster_size: usize, now: i64) -> Election {
    let e = recovery::elect(snap, cluster_size, now);
    match (m, e) {
        (Mutant::IgnoreMark, Election::Blocked { reason })
            if reason.contains("below the commit high-water mark") =>
        {
            let mut unmarked = snap.clone();
            unmarked.hwm = None;
            recovery::elect(&unmarked, cluster_size, now)
        }
        (_, e) => e,
    }
}

/// `plan::decide`, possibly mutated.
pub fn decide(m: Mutant, o: &Observation) -> Plan {
    let p = plan::decide(o);
    match (m, p) {
        (Mutant::FreshBootstrap, Plan::Wait { reason })
            if reason.contains("a brand-new cluster needs") =>
        {
            Plan::NewCluster { reason }
        }
        (Mutant::JoinForeign, Plan::Refuse { reason }) if reason.contains("two histories") => {
            join_anyway(o.snap, o.me, o.reachable, reason)
        }
        (_, p) => p,
    }
}

fn join_anyway(
    snap: &ClusterSnapshot,
    me: &str,
    reachable: &BTreeSet<String>,
    reason: String,
) -> Plan {
    let peers: Vec<(String, String)> = snap
        .nodes
        .iter()
        .filter(|(n, _)| n.as_str() != me && reachable.contains(n.as_str()))
        .map(|(n, e)| (n.clone(), e.address.clone()))
        .collect();
    if peers.is_empty() {
        return Plan::WaitForRegistered { reason };
    }
    let donors = peers.iter().map(|(n, _)| n.clone()).collect();
    Plan::Join {
        peers,
        donors,
        reason,
    }
}

/// `safety::check`, possibly mutated.
pub fn gate(m: Mutant, action: Action, ev: &Evidence) -> Verdict {
    let v = safety::check(action, ev);
    match (m, action, v) {
        (Mutant::JoinForeign, Action::Join, Verdict::Refuse(r)) if r.contains("two histories") => {
            Verdict::Allow(r)
        }
        (Mutant::UnboundResync, Action::Wipe, Verdict::Refuse(r))
            if ev.snap.resync.contains_key(ev.me) =>
        {
            Verdict::Allow(r)
        }
        (_, _, v) => v,
    }
}

/// Build an observation (the entrypoint's facts) for `decide`.
#[allow(clippy::too_many_arguments)]
pub fn observation<'a>(
    snap: &'a ClusterSnapshot,
    me: &'a str,
    position: &'a galera_sidecar::position::Position,
    reachable: &'a BTreeSet<String>,
    peers: &'a [String],
    joined: Option<&'a str>,
    forks: &'a [galera_sidecar::etcd::snapshot::Fork],
    since: i64,
    now: i64,
    cluster_size: usize,
    quiet_secs: i64,
) -> Observation<'a> {
    Observation {
        snap,
        me,
        position,
        reachable,
        peers_answering: peers,
        joined_recovery: joined,
        forks,
        local_since: since,
        now,
        cluster_size,
        quiet_secs,
        version: None,
    }
}
