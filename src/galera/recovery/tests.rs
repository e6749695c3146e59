//! The election's table tests: members and `--cluster-size`, operator requests and recorded
//! decisions, branches of one uuid, the commit high-water mark, nodes ahead of the winner.

use super::*;
use crate::etcd::snapshot::{
    BootstrapRecord, ClusterSnapshot, ForceRequest, QueueEntry, RecoveryRecord, StateValue,
};
use crate::etcd::ClusterState;
use crate::position::Position;

const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
const V: &str = "11111111-2222-3333-4444-555555555555";
const NOW: i64 = 1_800_000_000;

fn q(pos: Position) -> QueueEntry {
    QueueEntry {
        queued_at: Some(1),
        seqno: pos.seqno(),
        position: Some(pos),
    }
}

fn snap(members: &[&str], queued: &[(&str, Position)]) -> ClusterSnapshot {
    let mut s = ClusterSnapshot {
        state: Some(StateValue::Known(ClusterState::Recovery)),
        uuid: Some(U.into()),
        ..Default::default()
    };
    for m in members {
        s.members.insert(m.to_string(), "10.0.0.1".into());
    }
    for (n, p) in queued {
        enqueue(&mut s, n, p.clone());
    }
    s
}

/// `name` queued at `p`, having reported itself in the census first (as every entrypoint
/// does before it queues).
fn enqueue(s: &mut ClusterSnapshot, name: &str, p: Position) {
    s.census.insert(
        name.to_string(),
        crate::etcd::snapshot::CensusEntry {
            position: p.clone(),
            address: "10.0.0.1".into(),
            at: 1,
            running: None,
            forks: vec![],
            cached_downto: None,
            stray_writes: 0,
            version: None,
        },
    );
    s.queue.insert(name.to_string(), q(p));
}

fn winner(e: &Election) -> Option<(&str, i64)> {
    match e {
        Election::Winner { name, position, .. } => Some((name, position.seqno().unwrap_or(-9))),
        _ => None,
    }
}

#[test]
fn election_table() {
    let k = |s| Position::known(U, s);
    let m3 = ["g-0", "g-1", "g-2"];
    // (case, snapshot, cluster_size, expected winner or None, fragment of the reason/wait)
    type Case<'a> = (
        &'a str,
        ClusterSnapshot,
        usize,
        Option<(&'a str, i64)>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "all queued: highest wins",
            snap(&m3, &[("g-0", k(5)), ("g-1", k(9)), ("g-2", k(7))]),
            3,
            Some(("g-1", 9)),
            "",
        ),
        (
            "tie: smallest name wins",
            snap(&m3, &[("g-0", k(5)), ("g-1", k(9)), ("g-2", k(9))]),
            3,
            Some(("g-1", 9)),
            "",
        ),
        (
            "tie order independent of insertion",
            snap(&m3, &[("g-2", k(9)), ("g-0", k(9)), ("g-1", k(1))]),
            3,
            Some(("g-0", 9)),
            "",
        ),
        (
            "one member missing: wait",
            snap(&m3, &[("g-0", k(5)), ("g-1", k(9))]),
            3,
            None,
            "g-2",
        ),
        (
            "ghost (non-member) does not fill the set",
            snap(&m3, &[("g-0", k(5)), ("g-1", k(9)), ("ghost", k(99))]),
            3,
            None,
            "g-2",
        ),
        (
            "non-member with higher seqno is ignored",
            snap(
                &m3,
                &[("g-0", k(5)), ("g-1", k(6)), ("g-2", k(7)), ("x", k(99))],
            ),
            3,
            Some(("g-2", 7)),
            "",
        ),
        (
            "unknown position blocks",
            snap(
                &m3,
                &[("g-0", k(5)), ("g-1", Position::Unknown), ("g-2", k(7))],
            ),
            3,
            None,
            "g-1 has an unknown position",
        ),
        (
            "seqno -1 blocks",
            snap(
                &m3,
                &[
                    ("g-0", k(5)),
                    ("g-1", Position::known(U, -1)),
                    ("g-2", k(7)),
                ],
            ),
            3,
            None,
            "unknown position",
        ),
        (
            "uuid conflict blocks",
            snap(
                &m3,
                &[
                    ("g-0", k(5)),
                    ("g-1", Position::known(V, 50)),
                    ("g-2", k(7)),
                ],
            ),
            3,
            None,
            "history of cluster",
        ),
        (
            "fresh member cannot win but does not block",
            snap(
                &m3,
                &[("g-0", Position::Fresh), ("g-1", k(2)), ("g-2", k(1))],
            ),
            3,
            Some(("g-1", 2)),
            "",
        ),
        (
            "all fresh: blocked",
            snap(
                &m3,
                &[
                    ("g-0", Position::Fresh),
                    ("g-1", Position::Fresh),
                    ("g-2", Position::Fresh),
                ],
            ),
            3,
            None,
            "nothing to recover",
        ),
        (
            "a member etcd forgot: wait for --cluster-size queued nodes",
            snap(&["g-0", "g-1"], &[("g-0", k(5)), ("g-1", k(9))]),
            3,
            None,
            "only 2 member(s) known",
        ),
        (
            "a member etcd forgot takes part once queued, and may win",
            snap(
                &["g-0", "g-1"],
                &[("g-0", k(5)), ("g-1", k(9)), ("g-2", k(12))],
            ),
            3,
            Some(("g-2", 12)),
            "",
        ),
        (
            "five members",
            snap(
                &["a", "b", "c", "d", "e"],
                &[
                    ("a", k(1)),
                    ("b", k(2)),
                    ("c", k(3)),
                    ("d", k(4)),
                    ("e", k(3)),
                ],
            ),
            3,
            Some(("d", 4)),
            "",
        ),
    ];
    for (name, s, size, want, frag) in cases {
        let e = elect(&s, size, NOW);
        assert_eq!(winner(&e), want, "{name}: {e:?}");
        if !frag.is_empty() {
            let text = format!("{e:?}");
            assert!(text.contains(frag), "{name}: want {frag:?} in {text}");
        }
    }
}

