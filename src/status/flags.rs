//! The disagreements and problems `status` flags, one sentence each (pure): between etcd's
//! records, and between etcd and each node's live wsrep state.

use std::collections::BTreeSet;

use super::report::{force_bootstrap_ignored, MemberRow};
use super::reported_position;
use crate::etcd::snapshot::StateValue;
use crate::etcd::{ClusterSnapshot, ClusterState};
use crate::galera::safety;
use crate::position::Position;

/// The disagreements docs/design.md §6 asks `status` to flag (pure).
pub fn flags(snap: &ClusterSnapshot, rows: &[MemberRow], now: i64) -> Vec<String> {
    let mut f: Vec<String> = snap.warnings.clone();
    if let Some(p) = crate::pause::active(snap, now) {
        f.push(format!(
            "cluster {}: no recovery election, bootstrap, heal in place or leader hand-over for \
             health happens until it ends",
            crate::pause::sentence(p, now)
        ));
    }
    let histories = safety::histories(snap);
    if histories.len() > 1 {
        f.push(format!(
            "two histories side by side: {}. Compare them before choosing which to keep \
             (docs/operations.md, \"Two histories\")",
            histories
                .iter()
                .map(|h| format!(
                    "{}{}",
                    h.describe(),
                    if h.running.is_empty() {
                        ""
                    } else {
                        " (running)"
                    }
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // Each running node counts the writes its own clients committed while it was not the
    // leader (`galera::read_only`); any at all means a client bypasses haproxy's write port.
    for (name, c) in snap.census.iter().filter(|(_, c)| c.stray_writes > 0) {
        f.push(format!(
            "{name} received {} local write(s) while not the leader (since its mariadbd \
             started): a client bypasses haproxy's write port (docs/operations.md §13, \
             GaleraStrayWrites)",
            c.stray_writes
        ));
    }
    // A rolling upgrade shows as census entries of several versions.
    let versions = snap
        .census
        .iter()
        .filter_map(|(n, c)| Some((n.as_str(), c.version.as_deref()?)));
    f.extend(crate::galera::upgrade::mixed_versions(versions));
    if let Some(why) = force_bootstrap_ignored(snap, now) {
        f.push(why);
    } else if let Some(req) = &snap.force_bootstrap {
        let forks = crate::galera::branches::forks_of(snap, &req.node);
        let position = reported_position(snap, &req.node);
        let by_mark = position
            .as_ref()
            .map(|p| safety::mark_loss_sentence(&req.node, p, forks, snap))
            .unwrap_or_default();
        if let Some(l) = position
            .as_ref()
            .and_then(|p| safety::transactions_lost(p, forks, snap))
        {
            f.push(format!(
                "force-bootstrap of {} pending: choosing it loses at least {} transaction(s) of {} (held by {}){}{by_mark}",
                req.node,
                l.count,
                l.uuid,
                l.holders.join(","),
                safety::unknown_positions_sentence(snap, &req.node)
            ));
        } else if !by_mark.is_empty() {
            f.push(format!("force-bootstrap of {} pending{by_mark}", req.node));
        }
    }
    let state = snap.known_state();
    if let Some(StateValue::Invalid(v)) = &snap.state {
        f.push(format!(
            "state `{v}` is not BUILDING, STEADY or RECOVERY: entrypoints refuse to start; fix with `galera-sidecar set-state`"
        ));
    }
    if snap.state.is_none() && (!snap.nodes.is_empty() || !snap.members.is_empty()) {
        f.push("no state key while nodes/members exist (etcd lost its data?); running nodes restore it".into());
    }
    if snap.uuid.is_none() && !snap.nodes.is_empty() {
        f.push(
            "no uuid while nodes are registered (etcd lost its data?); running nodes restore it"
                .into(),
        );
    }
    if state == Some(ClusterState::Steady) {
        for (name, _) in snap
            .members
            .iter()
            .filter(|(n, _)| !snap.nodes.contains_key(*n))
        {
            f.push(format!(
                "member {name} is not registered (down, joining, or not Synced)"
            ));
        }
        if !snap.queue.is_empty() {
            f.push(
                "queue entries while STEADY (stale; they expire with their owners' leases)".into(),
            );
        }
    }
    if matches!(
        state,
        Some(ClusterState::Recovery) | Some(ClusterState::Building)
    ) && !snap.nodes.is_empty()
    {
        let missing: Vec<&str> = snap
            .members
            .keys()
            .filter(|m| !snap.nodes.contains_key(*m))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            f.push(format!(
                "state stays {} until every member registers; not registered: {} (start it, or `galera-sidecar remove-member NAME` if it is gone for good)",
                state.map(|s| s.as_str()).unwrap_or("-"),
                missing.join(", ")
            ));
        }
    }
    for name in snap.nodes.keys().filter(|n| !snap.members.contains_key(*n)) {
        f.push(format!("node {name} is registered but not a member"));
    }
    if let Some(l) = &snap.leader {
        if snap.node_named_by_address(&l.address).is_none() {
            f.push(format!(
                "leader {} is not a registered node (not eligible; it gives leadership up or its lease expires)",
                l.address
            ));
        }
    } else if !snap.nodes.is_empty() {
        f.push("no leader while nodes are registered: haproxy keeps its last config".into());
    }
    for r in rows {
        if let Some(why) = &r.refused {
            f.push(format!("{} refuses to start: {why}", r.name));
        }
        if let Some(why) = &r.resync_ignored {
            f.push(why.clone());
        }
        f.extend(live_flags(snap, r));
    }
    f.extend(cluster_size_flags(snap, rows));
    for (n, r) in &snap.resynced {
        if let Some(path) = &r.kept {
            f.push(format!(
                "{n}'s diverged datadir ({}) is kept at {path} on {n}'s volume, using its disk: \
                 compare it with the cluster, then delete it (docs/operations.md §6, \"Kept \
                 datadirs\")",
                resynced_range(r)
            ));
        }
    }
    f.extend(
        snap.nodes
            .keys()
            .filter_map(|n| crate::restart_gate::sst_flag(snap, n)),
    );
    if state == Some(ClusterState::Recovery) && snap.nodes.is_empty() {
        let expected: BTreeSet<&String> = snap.members.keys().collect();
        let queued: BTreeSet<&String> = snap.queue.keys().collect();
        let missing: Vec<&&String> = expected.difference(&queued).collect();
        if !missing.is_empty() {
            f.push(format!(
                "recovery waits for members not queued: {}{}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                safety::queued_mark_loss(snap)
            ));
        }
        for (n, q) in &snap.queue {
            if q.position == Some(Position::Unknown) {
                f.push(format!(
                    "{n} has an unknown position: no automatic recovery choice; see docs/operations.md (force-bootstrap)"
                ));
            }
        }
        if let Some(why) = crate::galera::recovery::blocked_by_mark(snap, now) {
            f.push(format!("recovery blocked: {why}"));
        }
    }
    f
}

/// What a resync discarded, in words (pure): `U:a..=b` when the numbers say which
/// transactions the cluster does not hold, else the datadir's position.
pub fn resynced_range(r: &crate::etcd::snapshot::ResyncedRecord) -> String {
    match (&r.position, r.first_seqno) {
        (Position::Known { uuid, seqno }, Some(0)) => {
            format!("history {uuid} through seqno {seqno}, none of it in the cluster's history")
        }
        (Position::Known { uuid, seqno }, Some(from)) if from <= *seqno => format!(
            "{uuid}:{from}..={seqno} ({} transaction(s) the cluster does not hold)",
            seqno - from + 1
        ),
        (p, _) => format!("a datadir at {p}"),
    }
}

/// Disagreements between one node's live wsrep state and etcd (pure).
fn live_flags(snap: &ClusterSnapshot, r: &MemberRow) -> Vec<String> {
    let mut f = vec![];
    let Some(live) = &r.live else {
        if let Some(e) = &r.live_error {
            if r.leader {
                f.push(format!(
                    "leader {} does not answer over SQL ({e}): not eligible; haproxy's health check fails it",
                    r.name
                ));
            } else if r.registered {
                f.push(format!(
                    "{} is registered but does not answer over SQL ({e})",
                    r.name
                ));
            }
        }
        return f;
    };
    if let Some(uuid) = &snap.uuid {
        if !live.cluster_state_uuid.is_empty() && &live.cluster_state_uuid != uuid {
            f.push(format!(
                "{} runs cluster uuid {} but etcd says {uuid} (split brain or a wrong etcd value; not ready, see docs/operations.md)",
                r.name, live.cluster_state_uuid
            ));
        }
    }
    if r.leader {
        let why = if live.donor() {
            Some(format!("donor ({})", live.local_state))
        } else if !live.synced() {
            Some(format!("not Synced ({})", live.local_state))
        } else if !live.primary() {
            Some(format!("not Primary ({})", live.cluster_status))
        } else if !live.ready {
            Some("wsrep_ready=OFF".to_string())
        } else {
            match &snap.uuid {
                Some(u) if *u != live.cluster_state_uuid => Some(format!(
                    "cluster uuid {} differs from etcd's {u}",
                    live.cluster_state_uuid
                )),
                _ => None,
            }
        };
        if let Some(why) = why {
            f.push(format!("leader {} is not eligible: {why}", r.name));
        }
    }
    if r.registered && !((live.synced() || live.donor()) && live.primary()) {
        f.push(format!(
            "{} is registered but {} / {} (a node stays registered only while Synced or Donor, in the Primary Component)",
            r.name, live.local_state, live.cluster_status
        ));
    }
    if !r.registered && live.synced() && live.primary() && r.member {
        f.push(format!(
            "{} is Synced and Primary but not registered (registering now, or its entrypoint lost etcd)",
            r.name
        ));
    }
    if !live.primary() && !r.registered {
        f.push(format!(
            "{} is {} (not in the Primary Component: partitioned or starting)",
            r.name, live.cluster_status
        ));
    }
    f
}

/// Nodes whose Galera view disagrees with the registrations in etcd (pure).
fn cluster_size_flags(snap: &ClusterSnapshot, rows: &[MemberRow]) -> Vec<String> {
    let registered = snap.nodes.len() as u64;
    rows.iter()
        .filter(|r| r.registered)
        .filter_map(|r| {
            let live = r.live.as_ref()?;
            let size = live.cluster_size?;
            (live.primary() && size != registered).then(|| {
                format!(
                    "{} sees wsrep_cluster_size {size} but {registered} node(s) are registered (a node joining or leaving, or a registration missing)",
                    r.name
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::etcd::snapshot::{ForceRequest, LeaderEntry, QueueEntry, ResyncRequest, StateValue};
    use crate::etcd::{ClusterSnapshot, ClusterState};
    use crate::position::Position;
    use crate::status::fixtures::{all_synced, base, census, live, U, V};
    use crate::status::{render_table, report, report_with_live, LiveResult};

    #[test]
    fn flags_table() {
        type Mutate = fn(&mut ClusterSnapshot);
        let cases: &[(&str, Mutate, &str)] = &[
            (
                "member down",
                |s| {
                    s.nodes.remove("g-2");
                },
                "member g-2 is not registered",
            ),
            (
                "unknown state",
                |s| s.state = Some(StateValue::Invalid("FOO".into())),
                "`FOO` is not",
            ),
            (
                "leader not a node",
                |s| {
                    s.leader = Some(LeaderEntry {
                        address: "10.9.9.9".into(),
                        lease: 1,
                        create_revision: 1,
                        mod_revision: 1,
                    })
                },
                "not a registered node",
            ),
            ("no leader", |s| s.leader = None, "no leader"),
            (
                "stray writes on a non-leader",
                |s| {
                    census(s, "g-1", Position::known(U, 40), true);
                    if let Some(c) = s.census.get_mut("g-1") {
                        c.stray_writes = 3;
                    }
                },
                "g-1 received 3 local write(s) while not the leader (since its mariadbd \
                 started): a client bypasses haproxy's write port",
            ),
            (
                "mixed versions: a rolling upgrade half done",
                |s| {
                    for (n, v) in [
                        ("g-0", "10.11.19-MariaDB-0+deb12u1"),
                        ("g-1", "10.11.19-MariaDB-0+deb12u1"),
                        ("g-2", "10.6.16-MariaDB"),
                    ] {
                        census(s, n, Position::known(U, 40), true);
                        if let Some(c) = s.census.get_mut(n) {
                            c.version = Some(v.into());
                        }
                    }
                },
                "mixed mariadbd versions: 10.6.16 on g-2; 10.11.19 on g-0,g-1 (a rolling \
                 upgrade in progress?",
            ),
            (
                "refused",
                |s| {
                    s.refused.insert("g-2".into(), "split brain".into());
                },
                "g-2 refuses to start: split brain",
            ),
            (
                "two histories side by side",
                |s| {
                    s.nodes.remove("g-2");
                    census(s, "g-0", Position::known(U, 40), true);
                    census(s, "g-2", Position::known(V, 90), false);
                },
                "two histories side by side: 11111111-2222-3333-4444-555555555555 at seqno 90 on g-2; \
                 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002 at seqno 40 on g-0 (running)",
            ),
            (
                "a hand-written force-bootstrap is ignored",
                |s| {
                    s.force_bootstrap = Some(ForceRequest {
                        node: "g-1".into(),
                        position: None,
                        issued_at: 0,
                        expires_at: 0,
                        accept_data_loss: false,
                    });
                },
                "the force-bootstrap request for g-1 has no expiry and no binding",
            ),
            (
                "a force-bootstrap whose node moved is ignored",
                |s| {
                    census(s, "g-1", Position::known(U, 12), false);
                    s.force_bootstrap = Some(ForceRequest {
                        node: "g-1".into(),
                        position: Some(Position::known(U, 11)),
                        issued_at: 1,
                        expires_at: i64::MAX / 2,
                        accept_data_loss: false,
                    });
                },
                "was issued against position 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:11, but g-1 now reports",
            ),
            (
                "a valid force-bootstrap says what it loses",
                |s| {
                    census(s, "g-0", Position::known(U, 20), false);
                    census(s, "g-1", Position::known(U, 12), false);
                    s.force_bootstrap = Some(ForceRequest {
                        node: "g-1".into(),
                        position: Some(Position::known(U, 12)),
                        issued_at: 1,
                        expires_at: i64::MAX / 2,
                        accept_data_loss: false,
                    });
                },
                "choosing it loses at least 8 transaction(s) of 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002 (held by g-0)",
            ),
            (
                "an expired resync is ignored",
                |s| {
                    s.refused.insert("g-2".into(), "two histories".into());
                    census(s, "g-2", Position::known(V, 3), false);
                    s.resync.insert(
                        "g-2".into(),
                        ResyncRequest {
                            position: Some(Position::known(V, 3)),
                            issued_at: 1,
                            expires_at: 2,
                            discard: false,
                        },
                    );
                },
                "the resync request for g-2 expired",
            ),
            ("no uuid", |s| s.uuid = None, "no uuid"),
            (
                "stale queue",
                |s| {
                    s.queue.insert(
                        "g-1".into(),
                        QueueEntry {
                            queued_at: Some(1),
                            seqno: Some(1),
                            position: None,
                        },
                    );
                },
                "queue entries while STEADY",
            ),
            (
                "recovery not finished",
                |s| {
                    s.state = Some(StateValue::Known(ClusterState::Recovery));
                    s.nodes.remove("g-2");
                },
                "state stays RECOVERY until every member registers; not registered: g-2",
            ),
            (
                "not a member",
                |s| {
                    s.members.remove("g-1");
                },
                "registered but not a member",
            ),
            (
                "recovery missing",
                |s| {
                    s.state = Some(StateValue::Known(ClusterState::Recovery));
                    s.nodes.clear();
                    s.leader = None;
                    s.queue.insert(
                        "g-0".into(),
                        QueueEntry {
                            queued_at: Some(1),
                            seqno: Some(5),
                            position: Some(Position::Unknown),
                        },
                    );
                },
                "recovery waits for members not queued: g-1, g-2",
            ),
        ];
        for (name, mutate, want) in cases {
            let mut s = base();
            mutate(&mut s);
            let r = report("c", &s);
            assert!(
                r.flags.iter().any(|f| f.contains(want)),
                "{name}: want {want:?} in {:?}",
                r.flags
            );
        }
    }

    #[test]
    fn healthy_live_cluster_has_no_flags() {
        let r = report_with_live("c", &base(), &all_synced());
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert!(r.members.iter().all(|m| m.live.is_some()));
        let t = render_table(&r);
        assert!(t.contains("Synced Primary size=3 committed=7"), "{t}");
    }

    #[test]
    fn live_flags_table() {
        type Mutate = fn(&mut ClusterSnapshot, &mut BTreeMap<String, LiveResult>);
        const V: &str = "11111111-1111-1111-1111-111111111111";
        let cases: &[(&str, Mutate, &str)] = &[
            (
                "uuid mismatch",
                |_, l| {
                    l.insert("g-1".into(), live("Synced", "Primary", 3, V));
                },
                "g-1 runs cluster uuid 11111111",
            ),
            (
                "leader is a donor",
                |_, l| {
                    l.insert("g-0".into(), live("Donor/Desynced", "Primary", 3, U));
                },
                "leader g-0 is not eligible: donor",
            ),
            (
                "leader not Synced",
                |_, l| {
                    l.insert("g-0".into(), live("Joined", "Primary", 3, U));
                },
                "leader g-0 is not eligible: not Synced (Joined)",
            ),
            (
                "leader non-Primary",
                |_, l| {
                    l.insert("g-0".into(), live("Synced", "non-Primary", 1, U));
                },
                "leader g-0 is not eligible: not Primary",
            ),
            (
                "leader unreachable",
                |_, l| {
                    l.insert("g-0".into(), Err("cannot connect to 10.0.0.1:33306".into()));
                },
                "leader g-0 does not answer over SQL",
            ),
            (
                "registered node unreachable",
                |_, l| {
                    l.insert("g-2".into(), Err("cannot connect".into()));
                },
                "g-2 is registered but does not answer",
            ),
            (
                "registered but Joined",
                |_, l| {
                    l.insert("g-2".into(), live("Joined", "Primary", 3, U));
                },
                "g-2 is registered but Joined / Primary",
            ),
            (
                "member missing, still answers partitioned",
                |s, l| {
                    s.nodes.remove("g-2");
                    l.insert("g-2".into(), live("Initialized", "non-Primary", 1, U));
                },
                "g-2 is non-Primary (not in the Primary Component",
            ),
            (
                "member missing and down",
                |s, l| {
                    s.nodes.remove("g-2");
                    l.insert("g-2".into(), Err("cannot connect".into()));
                },
                "member g-2 is not registered",
            ),
            (
                "cluster size disagrees",
                |s, l| {
                    s.nodes.remove("g-2");
                    l.insert("g-2".into(), Err("cannot connect".into()));
                },
                "g-0 sees wsrep_cluster_size 3 but 2 node(s) are registered",
            ),
            (
                "synced but not registered",
                |s, _| {
                    s.nodes.remove("g-1");
                },
                "g-1 is Synced and Primary but not registered",
            ),
        ];
        for (name, mutate, want) in cases {
            let mut s = base();
            let mut l = all_synced();
            mutate(&mut s, &mut l);
            let r = report_with_live("c", &s, &l);
            assert!(
                r.flags.iter().any(|f| f.contains(want)),
                "{name}: want {want:?} in {:?}",
                r.flags
            );
        }
    }
}
