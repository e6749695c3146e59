//! The safety gate's table tests: every action against hand-built snapshots, and the
//! histories, losses and high-water mark helpers.

use super::*;
use crate::etcd::snapshot::{
    CensusEntry, ForceRequest, NodeEntry, QueueEntry, RecoveryRecord, ResyncRequest,
};

const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
const V: &str = "11111111-2222-3333-4444-555555555555";
const NOW: i64 = 1_800_000_000;

fn k(seqno: i64) -> Position {
    Position::known(U, seqno)
}

/// A snapshot built by small edits.
#[derive(Default, Clone)]
struct Snap(ClusterSnapshot);

impl Snap {
    fn uuid(mut self, u: &str) -> Self {
        self.0.uuid = Some(u.into());
        self
    }
    fn member(mut self, n: &str) -> Self {
        self.0.members.insert(n.into(), "10.0.0.9".into());
        self
    }
    /// A census entry (not running), written at `NOW - 100`.
    fn reports(mut self, n: &str, p: Position) -> Self {
        self.0.census.insert(
            n.into(),
            CensusEntry {
                position: p,
                address: "10.0.0.9".into(),
                at: NOW - 100,
                running: None,
                forks: vec![],
                cached_downto: None,
                stray_writes: 0,
                version: None,
            },
        );
        self
    }
    /// A registered node running `p`, published at `at`.
    fn runs(mut self, n: &str, p: Position, at: i64) -> Self {
        self.0.nodes.insert(
            n.into(),
            NodeEntry {
                address: "10.0.0.9".into(),
                lease: 1,
            },
        );
        self.0.census.insert(
            n.into(),
            CensusEntry {
                position: p.clone(),
                address: "10.0.0.9".into(),
                at,
                running: Some(p),
                forks: vec![],
                cached_downto: None,
                stray_writes: 0,
                version: None,
            },
        );
        self
    }
    /// A mariadbd up but not registered (outside any Primary Component).
    fn census_running(mut self, n: &str, p: Position) -> Self {
        self.0.census.insert(
            n.into(),
            CensusEntry {
                position: p.clone(),
                address: "10.0.0.9".into(),
                at: NOW - 5,
                running: Some(p),
                forks: vec![],
                cached_downto: None,
                stray_writes: 0,
                version: None,
            },
        );
        self
    }
    /// Registered, with no census entry.
    fn registered_silent(mut self, n: &str) -> Self {
        self.0.nodes.insert(
            n.into(),
            NodeEntry {
                address: "10.0.0.9".into(),
                lease: 1,
            },
        );
        self
    }
    /// `n`'s census entry lost (etcd lost the key).
    fn without_census(mut self, n: &str) -> Self {
        self.0.census.remove(n);
        self
    }
    /// Queued at `p` (having reported `p` in the census first, unless it reported
    /// already).
    fn queued(mut self, n: &str, p: Position) -> Self {
        if !self.0.census.contains_key(n) {
            self = self.reports(n, p.clone());
        }
        self.0.queue.insert(
            n.into(),
            QueueEntry {
                queued_at: Some(NOW - 50),
                seqno: p.seqno(),
                position: Some(p),
            },
        );
        self
    }
    fn recovery(mut self, winner: &str, p: Position, forced: Option<ForceRequest>) -> Self {
        self.0.recovery = Some(RecoveryRecord {
            winner: winner.into(),
            position: p,
            decided_by: "g-0".into(),
            at: NOW - 40,
            reason: "test".into(),
            forced,
            bootstrapped_at: None,
        });
        self
    }
    /// `n`'s census entry lists `forks`, and `P/forks/` records them.
    fn forked(mut self, n: &str, forks: &[Fork]) -> Self {
        if let Some(c) = self.0.census.get_mut(n) {
            c.forks = forks.to_vec();
        }
        for f in forks {
            self.0.forks.insert(f.id.clone(), f.clone());
        }
        self
    }
    fn resync(mut self, n: &str, p: Option<Position>, expires_at: i64) -> Self {
        self.0.resync.insert(
            n.into(),
            ResyncRequest {
                position: p,
                issued_at: NOW - 10,
                expires_at,
                discard: false,
            },
        );
        self
    }
}

/// The forced recovery g-2@1 continued U from seqno 36.
fn fork_x() -> Fork {
    Fork {
        id: "g-2@1".into(),
        uuid: U.into(),
        seqno: 36,
    }
}