#[test]
fn no_members_uses_cluster_size_and_agreement() {
    let k = |s| Position::known(U, s);
    let mut s = snap(&[], &[("a", k(3)), ("b", k(4))]);
    assert!(matches!(elect(&s, 3, NOW), Election::Waiting { .. }));
    enqueue(&mut s, "c", k(1));
    assert_eq!(winner(&elect(&s, 3, NOW)), Some(("b", 4)));
    // Without P/uuid, agreement among the queued decides the uuid.
    s.uuid = None;
    assert_eq!(winner(&elect(&s, 3, NOW)), Some(("b", 4)));
    // A lost PVC (fresh datadir) counts as present and does not block the others' data.
    enqueue(&mut s, "c", Position::Fresh);
    assert_eq!(winner(&elect(&s, 3, NOW)), Some(("b", 4)));
    // Disagreement without P/uuid → blocked.
    enqueue(&mut s, "c", Position::known(V, 100));
    let e = elect(&s, 3, NOW);
    assert!(matches!(e, Election::Blocked { .. }), "{e:?}");
    assert_eq!(winner(&e), None);
}

fn force(node: &str, pos: Option<Position>, expires_at: i64, accept: bool) -> ForceRequest {
    ForceRequest {
        node: node.into(),
        position: pos,
        issued_at: NOW - 10,
        expires_at,
        accept_data_loss: accept,
    }
}

fn record(winner: &str, seqno: i64) -> RecoveryRecord {
    RecoveryRecord {
        winner: winner.into(),
        position: Position::known(U, seqno),
        decided_by: "g-0".into(),
        at: 1,
        reason: "highest".into(),
        forced: None,
        bootstrapped_at: None,
    }
}

