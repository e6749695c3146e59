//! The readiness and liveness table tests, and the probe sequences (grace after a `ready`
//! answer, a stuck join, consecutive connection failures).

use super::*;
use crate::mysql::{MysqlError, WsrepStatus};
use crate::state_file::Phase;

const U: &str = "6c1b0a2e-1111-11ef-8000-000000000001";
const U2: &str = "6c1b0a2e-2222-11ef-8000-000000000002";

fn synced() -> WsrepStatus {
    WsrepStatus::from_rows([
        ("wsrep_local_state_comment", "Synced"),
        ("wsrep_local_state", "4"),
        ("wsrep_evs_state", "OPERATIONAL"),
        ("wsrep_connected", "ON"),
        ("wsrep_ready", "ON"),
        ("wsrep_cluster_state_uuid", U),
        ("wsrep_cluster_status", "Primary"),
        ("wsrep_cluster_size", "3"),
        ("wsrep_last_committed", "10"),
        ("wsrep_local_recv_queue", "0"),
    ])
}

fn with(mut w: WsrepStatus, k: &str, v: &str) -> WsrepStatus {
    w.vars.insert(k.to_string(), v.to_string());
    w
}

fn obs() -> Observation {
    Observation {
        phase: PhaseView::Known(Phase::Running),
        sst_in_progress: false,
        etcd: EtcdViewObs {
            uuid: Some(U.into()),
            state: Some("STEADY".into()),
            age: Some(Duration::from_secs(1)),
            source: ViewSource::StateFile,
        },
        wsrep: Ok(synced()),
        mysqld: MysqldKey {
            pid: Some(100),
            started_at: Some(1000),
        },
        mysqld_exists: Some(true),
        now: 10_000,
    }
}

fn refused() -> MysqlError {
    MysqlError::Refused("socket /run/mysqld/mysqld.sock: No such file".into())
}

const CFG: LivenessConfig = LivenessConfig {
    liveness_failures: 3,
    stuck_join_timeout: Duration::from_secs(600),
};

