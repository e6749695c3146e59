//! The running loop's decision, by table: one observation in, the plan's steps (by kind), the
//! leadership it settles and its sentence out.

use std::time::Duration;

use super::decide::{decide, Observation, Step};
use crate::etcd::snapshot::{
    BootstrapRecord, CensusEntry, ClusterSnapshot, LeaderEntry, NodeEntry, Pause, StateValue,
    SwitchoverRequest,
};
use crate::etcd::ClusterState;
use crate::galera::heal::HEAL_IN_PLACE;
use crate::mysql::WsrepStatus;
use crate::position::Position;

const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
const ME: &str = "g-1";
const MY_ADDR: &str = "127.0.0.3";
const LEASE: i64 = 42;

fn status(comment: &str, primary: &str) -> WsrepStatus {
    WsrepStatus::from_rows([
        ("wsrep_local_state_comment", comment),
        (
            "wsrep_local_state",
            match comment {
                "Synced" => "4",
                "Donor/Desynced" => "2",
                _ => "3",
            },
        ),
        ("wsrep_cluster_status", primary),
        ("wsrep_cluster_state_uuid", U),
        ("wsrep_last_committed", "17"),
        ("wsrep_ready", "ON"),
        ("wsrep_cluster_size", "3"),
    ])
}

fn node(addr: &str, lease: i64) -> NodeEntry {
    NodeEntry {
        address: addr.into(),
        lease,
    }
}

fn leader(addr: &str, lease: i64) -> Option<LeaderEntry> {
    Some(LeaderEntry {
        address: addr.into(),
        lease,
        create_revision: 10,
        mod_revision: 11,
    })
}

/// A STEADY cluster of g-0, g-1 (this node), g-2, all registered; g-0 leads.
fn steady_snap() -> ClusterSnapshot {
    let mut s = ClusterSnapshot {
        revision: 100,
        state: Some(StateValue::Known(ClusterState::Steady)),
        uuid: Some(U.into()),
        leader: leader("127.0.0.2", 7),
        hwm: Some(crate::etcd::snapshot::Mark {
            uuid: U.into(),
            seqno: 17,
            at: 1_000,
            by: "g-0".into(),
            forks: vec![],
        }),
        ..Default::default()
    };
    for (n, a, l) in [
        ("g-0", "127.0.0.2", 7),
        (ME, MY_ADDR, LEASE),
        ("g-2", "127.0.0.4", 9),
    ] {
        s.nodes.insert(n.into(), node(a, l));
        s.members.insert(n.into(), a.into());
    }
    s
}

/// This node, Synced and Primary in a STEADY cluster led by g-0, nothing due.
fn healthy() -> Observation {
    Observation {
        me: ME.into(),
        address: MY_ADDR.into(),
        lease: LEASE,
        cluster_size: 3,
        now: 1_002,
        status: Some(status("Synced", "Primary")),
        sql_failures: 0,
        snap: Some(steady_snap()),
        etcd_ok: true,
        census: CensusEntry {
            position: Position::known(U, 17),
            address: MY_ADDR.into(),
            at: 1_002,
            running: Some(Position::known(U, 17)),
            forks: vec![],
            cached_downto: None,
            stray_writes: 0,
            version: None,
        },
        census_due: false,
        vacant_for: Duration::ZERO,
        last_leader: Some("127.0.0.2".into()),
        forks: vec![],
        recovery_mark: None,
        first_synced: false,
        non_primary_for: Duration::ZERO,
        ever_primary: true,
        probes: Default::default(),
        woken_by: "the periodic check".into(),
        upgrade: Default::default(),
    }
}

/// mariadbd 10.11.19 on a datadir that records 10.6.16 (`mysql_upgrade_info`).
fn older_datadir(o: &mut Observation) {
    o.upgrade = crate::galera::upgrade::Facts {
        binary: Some("10.11.19-MariaDB-0+deb12u1".into()),
        recorded: Some("10.6.16-MariaDB".into()),
        ..Default::default()
    };
}