#[test]
fn force_bootstrap_and_records() {
    let k = |s| Position::known(U, s);
    let later = NOW + 3600;
    let mut s = snap(&["g-0", "g-1", "g-2"], &[("g-0", k(5)), ("g-1", k(9))]);
    // Forced node queued at the bound position: wins even though g-2 is missing and g-1
    // is ahead.
    s.force_bootstrap = Some(force("g-0", Some(k(5)), later, false));
    assert_eq!(winner(&elect(&s, 3, NOW)), Some(("g-0", 5)));
    // Forced node not queued: wait for it.
    s.force_bootstrap = Some(force("g-2", Some(k(1)), later, false));
    assert!(
        matches!(elect(&s, 3, NOW), Election::Waiting { ref missing, .. } if missing == &vec!["g-2".to_string()])
    );
    // A recorded decision stands.
    s.force_bootstrap = None;
    let rec = record("g-1", 9);
    s.recovery = Some(rec.clone());
    assert_eq!(elect(&s, 3, NOW), Election::Recorded(rec.clone()));
    // force-bootstrap replaces the record only while nobody bootstrapped.
    s.force_bootstrap = Some(force("g-0", Some(k(5)), later, false));
    assert!(matches!(
        elect(&s, 3, NOW),
        Election::Winner {
            replaces_record: true,
            forced: Some(_),
            ..
        }
    ));
    s.bootstrap = Some(BootstrapRecord {
        node: "g-1".into(),
        position: k(9),
        at: 1,
        reason: "recovery".into(),
    });
    assert_eq!(elect(&s, 3, NOW), Election::Recorded(rec.clone()));
    // With P/bootstrap lost, the record itself shows the bootstrap under way.
    s.bootstrap = None;
    let mut booted = rec.clone();
    booted.bootstrapped_at = Some(1);
    s.recovery = Some(booted.clone());
    assert_eq!(elect(&s, 3, NOW), Election::Recorded(booted));
    // Once the winner queued again (its bootstrap ended: a second outage), the operator's
    // request is obeyed.
    if let Some(q) = s.queue.get_mut("g-1") {
        q.queued_at = Some(5);
    }
    assert!(matches!(
        elect(&s, 3, NOW),
        Election::Winner {
            replaces_record: true,
            forced: Some(_),
            ..
        }
    ));
}