/// (name, observation, want ok, want rule, text the reason must contain)
#[test]
fn readiness_table() {
    let cases: Vec<(&str, Observation, bool, Rule, &str)> = vec![
        (
            "all good",
            obs(),
            true,
            Rule::Ready,
            "Synced, Primary, uuid = P/uuid",
        ),
        (
            "phase joining",
            Observation {
                phase: PhaseView::Known(Phase::Joining),
                ..obs()
            },
            false,
            Rule::Phase,
            "phase=joining (want running)",
        ),
        (
            "phase refused beats a Synced server",
            Observation {
                phase: PhaseView::Known(Phase::Refused),
                ..obs()
            },
            false,
            Rule::Phase,
            "phase=refused",
        ),
        (
            "no state file: phase not checked",
            Observation {
                phase: PhaseView::Missing("no state file".into()),
                ..obs()
            },
            true,
            Rule::Ready,
            "phase not checked: no state file",
        ),
        (
            "refused connection",
            Observation {
                wsrep: Err(refused()),
                ..obs()
            },
            false,
            Rule::MysqlError,
            "cannot connect",
        ),
        (
            "access denied",
            Observation {
                wsrep: Err(MysqlError::AccessDenied("x".into())),
                ..obs()
            },
            false,
            Rule::MysqlError,
            "access denied",
        ),
        (
            "too many connections",
            Observation {
                wsrep: Err(MysqlError::TooManyConnections("x".into())),
                ..obs()
            },
            false,
            Rule::MysqlError,
            "too many connections",
        ),
        (
            "donor",
            Observation {
                wsrep: Ok(with(
                    with(synced(), "local_state_comment", "Donor/Desynced"),
                    "local_state",
                    "2",
                )),
                ..obs()
            },
            false,
            Rule::LocalState,
            "wsrep_local_state_comment=Donor/Desynced (want Synced)",
        ),
        (
            "joined",
            Observation {
                wsrep: Ok(with(synced(), "local_state_comment", "Joined")),
                ..obs()
            },
            false,
            Rule::LocalState,
            "Joined",
        ),
        (
            "local state checked before evs",
            Observation {
                wsrep: Ok(with(
                    with(synced(), "local_state_comment", "Initialized"),
                    "evs_state",
                    "GATHER",
                )),
                ..obs()
            },
            false,
            Rule::LocalState,
            "Initialized",
        ),
        (
            "evs not operational",
            Observation {
                wsrep: Ok(with(synced(), "evs_state", "GATHER")),
                ..obs()
            },
            false,
            Rule::EvsState,
            "wsrep_evs_state=GATHER (want OPERATIONAL)",
        ),
        (
            "evs before connected",
            Observation {
                wsrep: Ok(with(
                    with(synced(), "evs_state", "GATHER"),
                    "connected",
                    "OFF",
                )),
                ..obs()
            },
            false,
            Rule::EvsState,
            "GATHER",
        ),
        (
            "not connected",
            Observation {
                wsrep: Ok(with(synced(), "connected", "OFF")),
                ..obs()
            },
            false,
            Rule::Connected,
            "wsrep_connected=OFF (want ON)",
        ),
        (
            "connected before ready",
            Observation {
                wsrep: Ok(with(with(synced(), "connected", "OFF"), "ready", "OFF")),
                ..obs()
            },
            false,
            Rule::Connected,
            "wsrep_connected=OFF",
        ),
        (
            "not ready",
            Observation {
                wsrep: Ok(with(synced(), "ready", "OFF")),
                ..obs()
            },
            false,
            Rule::WsrepReady,
            "wsrep_ready=OFF (want ON)",
        ),
        (
            "ready before uuid",
            Observation {
                wsrep: Ok(with(
                    with(synced(), "ready", "OFF"),
                    "cluster_state_uuid",
                    U2,
                )),
                ..obs()
            },
            false,
            Rule::WsrepReady,
            "wsrep_ready=OFF",
        ),
        (
            "uuid mismatch",
            Observation {
                wsrep: Ok(with(synced(), "cluster_state_uuid", U2)),
                ..obs()
            },
            false,
            Rule::Uuid,
            "but P/uuid=",
        ),
        (
            "uuid compared case-insensitively",
            Observation {
                wsrep: Ok(with(
                    synced(),
                    "cluster_state_uuid",
                    &U.to_ascii_uppercase(),
                )),
                ..obs()
            },
            true,
            Rule::Ready,
            "uuid = P/uuid",
        ),
        (
            "uuid before primary",
            Observation {
                wsrep: Ok(with(
                    with(synced(), "cluster_state_uuid", U2),
                    "cluster_status",
                    "non-Primary",
                )),
                ..obs()
            },
            false,
            Rule::Uuid,
            "P/uuid",
        ),
        (
            "non-Primary",
            Observation {
                wsrep: Ok(with(synced(), "cluster_status", "non-Primary")),
                ..obs()
            },
            false,
            Rule::ClusterStatus,
            "wsrep_cluster_status=non-Primary (want Primary)",
        ),
        (
            "unknown P/uuid is not compared",
            Observation {
                etcd: EtcdViewObs {
                    uuid: None,
                    ..obs().etcd
                },
                ..obs()
            },
            true,
            Rule::Ready,
            "P/uuid unknown, not compared",
        ),
        (
            "stale view: same verdict, age in the reason",
            Observation {
                etcd: EtcdViewObs {
                    age: Some(Duration::from_secs(95)),
                    source: ViewSource::Stale("etcd unreachable".into()),
                    ..obs().etcd
                },
                ..obs()
            },
            true,
            Rule::Ready,
            "etcd view 1m 35s old",
        ),
        (
            "stale view mismatch names the age",
            Observation {
                etcd: EtcdViewObs {
                    uuid: Some(U2.into()),
                    age: Some(Duration::from_secs(40)),
                    source: ViewSource::Stale("etcd unreachable".into()),
                    state: None,
                },
                ..obs()
            },
            false,
            Rule::Uuid,
            "etcd view 40s old",
        ),
        (
            "no view at all: not compared, and said",
            Observation {
                phase: PhaseView::Missing("no state file".into()),
                etcd: EtcdViewObs {
                    uuid: None,
                    state: None,
                    age: None,
                    source: ViewSource::Nothing("etcd unreachable".into()),
                },
                ..obs()
            },
            true,
            Rule::Ready,
            "no etcd view: etcd unreachable",
        ),
    ];
    for (name, o, ok, rule, text) in cases {
        let v = readiness(&o);
        assert_eq!((v.ok, v.rule), (ok, rule), "{name}: {v}");
        assert!(v.to_string().contains(text), "{name}: `{v}` lacks `{text}`");
        assert!(!v.to_string().contains('\n'), "{name}: one line");
    }
}