/// The operator's `switchover --to g-1`, made against the leader g-0.
fn switchover_to_me() -> Option<SwitchoverRequest> {
    Some(SwitchoverRequest {
        to: ME.into(),
        from: "127.0.0.2".into(),
        leader_revision: 11,
        issued_at: 1_000,
        expires_at: 1_030,
        during_pause: false,
        refused: None,
        lease: 5,
        mod_revision: 12,
    })
}

/// A pause by `ops` until unix time 5000.
fn paused() -> Option<Pause> {
    Some(Pause {
        reason: "upgrade".into(),
        by: "ops".into(),
        since: 900,
        until: 5_000,
        lease: 3,
    })
}

fn with(f: impl FnOnce(&mut Observation)) -> Observation {
    let mut o = healthy();
    f(&mut o);
    o
}

fn snap_of(o: &mut Observation) -> &mut ClusterSnapshot {
    o.snap
        .as_mut()
        .expect("the table's observations carry a snapshot")
}

/// (case, observation, the steps' kinds, leadership settled, words in the sentence)
type Case = (
    &'static str,
    Observation,
    Vec<&'static str>,
    Option<bool>,
    &'static str,
);

#[test]
fn steady_plan_table() {
    let cases: Vec<Case> = vec![
        (
            "healthy follower: nothing to do, said as such",
            healthy(),
            vec![],
            Some(false),
            "no action: 127.0.0.2 leads, Synced/Primary, STEADY",
        ),
        (
            "healthy leader: nothing to do",
            with(|o| snap_of(o).leader = leader(MY_ADDR, LEASE)),
            vec![],
            Some(true),
            "no action: this node leads",
        ),
        (
            "census refresh alone is routine: no action in the sentence",
            with(|o| o.census_due = true),
            vec!["census"],
            Some(false),
            "no action",
        ),
        (
            "synced, not registered: register with the census in the same txn",
            with(|o| {
                o.census_due = true;
                snap_of(o).nodes.remove(ME);
            }),
            vec!["register"],
            Some(false),
            "register",
        ),
        (
            "joined (catching up): deregister, census still published",
            with(|o| {
                o.status = Some(status("Joined", "Primary"));
                o.census_due = true;
            }),
            vec!["deregister", "census"],
            Some(false),
            "deregister: Joined / Primary",
        ),
        (
            "registered under an old lease: not ours to deregister",
            with(|o| {
                o.status = Some(status("Joined", "Primary"));
                snap_of(o).nodes.insert(ME.into(), node(MY_ADDR, 1));
            }),
            vec![],
            Some(false),
            "no action",
        ),
        (
            "silent twice: no deregistration yet, no leadership decision",
            with(|o| {
                o.status = None;
                o.sql_failures = 2;
            }),
            vec![],
            Some(false),
            "local server not answering (2 failure(s))",
        ),
        (
            "silent three times: deregister",
            with(|o| {
                o.status = None;
                o.sql_failures = 3;
            }),
            vec!["deregister"],
            Some(false),
            "deregister: local server not answering",
        ),
        (
            "P/uuid lost with etcd's data: restored from the running cluster",
            with(|o| {
                let s = snap_of(o);
                s.uuid = None;
            }),
            vec!["restore-uuid"],
            Some(false),
            "restore P/uuid",
        ),
        (
            "every member registered in RECOVERY: STEADY",
            with(|o| snap_of(o).state = Some(StateValue::Known(ClusterState::Recovery))),
            vec!["steady"],
            Some(false),
            "STEADY: all 3 member(s) registered",
        ),
        (
            "a member not registered: no STEADY",
            with(|o| {
                let s = snap_of(o);
                s.state = Some(StateValue::Known(ClusterState::Recovery));
                s.nodes.remove("g-2");
            }),
            vec![],
            Some(false),
            "no action",
        ),
        (
            "healed in place and registered: the record goes",
            with(|o| {
                snap_of(o).bootstrap = Some(BootstrapRecord {
                    node: ME.into(),
                    position: Position::known(U, 17),
                    at: 990,
                    reason: HEAL_IN_PLACE.into(),
                })
            }),
            vec!["clear-heal-record"],
            Some(false),
            "healed in place",
        ),
        (
            "no leader, vacant past the deferral: campaign",
            with(|o| {
                snap_of(o).leader = None;
                o.vacant_for = Duration::from_secs(3);
            }),
            vec!["campaign"],
            None,
            "campaign: eligible and no leader",
        ),
        (
            "no leader, just vacated, g-0 registered first: wait for it",
            with(|o| {
                snap_of(o).leader = None;
                o.last_leader = Some("127.0.0.9".into());
            }),
            vec!["hold"],
            None,
            "not campaigning yet: g-0 is the first registered member",
        ),
        (
            "no leader, the old leader g-0 still registered: this node is first after it",
            with(|o| snap_of(o).leader = None),
            vec!["campaign"],
            None,
            "campaign",
        ),
        (
            "leader turned donor: resign",
            with(|o| {
                o.status = Some(status("Donor/Desynced", "Primary"));
                snap_of(o).leader = leader(MY_ADDR, LEASE);
            }),
            vec!["resign"],
            Some(false),
            "give up leadership: donor (Donor/Desynced)",
        ),
        (
            "leader turned donor while paused: keeps leadership, says why",
            with(|o| {
                o.status = Some(status("Donor/Desynced", "Primary"));
                let s = snap_of(o);
                s.leader = leader(MY_ADDR, LEASE);
                s.pause = paused();
            }),
            vec!["hold"],
            Some(true),
            "not giving up leadership although donor (Donor/Desynced): cluster paused (paused by ops (upgrade) until",
        ),
        (
            "switchover to this node, eligible: take over",
            with(|o| {
                snap_of(o).switchover = switchover_to_me()
            }),
            vec!["switchover"],
            Some(false),
            "take leadership over",
        ),
        (
            "switchover to this node while a donor: refused, said in the request",
            with(|o| {
                o.status = Some(status("Donor/Desynced", "Primary"));
                snap_of(o).switchover = switchover_to_me()
            }),
            vec!["refuse-switchover"],
            Some(false),
            "refuse the switchover: g-1 is not eligible: donor",
        ),
        (
            "leader without a mark: the first mark is written and said",
            with(|o| {
                let s = snap_of(o);
                s.leader = leader(MY_ADDR, LEASE);
                s.hwm = None;
            }),
            vec!["mark"],
            Some(true),
            "commit high-water mark",
        ),
        (
            "leader whose mark moved 5 s ago: refreshed, routinely",
            with(|o| {
                let s = snap_of(o);
                s.leader = leader(MY_ADDR, LEASE);
                if let Some(m) = s.hwm.as_mut() {
                    m.seqno = 10;
                    m.at = 990;
                }
            }),
            vec!["mark"],
            Some(true),
            "no action: this node leads",
        ),
        (
            "a follower never writes the mark",
            with(|o| snap_of(o).hwm = None),
            vec![],
            Some(false),
            "no action",
        ),
        (
            "etcd unreachable: local steps only, on the last view",
            with(|o| {
                o.etcd_ok = false;
                o.first_synced = true;
                snap_of(o).nodes.remove(ME);
            }),
            vec!["init-ok"],
            None,
            "first Synced",
        ),
        (
            "etcd unreachable and nothing local: no action, says the view is old",
            with(|o| o.etcd_ok = false),
            vec![],
            None,
            "(etcd unreachable: last view)",
        ),
        (
            "Synced on a datadir of an older series: mariadb-upgrade, said",
            with(older_datadir),
            vec!["mariadb-upgrade"],
            Some(false),
            "run mariadb-upgrade: the datadir records 10.6.16, mariadbd is 10.11.19 (run 1 of 3)",
        ),
        (
            "still catching up (Joined): mariadb-upgrade waits for Synced",
            with(|o| {
                older_datadir(o);
                o.status = Some(status("Joined", "Primary"));
                snap_of(o).nodes.remove(ME);
            }),
            vec![],
            Some(false),
            "no action",
        ),
        (
            "mariadb-upgrade running: not started twice",
            with(|o| {
                older_datadir(o);
                o.upgrade.running = true;
                o.upgrade.attempts = 1;
            }),
            vec![],
            Some(false),
            "no action",
        ),
        (
            "etcd unreachable: mariadb-upgrade is local, still run",
            with(|o| {
                older_datadir(o);
                o.etcd_ok = false;
            }),
            vec!["mariadb-upgrade"],
            None,
            "run mariadb-upgrade",
        ),
        (
            "non-Primary with a Primary Component registered elsewhere: stay, said",
            with(|o| {
                o.status = Some(status("Initialized", "non-Primary"));
                o.non_primary_for = Duration::from_secs(40);
                snap_of(o).nodes.remove(ME);
            }),
            vec!["hold"],
            Some(false),
            "staying non-Primary, mariadbd keeps running",
        ),
    ];
    for (case, o, kinds, leadership, words) in cases {
        let plan = decide(&o);
        let got: Vec<&str> = plan.steps.iter().map(Step::kind).collect();
        assert_eq!(got, kinds, "{case}: {plan:?}");
        assert_eq!(plan.leader, leadership, "{case}: {plan:?}");
        assert!(
            plan.sentence.contains(words),
            "{case}: {:?} lacks {words:?}",
            plan.sentence
        );
    }
}