fn force(node: &str, p: Option<Position>, expires_at: i64, accept: bool) -> ForceRequest {
    ForceRequest {
        node: node.into(),
        position: p,
        issued_at: NOW - 10,
        expires_at,
        accept_data_loss: accept,
    }
}

struct Case {
    name: &'static str,
    action: Action,
    snap: Snap,
    local: Position,
    since: i64,
    joined: Option<&'static str>,
    forks: Vec<Fork>,
    quiet: i64,
    /// "allow", "wait" or "refuse", and a fragment of the sentence.
    want: &'static str,
    fragment: &'static str,
}

fn case(name: &'static str, action: Action, snap: Snap, local: Position) -> Case {
    Case {
        name,
        action,
        snap,
        local,
        since: NOW - 60,
        joined: None,
        forks: vec![],
        quiet: 30,
        want: "allow",
        fragment: "",
    }
}

fn rule(c: &Case) -> Verdict {
    check(
        c.action,
        &Evidence {
            snap: &c.snap.0,
            me: "me",
            local: &c.local,
            local_since: c.since,
            joined_recovery: c.joined,
            forks: &c.forks,
            now: NOW,
            cluster_size: 3,
            quiet_secs: c.quiet,
        },
    )
}

#[test]
fn gate_table() {
    use Action::*;
    let later = NOW + 3600;
    let fresh3 = Snap::default()
        .reports("me", Position::Fresh)
        .reports("g-1", Position::Fresh)
        .reports("g-2", Position::Fresh);
    let running = Snap::default().uuid(U).runs("g-1", k(100), NOW - 10);
    let cases = vec![
        // A brand-new cluster: only on an all-fresh census.
        Case {
            ..case(
                "all-fresh census of 3",
                NewCluster,
                fresh3.clone(),
                Position::Fresh,
            )
        },
        Case {
            want: "wait",
            fragment: "1 did (me)",
            ..case(
                "only this node reported",
                NewCluster,
                Snap::default().reports("me", Position::Fresh),
                Position::Fresh,
            )
        },
        Case {
            want: "wait",
            fragment: "2 did",
            ..case(
                "etcd empty, two fresh: absence proves nothing",
                NewCluster,
                Snap::default().reports("g-1", Position::Fresh),
                Position::Fresh,
            )
        },
        Case {
            want: "refuse",
            fragment: "g-2 at 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:7 reported data",
            ..case(
                "a data-holding node reported",
                NewCluster,
                fresh3.clone().reports("g-2", k(7)),
                Position::Fresh,
            )
        },
        Case {
            want: "refuse",
            fragment: "reported data",
            ..case(
                "a queued node holds data",
                NewCluster,
                fresh3.clone().queued("g-3", Position::Unknown),
                Position::Fresh,
            )
        },
        Case {
            want: "refuse",
            fragment: "this datadir holds data",
            ..case("this datadir holds data", NewCluster, fresh3.clone(), k(3))
        },
        Case {
            want: "refuse",
            fragment: "existed",
            ..case(
                "a uuid is recorded",
                NewCluster,
                fresh3.clone().uuid(U),
                Position::Fresh,
            )
        },
        Case {
            want: "refuse",
            fragment: "member(s) known",
            ..case(
                "members are recorded",
                NewCluster,
                fresh3.clone().member("g-1"),
                Position::Fresh,
            )
        },
        // Join: the running cluster's actual uuid and history length.
        Case {
            fragment: "fresh datadir",
            ..case(
                "fresh joins anything",
                Join,
                Snap::default()
                    .uuid(V)
                    .runs("g-1", Position::known(V, 5), NOW),
                Position::Fresh,
            )
        },
        Case {
            ..case("same history, behind", Join, running.clone(), k(90))
        },
        Case {
            ..case("same history, level", Join, running.clone(), k(100))
        },
        Case {
            want: "refuse",
            fragment: "10 transaction(s) ahead of the running cluster (g-1 at seqno 100)",
            ..case("same uuid, ahead", Join, running.clone(), k(110))
        },
        Case {
            want: "wait",
            fragment: "waiting for a later publication to confirm",
            since: NOW - 20,
            ..case(
                "ahead of a publication only a few seconds after this node's last run",
                Join,
                running.clone(),
                k(103),
            )
        },
        Case {
            want: "wait",
            fragment: "waiting for g-1 to publish",
            since: NOW - 11,
            ..case(
                "ahead of a publication older than this node's last run",
                Join,
                running.clone(),
                k(110),
            )
        },
        Case {
            want: "refuse",
            fragment: "two histories",
            ..case(
                "P/uuid is another history",
                Join,
                running.clone(),
                Position::known(V, 500),
            )
        },
        Case {
            want: "refuse",
            fragment: "the running cluster is 11111111",
            ..case(
                "P/uuid stale: the registered node runs another history",
                Join,
                Snap::default()
                    .uuid(U)
                    .runs("g-1", Position::known(V, 3), NOW),
                k(50),
            )
        },
        Case {
            fragment: "same history",
            ..case(
                "etcd lost P/uuid: the published uuid decides",
                Join,
                Snap::default().runs("g-1", k(100), NOW),
                k(50),
            )
        },
        Case {
            want: "wait",
            fragment: "has not published",
            ..case(
                "registered without a published uuid",
                Join,
                Snap::default().uuid(U).registered_silent("g-1"),
                k(50),
            )
        },
        Case {
            fragment: "position unknown",
            ..case(
                "unknown position joins",
                Join,
                running.clone(),
                Position::Unknown,
            )
        },
        Case {
            want: "refuse",
            fragment: "did not take part in the recovery g-0 bootstrapped",
            ..case(
                "unknown position beside a recovery it did not join",
                Join,
                running.clone().recovery("g-0", k(50), None),
                Position::Unknown,
            )
        },
        Case {
            want: "refuse",
            fragment: "position is unknown",
            ..case(
                "unknown seqno beside a recovery it did not join",
                Join,
                running.clone().recovery("g-0", k(50), None),
                k(-1),
            )
        },
        Case {
            want: "refuse",
            fragment: "(the running cluster went through it, this datadir did not)",
            ..case(
                "unknown position, the running cluster went through a fork (record gone)",
                Join,
                running.clone().forked("g-1", &[fork_x()]),
                Position::Unknown,
            )
        },
        Case {
            forks: vec![fork_x()],
            want: "refuse",
            fragment: "(this datadir went through it, the running cluster did not)",
            ..case(
                "unknown position that went through a fork the running cluster did not",
                Join,
                running.clone(),
                Position::Unknown,
            )
        },
        Case {
            forks: vec![fork_x()],
            fragment: "position unknown",
            ..case(
                "unknown position on the running cluster's branch",
                Join,
                running.clone().forked("g-1", &[fork_x()]),
                Position::Unknown,
            )
        },
        Case {
            joined: Some("g-0@1799999960"),
            fragment: "position unknown",
            ..case(
                "unknown position, but it joined that recovery",
                Join,
                running.clone().recovery("g-0", k(50), None),
                Position::Unknown,
            )
        },
        Case {
            want: "refuse",
            fragment: "5 transaction(s) ahead of g-0",
            ..case(
                "ahead of a forced winner",
                Join,
                running.clone().recovery("g-0", k(50), None),
                k(55),
            )
        },
        Case {
            joined: Some("g-0@1799999960"),
            ..case(
                "ahead of the winner because it joined that recovery",
                Join,
                running.clone().recovery("g-0", k(50), None),
                k(55),
            )
        },
        Case {
            want: "refuse",
            fragment: "no node is registered",
            ..case("nothing to join", Join, Snap::default().uuid(U), k(5))
        },
        // Automatic recovery bootstrap: nobody reports more, nothing foreign or unknown.
        Case {
            want: "refuse",
            fragment: "g-1 reports 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:5 but has no census entry",
            ..case(
                "elected, but a queued node's branch is unknown (its census key lost)",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), None)
                    .queued("g-1", k(5))
                    .without_census("g-1"),
                k(9),
            )
        },
        Case {
            ..case(
                "elected, the most advanced",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), None)
                    .queued("g-1", k(5))
                    .queued("g-2", Position::Fresh),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment:
                "g-1 reports 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:200, 50 transaction(s) ahead",
            ..case(
                "a pinned record: another node overtook the winner",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(100), None)
                    .queued("g-1", k(200)),
                k(150),
            )
        },
        Case {
            want: "refuse",
            fragment: "unknown position",
            ..case(
                "another node's position is unknown",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), None)
                    .queued("g-1", Position::Unknown),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "another history",
            ..case(
                "another node holds another history",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), None)
                    .reports("g-1", Position::known(V, 1)),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "not the elected history",
            ..case(
                "this datadir is not the elected history",
                RecoveryBootstrap,
                Snap::default().uuid(U).recovery("me", k(9), None),
                Position::known(V, 9),
            )
        },
        Case {
            want: "refuse",
            fragment: "registered",
            ..case(
                "a cluster runs",
                RecoveryBootstrap,
                running.clone().recovery("me", k(9), None),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "the mariadbd of g-2 runs",
            ..case(
                "a member runs outside any Primary Component",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), None)
                    .queued("g-1", k(5))
                    .census_running("g-2", k(3)),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "the mariadbd of g-2 runs",
            ..case(
                "forced beside a running member",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), Some(force("me", Some(k(9)), later, false)))
                    .census_running("g-2", k(3)),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "names g-1",
            ..case(
                "the record names another node",
                RecoveryBootstrap,
                Snap::default().recovery("g-1", k(9), None),
                k(9),
            )
        },
        // Branches of one uuid: the forced recovery g-2@1 continued U from seqno 36.
        Case {
            want: "refuse",
            fragment: "are two branches: they share cluster 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002 only up to seqno 36",
            ..case(
                "old branch past the fork joins the forced branch",
                Join,
                running.clone().forked("g-1", &[fork_x()]),
                k(50),
            )
        },
        Case {
            forks: vec![fork_x()],
            fragment: "same history",
            ..case(
                "forced branch joins the forced branch",
                Join,
                running.clone().forked("g-1", &[fork_x()]),
                k(50),
            )
        },
        Case {
            fragment: "same history",
            ..case(
                "a prefix of both branches joins",
                Join,
                running.clone().forked("g-1", &[fork_x()]),
                k(30),
            )
        },
        Case {
            forks: vec![fork_x()],
            want: "refuse",
            fragment: "two branches",
            ..case(
                "forced branch joins the old branch (etcd kept the fork)",
                Join,
                running.clone().forked("g-1", &[]).forked("g-9", &[fork_x()]),
                k(50),
            )
        },
        Case {
            want: "refuse",
            fragment: "g-1 reports 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:60 on another branch",
            ..case(
                "recovery winner on the old branch, a queued node on the forced one",
                RecoveryBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(80), None)
                    .reports("g-1", k(60))
                    .forked("g-1", &[fork_x()])
                    .queued("g-1", k(60)),
                k(80),
            )
        },
        // Forced bootstrap: every member shown (queued or in the census), or silence.
        Case {
            quiet: 120,
            want: "wait",
            fragment: "g-2 show(s) nothing in etcd",
            ..case(
                "forced while a member shows nothing",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .member("g-1")
                    .member("g-2")
                    .recovery("me", k(9), Some(force("me", Some(k(9)), later, false)))
                    .queued("g-1", k(9)),
                k(9),
            )
        },
        Case {
            quiet: 120,
            want: "wait",
            fragment: "1 of --cluster-size 3 node(s) show nothing",
            ..case(
                "forced with no members known and one node unaccounted for",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), Some(force("me", Some(k(9)), later, false)))
                    .queued("g-1", k(9)),
                k(9),
            )
        },
        Case {
            quiet: 120,
            fragment: "forced by the operator",
            ..case(
                "forced with every member shown",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .member("g-1")
                    .member("g-2")
                    .recovery("me", k(9), Some(force("me", Some(k(9)), later, false)))
                    .queued("g-1", k(9))
                    .reports("g-2", k(5)),
                k(9),
            )
        },
        Case {
            quiet: 30,
            fragment: "forced by the operator",
            ..case(
                "forced after the silence lasted",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .member("g-1")
                    .member("g-2")
                    .recovery("me", k(9), Some(force("me", Some(k(9)), later, false)))
                    .queued("g-1", k(9)),
                k(9),
            )
        },
        // Forced bootstrap: bound, unexpired; fresh/unknown/foreign only accepting loss.
        Case {
            fragment: "loses at least 91 transaction(s)",
            ..case(
                "forced at the bound position",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery("me", k(9), Some(force("me", Some(k(9)), later, false)))
                    .queued("g-1", k(100)),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "expired",
            ..case(
                "forced, expired",
                ForcedBootstrap,
                Snap::default().uuid(U).recovery(
                    "me",
                    k(9),
                    Some(force("me", Some(k(9)), NOW - 1, false)),
                ),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "was issued against position",
            ..case(
                "forced, the position moved",
                ForcedBootstrap,
                Snap::default().uuid(U).recovery(
                    "me",
                    k(9),
                    Some(force("me", Some(k(8)), later, false)),
                ),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "--accept-data-loss",
            ..case(
                "forced onto a fresh datadir",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery(
                        "me",
                        Position::Fresh,
                        Some(force("me", Some(Position::Fresh), later, false)),
                    )
                    .queued("g-1", k(100)),
                Position::Fresh,
            )
        },
        Case {
            fragment: "data loss accepted",
            ..case(
                "forced onto a fresh datadir, loss accepted",
                ForcedBootstrap,
                Snap::default()
                    .uuid(U)
                    .recovery(
                        "me",
                        Position::Fresh,
                        Some(force("me", Some(Position::Fresh), later, true)),
                    )
                    .queued("g-1", k(100)),
                Position::Fresh,
            )
        },
        Case {
            want: "refuse",
            fragment: "--accept-data-loss",
            ..case(
                "forced onto a foreign datadir",
                ForcedBootstrap,
                Snap::default().uuid(U).recovery(
                    "me",
                    Position::known(V, 3),
                    Some(force("me", Some(Position::known(V, 3)), later, false)),
                ),
                Position::known(V, 3),
            )
        },
        Case {
            want: "refuse",
            fragment: "not forced",
            ..case(
                "an automatic record is not a forced one",
                ForcedBootstrap,
                Snap::default().uuid(U).recovery("me", k(9), None),
                k(9),
            )
        },
        // Wipe: a bound, unexpired resync only.
        Case {
            want: "wait",
            fragment: "no resync",
            ..case("no request", Wipe, Snap::default(), k(9))
        },
        Case {
            ..case(
                "bound and valid",
                Wipe,
                Snap::default().resync("me", Some(k(9)), later),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "expired",
            ..case(
                "expired",
                Wipe,
                Snap::default().resync("me", Some(k(9)), NOW - 1),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "no expiry",
            ..case(
                "written by hand (no expiry)",
                Wipe,
                Snap::default().resync("me", None, 0),
                k(9),
            )
        },
        Case {
            want: "refuse",
            fragment: "now holds",
            ..case(
                "issued against another position",
                Wipe,
                Snap::default().resync("me", Some(k(8)), later),
                k(9),
            )
        },
    ];
    for c in &cases {
        let v = rule(c);
        let kind = match v {
            Verdict::Allow(_) => "allow",
            Verdict::Wait(_) => "wait",
            Verdict::Refuse(_) => "refuse",
        };
        assert_eq!(kind, c.want, "{}: {v:?}", c.name);
        assert!(
            v.sentence().contains(c.fragment),
            "{}: want {:?} in {:?}",
            c.name,
            c.fragment,
            v.sentence()
        );
    }
}

#[test]
fn no_refusal_advises_discarding_data() {
    // A node refused for holding another history or newer commits is never told to
    // `resync` (which would delete what may be the only copy).
    let snaps = [
        (
            Snap::default().uuid(U).runs("g-1", k(100), NOW),
            Position::known(V, 500),
        ),
        (Snap::default().uuid(U).runs("g-1", k(100), NOW), k(500)),
        (
            Snap::default()
                .uuid(U)
                .runs("g-1", k(100), NOW)
                .recovery("g-1", k(50), None),
            k(60),
        ),
    ];
    for (s, local) in snaps {
        let v = rule(&case("", Action::Join, s, local));
        assert!(matches!(v, Verdict::Refuse(_)), "{v:?}");
        assert!(!v.sentence().contains("resync"), "{v:?}");
    }
}

#[test]
fn histories_and_losses() {
    let s = Snap::default()
        .runs("g-0", k(100), NOW)
        .queued("g-1", k(90))
        .reports("g-2", Position::known(V, 500))
        .reports("g-3", Position::Fresh)
        .0;
    let h = histories(&s);
    assert_eq!(h.len(), 2);
    assert_eq!((h[0].uuid.as_str(), h[0].seqno), (V, 500));
    assert_eq!((h[1].uuid.as_str(), h[1].seqno), (U, 100));
    assert_eq!(h[1].nodes, vec!["g-0".to_string(), "g-1".to_string()]);
    assert_eq!(h[1].newest, vec!["g-0".to_string()]);
    assert_eq!(h[1].running, vec!["g-0".to_string()]);
    // Each other datadir loses what it holds past the candidate: all of another uuid.
    let lost = |p: Position, forks: &[Fork], s: &ClusterSnapshot| {
        transactions_lost(&p, forks, s).map(|l| (l.count, l.holders.join(",")))
    };
    assert_eq!(lost(k(90), &[], &s), Some((501, "g-2".into())));
    assert_eq!(
        lost(Position::known(V, 500), &[], &s),
        Some((101, "g-0".into()))
    );
    let one = Snap::default()
        .runs("g-0", k(100), NOW)
        .queued("g-1", k(90))
        .0;
    assert_eq!(lost(k(90), &[], &one), Some((10, "g-0".into())));
    assert_eq!(lost(k(100), &[], &one), None);
    assert_eq!(lost(Position::Fresh, &[], &one), Some((101, "g-0".into())));
    // Two branches of U: g-0 and g-1 went on past 36 without the forced recovery, g-3
    // through it.
    let branches = Snap::default()
        .reports("g-0", k(100))
        .reports("g-1", k(90))
        .reports("g-3", k(60))
        .forked("g-3", &[fork_x()])
        .reports("g-4", k(20))
        .0;
    let h = histories(&branches);
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        h[0].nodes,
        vec!["g-0", "g-1", "g-4"],
        "the prefix joins the longest"
    );
    assert_eq!(h[1].nodes, vec!["g-3"]);
    assert_eq!(
        h[1].branch.as_deref(),
        Some("through forced recovery g-2@1 (from seqno 36)")
    );
    assert!(h[0]
        .describe()
        .contains("without forced recovery g-2@1 (past seqno 36)"));
    // Forcing g-3 loses what g-0 holds past the split (100 - 36), not 100 - 60.
    assert_eq!(
        lost(k(60), &[fork_x()], &branches),
        Some((64, "g-0".into()))
    );
    // Forcing g-0 loses g-3's 24 past the split.
    assert_eq!(lost(k(100), &[], &branches), Some((24, "g-3".into())));
    // The commit high-water mark: what no reported position shows.
    let mut marked = one.clone();
    let mark = |seqno: i64, forks: Vec<String>| crate::etcd::snapshot::Mark {
        uuid: U.into(),
        seqno,
        at: NOW - 3,
        by: "g-0".into(),
        forks,
    };
    marked.hwm = Some(mark(130, vec![]));
    assert_eq!(mark_loss(&k(90), &[], &marked).map(|(n, _)| n), Some(40));
    assert_eq!(mark_loss(&k(130), &[], &marked), None, "at the mark");
    assert_eq!(
        mark_loss(&Position::known(V, 5), &[], &marked),
        None,
        "another uuid"
    );
    let waiting = Snap(marked.clone()).queued("g-2", k(95)).0;
    assert!(
        queued_mark_loss(&waiting).contains("choosing g-2 loses at least 35 transaction(s)"),
        "{}",
        queued_mark_loss(&waiting)
    );
    assert!(mark_loss_sentence("g-1", &k(90), &[], &marked)
        .contains("choosing g-1 loses at least 40 transaction(s)"));
    // A mark of the forced branch says nothing about a datadir of the old one past the
    // split, and counts for one of its own branch.
    let mut b = branches.clone();
    b.hwm = Some(mark(80, vec!["g-2@1".into()]));
    assert_eq!(mark_loss(&k(60), &[fork_x()], &b).map(|(n, _)| n), Some(20));
    assert_eq!(mark_loss(&k(50), &[], &b), None);
    // A mark naming a fork nobody describes any more: no claim.
    b.hwm = Some(mark(80, vec!["g-9@9".into()]));
    assert_eq!(mark_loss(&k(60), &[], &b), None);
    // Unknown positions are named apart: no figure covers them.
    let unknown = Snap::default()
        .queued("g-0", k(90))
        .queued("g-1", Position::Unknown)
        .reports("g-2", k(-1))
        .0;
    assert_eq!(unknown_positions(&unknown, "g-0"), vec!["g-1", "g-2"]);
    assert_eq!(unknown_positions(&unknown, "g-1"), vec!["g-2"]);
    let sentence = unknown_positions_sentence(&unknown, "g-0");
    assert!(
        sentence.contains("g-1 reports an unknown position, g-2 reports an unknown position"),
        "{sentence}"
    );
    assert_eq!(unknown_positions_sentence(&one, "g-1"), "");
}
