//! The running node's rules (pure, table-tested): registration, the STEADY transition,
//! leadership eligibility and what to do about `P/leader`.

use crate::etcd::snapshot::{ClusterSnapshot, StateValue};
use crate::etcd::ClusterState;
use crate::mysql::WsrepStatus;

/// `nodes/<name>` is held only while Synced or Donor (docs/design.md §3.8).
pub fn should_register(s: &WsrepStatus) -> bool {
    (s.is_synced() || s.is_donor()) && s.is_primary()
}

/// Leadership eligibility (docs/design.md §5): Synced, not a donor, Primary, uuid = `P/uuid`.
/// `Err` names the first unmet condition.
pub fn eligible(s: &WsrepStatus, cluster_uuid: Option<&str>) -> Result<(), String> {
    if s.is_donor() {
        return Err(format!("donor ({})", s.local_state_comment()));
    }
    if !s.is_synced() {
        return Err(format!("not Synced ({})", s.local_state_comment()));
    }
    if !s.is_primary() {
        return Err(format!("not Primary ({})", s.cluster_status()));
    }
    if !s.ready() {
        return Err("wsrep_ready=OFF".into());
    }
    match cluster_uuid {
        Some(u) if u == s.cluster_state_uuid() => Ok(()),
        Some(u) => Err(format!(
            "cluster uuid {} differs from etcd's {u}",
            s.cluster_state_uuid()
        )),
        None => Err("etcd has no cluster uuid yet".into()),
    }
}

/// What this node's last sample says about its leadership eligibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Synced, not a donor, Primary, ready, uuid = `P/uuid`.
    Eligible,
    /// Not eligible, with the first unmet condition.
    Not(String),
    /// The local server did not answer this once: no new decision (neither campaign nor
    /// resign) — one slow status query on a loaded host must not move the leader.
    Unknown(String),
}

/// Consecutive failed status queries after which a silent server counts as not eligible.
pub const SILENT_SAMPLES_NOT_ELIGIBLE: u32 = 2;

/// Eligibility from the last local sample: `status` (None: the query failed),
/// `failures` (consecutive failed queries, this one included) and `P/uuid`.
pub fn eligibility(
    status: Option<&WsrepStatus>,
    failures: u32,
    cluster_uuid: Option<&str>,
) -> Eligibility {
    match status {
        Some(s) => match eligible(s, cluster_uuid) {
            Ok(()) => Eligibility::Eligible,
            Err(why) => Eligibility::Not(why),
        },
        None if failures >= SILENT_SAMPLES_NOT_ELIGIBLE => Eligibility::Not(format!(
            "local server not answering ({failures} status queries in a row failed)"
        )),
        None => Eligibility::Unknown("local status query failed once".into()),
    }
}

/// What to do about `P/leader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    /// Nobody leads and we are eligible: create-if-absent under our lease.
    Campaign,
    /// We lead and are no longer eligible: delete the key (if still ours).
    Resign(String),
    /// Nothing to change.
    Keep,
}

/// Decide about leadership. `mine` = the leader key holds our address under our lease.
pub fn leader_action(
    snap: &ClusterSnapshot,
    mine: bool,
    eligibility: &Eligibility,
) -> LeaderAction {
    match (snap.leader.is_some(), mine, eligibility) {
        (_, true, Eligibility::Not(why)) => LeaderAction::Resign(why.clone()),
        (false, _, Eligibility::Eligible) => LeaderAction::Campaign,
        _ => LeaderAction::Keep,
    }
}

/// How long a node that is not the preferred successor holds its campaign back after the
/// leader key went away, so the node haproxy already routes to (its first healthy backup) wins
/// and clients are not moved a second time. Bounded: a preferred node that does not campaign
/// costs at most this (plus one 1 s pass).
pub const CAMPAIGN_DEFER: std::time::Duration = std::time::Duration::from_secs(2);

