//! The entrypoint's decision: `decide(observation, config) → Plan` (pure, table-tested).
//!
//! docs/design.md §3.3. The observation is an etcd snapshot plus what the node saw itself (its
//! position, which registered nodes answer on their Galera port, whether a `--peers` member
//! answers). The run loop acts on the plan; decisions that change the cluster are re-taken
//! under the lock on a fresh snapshot.

use std::collections::BTreeSet;

use crate::etcd::snapshot::{ClusterSnapshot, Fork, StateValue};
use crate::etcd::ClusterState;
use crate::position::Position;

use super::safety::{self, Action, Evidence, Verdict};
use super::upgrade;

/// What the node knows about itself and its peers, besides etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<'a> {
    pub snap: &'a ClusterSnapshot,
    /// This node's name.
    pub me: &'a str,
    pub position: &'a Position,
    /// Registered nodes (by name) that answer on their Galera port.
    pub reachable: &'a BTreeSet<String>,
    /// `--peers` members answering on their Galera port (probed only before a brand-new bootstrap).
    pub peers_answering: &'a [String],
    /// The recovery record this datadir joined (its marker file), if any.
    pub joined_recovery: Option<&'a str>,
    /// The forced recoveries this datadir's history went through (its forks file).
    pub forks: &'a [Fork],
    /// When this datadir's position was last current (see [`Evidence::local_since`]).
    pub local_since: i64,
    pub now: i64,
    /// `--cluster-size`: members expected at the first build.
    pub cluster_size: usize,
    /// See [`Evidence::quiet_secs`].
    pub quiet_secs: i64,
    /// This node's mariadbd version (`mariadbd --version`), compared with the leader's before
    /// a join (`upgrade::join_refusal`); `None`: unknown, not compared.
    pub version: Option<&'a str>,
}

impl Observation<'_> {
    /// The evidence the safety gate rules on.
    pub fn evidence(&self) -> Evidence<'_> {
        Evidence {
            snap: self.snap,
            me: self.me,
            local: self.position,
            local_since: self.local_since,
            joined_recovery: self.joined_recovery,
            forks: self.forks,
            now: self.now,
            cluster_size: self.cluster_size,
            quiet_secs: self.quiet_secs,
        }
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Join the running cluster through these registered nodes.
    Join {
        /// `(name, address)` of the registered, reachable nodes.
        peers: Vec<(String, String)>,
        /// Donor preference: registered nodes other than the leader, by name.
        donors: Vec<String>,
        reason: String,
    },
    /// Nodes are registered but none answers: wait (at most a lease TTL) for their keys to expire.
    WaitForRegistered { reason: String },
    /// Split brain or a node ahead of a forced bootstrap: refuse, publish why, await `resync`.
    Refuse { reason: String },
    /// The cluster existed and nobody runs: CAS `state` to RECOVERY (txn: `nodes/` empty).
    EnterRecovery { reason: String },
    /// RECOVERY with no registered node: queue our position and take part in the election.
    Queue { reason: String },
    /// A brand-new cluster: this node bootstraps it (under the lock, `P/bootstrap` first).
    NewCluster { reason: String },
    /// Another node is recorded as bootstrapping (or peers answer): wait for it.
    Wait { reason: String },
    /// Refuse to act at all (e.g. an unknown state value): exit with this error.
    Fail { reason: String },
}

/// A maintenance pause (`pause`: who paused, why, for how long) turns a new cluster into a
/// wait. Joining a running cluster, entering RECOVERY and queueing (which only report
/// positions) and refusals stand; the election and the bootstrap that follow a queue wait in
/// `run::queue` and under the lock.
pub fn under_pause(plan: Plan, pause: Option<&str>) -> Plan {
    match (pause, &plan) {
        (Some(p), Plan::NewCluster { .. }) => Plan::Wait {
            reason: format!("cluster {p}; would otherwise be {}", plan.sentence()),
        },
        _ => plan,
    }
}