#[test]
fn leaving_for_the_recovery_is_the_whole_plan() {
    // Non-Primary for 40 s; g-0 and g-2 alive with mariadbd stopped (queued, census without
    // a running cluster) and g-0 ahead: this node leaves so the recovery can elect.
    let mut o = with(|o| {
        o.status = Some(status("Initialized", "non-Primary"));
        o.non_primary_for = Duration::from_secs(40);
        o.first_synced = true;
        let s = snap_of(o);
        s.nodes.clear();
        s.leader = None;
        for (n, a, seqno) in [("g-0", "127.0.0.2", 30), ("g-2", "127.0.0.4", 17)] {
            s.census.insert(
                n.into(),
                CensusEntry {
                    position: Position::known(U, seqno),
                    address: a.into(),
                    at: 1_000,
                    running: None,
                    forks: vec![],
                    cached_downto: None,
                    stray_writes: 0,
                    version: None,
                },
            );
        }
    });
    let s = snap_of(&mut o);
    for n in ["g-0", "g-2"] {
        s.queue.insert(n.into(), Default::default());
    }
    let plan = decide(&o);
    let kinds: Vec<&str> = plan.steps.iter().map(Step::kind).collect();
    assert_eq!(kinds, ["leave-for-recovery"], "{plan:?}");
    assert!(
        plan.sentence.starts_with("leave for the recovery"),
        "{}",
        plan.sentence
    );
}