#[test]
fn force_requests_are_bound_and_expire() {
    let k = |s| Position::known(U, s);
    let later = NOW + 3600;
    let m3 = ["g-0", "g-1", "g-2"];
    let all = [("g-0", k(5)), ("g-1", k(9)), ("g-2", k(7))];
    // (case, request, queued g-0 position, expected winner)
    type Case<'a> = (&'a str, ForceRequest, Position, Option<(&'a str, i64)>);
    let cases: Vec<Case> = vec![
        (
            "bound and valid",
            force("g-0", Some(k(5)), later, false),
            k(5),
            Some(("g-0", 5)),
        ),
        (
            "expired: the automatic rule decides",
            force("g-0", Some(k(5)), NOW - 1, false),
            k(5),
            Some(("g-1", 9)),
        ),
        (
            "no expiry (hand-written): ignored",
            force("g-0", None, 0, false),
            k(5),
            Some(("g-1", 9)),
        ),
        (
            "position moved since it was issued",
            force("g-0", Some(k(4)), later, false),
            k(5),
            Some(("g-1", 9)),
        ),
        (
            "unbound without accepting loss",
            force("g-0", None, later, false),
            k(5),
            Some(("g-1", 9)),
        ),
        (
            "fresh datadir without accepting loss",
            force("g-0", Some(Position::Fresh), later, false),
            Position::Fresh,
            Some(("g-1", 9)),
        ),
        (
            "fresh datadir, loss accepted",
            force("g-0", Some(Position::Fresh), later, true),
            Position::Fresh,
            Some(("g-0", -9)),
        ),
        (
            "foreign datadir without accepting loss",
            force("g-0", Some(Position::known(V, 80)), later, false),
            Position::known(V, 80),
            None,
        ),
        (
            "foreign datadir, loss accepted",
            force("g-0", Some(Position::known(V, 80)), later, true),
            Position::known(V, 80),
            Some(("g-0", 80)),
        ),
    ];
    for (name, req, g0, want) in cases {
        let mut queued = all.to_vec();
        queued[0].1 = g0;
        let mut s = snap(&m3, &queued);
        s.force_bootstrap = Some(req);
        assert_eq!(winner(&elect(&s, 3, NOW)), want, "{name}");
    }
}

#[test]
fn a_record_whose_winner_queued_again_is_re_elected() {
    let k = |s| Position::known(U, s);
    // Five members. The first recovery elected g-0 at 100; g-0 bootstrapped at t=50, g-1
    // and g-2 joined and committed up to 200 after g-0 crashed; then a second full outage
    // before STEADY. Everyone queued again after t=50.
    let five = ["g-0", "g-1", "g-2", "g-3", "g-4"];
    let mut s = snap(
        &five,
        &[
            ("g-0", k(150)),
            ("g-1", k(200)),
            ("g-2", k(200)),
            ("g-3", k(90)),
            ("g-4", k(90)),
        ],
    );
    for q in s.queue.values_mut() {
        q.queued_at = Some(60);
    }
    s.recovery = Some(record("g-0", 100));
    s.bootstrap = Some(BootstrapRecord {
        node: "g-0".into(),
        position: k(100),
        at: 50,
        reason: "recovery".into(),
    });
    let e = elect(&s, 5, NOW);
    assert!(
        matches!(e, Election::Winner { ref name, replaces_record: true, .. } if name == "g-1"),
        "{e:?}"
    );
    // While the winner's bootstrap runs (it queued before bootstrapping), the record stands.
    if let Some(q) = s.queue.get_mut("g-0") {
        q.queued_at = Some(40);
    }
    assert!(matches!(elect(&s, 5, NOW), Election::Recorded(_)));
    // `P/bootstrap` lost: the record itself shows the bootstrap.
    if let Some(q) = s.queue.get_mut("g-0") {
        q.queued_at = Some(60);
    }
    s.bootstrap = None;
    assert!(
        matches!(elect(&s, 5, NOW), Election::Recorded(_)),
        "nothing shows it"
    );
    let mut booted = record("g-0", 100);
    booted.bootstrapped_at = Some(50);
    s.recovery = Some(booted);
    let e = elect(&s, 5, NOW);
    assert!(
        matches!(e, Election::Winner { ref name, replaces_record: true, .. } if name == "g-1"),
        "{e:?}"
    );
    // A forced record that expired before anyone bootstrapped is re-elected too.
    s.bootstrap = None;
    let mut forced = record("g-3", 90);
    forced.forced = Some(force("g-3", Some(k(90)), NOW - 5, false));
    s.recovery = Some(forced);
    assert_eq!(winner(&elect(&s, 5, NOW)), Some(("g-1", 200)));
}

#[test]
fn two_branches_of_one_uuid_block_the_election() {
    use crate::etcd::snapshot::{CensusEntry, Fork};
    let k = |s| Position::known(U, s);
    let x = Fork {
        id: "g-2@7".into(),
        uuid: U.into(),
        seqno: 36,
    };
    let m3 = ["g-0", "g-1", "g-2"];
    // g-2 was forced at 36 and its cluster committed to 50; g-0 and g-1 went on to 60
    // without it (refused as ahead, then a second outage).
    let mut s = snap(&m3, &[("g-0", k(60)), ("g-1", k(60)), ("g-2", k(50))]);
    let census = |forks: Vec<Fork>| CensusEntry {
        position: k(50),
        address: "10.0.0.1".into(),
        at: 1,
        running: None,
        forks,
        cached_downto: None,
        stray_writes: 0,
        version: None,
    };
    s.census.insert("g-2".into(), census(vec![x.clone()]));
    match elect(&s, 3, NOW) {
        Election::Blocked { reason } => assert!(
            reason.contains("two branches of cluster") && reason.contains("up to seqno 36"),
            "{reason}"
        ),
        e => panic!("seqnos of two branches compared: {e:?}"),
    }
    // With etcd's P/forks/ lost, the census still shows the fork; without g-2's census
    // entry its branch is unknown: the election waits for it.
    assert!(s.forks.is_empty());
    let mut lost = s.clone();
    lost.census.remove("g-2");
    match elect(&lost, 3, NOW) {
        Election::Waiting { missing, .. } => {
            assert_eq!(
                missing,
                vec!["g-2's census entry (the forced recoveries its datadir went through)"]
            )
        }
        e => panic!("elected without g-2's census: {e:?}"),
    }
    // Once g-0 and g-1 are on the forced branch too (resynced, rejoined), the most
    // advanced of the line wins as usual.
    for n in ["g-0", "g-1"] {
        s.census.insert(n.into(), census(vec![x.clone()]));
    }
    assert_eq!(winner(&elect(&s, 3, NOW)), Some(("g-0", 60)));
    // A prefix of both branches (at 30) does not block.
    let mut p = snap(&m3, &[("g-0", k(30)), ("g-1", k(30)), ("g-2", k(50))]);
    p.census.insert("g-2".into(), census(vec![x]));
    assert_eq!(winner(&elect(&p, 3, NOW)), Some(("g-2", 50)));
}

fn mark(seqno: i64, by: &str) -> crate::etcd::snapshot::Mark {
    crate::etcd::snapshot::Mark {
        uuid: U.into(),
        seqno,
        at: NOW - 180,
        by: by.into(),
        forks: vec![],
    }
}

/// The commit high-water mark: no automatic winner below it while a node that does not
/// take part in the election may hold the difference.
#[test]
fn election_and_the_commit_high_water_mark() {
    let k = |s| Position::known(U, s);
    let m3 = ["g-0", "g-1", "g-2"];
    let all = [("g-0", k(5)), ("g-1", k(9)), ("g-2", k(7))];
    let marked = |members: &[&str], queued: &[(&str, Position)], m| {
        let mut s = snap(members, queued);
        s.hwm = Some(m);
        s
    };
    // g-2 removed with remove-member (members/ holds g-0 and g-1, --cluster-size 2).
    let removed = marked(&["g-0", "g-1"], &all[..2], mark(12, "g-2"));
    let mut back = removed.clone();
    enqueue(&mut back, "g-2", k(12));
    let mut back_no_census = back.clone();
    back_no_census.census.remove("g-2");
    let mut back_unknown = removed.clone();
    enqueue(&mut back_unknown, "g-2", Position::Unknown);
    let mut other_uuid = removed.clone();
    other_uuid.hwm = Some(crate::etcd::snapshot::Mark {
        uuid: V.into(),
        ..mark(12, "g-2")
    });
    let mut other_branch = removed.clone();
    other_branch.hwm = Some(crate::etcd::snapshot::Mark {
        forks: vec!["g-9@9".into()],
        ..mark(12, "g-2")
    });
    let mut forced = removed.clone();
    forced.force_bootstrap = Some(force("g-0", Some(k(5)), NOW + 3600, false));
    let mut no_members = removed.clone();
    no_members.members.clear();
    // (case, snapshot, cluster_size, expected winner, fragments of the reason)
    type Case<'a> = (
        &'a str,
        ClusterSnapshot,
        usize,
        Option<(&'a str, i64)>,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "winner above the mark",
            marked(&m3, &all, mark(8, "g-2")),
            3,
            Some(("g-1", 9)),
            vec!["highest seqno 9"],
        ),
        (
            "winner at the mark",
            marked(&m3, &all, mark(9, "g-2")),
            3,
            Some(("g-1", 9)),
            vec!["highest seqno 9"],
        ),
        (
            "below the mark, every member took part: proceeds and says what is lost",
            marked(&m3, &all, mark(12, "g-2")),
            3,
            Some(("g-1", 9)),
            vec![
                "loses at least 3 transaction(s) the commit high-water mark records",
                "written by g-2 at 2027-01-15T07:57:00Z (3m before now)",
                "no member holds",
            ],
        ),
        (
            "below the mark, its writer removed and absent: blocked",
            removed.clone(),
            2,
            None,
            vec![
                "g-1 would win at seqno 9, below the commit high-water mark",
                "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:12, written by g-2",
                "would lose at least 3 committed transaction(s), which g-2 may hold",
                "g-2 is not a member any more (removed with `remove-member`",
                "Nothing bootstraps. Bring g-2 back",
                "`galera-sidecar force-bootstrap g-1 --accept-data-loss`",
            ],
        ),
        (
            "the removed writer comes back holding the mark: it takes part and wins",
            back,
            2,
            Some(("g-2", 12)),
            vec!["g-2 is not a member, but it is the queued node holding every commit"],
        ),
        (
            "the writer back without a census entry: its branch is unknown",
            back_no_census,
            2,
            None,
            vec!["g-2 is queued at", "no census entry"],
        ),
        (
            "the writer back with an unknown position",
            back_unknown,
            2,
            None,
            vec!["g-2 is queued with an unknown position"],
        ),
        (
            "a mark of another uuid says nothing",
            other_uuid,
            2,
            Some(("g-1", 9)),
            vec![],
        ),
        (
            "a mark of a branch nobody describes says nothing",
            other_branch,
            2,
            Some(("g-1", 9)),
            vec![],
        ),
        (
            "forced request unaffected",
            forced,
            2,
            Some(("g-0", 5)),
            vec!["force-bootstrap of g-0 requested by the operator"],
        ),
        (
            "no member known (members/ lost): the absent writer blocks",
            no_members,
            2,
            None,
            vec!["which g-2 may hold", "g-2 is not a member any more"],
        ),
        (
            "a member etcd forgot takes part as before (it holds the mark)",
            marked(
                &["g-0", "g-1"],
                &[("g-0", k(5)), ("g-1", k(9)), ("g-2", k(12))],
                mark(12, "g-2"),
            ),
            3,
            Some(("g-2", 12)),
            vec!["highest seqno 12"],
        ),
    ];
    for (name, s, size, want, frags) in cases {
        let e = elect(&s, size, NOW);
        assert_eq!(winner(&e), want, "{name}: {e:?}");
        let text = match &e {
            Election::Winner { reason, .. } | Election::Blocked { reason } => reason.clone(),
            e => panic!("{name}: {e:?}"),
        };
        for f in frags {
            assert!(text.contains(f), "{name}: want {f:?} in {text}");
        }
        if want.is_some_and(|(_, s)| s >= 12) || name.contains("says nothing") {
            assert!(!text.contains("that no member holds"), "{name}: {text}");
        }
    }
    // What `status` shows: the mark's block only, for the election over the members.
    assert!(
        blocked_by_mark(&removed, NOW).is_some_and(|r| r.contains("Bring g-2 back")),
        "{:?}",
        blocked_by_mark(&removed, NOW)
    );
    assert_eq!(
        blocked_by_mark(&marked(&m3, &all, mark(12, "g-2")), NOW),
        None
    );
    let unknown = marked(
        &m3,
        &[("g-0", k(5)), ("g-1", Position::Unknown), ("g-2", k(7))],
        mark(12, "g-9"),
    );
    assert_eq!(
        blocked_by_mark(&unknown, NOW),
        None,
        "blocked, not by the mark"
    );
}

