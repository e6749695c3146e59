//! What a running node outside any Primary Component does (pure, table-tested). Galera
//! re-merges partitions by itself; the sidecar acts only when no Primary Component exists
//! anywhere and the evidence says who holds the newest commits (docs/design.md §6):
//!
//! - a partition is not an outage: while another member's mariadbd runs, stay;
//! - quorum loss where every other member's entrypoint reports a stopped mariadbd: the most
//!   advanced member is made Primary in place (`pc.bootstrap=YES`), or bootstraps the recovery;
//! - quorum loss where members are gone: only on positive evidence that each is down — its
//!   lease expired *and* its Galera port refuses connections — and when this node holds the
//!   commit high-water mark. The heal then records a fork, so that a returning member whose
//!   datadir went past this node's position is refused as another branch, never overwritten.

use std::collections::BTreeMap;
use std::time::Duration;

use super::branches::forks_of;
use super::safety::holds_mark;
use crate::etcd::snapshot::ClusterSnapshot;
use crate::etcd::ClusterState;
use crate::mysql::WsrepStatus;
use crate::position::Position;

/// How long a node stays non-Primary before it heals in place beside members that are
/// confirmed down (lease expired, Galera port refusing). Their leases took `--lease-ttl` to
/// expire already; this only lets a view change that is still settling finish.
pub const CONFIRMED_DOWN_GRACE: Duration = Duration::from_secs(5);

/// What a probe of a gone member's Galera port found (the shell probes the address recorded
/// in `members/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProbe {
    /// Connection refused: nothing listens there, so no mariadbd of that member runs at its
    /// address — positive evidence that it is down.
    Refused,
    /// Something accepted the connection: its mariadbd may run.
    Answers,
    /// No answer in time (another partition, or its address is gone): no evidence either way.
    Silent,
}

/// What a running, non-Primary node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonPrimaryPlan {
    /// Keep mariadbd running: a partition is not an outage.
    Stay(String),
    /// This node holds the most advanced position of every member that can report, and every
    /// other member is either alive with its mariadbd stopped or confirmed down: make it
    /// Primary in place (`pc.bootstrap=YES`).
    HealInPlace(String),
    /// The most advanced member is stopped (its entrypoint waits in the recovery queue): stop
    /// cleanly so this node's restart queues too and the recovery can elect.
    Leave(String),
}

/// What a non-Primary node does while a maintenance pause (`pause`: its sentence) is on:
/// it stays, mariadbd running — no leaving for a recovery, no heal in place.
pub fn non_primary_under_pause(plan: NonPrimaryPlan, pause: Option<&str>) -> NonPrimaryPlan {
    match (pause, plan) {
        (Some(p), NonPrimaryPlan::Leave(why)) => NonPrimaryPlan::Stay(format!(
            "cluster {p}; would otherwise leave for a recovery: {why}"
        )),
        (Some(p), NonPrimaryPlan::HealInPlace(why)) => {
            NonPrimaryPlan::Stay(format!("cluster {p}; would otherwise heal in place: {why}"))
        }
        (_, plan) => plan,
    }
}

/// The members (other than `me`) whose entrypoint is gone: no census entry, so its lease
/// expired. Their positions are unknown; the shell probes their Galera ports.
pub fn gone_members<'a>(snap: &'a ClusterSnapshot, me: &str) -> Vec<(&'a str, &'a str)> {
    snap.members
        .iter()
        .filter(|(m, _)| m.as_str() != me && !snap.census.contains_key(m.as_str()))
        .map(|(m, a)| (m.as_str(), a.as_str()))
        .collect()
}

/// The fork a heal in place beside members confirmed down starts at `position`: their
/// datadirs may have gone past it, so from here on a datadir of this uuid past this seqno
/// that did not go through the heal is another branch. `None` for a heal with every member
/// reporting (their positions are known and behind) or an unknown position.
pub fn heal_fork(
    me: &str,
    at: i64,
    position: &Position,
    snap: &ClusterSnapshot,
) -> Option<crate::etcd::snapshot::Fork> {
    if gone_members(snap, me).is_empty() {
        return None;
    }
    match position {
        Position::Known { uuid, seqno } if *seqno >= 0 => Some(crate::etcd::snapshot::Fork {
            id: format!("heal:{me}@{at}"),
            uuid: uuid.clone(),
            seqno: *seqno,
        }),
        _ => None,
    }
}