#[test]
fn readiness_line_format() {
    let o = Observation {
        wsrep: Ok(with(synced(), "local_state_comment", "Donor/Desynced")),
        ..obs()
    };
    assert_eq!(
        readiness(&o).to_string(),
        "not ready: wsrep_local_state_comment=Donor/Desynced (want Synced)"
    );
}

/// The grace applies only to what a membership change shows, only within the grace after
/// the last `ready`, and never changes a verdict that passes.
/// (name, observation, time since the last ready, want ok, want rule, text)
#[test]
fn readiness_grace_table() {
    let g = MEMBERSHIP_GRACE;
    let ms = Duration::from_millis;
    let w = |pairs: &[(&str, &str)]| {
        let mut st = synced();
        for (k, v) in pairs {
            st = with(st, k, v);
        }
        Observation {
            wsrep: Ok(st),
            ..obs()
        }
    };
    let non_primary = [
        ("local_state_comment", "Initialized"),
        ("local_state", "0"),
        ("ready", "OFF"),
        ("cluster_status", "non-Primary"),
    ];
    type Case<'a> = (&'a str, Observation, Option<Duration>, bool, Rule, &'a str);
    let cases: Vec<Case> = vec![
        ("ready, no memory", obs(), None, true, Rule::Ready, "Synced, Primary"),
        ("ready, memory", obs(), Some(ms(500)), true, Rule::Ready, "Synced, Primary"),
        (
            "between views, ready 1s ago",
            w(&[("evs_state", "GATHER")]),
            Some(ms(1000)),
            true,
            Rule::MembershipChange,
            "membership change: wsrep_evs_state=GATHER (want OPERATIONAL) — ready 1.0s ago, tolerated for 3s",
        ),
        (
            "between views, exactly the grace",
            w(&[("evs_state", "INSTALL")]),
            Some(g),
            true,
            Rule::MembershipChange,
            "wsrep_evs_state=INSTALL",
        ),
        (
            "between views, past the grace",
            w(&[("evs_state", "GATHER")]),
            Some(g + ms(1)),
            false,
            Rule::EvsState,
            "wsrep_evs_state=GATHER (want OPERATIONAL)",
        ),
        (
            "between views, never ready",
            w(&[("evs_state", "GATHER")]),
            None,
            false,
            Rule::EvsState,
            "GATHER",
        ),
        (
            "non-Primary blip (Initialized, not ready, non-Primary)",
            w(&non_primary),
            Some(ms(2000)),
            true,
            Rule::MembershipChange,
            "wsrep_local_state_comment=Initialized",
        ),
        (
            "non-Primary past the grace",
            w(&non_primary),
            Some(ms(3500)),
            false,
            Rule::LocalState,
            "Initialized",
        ),
        (
            "only non-Primary",
            w(&[("cluster_status", "non-Primary")]),
            Some(ms(100)),
            true,
            Rule::MembershipChange,
            "wsrep_cluster_status=non-Primary",
        ),
        (
            "only wsrep_ready OFF",
            w(&[("ready", "OFF")]),
            Some(ms(100)),
            true,
            Rule::MembershipChange,
            "wsrep_ready=OFF",
        ),
        (
            "a donor is not a membership change",
            w(&[("local_state_comment", "Donor/Desynced"), ("local_state", "2")]),
            Some(ms(100)),
            false,
            Rule::LocalState,
            "Donor/Desynced",
        ),
        (
            "a Joined node is not a membership change",
            w(&[("local_state_comment", "Joined"), ("local_state", "3")]),
            Some(ms(100)),
            false,
            Rule::LocalState,
            "Joined",
        ),
        (
            "a joiner is not a membership change",
            w(&[("local_state_comment", "Joining"), ("local_state", "1")]),
            Some(ms(100)),
            false,
            Rule::LocalState,
            "Joining",
        ),
        (
            "not connected to the group",
            w(&[("connected", "OFF")]),
            Some(ms(100)),
            false,
            Rule::Connected,
            "wsrep_connected=OFF",
        ),
        (
            "another uuid, non-Primary: the uuid decides",
            w(&[("cluster_state_uuid", U2), ("cluster_status", "non-Primary")]),
            Some(ms(100)),
            false,
            Rule::Uuid,
            "but P/uuid=",
        ),
        (
            "status query failed",
            Observation {
                wsrep: Err(refused()),
                ..obs()
            },
            Some(ms(100)),
            false,
            Rule::MysqlError,
            "cannot connect",
        ),
        (
            "phase stopping",
            Observation {
                phase: PhaseView::Known(Phase::Stopping),
                ..w(&[("evs_state", "GATHER")])
            },
            Some(ms(100)),
            false,
            Rule::Phase,
            "phase=stopping",
        ),
    ];
    for (name, o, since, ok, rule, text) in cases {
        let v = readiness_with_grace(&o, since, g);
        assert_eq!((v.ok, v.rule), (ok, rule), "{name}: {v}");
        assert!(v.to_string().contains(text), "{name}: `{v}` lacks `{text}`");
        assert!(!v.to_string().contains('\n'), "{name}: one line");
    }
}