#[test]
fn ahead_of_winner_detects_newer_commits() {
    let rec = RecoveryRecord {
        winner: "g-0".into(),
        position: Position::known(U, 5),
        decided_by: "g-0".into(),
        at: 1,
        reason: "force".into(),
        forced: None,
        bootstrapped_at: None,
    };
    assert_eq!(
        ahead_of_winner(&rec, "g-1", &Position::known(U, 9), None),
        Some(4)
    );
    assert_eq!(
        ahead_of_winner(&rec, "g-1", &Position::known(U, 5), None),
        None
    );
    assert_eq!(
        ahead_of_winner(&rec, "g-1", &Position::known(V, 50), None),
        None
    );
    assert_eq!(ahead_of_winner(&rec, "g-1", &Position::Fresh, None), None);
    assert_eq!(
        ahead_of_winner(&rec, "g-0", &Position::known(U, 18), None),
        None,
        "the winner itself"
    );
    assert_eq!(
        ahead_of_winner(&rec, "g-1", &Position::known(U, 9), Some("g-0@1")),
        None,
        "joined the cluster recovered under this record"
    );
    assert_eq!(
        ahead_of_winner(&rec, "g-1", &Position::known(U, 9), Some("g-0@0")),
        Some(4),
        "joined an earlier recovery"
    );
}