/// Decide for node `me` (live status `s`), non-Primary for `non_primary_for`: nothing before
/// `grace` (or [`CONFIRMED_DOWN_GRACE`] for a heal beside members confirmed down); nothing
/// while any node is registered (a Primary Component runs somewhere: Galera re-merges this
/// node when the network allows); nothing while a gone member is not confirmed down by
/// `probes` (its position is unknown, it may hold newer commits in another partition);
/// nothing while another member's mariadbd runs (non-Primary: a partition — the others could
/// reunite and re-form a Primary Component from the last view's majority, so a second one
/// made here could leave two). When every other member is alive with its mariadbd stopped
/// (queued), the most advanced member — highest seqno of one uuid, ties to the smallest name —
/// is made Primary in place if it is this node, or bootstraps the recovery if it is stopped.
/// With members confirmed down, only this node heals, and only when it holds the commit
/// high-water mark.
#[allow(clippy::too_many_arguments)]
pub fn non_primary_plan(
    me: &str,
    s: &WsrepStatus,
    ever_primary: bool,
    snap: &ClusterSnapshot,
    cluster_size: usize,
    probes: &BTreeMap<String, PortProbe>,
    non_primary_for: Duration,
    grace: Duration,
) -> Option<NonPrimaryPlan> {
    if s.is_primary() || non_primary_for < grace.min(CONFIRMED_DOWN_GRACE) {
        return None;
    }
    let (plan, confirmed_down) = plan_for(
        me,
        s,
        ever_primary,
        snap,
        cluster_size,
        probes,
        non_primary_for,
    )?;
    let due = if confirmed_down {
        grace.min(CONFIRMED_DOWN_GRACE)
    } else {
        grace
    };
    (non_primary_for >= due).then_some(plan)
}