#[test]
fn a_pass_whose_situation_holds_says_the_same_sentence() {
    // The heartbeat repeats a sentence only when it is the same: time passing alone (a pause
    // counting down, a non-Primary spell growing) must not change it.
    let paused_pass = |now: i64, for_s: u64| {
        with(|o| {
            o.now = now;
            o.status = Some(status("Initialized", "non-Primary"));
            o.non_primary_for = Duration::from_secs(for_s);
            let s = snap_of(o);
            s.nodes.remove(ME);
            s.pause = paused();
        })
    };
    assert_eq!(
        decide(&paused_pass(1_002, 40)).key,
        decide(&paused_pass(1_050, 88)).key
    );
    // A server silent for 3 passes, then for 4: the same situation.
    let silent = |n: u32| {
        with(|o| {
            o.status = None;
            o.sql_failures = n;
            o.snap.as_mut().map(|s| s.nodes.remove(ME));
        })
    };
    let (three, four) = (decide(&silent(3)), decide(&silent(4)));
    assert_ne!(three.sentence, four.sentence, "the sentence says the count");
    assert_eq!(three.key, four.key, "the key does not");
    // A different situation is a different key.
    assert_ne!(decide(&healthy()).key, three.key);
    assert_eq!(super::decide::shape("n=17, 3 s, g-0"), "n=#, # s, g-#");
}