/// The node that should win an election for a vacant leader key, when it is not `me`: the
/// first member in name order that is registered, other than the leader that just went away
/// (`previous`: its address; it may still be registered, as a donor say). haproxy keeps the
/// members as backup servers in name order, so with the leader down it routes to the first
/// healthy one. `None`: `me` is that node, or no such member is registered (pure).
pub fn preferred_successor(
    snap: &ClusterSnapshot,
    me: &str,
    previous: Option<&str>,
) -> Option<String> {
    if snap.leader.is_some() {
        return None;
    }
    let first = snap.members.keys().find(|m| {
        snap.nodes
            .get(*m)
            .is_some_and(|n| Some(n.address.as_str()) != previous)
    })?;
    (first != me).then(|| first.clone())
}

/// A pending forced recovery made moot: what to delete, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MootForce {
    /// Delete `P/force-bootstrap` (the operator's request for another node).
    pub request: bool,
    /// Delete `P/recovery` (a forced record whose winner has not bootstrapped).
    pub record: bool,
    pub why: String,
}

/// A forced recovery still pending — the operator's `force-bootstrap` request for another
/// node, or a forced recovery record whose winner has not begun its bootstrap — while this
/// node serves a Primary Component (registered, Synced, Primary): the outage it was issued
/// for is over. Left in place, its winner would bootstrap a second Primary Component as soon
/// as this node hid from etcd (its entrypoint paused past its lease, a partition cutting its
/// Galera port off). The running node deletes it (pure: which keys, and why).
pub fn moot_force(s: &WsrepStatus, snap: &ClusterSnapshot, me: &str) -> Option<MootForce> {
    if !(s.is_synced() && s.is_primary() && snap.nodes.contains_key(me)) {
        return None;
    }
    let request = snap.force_bootstrap.as_ref().filter(|r| r.node != me);
    let record = snap
        .recovery
        .as_ref()
        .filter(|r| r.forced.is_some() && r.bootstrapped_at.is_none() && r.winner != me);
    let target = request
        .map(|r| r.node.as_str())
        .or(record.map(|r| r.winner.as_str()))?;
    Some(MootForce {
        request: request.is_some(),
        record: record.is_some(),
        why: format!(
            "{me} serves a Primary Component ({}:{}): the forced recovery of {target} is moot \
             (bootstrapping it now would start a second Primary Component once {me} hides from \
             etcd); deleting {}",
            s.cluster_state_uuid(),
            s.last_committed().unwrap_or(-1),
            match (request.is_some(), record.is_some()) {
                (true, true) => "the force-bootstrap request and the forced recovery record",
                (true, false) => "the force-bootstrap request",
                _ => "the forced recovery record",
            }
        ),
    })
}

/// Should this node move the cluster to STEADY now (docs/design.md §3.6)? Every member registered, at
/// least `cluster_size` of them at the first build; the state is not already STEADY. The txn
/// that acts on it also checks `queue/` is empty and the state unchanged.
pub fn steady_due(snap: &ClusterSnapshot, me: &str, cluster_size: usize) -> Option<String> {
    let state = match &snap.state {
        Some(StateValue::Known(ClusterState::Steady)) | Some(StateValue::Invalid(_)) => {
            return None
        }
        Some(StateValue::Known(s)) => Some(*s),
        None => None,
    };
    if !snap.nodes.contains_key(me) || snap.members.is_empty() {
        return None;
    }
    if snap.members.keys().any(|m| !snap.nodes.contains_key(m)) {
        return None;
    }
    let first_build = matches!(state, Some(ClusterState::Building) | None);
    if first_build && snap.members.len() < cluster_size {
        return None;
    }
    Some(format!(
        "all {} member(s) registered ({}), state {}",
        snap.members.len(),
        snap.members.keys().cloned().collect::<Vec<_>>().join(","),
        state.map(|s| s.as_str()).unwrap_or("unset")
    ))
}