/// Observations every 500 ms: a blip shorter than the grace never fails; a node that stays
/// non-Primary fails from the first observation past the grace and stays failed; memory
/// of another mariadbd run does not count.
#[test]
fn readiness_grace_sequence() {
    let g = MEMBERSHIP_GRACE;
    let ms = Duration::from_millis;
    let gather = Observation {
        wsrep: Ok(with(synced(), "evs_state", "GATHER")),
        ..obs()
    };
    let cut = Observation {
        wsrep: Ok(with(
            with(synced(), "cluster_status", "non-Primary"),
            "ready",
            "OFF",
        )),
        ..obs()
    };
    // a 1.5 s membership change after 5 s ready, then ready again
    let mut m = ReadyMemory::default();
    for i in 0..10u64 {
        assert_eq!(m.decide(&obs(), ms(500 * i), g).rule, Rule::Ready);
    }
    for i in 10..13u64 {
        let v = m.decide(&gather, ms(500 * i), g);
        assert_eq!((v.ok, v.rule), (true, Rule::MembershipChange), "{i}: {v}");
    }
    assert_eq!(m.decide(&obs(), ms(6500), g).rule, Rule::Ready);
    // then cut off for good at 7 s: ready (graced) until 6.5 s + grace, not ready after
    let mut first_fail = None;
    for i in 14..40u64 {
        let at = ms(500 * i);
        let v = m.decide(&cut, at, g);
        match first_fail {
            None if !v.ok => first_fail = Some(at),
            None => assert_eq!(v.rule, Rule::MembershipChange, "{v}"),
            Some(_) => assert!(!v.ok, "at {at:?}: once past the grace, never ready: {v}"),
        }
    }
    assert_eq!(first_fail, Some(ms(6500) + g + ms(500)));
    // another mariadbd run (restarted): its predecessor's ready answer does not count
    let mut m = ReadyMemory::default();
    m.decide(&obs(), ms(0), g);
    let restarted = Observation {
        mysqld: MysqldKey {
            pid: Some(200),
            started_at: Some(2000),
        },
        ..gather.clone()
    };
    assert_eq!(m.decide(&restarted, ms(500), g).rule, Rule::EvsState);
    // a graced answer does not extend the grace
    let mut m = ReadyMemory::default();
    m.decide(&obs(), ms(0), g);
    assert!(m.decide(&gather, g, g).ok);
    assert!(!m.decide(&gather, g + ms(500), g).ok);
}

fn joined(lc: &str, rq: &str) -> WsrepStatus {
    with(
        with(
            with(
                with(synced(), "local_state_comment", "Joined"),
                "local_state",
                "3",
            ),
            "last_committed",
            lc,
        ),
        "local_recv_queue",
        rq,
    )
}

fn mem(failures: u32, sample: Option<Sample>) -> Memory {
    Memory {
        mysqld: obs().mysqld,
        failures,
        sample,
    }
}

fn sample(lsc: &str, lc: i64, rq: i64, since: i64) -> Sample {
    Sample {
        local_state_comment: lsc.into(),
        last_committed: Some(lc),
        local_recv_queue: Some(rq),
        since,
    }
}