impl Plan {
    /// The one sentence logged for this decision.
    pub fn sentence(&self) -> String {
        match self {
            Plan::Join { peers, reason, .. } => format!(
                "joining {}: {reason}",
                peers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Plan::WaitForRegistered { reason } => format!("waiting: {reason}"),
            Plan::Refuse { reason } => format!("refusing to start: {reason}"),
            Plan::EnterRecovery { reason } => format!("entering RECOVERY: {reason}"),
            Plan::Queue { reason } => format!("queueing for recovery: {reason}"),
            Plan::NewCluster { reason } => format!("bootstrapping a new cluster: {reason}"),
            Plan::Wait { reason } => format!("waiting: {reason}"),
            Plan::Fail { reason } => format!("stopping: {reason}"),
        }
    }

    /// A short name for metrics and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Plan::Join { .. } => "join",
            Plan::WaitForRegistered { .. } => "wait-registered",
            Plan::Refuse { .. } => "refuse",
            Plan::EnterRecovery { .. } => "enter-recovery",
            Plan::Queue { .. } => "queue",
            Plan::NewCluster { .. } => "new-cluster",
            Plan::Wait { .. } => "wait",
            Plan::Fail { .. } => "fail",
        }
    }
}

/// Decide (docs/design.md §3.3).
pub fn decide(o: &Observation) -> Plan {
    let snap = o.snap;
    let state = match &snap.state {
        Some(StateValue::Invalid(v)) => {
            return Plan::Fail {
                reason: format!(
                    "state `{v}` in etcd is not BUILDING, STEADY or RECOVERY; the datadir is left untouched. \
                     Fix it with `galera-sidecar set-state <STATE>` (or etcdctl put {{prefix}}state ...)"
                ),
            }
        }
        Some(StateValue::Known(s)) => Some(*s),
        None => None,
    };
    let state_name = state.map(|s| s.as_str()).unwrap_or("unset");

    // Registered nodes other than ourselves (our own key may be our previous life's).
    let registered: Vec<(&String, &String)> = snap
        .nodes
        .iter()
        .filter(|(n, _)| n.as_str() != o.me)
        .map(|(n, e)| (n, &e.address))
        .collect();

    if !registered.is_empty() {
        // Joining may overwrite this datadir: the gate compares it with the running cluster's
        // actual uuid and history length.
        match safety::check(Action::Join, &o.evidence()) {
            Verdict::Refuse(reason) => return Plan::Refuse { reason },
            Verdict::Wait(reason) => return Plan::WaitForRegistered { reason },
            Verdict::Allow(_) => {}
        }
        // Galera mixes versions only one long-term series apart: a joiner further from the
        // leader's version waits (for the leader to change, or the operator to fix the image).
        if let Some(leader) = snap.leader_name().filter(|l| *l != o.me) {
            let theirs = snap.census.get(leader).and_then(|c| c.version.as_deref());
            if let Some(why) = upgrade::join_refusal(o.version, leader, theirs) {
                return Plan::Wait {
                    reason: format!("not joining: {why}"),
                };
            }
        }
        let reachable: Vec<(String, String)> = registered
            .iter()
            .filter(|(n, _)| o.reachable.contains(n.as_str()))
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect();
        if reachable.is_empty() {
            return Plan::WaitForRegistered {
                reason: format!(
                    "{} registered but not answering on the Galera port; waiting for them or for their keys to expire",
                    registered.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(",")
                ),
            };
        }
        let leader = snap.leader_name();
        let donors = reachable
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| Some(n.as_str()) != leader)
            .collect();
        return Plan::Join {
            reason: format!(
                "state {state_name}, {} node(s) registered{}",
                registered.len(),
                match o.position {
                    Position::Fresh => ", fresh datadir joins by SST".to_string(),
                    Position::Unknown => ", position unknown".to_string(),
                    Position::Known { seqno, .. } => format!(", local seqno {seqno}"),
                }
            ),
            peers: reachable,
            donors,
        };
    }

    // Nobody is registered.
    if state == Some(ClusterState::Recovery) {
        return Plan::Queue {
            reason: "state RECOVERY and no node registered".into(),
        };
    }
    // Another node recorded as bootstrapping a new cluster, and still alive: wait for it.
    let bootstrapping = snap.bootstrap.as_ref().filter(|b| b.node != o.me);
    if let Some(b) = bootstrapping.filter(|b| snap.census.contains_key(&b.node)) {
        return Plan::Wait {
            reason: format!(
                "{} is recorded as bootstrapping the new cluster (since {}); waiting for it to register",
                b.node, b.at
            ),
        };
    }
    let holders: Vec<String> = safety::reported_positions(snap)
        .into_iter()
        .filter(|(n, p)| *n != o.me && !matches!(p, Position::Fresh))
        .map(|(n, p)| format!("{n} at {p}"))
        .collect();
    let why_existed = if let Some(u) = &snap.uuid {
        Some(format!("cluster {u} existed"))
    } else if !snap.members.is_empty() {
        Some(format!("{} member(s) known", snap.members.len()))
    } else if !matches!(o.position, Position::Fresh) {
        Some(format!("this datadir holds data ({})", o.position))
    } else if !holders.is_empty() {
        Some(format!("{} reported data", holders.join(", ")))
    } else {
        None
    };
    if let Some(why) = why_existed {
        return Plan::EnterRecovery {
            reason: format!("state {state_name}, no node registered, {why}: the cluster is down"),
        };
    }
    if let Some(b) = bootstrapping {
        return Plan::Wait {
            reason: format!(
                "{} is recorded as bootstrapping the new cluster (since {}); waiting for it to register",
                b.node, b.at
            ),
        };
    }
    if !o.peers_answering.is_empty() {
        return Plan::Wait {
            reason: format!(
                "etcd knows no cluster but peer(s) {} answer on the Galera port: not bootstrapping a second cluster \
                 (if etcd lost its data, running nodes re-register shortly)",
                o.peers_answering.join(",")
            ),
        };
    }
    match safety::check(Action::NewCluster, &o.evidence()) {
        Verdict::Allow(reason) => Plan::NewCluster {
            reason: format!("{reason}, and no peer answers"),
        },
        Verdict::Wait(reason) | Verdict::Refuse(reason) => Plan::Wait { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::{
        BootstrapRecord, CensusEntry, LeaderEntry, NodeEntry, RecoveryRecord,
    };

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
    const V: &str = "11111111-2222-3333-4444-555555555555";

    struct Case {
        name: &'static str,
        state: Option<&'static str>,
        uuid: Option<&'static str>,
        nodes: &'static [&'static str],
        reachable: &'static [&'static str],
        members: &'static [&'static str],
        position: Position,
        peers: &'static [&'static str],
        bootstrap_by: Option<&'static str>,
        recovery_at: Option<i64>,
        /// The datadir's recovery marker.
        joined: Option<&'static str>,
        /// Census: nodes that reported fresh datadirs, and nodes that reported `U:seqno`.
        fresh: &'static [&'static str],
        data: &'static [(&'static str, i64)],
        /// What the registered nodes publish as their running cluster (uuid, seqno, at);
        /// `None`: they published nothing.
        running: Option<(&'static str, i64, i64)>,
        /// When this datadir's position was last current.
        since: i64,
        /// This node's mariadbd version, and the one the registered nodes publish.
        version: Option<&'static str>,
        theirs: Option<&'static str>,
        want: &'static str,
        fragment: &'static str,
    }

    fn base(name: &'static str) -> Case {
        Case {
            name,
            state: Some("STEADY"),
            uuid: Some(U),
            nodes: &[],
            reachable: &[],
            members: &[],
            position: Position::Fresh,
            peers: &[],
            bootstrap_by: None,
            recovery_at: None,
            joined: None,
            fresh: &[],
            data: &[],
            running: Some((U, 100, 500)),
            since: 400,
            version: Some("10.11.19-MariaDB-0+deb12u1"),
            theirs: Some("10.11.19-MariaDB-0+deb12u1"),
            want: "",
            fragment: "",
        }
    }

    fn run(c: &Case) -> Plan {
        let mut s = ClusterSnapshot {
            state: c.state.map(|v| match v.parse() {
                Ok(k) => StateValue::Known(k),
                Err(_) => StateValue::Invalid(v.into()),
            }),
            uuid: c.uuid.map(str::to_string),
            ..Default::default()
        };
        for (i, n) in c.nodes.iter().enumerate() {
            s.nodes.insert(
                n.to_string(),
                NodeEntry {
                    address: format!("10.0.0.{i}"),
                    lease: 1,
                },
            );
            if let Some((u, seqno, at)) = c.running {
                s.census.insert(
                    n.to_string(),
                    CensusEntry {
                        position: Position::known(u, seqno),
                        address: format!("10.0.0.{i}"),
                        at,
                        running: Some(Position::known(u, seqno)),
                        forks: vec![],
                        cached_downto: None,
                        stray_writes: 0,
                        version: c.theirs.map(str::to_string),
                    },
                );
            }
        }
        let entry = |position| CensusEntry {
            position,
            address: "10.0.0.8".into(),
            at: 500,
            running: None,
            forks: vec![],
            cached_downto: None,
            stray_writes: 0,
            version: None,
        };
        for n in c.fresh {
            s.census.insert(n.to_string(), entry(Position::Fresh));
        }
        for (n, seqno) in c.data {
            s.census
                .insert(n.to_string(), entry(Position::known(U, *seqno)));
        }
        if let Some(first) = c.nodes.first() {
            s.leader = Some(LeaderEntry {
                address: s.nodes[*first].address.clone(),
                lease: 1,
                create_revision: 1,
                mod_revision: 1,
            });
        }
        for m in c.members {
            s.members.insert(m.to_string(), "10.0.0.9".into());
        }
        if let Some(b) = c.bootstrap_by {
            s.bootstrap = Some(BootstrapRecord {
                node: b.into(),
                position: Position::Fresh,
                at: 1,
                reason: "new-cluster".into(),
            });
        }
        if let Some(seqno) = c.recovery_at {
            s.recovery = Some(RecoveryRecord {
                winner: "g-0".into(),
                position: Position::known(U, seqno),
                decided_by: "g-0".into(),
                at: 1,
                reason: "force-bootstrap".into(),
                forced: None,
                bootstrapped_at: None,
            });
        }
        let reachable: BTreeSet<String> = c.reachable.iter().map(|s| s.to_string()).collect();
        let peers: Vec<String> = c.peers.iter().map(|s| s.to_string()).collect();
        decide(&Observation {
            snap: &s,
            me: "me",
            position: &c.position,
            reachable: &reachable,
            peers_answering: &peers,
            joined_recovery: c.joined,
            forks: &[],
            local_since: c.since,
            now: 1000,
            cluster_size: 3,
            quiet_secs: 45,
            version: c.version,
        })
    }

    #[test]
    fn decision_table() {
        let k = |s| Position::known(U, s);
        let cases = vec![
            Case {
                state: None,
                uuid: None,
                fresh: &["g-0", "g-1", "me"],
                want: "new-cluster",
                fragment: "all-fresh census",
                ..base("empty etcd, an all-fresh census")
            },
            Case {
                state: None,
                uuid: None,
                fresh: &["g-0", "g-1"],
                want: "new-cluster",
                ..base("empty etcd, the others fresh and our own report not read back yet")
            },
            Case {
                state: None,
                uuid: None,
                fresh: &["me"],
                want: "wait",
                fragment: "needs --cluster-size 3 nodes to report fresh datadirs; 1 did",
                ..base("empty etcd, only this node reported (lost PVC after an etcd wipe?)")
            },
            Case {
                state: None,
                uuid: None,
                fresh: &["me", "g-1"],
                data: &[("g-2", 40)],
                want: "enter-recovery",
                fragment: "g-2 at 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:40 reported data",
                ..base("empty etcd, fresh here, but a data-holding node reported")
            },
            Case {
                state: None,
                uuid: None,
                peers: &["10.0.0.5"],
                want: "wait",
                fragment: "not bootstrapping a second cluster",
                ..base("empty etcd but a peer answers")
            },
            Case {
                state: Some("BUILDING"),
                uuid: None,
                bootstrap_by: Some("g-0"),
                want: "wait",
                fragment: "g-0 is recorded",
                ..base("another node is bootstrapping")
            },
            Case {
                state: Some("BUILDING"),
                uuid: None,
                bootstrap_by: Some("me"),
                fresh: &["me", "g-0", "g-1"],
                want: "new-cluster",
                ..base("our own bootstrap record: retry")
            },
            Case {
                nodes: &["g-0", "g-1"],
                reachable: &["g-0", "g-1"],
                want: "join",
                ..base("STEADY with nodes, fresh: join by SST")
            },
            Case {
                state: Some("BUILDING"),
                nodes: &["g-0"],
                reachable: &["g-0"],
                want: "join",
                ..base("BUILDING with a node")
            },
            Case {
                state: Some("RECOVERY"),
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(3),
                want: "join",
                ..base("RECOVERY after the winner came up")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(7),
                want: "join",
                fragment: "local seqno 7",
                ..base("restart with data: join by IST")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: Position::Unknown,
                want: "join",
                ..base("unknown position joins a running cluster")
            },
            Case {
                nodes: &["g-0", "g-1"],
                reachable: &["g-1"],
                want: "join",
                ..base("one registered node unreachable: join the other")
            },
            Case {
                nodes: &["g-0"],
                reachable: &[],
                want: "wait-registered",
                fragment: "g-0 registered but not answering",
                ..base("registered but unreachable")
            },
            Case {
                nodes: &["me"],
                reachable: &["me"],
                position: k(2),
                members: &["me"],
                want: "enter-recovery",
                ..base("only our own stale key")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: Position::known(V, 10),
                want: "refuse",
                fragment: "two histories",
                ..base("split brain")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                uuid: Some(V),
                position: Position::known(V, 10),
                want: "refuse",
                fragment: "two histories: this datadir holds 11111111-2222-3333-4444-555555555555:10 but the running cluster is 6b3a1f0e",
                ..base("P/uuid stale: the registered nodes run another history")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(250),
                want: "refuse",
                fragment: "150 transaction(s) ahead of the running cluster (g-0 at seqno 100)",
                ..base("ahead of the running cluster")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(250),
                since: 499,
                want: "wait-registered",
                fragment: "waiting for g-0 to publish",
                ..base("the running cluster's position predates our last run: wait for a newer one")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(7),
                running: None,
                want: "wait-registered",
                fragment: "has not published its cluster's actual uuid",
                ..base("registered node without a published cluster uuid")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(9),
                recovery_at: Some(5),
                state: Some("RECOVERY"),
                want: "refuse",
                fragment: "4 transaction(s) ahead",
                ..base("ahead of a forced winner")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(9),
                recovery_at: Some(5),
                state: Some("RECOVERY"),
                joined: Some("g-0@1"),
                want: "join",
                ..base("ahead of the winner because it joined the recovered cluster (marker)")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(9),
                recovery_at: Some(5),
                state: Some("RECOVERY"),
                joined: Some("g-0@0"),
                want: "refuse",
                fragment: "4 transaction(s) ahead",
                ..base("a marker of an earlier recovery proves nothing")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(5),
                recovery_at: Some(5),
                state: Some("RECOVERY"),
                want: "join",
                ..base("level with the winner")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                uuid: None,
                position: k(5),
                want: "join",
                ..base("etcd lost uuid while nodes run: their published uuid is ours")
            },
            Case {
                nodes: &["g-0", "g-1"],
                reachable: &["g-0", "g-1"],
                position: k(7),
                version: Some("10.11.19-MariaDB"),
                theirs: Some("10.6.16-MariaDB"),
                want: "join",
                ..base("rolling upgrade: the leader one long-term series older")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: k(7),
                version: Some("10.6.16-MariaDB"),
                theirs: Some("10.11.19-MariaDB"),
                want: "join",
                ..base("rolling upgrade: an old node rejoins an upgraded leader")
            },
            Case {
                nodes: &["g-0", "g-1"],
                reachable: &["g-0", "g-1"],
                position: k(7),
                version: Some("11.4.2-MariaDB"),
                theirs: Some("10.6.16-MariaDB"),
                want: "wait",
                fragment: "not joining: mariadbd 11.4.2 here is more than one release series \
                           newer than g-0's 10.6.16, the leader's",
                ..base("the leader two long-term series older: wait, naming both versions")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                version: Some("10.6.16-MariaDB"),
                theirs: Some("11.4.2-MariaDB"),
                want: "wait",
                fragment: "more than one release series older than g-0's 11.4.2",
                ..base("a joiner two series older than the leader: wait")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                version: Some("11.4.2-MariaDB"),
                theirs: None,
                want: "join",
                ..base("the leader publishes no version: nothing to judge on")
            },
            Case {
                nodes: &["g-0"],
                reachable: &["g-0"],
                position: Position::known(V, 10),
                version: Some("11.4.2-MariaDB"),
                theirs: Some("10.6.16-MariaDB"),
                want: "refuse",
                fragment: "two histories",
                ..base("two histories outrank the version rule")
            },
            Case {
                want: "enter-recovery",
                fragment: "existed",
                ..base("STEADY, zero nodes: the cluster is down")
            },
            Case {
                state: Some("BUILDING"),
                uuid: None,
                position: k(1),
                want: "enter-recovery",
                fragment: "holds data",
                ..base("first node lost during BUILDING, our data")
            },
            Case {
                state: None,
                uuid: None,
                members: &["g-0"],
                want: "enter-recovery",
                fragment: "member",
                ..base("etcd lost state but members known")
            },
            Case {
                state: None,
                uuid: None,
                position: Position::Unknown,
                want: "enter-recovery",
                ..base("etcd empty, our data has unknown position")
            },
            Case {
                state: Some("RECOVERY"),
                want: "queue",
                ..base("RECOVERY, nobody registered")
            },
            Case {
                state: Some("RECOVERY"),
                position: Position::Unknown,
                want: "queue",
                ..base("RECOVERY with unknown position still queues")
            },
            Case {
                state: Some("SOMETHING"),
                want: "fail",
                fragment: "`SOMETHING`",
                ..base("unknown state")
            },
            Case {
                state: Some("SOMETHING"),
                nodes: &["g-0"],
                reachable: &["g-0"],
                want: "fail",
                ..base("unknown state even with nodes")
            },
        ];
        for c in &cases {
            let p = run(c);
            assert_eq!(p.kind(), c.want, "{}: {p:?}", c.name);
            assert!(
                p.sentence().contains(c.fragment),
                "{}: want {:?} in {:?}",
                c.name,
                c.fragment,
                p.sentence()
            );
        }
    }

    #[test]
    fn donors_spare_the_leader() {
        let c = Case {
            nodes: &["g-0", "g-1", "g-2"],
            reachable: &["g-0", "g-1", "g-2"],
            ..base("donors")
        };
        match run(&c) {
            Plan::Join { donors, peers, .. } => {
                assert_eq!(donors, vec!["g-1".to_string(), "g-2".to_string()]);
                assert_eq!(peers.len(), 3);
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn under_pause_table() {
        let r = || "r".to_string();
        let cases: Vec<(Plan, bool)> = vec![
            (Plan::NewCluster { reason: r() }, true),
            (Plan::EnterRecovery { reason: r() }, false),
            (Plan::Queue { reason: r() }, false),
            (
                Plan::Join {
                    peers: vec![],
                    donors: vec![],
                    reason: r(),
                },
                false,
            ),
            (Plan::Refuse { reason: r() }, false),
            (Plan::Wait { reason: r() }, false),
            (Plan::Fail { reason: r() }, false),
        ];
        for (plan, frozen) in cases {
            let kind = plan.kind();
            assert_eq!(under_pause(plan.clone(), None), plan, "{kind}: no pause");
            let got = under_pause(plan.clone(), Some("paused by ops (disk)"));
            if frozen {
                assert_eq!(got.kind(), "wait", "{kind}");
                assert!(got.sentence().contains("paused by ops (disk)"), "{kind}");
                assert!(got.sentence().contains(&plan.sentence()), "{kind}");
            } else {
                assert_eq!(got, plan, "{kind}");
            }
        }
    }
}