/// Should the datadir be marked as having joined the cluster recovered under `P/recovery`
/// (`Some(record id)`)? When this node is Synced and Primary with uuid = `P/uuid` while the
/// cluster is still in RECOVERY under a record, and the datadir does not carry that mark yet
/// (`marked`). The mark lets a restart before STEADY rejoin instead of being refused as
/// "ahead of the winner": its newer commits are the recovered cluster's.
pub fn recovery_mark_due(
    s: &WsrepStatus,
    snap: &ClusterSnapshot,
    marked: Option<&str>,
) -> Option<String> {
    if !(s.is_synced() && s.is_primary()) {
        return None;
    }
    if !matches!(snap.state, Some(StateValue::Known(ClusterState::Recovery))) {
        return None;
    }
    let same_uuid = snap
        .uuid
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(s.cluster_state_uuid()));
    let id = snap.recovery.as_ref()?.id();
    (same_uuid && marked != Some(id.as_str())).then_some(id)
}

/// How often, at most, the leader writes the commit high-water mark while it moves: 12 writes
/// a minute under write load, none while idle.
pub const MARK_INTERVAL_SECS: i64 = 5;

/// The commit high-water mark the leader should write now, or `None`: only the leader, Synced
/// and Primary; when there is no mark, the mark is of another uuid or branch, or its seqno
/// moved and the last write is `MARK_INTERVAL_SECS` old. Never lowered on the same line.
pub fn mark_due(
    s: &WsrepStatus,
    snap: &ClusterSnapshot,
    me: &str,
    leader: bool,
    forks: &[crate::etcd::snapshot::Fork],
    now: i64,
) -> Option<crate::etcd::snapshot::Mark> {
    if !(leader && s.is_synced() && s.is_primary()) {
        return None;
    }
    let uuid = s.cluster_state_uuid().to_ascii_lowercase();
    let seqno = s.last_committed().filter(|n| *n >= 0)?;
    if uuid.is_empty() {
        return None;
    }
    let mine: Vec<String> = forks
        .iter()
        .filter(|f| f.uuid == uuid)
        .map(|f| f.id.clone())
        .collect();
    let due = match &snap.hwm {
        None => true,
        Some(m) if m.uuid != uuid || m.forks != mine => true,
        Some(m) => seqno > m.seqno && now - m.at >= MARK_INTERVAL_SECS,
    };
    due.then(|| crate::etcd::snapshot::Mark {
        uuid,
        seqno,
        at: now,
        by: me.to_string(),
        forks: mine,
    })
}