/// (name, observation, previous memory, want ok, want rule, reason text, want failures)
#[test]
fn liveness_table() {
    let other_run = Memory {
        mysqld: MysqldKey {
            pid: Some(7),
            started_at: Some(1),
        },
        failures: 2,
        sample: Some(sample("Joined", 5, 0, 0)),
    };
    let cases: Vec<(&str, Observation, Memory, bool, Rule, &str, u32)> =
        vec![
        ("synced", obs(), mem(0, None), true, Rule::Alive, "Synced", 0),
        (
            "preparing with a dead server",
            Observation {
                phase: PhaseView::Known(Phase::Preparing),
                wsrep: Err(refused()),
                ..obs()
            },
            mem(5, None),
            true,
            Rule::NotRunning,
            "phase=preparing",
            0,
        ),
        (
            "joining with a dead server",
            Observation {
                phase: PhaseView::Known(Phase::Joining),
                wsrep: Err(refused()),
                ..obs()
            },
            mem(2, None),
            true,
            Rule::NotRunning,
            "phase=joining",
            0,
        ),
        (
            "refused phase",
            Observation { phase: PhaseView::Known(Phase::Refused), ..obs() },
            mem(0, None),
            true,
            Rule::NotRunning,
            "phase=refused",
            0,
        ),
        (
            "no state file",
            Observation {
                phase: PhaseView::Missing("no state file in /run/x".into()),
                wsrep: Err(refused()),
                ..obs()
            },
            mem(9, None),
            true,
            Rule::NoStateFile,
            "no state file in /run/x",
            0,
        ),
        (
            "sst in progress beats refused connections",
            Observation { sst_in_progress: true, wsrep: Err(refused()), ..obs() },
            mem(10, None),
            true,
            Rule::SstInProgress,
            "sst_in_progress",
            0,
        ),
        (
            "too many connections: alive, counter reset",
            Observation { wsrep: Err(MysqlError::TooManyConnections("x".into())), ..obs() },
            mem(2, None),
            true,
            Rule::ServerAnswered,
            "too many connections",
            0,
        ),
        (
            "access denied: alive",
            Observation { wsrep: Err(MysqlError::AccessDenied("x".into())), ..obs() },
            mem(2, None),
            true,
            Rule::ServerAnswered,
            "access denied",
            0,
        ),
        (
            "first refusal: alive 1 of 3",
            Observation { wsrep: Err(refused()), ..obs() },
            mem(0, None),
            true,
            Rule::ConnectFailures,
            "failure 1 of 3",
            1,
        ),
        (
            "second refusal: alive 2 of 3",
            Observation { wsrep: Err(refused()), ..obs() },
            mem(1, None),
            true,
            Rule::ConnectFailures,
            "failure 2 of 3",
            2,
        ),
        (
            "third refusal: dead",
            Observation { wsrep: Err(refused()), mysqld_exists: Some(false), ..obs() },
            mem(2, None),
            false,
            Rule::ConnectFailures,
            "3 consecutive failures (limit --liveness-failures 3); mariadbd pid 100 does not exist",
            3,
        ),
        (
            "timeouts count too",
            Observation {
                wsrep: Err(MysqlError::Timeout {
                    endpoint: "x".into(),
                    timeout: Duration::from_secs(1),
                }),
                ..obs()
            },
            mem(4, None),
            false,
            Rule::ConnectFailures,
            "5 consecutive failures",
            5,
        ),
        (
            "failures of another mariadbd run are forgotten",
            Observation { wsrep: Err(refused()), ..obs() },
            other_run.clone(),
            true,
            Rule::ConnectFailures,
            "failure 1 of 3",
            1,
        ),
        (
            "an answer resets the counter",
            obs(),
            mem(2, None),
            true,
            Rule::Alive,
            "Synced",
            0,
        ),
        (
            "uuid mismatch: alive",
            Observation { wsrep: Ok(with(synced(), "cluster_state_uuid", U2)), ..obs() },
            mem(0, None),
            true,
            Rule::Alive,
            "a restart would not fix it",
            0,
        ),
        (
            "non-Primary: alive",
            Observation {
                wsrep: Ok(with(
                    with(synced(), "cluster_status", "non-Primary"),
                    "local_state_comment",
                    "Initialized",
                )),
                ..obs()
            },
            mem(0, None),
            true,
            Rule::Alive,
            "Initialized",
            0,
        ),
        (
            "donor: alive",
            Observation {
                wsrep: Ok(with(synced(), "local_state_comment", "Donor/Desynced")),
                ..obs()
            },
            mem(0, None),
            true,
            Rule::Alive,
            "Donor/Desynced",
            0,
        ),
        (
            "joined, first sample",
            Observation { wsrep: Ok(joined("5", "0")), ..obs() },
            mem(0, None),
            true,
            Rule::StuckJoin,
            "catching up",
            0,
        ),
        (
            "joined, unchanged for less than the limit",
            Observation { wsrep: Ok(joined("5", "0")), ..obs() },
            mem(0, Some(sample("Joined", 5, 0, 10_000 - 599))),
            true,
            Rule::StuckJoin,
            "no progress for 9m 59s",
            0,
        ),
        (
            "joined, unchanged for the limit: dead",
            Observation { wsrep: Ok(joined("5", "0")), ..obs() },
            mem(0, Some(sample("Joined", 5, 0, 10_000 - 600))),
            false,
            Rule::StuckJoin,
            "Joined without progress for 10m",
            0,
        ),
        (
            "joined, seqno moved: alive",
            Observation { wsrep: Ok(joined("6", "0")), ..obs() },
            mem(0, Some(sample("Joined", 5, 0, 0))),
            true,
            Rule::StuckJoin,
            "no progress for 0s",
            0,
        ),
        (
            "joined, queue moved: alive",
            Observation { wsrep: Ok(joined("5", "3")), ..obs() },
            mem(0, Some(sample("Joined", 5, 0, 0))),
            true,
            Rule::StuckJoin,
            "catching up",
            0,
        ),
        (
            "joined after synced with the same numbers: fresh sample",
            Observation { wsrep: Ok(joined("10", "0")), ..obs() },
            mem(0, Some(sample("Synced", 10, 0, 0))),
            true,
            Rule::StuckJoin,
            "no progress for 0s",
            0,
        ),
        (
            "joined sample of another run is forgotten",
            Observation { wsrep: Ok(joined("5", "0")), ..obs() },
            other_run,
            true,
            Rule::StuckJoin,
            "no progress for 0s",
            0,
        ),
        (
            "sst in progress beats a stuck join",
            Observation { sst_in_progress: true, wsrep: Ok(joined("5", "0")), ..obs() },
            mem(0, Some(sample("Joined", 5, 0, 0))),
            true,
            Rule::SstInProgress,
            "state transfer",
            0,
        ),
    ];
    for (name, o, prev, ok, rule, text, failures) in cases {
        let (v, m) = liveness(&o, &prev, &CFG);
        assert_eq!((v.ok, v.rule), (ok, rule), "{name}: {v}");
        assert!(v.to_string().contains(text), "{name}: `{v}` lacks `{text}`");
        assert!(!v.to_string().contains('\n'), "{name}: one line");
        assert_eq!(m.failures, failures, "{name}: failures");
        assert_eq!(m.mysqld, o.mysqld, "{name}: memory keyed by this run");
    }
}