/// The plan, and whether it is a heal beside members confirmed down (due sooner).
fn plan_for(
    me: &str,
    s: &WsrepStatus,
    ever_primary: bool,
    snap: &ClusterSnapshot,
    cluster_size: usize,
    probes: &BTreeMap<String, PortProbe>,
    non_primary_for: Duration,
) -> Option<(NonPrimaryPlan, bool)> {
    let stay = |why: String| Some((NonPrimaryPlan::Stay(why), false));
    let others: Vec<&String> = snap.nodes.keys().filter(|n| n.as_str() != me).collect();
    let others_list = || {
        others
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    if !others.is_empty() && snap.known_state() == Some(ClusterState::Recovery) {
        // A node that joined the recovered cluster and fell out of it before STEADY (e.g. an
        // install timeout) is not re-merged by Galera: restart it, it rejoins by IST.
        return Some((
            NonPrimaryPlan::Leave(format!(
                "non-Primary for {}s while the cluster is in RECOVERY and {} run a Primary Component",
                non_primary_for.as_secs(),
                others_list()
            )),
            false,
        ));
    }
    if !others.is_empty() {
        return stay(format!(
            "{} registered: a Primary Component runs; Galera re-merges this node when it reaches it",
            others_list()
        ));
    }
    if !ever_primary {
        // A join whose peers went away before it reached them: this mariadbd holds nothing
        // but what its datadir held before; only a new decision can bring it back.
        return Some((
            NonPrimaryPlan::Leave(format!(
                "non-Primary for {}s, never in a Primary Component since it started (a join whose \
                 peers went away) and nobody registered: leaving to decide again",
                non_primary_for.as_secs()
            )),
            false,
        ));
    }
    if snap.members.is_empty() {
        return stay(
            "no member is known (etcd lost its data?): waiting for the running nodes to re-register"
                .into(),
        );
    }
    if snap.members.len() < cluster_size {
        return stay(format!(
            "only {} member(s) known, --cluster-size {cluster_size}: a member etcd forgot may hold \
             newer commits",
            snap.members.len()
        ));
    }
    let mine = Position::known(s.cluster_state_uuid(), s.last_committed().unwrap_or(-1));
    // Every reporting member's position, and whether its mariadbd runs.
    let mut views: Vec<(&str, Position, bool)> = vec![(me, mine.clone(), true)];
    for (m, c) in &snap.census {
        if m == me || !snap.members.contains_key(m) {
            continue;
        }
        let queued = snap.queue.get(m).and_then(|q| q.position.clone());
        let position = c
            .running
            .clone()
            .or(queued)
            .unwrap_or_else(|| c.position.clone());
        views.push((m, position, c.running.is_some()));
    }
    // By name: ties go to the smallest.
    views.sort_by(|a, b| a.0.cmp(b.0));
    let gone = gone_members(snap, me);
    let unconfirmed: Vec<String> = gone
        .iter()
        .filter(|(m, _)| probes.get(*m) != Some(&PortProbe::Refused))
        .map(|(m, a)| {
            let seen = match probes.get(*m) {
                Some(PortProbe::Answers) => "answers (its mariadbd may run)",
                Some(PortProbe::Silent) => "does not answer (no evidence that it is down)",
                _ => "is not probed yet",
            };
            format!("{m} (its Galera port at {a} {seen})")
        })
        .collect();
    if !unconfirmed.is_empty() {
        return stay(format!(
            "nobody registered, but {} has no live entrypoint (lease expired): its position is \
             unknown and may be ahead; keeping mariadbd running until it reports or its port \
             refuses connections",
            unconfirmed.join(", ")
        ));
    }
    let gone_names: Vec<&str> = gone.iter().map(|(m, _)| *m).collect();
    let mut best: Option<(&str, i64, &str)> = None;
    for (n, p, _) in &views {
        match p {
            Position::Known { uuid, seqno } if *seqno >= 0 => {
                if let Some((_, _, u)) = best {
                    if u != uuid {
                        return stay(format!(
                            "members report two histories ({u}, {uuid}): no automatic choice"
                        ));
                    }
                }
                if best.is_none_or(|(_, b, _)| *seqno > b) {
                    best = Some((n, *seqno, uuid));
                }
            }
            Position::Fresh => {}
            _ => {
                return stay(format!(
                    "{n} reports an unknown position ({p}): no automatic choice"
                ))
            }
        }
    }
    let Some((winner, seqno, uuid)) = best else {
        return stay("no member reports a known position".into());
    };
    let mut summary = views
        .iter()
        .map(|(n, p, r)| format!("{n} {p}{}", if *r { " running" } else { " stopped" }))
        .collect::<Vec<_>>();
    summary.extend(gone_names.iter().map(|n| format!("{n} down")));
    let summary = summary.join(", ");
    let winner_runs = views.iter().any(|(n, _, r)| *n == winner && *r);
    let others_running: Vec<&str> = views
        .iter()
        .filter(|(n, _, r)| *n != me && *r)
        .map(|(n, _, _)| *n)
        .collect();
    // Every other running member is in this node's own (non-Primary) component when the
    // component counts exactly this node and them: no other component exists that could
    // become Primary, so making this one Primary leaves one.
    let one_component = s.cluster_size() == Some(1 + others_running.len() as u64);
    if (winner == me || winner_runs) && !others_running.is_empty() && !one_component {
        // Their mariadbd may reunite without this node and re-form a Primary Component from
        // the last view's majority: making this node Primary could leave two.
        return stay(format!(
            "the mariadbd of {} runs too (a partition, not an outage): Galera re-merges when \
             the network heals; making one node Primary here could leave two Primary \
             Components ({summary})",
            others_running.join(",")
        ));
    }
    let with = if others_running.is_empty() {
        String::new()
    } else {
        format!(
            "; {} run(s) in this node's own component (wsrep_cluster_size {})",
            others_running.join(","),
            1 + others_running.len()
        )
    };
    if winner != me && winner_runs {
        return stay(format!(
            "{winner}, in this node's component, holds the most advanced position \
             {uuid}:{seqno}: it heals the component ({summary})"
        ));
    }
    let for_s = non_primary_for.as_secs();
    if gone_names.is_empty() {
        return Some((
            if winner == me {
                NonPrimaryPlan::HealInPlace(format!(
                    "non-Primary for {for_s}s, every member's entrypoint alive, none Primary, and \
                     this node holds the most advanced position {uuid}:{seqno}{with} ({summary})"
                ))
            } else {
                NonPrimaryPlan::Leave(format!(
                    "non-Primary for {for_s}s with nobody registered, and {winner}, which holds \
                     the most advanced position {uuid}:{seqno}, is stopped ({summary}): leaving \
                     so that the recovery can elect it"
                ))
            },
            false,
        ));
    }
    // Members confirmed down: their datadirs are out of reach, so only the commit high-water
    // mark says what they may hold. Only this (running) node heals: a stopped winner would
    // need an election, which waits for them.
    let gone_list = gone_names.join(",");
    if winner != me {
        return stay(format!(
            "{gone_list} down (lease expired, Galera port refusing), and {winner}, which holds the \
             most advanced position {uuid}:{seqno}, is stopped: waiting for the members that are \
             down to report, or for {winner} to start ({summary})"
        ));
    }
    if !holds_mark(&mine, forks_of(snap, me), snap) {
        let mark = match &snap.hwm {
            Some(m) => format!(
                "the commit high-water mark ({}:{}, written by {}) is ahead of this node or on \
                 another branch",
                m.uuid, m.seqno, m.by
            ),
            None => "no commit high-water mark is known (etcd lost it?)".into(),
        };
        return stay(format!(
            "{gone_list} down (lease expired, Galera port refusing), but {mark}: they may hold \
             commits this node lacks; bring them back (their entrypoints report their positions) \
             ({summary})"
        ));
    }
    Some((
        NonPrimaryPlan::HealInPlace(format!(
            "non-Primary for {for_s}s; {gone_list} down (lease expired, Galera port refusing \
             connections); this node holds the most advanced position {uuid}:{seqno} of the rest \
             and the commit high-water mark{with}; the heal records a fork at {uuid}:{seqno} so that \
             a returning member that went past it is refused, never overwritten ({summary})"
        )),
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::NodeEntry;

    use crate::galera::rules::tests::{status, U};

    /// A plan as (kind, sentence) for the tables.
    fn kind(got: &Option<NonPrimaryPlan>) -> (&'static str, String) {
        match got {
            None => ("none", String::new()),
            Some(NonPrimaryPlan::Stay(t)) => ("stay", t.clone()),
            Some(NonPrimaryPlan::HealInPlace(t)) => ("heal", t.clone()),
            Some(NonPrimaryPlan::Leave(t)) => ("leave", t.clone()),
        }
    }

    #[test]
    fn non_primary_table() {
        use crate::etcd::snapshot::{CensusEntry, QueueEntry};
        use crate::position::Position;
        use std::time::Duration;
        /// Members g-0..g-2; `alive`: (name, position, runs) with a census entry; `registered`.
        fn snap(alive: &[(&str, i64, bool)], registered: &[&str]) -> ClusterSnapshot {
            let mut s = ClusterSnapshot::default();
            for m in ["g-0", "g-1", "g-2"] {
                s.members.insert(m.into(), "a".into());
            }
            for (n, seqno, runs) in alive {
                let p = if *seqno == -9 {
                    Position::Unknown
                } else {
                    Position::known(U, *seqno)
                };
                s.census.insert(
                    n.to_string(),
                    CensusEntry {
                        position: p.clone(),
                        address: "a".into(),
                        at: 1,
                        running: runs.then(|| p.clone()),
                        forks: vec![],
                        cached_downto: None,
                        stray_writes: 0,
                        version: None,
                    },
                );
                if !runs {
                    s.queue.insert(
                        n.to_string(),
                        QueueEntry {
                            queued_at: Some(1),
                            seqno: p.seqno(),
                            position: Some(p),
                        },
                    );
                }
            }
            for n in registered {
                s.nodes.insert(
                    n.to_string(),
                    NodeEntry {
                        address: "a".into(),
                        lease: 1,
                    },
                );
            }
            s
        }
        let mut me_at_20 = status("Initialized", "0", "non-Primary", U);
        me_at_20.vars.insert("last_committed".into(), "20".into());
        let prim = status("Synced", "4", "Primary", U);
        let grace = Duration::from_secs(30);
        let none = BTreeMap::new();
        let long = Duration::from_secs(31);
        // (what, status, snapshot, non-Primary for, "stay"/"heal"/"leave"/"none", fragment)
        let cases = [
            (
                "not for long yet",
                &me_at_20,
                snap(&[("g-1", 5, true), ("g-2", 5, true)], &[]),
                Duration::from_secs(5),
                "none",
                "",
            ),
            ("Primary", &prim, snap(&[], &[]), long, "none", ""),
            (
                "a Primary Component runs elsewhere",
                &me_at_20,
                snap(&[("g-1", 30, true), ("g-2", 30, true)], &["g-1", "g-2"]),
                long,
                "stay",
                "g-1,g-2 registered",
            ),
            (
                "1+1+1 partition, this node most advanced: the others could reunite",
                &me_at_20,
                snap(&[("g-1", 20, true), ("g-2", 19, true)], &[]),
                long,
                "stay",
                "the mariadbd of g-1,g-2 runs too",
            ),
            (
                "one other member stopped, one running",
                &me_at_20,
                snap(&[("g-1", 10, false), ("g-2", 12, true)], &[]),
                long,
                "stay",
                "the mariadbd of g-2 runs too",
            ),
            (
                "a stopped member is ahead while another runs: leave for the recovery",
                &me_at_20,
                snap(&[("g-1", 30, false), ("g-2", 12, true)], &[]),
                long,
                "leave",
                "g-1, which holds the most advanced position",
            ),
            (
                "tie, the others stopped: the smallest name (this node) heals",
                &me_at_20,
                snap(&[("g-1", 20, false), ("g-2", 20, false)], &[]),
                long,
                "heal",
                "most advanced",
            ),
            (
                "a member's entrypoint is gone: its position is unknown",
                &me_at_20,
                snap(&[("g-2", 5, true)], &[]),
                long,
                "stay",
                "g-1 (its Galera port at a is not probed yet) has no live entrypoint",
            ),
            (
                "quorum loss, the dead came back stopped and behind",
                &me_at_20,
                snap(&[("g-1", 10, false), ("g-2", 12, false)], &[]),
                long,
                "heal",
                "g-1 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:10 stopped",
            ),
            (
                "a stopped member is ahead: leave so the recovery elects it",
                &me_at_20,
                snap(&[("g-1", 25, false), ("g-2", 12, false)], &[]),
                long,
                "leave",
                "g-1, which holds the most advanced position",
            ),
            (
                "an unknown position blocks",
                &me_at_20,
                snap(&[("g-1", -9, false), ("g-2", 12, false)], &[]),
                long,
                "stay",
                "unknown position",
            ),
        ];
        for (what, st, sn, dur, want, frag) in cases {
            let got = non_primary_plan("g-0", st, true, &sn, 3, &none, dur, grace);
            let (kind, text) = kind(&got);
            assert_eq!(kind, want, "{what}: {got:?}");
            assert!(text.contains(frag), "{what}: want {frag:?} in {text}");
        }
        // Another history among the members: no automatic choice.
        let mut two = snap(&[("g-1", 5, true), ("g-2", 5, true)], &[]);
        if let Some(c) = two.census.get_mut("g-2") {
            c.running = Some(Position::known("11111111-2222-3333-4444-555555555555", 90));
        }
        assert!(matches!(
            non_primary_plan("g-0", &me_at_20, true, &two, 3, &none, long, grace),
            Some(NonPrimaryPlan::Stay(t)) if t.contains("two histories")
        ));
        // A join whose peers went away before it reached them (never Primary since it
        // started): it leaves to decide again, instead of waiting for entrypoints that are gone.
        let gone = snap(&[("g-2", 5, true)], &[]);
        assert!(matches!(
            non_primary_plan("g-0", &me_at_20, false, &gone, 3, &none, long, grace),
            Some(NonPrimaryPlan::Leave(t)) if t.contains("never in a Primary Component")
        ));
        // ... but not while a Primary Component runs somewhere: Galera merges it.
        let running = snap(&[("g-1", 30, true)], &["g-1"]);
        assert!(matches!(
            non_primary_plan("g-0", &me_at_20, false, &running, 3, &none, long, grace),
            Some(NonPrimaryPlan::Stay(_))
        ));
        // The sentence does not change every second (it is logged when it changes).
        let a = non_primary_plan("g-0", &me_at_20, true, &gone, 3, &none, long, grace);
        let b = non_primary_plan("g-0", &me_at_20, true, &gone, 3, &none, long * 2, grace);
        assert_eq!(a, b);
    }

    #[test]
    fn members_confirmed_down_table() {
        use crate::etcd::snapshot::{CensusEntry, Mark, QueueEntry};
        use std::time::Duration;
        // Members g-0..g-2; g-0 (this node) runs non-Primary at seqno 20; `alive`: the others
        // with a census entry (name, seqno, runs).
        fn snap(alive: &[(&str, i64, bool)], mark: Option<i64>) -> ClusterSnapshot {
            let mut s = ClusterSnapshot::default();
            for m in ["g-0", "g-1", "g-2"] {
                s.members.insert(m.into(), format!("10.0.0.{}", &m[2..]));
            }
            for (n, seqno, runs) in alive {
                let p = Position::known(U, *seqno);
                s.census.insert(
                    n.to_string(),
                    CensusEntry {
                        position: p.clone(),
                        address: "a".into(),
                        at: 1,
                        running: runs.then(|| p.clone()),
                        forks: vec![],
                        cached_downto: None,
                        stray_writes: 0,
                        version: None,
                    },
                );
                if !runs {
                    s.queue.insert(
                        n.to_string(),
                        QueueEntry {
                            queued_at: Some(1),
                            seqno: p.seqno(),
                            position: Some(p),
                        },
                    );
                }
            }
            s.hwm = mark.map(|seqno| Mark {
                uuid: U.into(),
                seqno,
                at: 1,
                by: "g-1".into(),
                forks: vec![],
            });
            s
        }
        fn probes(p: &[(&str, PortProbe)]) -> BTreeMap<String, PortProbe> {
            p.iter().map(|(n, v)| (n.to_string(), *v)).collect()
        }
        let mut me = status("Initialized", "0", "non-Primary", U);
        me.vars.insert("last_committed".into(), "20".into());
        let grace = Duration::from_secs(30);
        let at = Duration::from_secs;
        use PortProbe::*;
        // (what, snapshot, probes, non-Primary for, "stay"/"heal"/"none", fragment)
        let cases = [
            (
                "both down, ports refusing, this node holds the mark: heal soon",
                snap(&[], Some(18)),
                probes(&[("g-1", Refused), ("g-2", Refused)]),
                at(6),
                "heal",
                "g-1,g-2 down (lease expired, Galera port refusing connections)",
            ),
            (
                "... not before the short grace",
                snap(&[], Some(18)),
                probes(&[("g-1", Refused), ("g-2", Refused)]),
                at(4),
                "none",
                "",
            ),
            (
                "the mark equals this node's position",
                snap(&[], Some(20)),
                probes(&[("g-1", Refused), ("g-2", Refused)]),
                at(6),
                "heal",
                "records a fork at",
            ),
            (
                "a port that does not answer is no evidence",
                snap(&[], Some(18)),
                probes(&[("g-1", Refused), ("g-2", Silent)]),
                at(60),
                "stay",
                "g-2 (its Galera port at 10.0.0.2 does not answer (no evidence that it is down))",
            ),
            (
                "a port that answers: its mariadbd may run",
                snap(&[], Some(18)),
                probes(&[("g-1", Answers), ("g-2", Refused)]),
                at(60),
                "stay",
                "g-1 (its Galera port at 10.0.0.1 answers",
            ),
            (
                "not probed",
                snap(&[], Some(18)),
                probes(&[("g-1", Refused)]),
                at(60),
                "stay",
                "g-2 (its Galera port at 10.0.0.2 is not probed yet)",
            ),
            (
                "below the mark: the dead may hold the difference",
                snap(&[], Some(25)),
                probes(&[("g-1", Refused), ("g-2", Refused)]),
                at(60),
                "stay",
                "the commit high-water mark (6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:25, written by g-1) is ahead",
            ),
            (
                "no mark known",
                snap(&[], None),
                probes(&[("g-1", Refused), ("g-2", Refused)]),
                at(60),
                "stay",
                "no commit high-water mark is known",
            ),
            (
                "one down, one alive and stopped behind: heal, waiting the short grace only",
                snap(&[("g-1", 12, false)], Some(19)),
                probes(&[("g-2", Refused)]),
                at(6),
                "heal",
                "g-1 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:12 stopped, g-2 down",
            ),
            (
                "one down, one alive and stopped ahead: wait for it (no election without the dead)",
                snap(&[("g-1", 25, false)], Some(19)),
                probes(&[("g-2", Refused)]),
                at(60),
                "stay",
                "g-1, which holds the most advanced position",
            ),
            (
                "one down, the other's mariadbd runs non-Primary: a partition",
                snap(&[("g-1", 12, true)], Some(19)),
                probes(&[("g-2", Refused)]),
                at(60),
                "stay",
                "the mariadbd of g-1 runs too",
            ),
        ];
        for (what, sn, pr, dur, want, frag) in cases {
            let got = non_primary_plan("g-0", &me, true, &sn, 3, &pr, dur, grace);
            let (kind, text) = kind(&got);
            assert_eq!(kind, want, "{what}: {got:?}");
            assert!(text.contains(frag), "{what}: want {frag:?} in {text}");
        }
        // Every other running member in this node's own component (wsrep_cluster_size counts
        // them): no other component can become Primary, so the component is healed.
        let sized = |n: &str| {
            let mut s = me.clone();
            s.vars.insert("cluster_size".into(), n.into());
            s
        };
        let (three, two) = (sized("3"), sized("2"));
        let cases = [
            (
                "all alive in one non-Primary component of 3, this node most advanced (tie)",
                &three,
                snap(&[("g-1", 20, true), ("g-2", 20, true)], Some(18)),
                probes(&[]),
                at(31),
                "heal",
                "g-1,g-2 run(s) in this node's own component (wsrep_cluster_size 3)",
            ),
            (
                "... not before the grace: Galera may still re-form it",
                &three,
                snap(&[("g-1", 20, true), ("g-2", 20, true)], Some(18)),
                probes(&[]),
                at(10),
                "none",
                "",
            ),
            (
                "a component of 2 while two others run: one of them is elsewhere",
                &two,
                snap(&[("g-1", 20, true), ("g-2", 20, true)], Some(18)),
                probes(&[]),
                at(60),
                "stay",
                "the mariadbd of g-1,g-2 runs too",
            ),
            (
                "g-2 down, g-1 running in this node's component of 2: heal soon",
                &two,
                snap(&[("g-1", 20, true)], Some(19)),
                probes(&[("g-2", Refused)]),
                at(6),
                "heal",
                "g-1 run(s) in this node's own component (wsrep_cluster_size 2)",
            ),
            (
                "g-2 down, g-1 in this node's component and ahead: g-1 heals it",
                &two,
                snap(&[("g-1", 25, true)], Some(19)),
                probes(&[("g-2", Refused)]),
                at(60),
                "stay",
                "g-1, in this node's component, holds the most advanced position",
            ),
        ];
        for (what, st, sn, pr, dur, want, frag) in cases {
            let got = non_primary_plan("g-0", st, true, &sn, 3, &pr, dur, grace);
            let (kind, text) = kind(&got);
            assert_eq!(kind, want, "{what}: {got:?}");
            assert!(text.contains(frag), "{what}: want {frag:?} in {text}");
        }
        // The heal's fork: only with members down, at this node's position.
        let sn = snap(&[], Some(18));
        let f = heal_fork("g-0", 77, &Position::known(U, 20), &sn).expect("a fork");
        assert_eq!((f.id.as_str(), f.seqno), ("heal:g-0@77", 20));
        let all_reporting = snap(&[("g-1", 12, false), ("g-2", 12, false)], Some(18));
        assert_eq!(
            heal_fork("g-0", 77, &Position::known(U, 20), &all_reporting),
            None
        );
    }

    #[test]
    fn non_primary_under_pause_table() {
        let p = Some("paused by ops (disk) for 9m");
        let cases = vec![
            (
                NonPrimaryPlan::Leave("l".into()),
                p,
                "stay:would otherwise leave",
            ),
            (
                NonPrimaryPlan::HealInPlace("h".into()),
                p,
                "stay:would otherwise heal",
            ),
            (NonPrimaryPlan::Stay("s".into()), p, "stay:s"),
            (NonPrimaryPlan::Leave("l".into()), None, "leave"),
            (NonPrimaryPlan::HealInPlace("h".into()), None, "heal"),
        ];
        for (plan, pause, want) in cases {
            let got = non_primary_under_pause(plan.clone(), pause);
            match (want.split_once(':'), &got) {
                (Some(("stay", text)), NonPrimaryPlan::Stay(why)) => {
                    assert!(why.contains(text), "{plan:?}: {why}");
                    if pause.is_some() && text.starts_with("would") {
                        assert!(why.contains("paused by ops"), "{why}");
                    }
                }
                (None, got) => assert_eq!(got, &plan, "{plan:?} without a pause"),
                _ => panic!("{plan:?}: want {want}, got {got:?}"),
            }
        }
    }
}