/// The forks this Synced, Primary node's datadir must list and does not (`own`): those its
/// registered peers list (a transfer — SST or IST — made it their branch). Empty when nothing
/// is missing, or while this node is not Synced and Primary in the registered nodes' cluster.
pub fn forks_due(
    s: &WsrepStatus,
    snap: &ClusterSnapshot,
    me: &str,
    own: &[crate::etcd::snapshot::Fork],
) -> Vec<crate::etcd::snapshot::Fork> {
    if !(s.is_synced() && s.is_primary() && snap.nodes.contains_key(me)) {
        return vec![];
    }
    let mine = s.cluster_state_uuid();
    let same_cluster = |n: &String| {
        snap.census
            .get(n)
            .and_then(|c| c.running.as_ref())
            .and_then(|p| p.uuid())
            .is_some_and(|u| u.eq_ignore_ascii_case(mine))
    };
    let peers: Vec<&[crate::etcd::snapshot::Fork]> = snap
        .nodes
        .keys()
        .filter(|n| n.as_str() != me && same_cluster(n))
        .map(|n| super::branches::forks_of(snap, n))
        .collect();
    super::branches::merged(&[], &peers)
        .into_iter()
        .filter(|f| !own.iter().any(|o| o.id == f.id))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::etcd::snapshot::{LeaderEntry, NodeEntry};

    pub(crate) const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";

    pub(crate) fn status(comment: &str, state: &str, primary: &str, uuid: &str) -> WsrepStatus {
        WsrepStatus::from_rows([
            ("wsrep_local_state_comment", comment),
            ("wsrep_local_state", state),
            ("wsrep_cluster_status", primary),
            ("wsrep_cluster_state_uuid", uuid),
            ("wsrep_ready", "ON"),
        ])
    }

    #[test]
    fn registration_and_eligibility_table() {
        let cases = [
            (status("Synced", "4", "Primary", U), true, Ok(())),
            (
                status("Donor/Desynced", "2", "Primary", U),
                true,
                Err("donor"),
            ),
            (
                status("Joined", "3", "Primary", U),
                false,
                Err("not Synced"),
            ),
            (
                status("Joining", "1", "Primary", U),
                false,
                Err("not Synced"),
            ),
            (
                status("Initialized", "0", "non-Primary", U),
                false,
                Err("not Synced"),
            ),
            (
                status("Synced", "4", "non-Primary", U),
                false,
                Err("not Primary"),
            ),
            (
                status(
                    "Synced",
                    "4",
                    "Primary",
                    "11111111-2222-3333-4444-555555555555",
                ),
                true,
                Err("differs"),
            ),
        ];
        for (s, reg, elig) in cases {
            assert_eq!(should_register(&s), reg, "{s:?}");
            match (eligible(&s, Some(U)), elig) {
                (Ok(()), Ok(())) => {}
                (Err(got), Err(want)) => assert!(got.contains(want), "{got} vs {want}"),
                (got, want) => panic!("{s:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(eligible(&status("Synced", "4", "Primary", U), None).is_err());
    }

    #[test]
    fn eligibility_table() {
        let synced = status("Synced", "4", "Primary", U);
        let donor = status("Donor/Desynced", "2", "Primary", U);
        let cases: [(Option<&WsrepStatus>, u32, Option<&str>, &str); 7] = [
            (Some(&synced), 0, Some(U), "eligible"),
            (Some(&synced), 0, None, "not: etcd has no cluster uuid"),
            (Some(&donor), 0, Some(U), "not: donor"),
            (None, 1, Some(U), "unknown"),
            (None, 2, Some(U), "not: local server not answering (2"),
            (None, 5, Some(U), "not: local server not answering (5"),
            // A failure count from before the last good sample does not matter.
            (Some(&synced), 3, Some(U), "eligible"),
        ];
        for (s, failures, uuid, want) in cases {
            let got = match eligibility(s, failures, uuid) {
                Eligibility::Eligible => "eligible".to_string(),
                Eligibility::Not(w) => format!("not: {w}"),
                Eligibility::Unknown(w) => format!("unknown: {w}"),
            };
            assert!(
                got.starts_with(want),
                "{s:?}/{failures}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn leader_action_table() {
        let none = ClusterSnapshot::default();
        let led = ClusterSnapshot {
            leader: Some(LeaderEntry {
                address: "a".into(),
                lease: 1,
                create_revision: 1,
                mod_revision: 1,
            }),
            ..Default::default()
        };
        let ok = Eligibility::Eligible;
        let bad = Eligibility::Not("donor".into());
        let unknown = Eligibility::Unknown("once".into());
        use LeaderAction::*;
        let cases = [
            // (leader key present, it is ours, eligibility) → action
            (&none, false, &ok, Campaign),
            (&none, false, &bad, Keep),
            (&none, false, &unknown, Keep),
            (&led, false, &ok, Keep),
            (&led, false, &bad, Keep),
            (&led, true, &ok, Keep),
            (&led, true, &unknown, Keep),
            (&led, true, &bad, Resign("donor".into())),
        ];
        for (snap, mine, elig, want) in cases {
            assert_eq!(
                leader_action(snap, mine, elig),
                want,
                "leader {:?}, mine {mine}, {elig:?}",
                snap.leader
            );
        }
    }

    #[test]
    fn mark_due_table() {
        use crate::etcd::snapshot::{Fork, Mark};
        let synced = |seqno: &str| {
            WsrepStatus::from_rows([
                ("wsrep_local_state_comment", "Synced"),
                ("wsrep_local_state", "4"),
                ("wsrep_cluster_status", "Primary"),
                ("wsrep_cluster_state_uuid", U),
                ("wsrep_last_committed", seqno),
                ("wsrep_ready", "ON"),
            ])
        };
        let mark = |seqno: i64, at: i64, forks: Vec<String>| ClusterSnapshot {
            hwm: Some(Mark {
                uuid: U.into(),
                seqno,
                at,
                by: "g-0".into(),
                forks,
            }),
            ..Default::default()
        };
        let x = Fork {
            id: "g-2@7".into(),
            uuid: U.into(),
            seqno: 3,
        };
        let none = ClusterSnapshot::default();
        let now = 1_000;
        let due = |s: &WsrepStatus, snap: &ClusterSnapshot, leader: bool, forks: &[Fork]| {
            mark_due(s, snap, "g-0", leader, forks, now).map(|m| (m.seqno, m.forks))
        };
        assert_eq!(
            due(&synced("9"), &none, true, &[]),
            Some((9, vec![])),
            "no mark yet"
        );
        assert_eq!(due(&synced("9"), &none, false, &[]), None, "not the leader");
        let joined = status("Joined", "3", "Primary", U);
        assert_eq!(due(&joined, &none, true, &[]), None, "not Synced");
        assert_eq!(
            due(&synced("9"), &mark(5, now - 5, vec![]), true, &[]),
            Some((9, vec![])),
            "moved, last write 5 s old"
        );
        assert_eq!(
            due(&synced("9"), &mark(5, now - 2, vec![]), true, &[]),
            None,
            "moved, but written 2 s ago: at most every 5 s"
        );
        assert_eq!(
            due(&synced("9"), &mark(9, now - 60, vec![]), true, &[]),
            None,
            "idle: no write"
        );
        assert_eq!(
            due(&synced("4"), &mark(9, now - 60, vec![]), true, &[]),
            None,
            "never lowered on one line"
        );
        assert_eq!(
            due(
                &synced("4"),
                &mark(9, now - 1, vec![]),
                true,
                std::slice::from_ref(&x)
            ),
            Some((4, vec!["g-2@7".to_string()])),
            "another branch (a forced recovery): replaced at once"
        );
    }

    #[test]
    fn forks_due_table() {
        use crate::etcd::snapshot::{CensusEntry, Fork};
        use crate::position::Position;
        let x = Fork {
            id: "g-2@7".into(),
            uuid: U.into(),
            seqno: 36,
        };
        let other = "11111111-2222-3333-4444-555555555555";
        let snap = |peer_uuid: &str, peer_forks: Vec<Fork>, me_registered: bool| {
            let mut s = ClusterSnapshot::default();
            let mut names = vec!["g-2"];
            if me_registered {
                names.push("g-0");
            }
            for n in names {
                s.nodes.insert(
                    n.into(),
                    NodeEntry {
                        address: "10.0.0.2".into(),
                        lease: 1,
                    },
                );
            }
            s.census.insert(
                "g-2".into(),
                CensusEntry {
                    position: Position::known(peer_uuid, 50),
                    address: "10.0.0.2".into(),
                    at: 1,
                    running: Some(Position::known(peer_uuid, 50)),
                    forks: peer_forks,
                    cached_downto: None,
                    stray_writes: 0,
                    version: None,
                },
            );
            s
        };
        let synced = status("Synced", "4", "Primary", U);
        let joined = status("Joined", "3", "Primary", U);
        let ids = |v: Vec<Fork>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
        let none: Vec<String> = vec![];
        assert_eq!(
            ids(forks_due(
                &synced,
                &snap(U, vec![x.clone()], true),
                "g-0",
                &[]
            )),
            vec!["g-2@7"],
            "Synced in a cluster that went through the fork"
        );
        assert_eq!(
            ids(forks_due(
                &synced,
                &snap(U, vec![x.clone()], true),
                "g-0",
                std::slice::from_ref(&x)
            )),
            none,
            "already listed"
        );
        assert_eq!(
            ids(forks_due(
                &joined,
                &snap(U, vec![x.clone()], true),
                "g-0",
                &[]
            )),
            none,
            "not Synced yet"
        );
        assert_eq!(
            ids(forks_due(
                &synced,
                &snap(U, vec![x.clone()], false),
                "g-0",
                &[]
            )),
            none,
            "not registered"
        );
        assert_eq!(
            ids(forks_due(&synced, &snap(other, vec![x], true), "g-0", &[])),
            none,
            "the peer runs another cluster"
        );
    }

    #[test]
    fn recovery_mark_table() {
        use crate::etcd::snapshot::RecoveryRecord;
        use crate::position::Position;
        let snap = |state: ClusterState, uuid: &str, record: bool| ClusterSnapshot {
            state: Some(StateValue::Known(state)),
            uuid: Some(uuid.into()),
            recovery: record.then(|| RecoveryRecord {
                winner: "g-0".into(),
                position: Position::known(U, 5),
                decided_by: "g-0".into(),
                at: 7,
                reason: "force-bootstrap".into(),
                forced: None,
                bootstrapped_at: None,
            }),
            ..Default::default()
        };
        let synced = status("Synced", "4", "Primary", U);
        let joined = status("Joined", "3", "Primary", U);
        let non_prim = status("Synced", "4", "non-Primary", U);
        let other = "11111111-2222-3333-4444-555555555555";
        use ClusterState::*;
        let cases = [
            // (what, status, snapshot, already marked, want)
            (
                "Synced in the recovered cluster",
                &synced,
                snap(Recovery, U, true),
                None,
                Some("g-0@7"),
            ),
            (
                "already marked",
                &synced,
                snap(Recovery, U, true),
                Some("g-0@7"),
                None,
            ),
            (
                "marked for an earlier record",
                &synced,
                snap(Recovery, U, true),
                Some("g-0@1"),
                Some("g-0@7"),
            ),
            (
                "not Synced yet",
                &joined,
                snap(Recovery, U, true),
                None,
                None,
            ),
            (
                "not Primary",
                &non_prim,
                snap(Recovery, U, true),
                None,
                None,
            ),
            (
                "another history",
                &synced,
                snap(Recovery, other, true),
                None,
                None,
            ),
            ("no record", &synced, snap(Recovery, U, false), None, None),
            ("STEADY already", &synced, snap(Steady, U, true), None, None),
        ];
        for (what, st, sn, marked, want) in cases {
            assert_eq!(
                recovery_mark_due(st, &sn, marked).as_deref(),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn steady_due_table() {
        let mk = |state: Option<ClusterState>, members: &[&str], nodes: &[&str]| {
            let mut s = ClusterSnapshot {
                state: state.map(StateValue::Known),
                ..Default::default()
            };
            for m in members {
                s.members.insert(m.to_string(), "a".into());
            }
            for n in nodes {
                s.nodes.insert(
                    n.to_string(),
                    NodeEntry {
                        address: "a".into(),
                        lease: 1,
                    },
                );
            }
            s
        };
        use ClusterState::*;
        let cases = [
            (mk(Some(Building), &["a", "b", "c"], &["a", "b", "c"]), true),
            (mk(Some(Building), &["a", "b"], &["a", "b"]), false),
            (mk(Some(Building), &["a", "b", "c"], &["a", "b"]), false),
            (mk(Some(Recovery), &["a", "b"], &["a", "b"]), true),
            (mk(Some(Recovery), &["a", "b", "c"], &["a", "c"]), false),
            (mk(Some(Steady), &["a", "b", "c"], &["a", "b", "c"]), false),
            (mk(None, &["a", "b", "c"], &["a", "b", "c"]), true),
            (mk(Some(Building), &["a", "b", "c"], &["b", "c"]), false),
        ];
        for (s, want) in cases {
            assert_eq!(steady_due(&s, "a", 3).is_some(), want, "{s:?}");
        }
    }

    #[test]
    fn moot_force_table() {
        use crate::etcd::snapshot::{ForceRequest, NodeEntry, RecoveryRecord};
        use crate::position::Position;
        let req = |node: &str| ForceRequest {
            node: node.into(),
            position: None,
            issued_at: 1,
            expires_at: 99,
            accept_data_loss: false,
        };
        let rec = |winner: &str, forced: bool, booted: bool| RecoveryRecord {
            winner: winner.into(),
            position: Position::known(U, 5),
            decided_by: "g-0".into(),
            at: 1,
            reason: "r".into(),
            forced: forced.then(|| req(winner)),
            bootstrapped_at: booted.then_some(2),
        };
        let snap =
            |registered: bool, force: Option<ForceRequest>, recovery: Option<RecoveryRecord>| {
                let mut s = ClusterSnapshot {
                    force_bootstrap: force,
                    recovery,
                    ..Default::default()
                };
                if registered {
                    s.nodes.insert(
                        "g-1".into(),
                        NodeEntry {
                            address: "a".into(),
                            lease: 1,
                        },
                    );
                }
                s
            };
        let prim = status("Synced", "4", "Primary", U);
        let nonprim = status("Initialized", "0", "non-Primary", U);
        // (what, status, snapshot, (request, record) deleted or None)
        let cases = [
            (
                "request and record for g-2",
                &prim,
                snap(true, Some(req("g-2")), Some(rec("g-2", true, false))),
                Some((true, true)),
            ),
            (
                "request only",
                &prim,
                snap(true, Some(req("g-2")), None),
                Some((true, false)),
            ),
            (
                "record only",
                &prim,
                snap(true, None, Some(rec("g-2", true, false))),
                Some((false, true)),
            ),
            (
                "the winner bootstrapped already",
                &prim,
                snap(true, None, Some(rec("g-2", true, true))),
                None,
            ),
            (
                "an automatic recovery record",
                &prim,
                snap(true, None, Some(rec("g-2", false, false))),
                None,
            ),
            (
                "forced for this node itself",
                &prim,
                snap(true, Some(req("g-1")), Some(rec("g-1", true, false))),
                None,
            ),
            (
                "not registered",
                &prim,
                snap(false, Some(req("g-2")), None),
                None,
            ),
            (
                "not Primary",
                &nonprim,
                snap(true, Some(req("g-2")), None),
                None,
            ),
            ("nothing pending", &prim, snap(true, None, None), None),
        ];
        for (what, st, sn, want) in cases {
            let got = moot_force(st, &sn, "g-1");
            assert_eq!(
                got.as_ref().map(|m| (m.request, m.record)),
                want,
                "{what}: {got:?}"
            );
            if let Some(m) = got {
                assert!(
                    m.why.contains("forced recovery of g-2 is moot"),
                    "{what}: {}",
                    m.why
                );
            }
        }
    }

    #[test]
    fn preferred_successor_table() {
        use crate::etcd::snapshot::{LeaderEntry, NodeEntry};
        let base = || {
            let mut s = ClusterSnapshot::default();
            for n in ["a", "b", "c"] {
                s.members.insert(n.into(), format!("10.0.0.{n}"));
                s.nodes.insert(
                    n.into(),
                    NodeEntry {
                        address: format!("10.0.0.{n}"),
                        lease: 1,
                    },
                );
            }
            s
        };
        type Edit = fn(&mut ClusterSnapshot);
        let cases: Vec<(&str, &str, Edit, Option<&str>)> = vec![
            (
                "the first registered member campaigns at once",
                "a",
                |_| {},
                None,
            ),
            ("others defer to it", "c", |_| {}, Some("a")),
            (
                "the old leader, still registered, is passed over",
                "c",
                |s| {
                    s.nodes.get_mut("a").unwrap().address = "10.0.0.old".into();
                },
                Some("b"),
            ),
            (
                "a dead first member is skipped",
                "c",
                |s| {
                    s.nodes.remove("a");
                },
                Some("b"),
            ),
            (
                "the second is first once the first is gone",
                "b",
                |s| {
                    s.nodes.remove("a");
                },
                None,
            ),
            ("nobody to defer to", "c", |s| s.nodes.clear(), None),
            (
                "a leader exists: no election",
                "c",
                |s| {
                    s.leader = Some(LeaderEntry {
                        address: "x".into(),
                        lease: 1,
                        create_revision: 1,
                        mod_revision: 1,
                    })
                },
                None,
            ),
        ];
        for (name, me, edit, want) in cases {
            let mut s = base();
            edit(&mut s);
            assert_eq!(
                preferred_successor(&s, me, Some("10.0.0.old")).as_deref(),
                want,
                "{name}"
            );
        }
    }
}