/// docs/design.md §9, a previous sample never updated: the sample is rewritten by every probe, so the rule fires after the
/// timeout of real inactivity, and never while values move.
#[test]
fn stuck_join_sequence() {
    let mut m = Memory::default();
    let mut now = 1_000;
    let mut verdicts = vec![];
    // Progress for 20 probes, then stalled.
    for i in 0..40 {
        let lc = if i < 20 { 100 + i } else { 120 };
        let o = Observation {
            wsrep: Ok(joined(&lc.to_string(), "0")),
            now,
            ..obs()
        };
        let (v, next) = liveness(&o, &m, &CFG);
        verdicts.push(v.ok);
        m = next;
        now += 60;
    }
    // Stalled from probe 19 (lc 119 → 120 at i = 20, then unchanged): dead 10 probes later.
    let first_dead = verdicts.iter().position(|ok| !ok).expect("dies eventually");
    assert_eq!(first_dead, 30);
    assert!(verdicts[..30].iter().all(|ok| *ok));
}

#[test]
fn failure_sequence_restarts_after_n() {
    let mut m = Memory::default();
    let mut out = vec![];
    for r in [true, false, false, true, false, false, false, false] {
        let o = Observation {
            wsrep: if r { Ok(synced()) } else { Err(refused()) },
            ..obs()
        };
        let (v, next) = liveness(&o, &m, &CFG);
        out.push(v.ok);
        m = next;
    }
    assert_eq!(out, [true, true, true, true, true, true, false, false]);
}
