//! `can-restart NAME`: would restarting NAME now (a) rejoin by IST, (b) keep quorum and
//! (c) leave a leader? One pure decision on a [`ClusterSnapshot`], used by the command, by the
//! entrypoint for its own node (the `galera_ist_possible` metric) and by the opt-in SIGTERM
//! drain wait (`galera --drain-wait-ist`).
//!
//! - IST: a donor is another registered node (`nodes/`) running NAME's history (the same
//!   uuid in its census `running` position) whose gcache still holds the seqno after NAME's
//!   last committed one (`cached_downto <= seqno + 1`, `wsrep_local_cached_downto` in its
//!   census), or which has nothing NAME lacks. NAME's position is its census one: the live one
//!   while it runs, the recovered one while its entrypoint waits to join.
//! - Quorum: the registered nodes without NAME are more than half of the members.
//! - Leader: when NAME leads, another registered node runs the cluster's uuid.

use std::collections::BTreeSet;

use crate::cli::ConfigError;
use crate::etcd::snapshot::ClusterSnapshot;
use crate::position::Position;

/// One of the three conditions: whether it holds, and why (part of a sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub why: String,
}

impl Check {
    fn yes(why: impl Into<String>) -> Check {
        Check {
            ok: true,
            why: why.into(),
        }
    }
    fn no(why: impl Into<String>) -> Check {
        Check {
            ok: false,
            why: why.into(),
        }
    }
}

/// The answer about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub ist: Check,
    pub quorum: Check,
    pub leader: Check,
}

impl Answer {
    /// All three hold: restarting the node now is harmless.
    pub fn yes(&self) -> bool {
        self.ist.ok && self.quorum.ok && self.leader.ok
    }

    /// What the SIGTERM drain waits for: IST and quorum (the drain hands leadership over
    /// itself).
    pub fn drain_ok(&self) -> bool {
        self.ist.ok && self.quorum.ok
    }

    /// One sentence: `yes: …` with every reason, or `no: …` with the failing ones.
    pub fn sentence(&self) -> String {
        let checks = [&self.ist, &self.quorum, &self.leader];
        if self.yes() {
            let why: Vec<&str> = checks.iter().map(|c| c.why.as_str()).collect();
            format!(
                "yes: restarting {} now is safe: {}",
                self.name,
                why.join("; ")
            )
        } else {
            let why: Vec<&str> = checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.why.as_str())
                .collect();
            format!("no: restarting {} now: {}", self.name, why.join("; and "))
        }
    }

    /// What the drain waits for, as a sentence (the failing IST / quorum reasons).
    pub fn drain_wait_reason(&self) -> String {
        let why: Vec<&str> = [&self.ist, &self.quorum]
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.why.as_str())
            .collect();
        why.join("; and ")
    }
}

/// Every name the cluster knows: members, registered nodes, census entries.
fn known_names(snap: &ClusterSnapshot) -> BTreeSet<&str> {
    snap.members
        .keys()
        .chain(snap.nodes.keys())
        .chain(snap.census.keys())
        .map(String::as_str)
        .collect()
}

/// Decide for `name` (pure). `Err`: the name is unknown to the cluster (the sentence lists
/// the known ones).
pub fn can_restart(snap: &ClusterSnapshot, name: &str) -> Result<Answer, String> {
    let known = known_names(snap);
    if !known.contains(name) {
        let list: Vec<&str> = known.into_iter().collect();
        return Err(if list.is_empty() {
            format!("`{name}` is not a member: the cluster has no members yet")
        } else {
            format!(
                "`{name}` is not a member: the members are {}",
                list.join(", ")
            )
        });
    }
    Ok(Answer {
        name: name.to_string(),
        ist: ist(snap, name),
        quorum: quorum(snap, name),
        leader: leader(snap, name),
    })
}

/// Whether `name` (this node) would rejoin by IST if restarted now; `None` when the cluster
/// does not know it (the entrypoint's metric).
pub fn ist_possible(snap: &ClusterSnapshot, name: &str) -> Option<bool> {
    known_names(snap).contains(name).then(|| ist(snap, name).ok)
}

/// For `status`: when a registered node's restart now would cost a full SST — judged only
/// when the other registered nodes publish their gcache range (an older entrypoint's census
/// does not, and proves nothing).
pub fn sst_flag(snap: &ClusterSnapshot, name: &str) -> Option<String> {
    let ranges_known = snap.nodes.keys().filter(|n| n.as_str() != name).any(|n| {
        snap.census
            .get(n)
            .is_some_and(|c| c.cached_downto.is_some())
    });
    if !snap.nodes.contains_key(name) || !ranges_known {
        return None;
    }
    let check = ist(snap, name);
    (!check.ok).then(|| {
        format!(
            "restarting {name} now would cost a full SST: {} (galera-sidecar can-restart)",
            check.why
        )
    })
}

/// (a) Would `name` rejoin by IST?
pub fn ist(snap: &ClusterSnapshot, name: &str) -> Check {
    let Some(entry) = snap.census.get(name) else {
        return Check::no(format!(
            "{name} publishes no census entry (its entrypoint is not running), so its position \
             is unknown and its restart may need a full SST"
        ));
    };
    let pos = entry.running.as_ref().unwrap_or(&entry.position);
    let (uuid, seqno) = match pos {
        Position::Fresh => {
            return Check::no(format!(
                "{name}'s datadir holds no data: it joins by a full SST"
            ))
        }
        Position::Unknown => {
            return Check::no(format!(
                "{name}'s position is unknown: its restart may need a full SST"
            ))
        }
        Position::Known { uuid, seqno } if *seqno < 0 => {
            return Check::no(format!(
                "{name}'s seqno is unknown ({uuid}:{seqno}): its restart needs a full SST"
            ))
        }
        Position::Known { uuid, seqno } => (uuid.as_str(), *seqno),
    };
    let others: Vec<(&str, Option<&Position>, Option<i64>)> = snap
        .nodes
        .keys()
        .filter(|n| n.as_str() != name)
        .map(|n| {
            let c = snap.census.get(n);
            (
                n.as_str(),
                c.and_then(|c| c.running.as_ref()),
                c.and_then(|c| c.cached_downto),
            )
        })
        .collect();
    if others.is_empty() {
        return Check::no(format!(
            "no other node is registered to donate an IST, so {name}'s restart needs a full SST \
             (or a recovery)"
        ));
    }
    let same: Vec<_> = others
        .iter()
        .filter(|(_, running, _)| running.and_then(|p| p.uuid()) == Some(uuid))
        .collect();
    if same.is_empty() {
        return Check::no(format!(
            "no registered node runs {name}'s history {uuid} (IST needs a donor of the same \
             uuid), so its restart needs a full SST"
        ));
    }
    let need = seqno + 1;
    let mut short = vec![];
    for (donor, running, cached) in same {
        let donor_seqno = running.and_then(|p| p.seqno());
        if donor_seqno.is_some_and(|d| d <= seqno) {
            return Check::yes(format!(
                "it would rejoin by IST: {donor} has nothing {name} lacks ({name} at seqno \
                 {seqno})"
            ));
        }
        match cached {
            Some(c) if *c <= need => {
                return Check::yes(format!(
                    "it would rejoin by IST from {donor} (its gcache holds seqnos from {c}, \
                     {name} needs from {need})"
                ))
            }
            Some(c) => short.push(format!("{donor}'s from {c}")),
            None => short.push(format!("{donor} publishes no gcache range")),
        }
    }
    Check::no(format!(
        "no donor's gcache reaches back to seqno {need}, the first one {name} lacks ({}), so \
         its restart needs a full SST",
        short.join(", ")
    ))
}

/// (b) Do the registered nodes without `name` stay more than half of the members?
pub fn quorum(snap: &ClusterSnapshot, name: &str) -> Check {
    let members: BTreeSet<&str> = snap
        .members
        .keys()
        .chain(snap.nodes.keys())
        .map(String::as_str)
        .collect();
    let stay: Vec<&str> = snap
        .nodes
        .keys()
        .map(String::as_str)
        .filter(|n| *n != name)
        .collect();
    let (m, s) = (members.len(), stay.len());
    if 2 * s > m {
        Check::yes(format!("{s} of {m} members stay registered (a majority)"))
    } else {
        let who = if stay.is_empty() {
            "none".to_string()
        } else {
            stay.join(", ")
        };
        Check::no(format!(
            "only {s} of {m} members would stay registered ({who}): not a majority, the cluster \
             would lose quorum"
        ))
    }
}

/// (c) When `name` leads, can another registered node on the cluster's uuid take over?
pub fn leader(snap: &ClusterSnapshot, name: &str) -> Check {
    let Some(l) = &snap.leader else {
        return Check::yes(format!("{name} does not lead"));
    };
    let addresses = [
        snap.nodes.get(name).map(|n| n.address.as_str()),
        snap.members.get(name).map(String::as_str),
        snap.census.get(name).map(|c| c.address.as_str()),
    ];
    if !addresses.contains(&Some(l.address.as_str())) {
        return Check::yes(format!("{name} does not lead"));
    }
    let successor = snap.nodes.keys().find(|n| {
        n.as_str() != name
            && snap
                .census
                .get(n.as_str())
                .and_then(|c| c.running.as_ref())
                .and_then(|p| p.uuid())
                .is_some_and(|u| snap.uuid.as_deref().is_none_or(|cu| cu == u))
    });
    match successor {
        Some(s) => Check::yes(format!("{name} leads and {s} can take leadership over")),
        None => Check::no(format!(
            "{name} leads and no other registered node runs the cluster's uuid {} to take \
             leadership over",
            snap.uuid.as_deref().unwrap_or("(unset)")
        )),
    }
}

/// `can-restart NAME`: the exit code (0 yes, 1 no) and the sentence. A malformed or unknown
/// name is a [`ConfigError`] (exit 2), the unknown one listing the members.
pub async fn command(etcd: &crate::etcd::Etcd, name: &str) -> anyhow::Result<(u8, String)> {
    crate::names::validate_node_name(name).map_err(|p| ConfigError::new("NAME", p))?;
    let snap = etcd.snapshot().await?;
    let answer = can_restart(&snap, name).map_err(|p| ConfigError::new("NAME", p))?;
    Ok((if answer.yes() { 0 } else { 1 }, answer.sentence()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::{CensusEntry, LeaderEntry, NodeEntry};

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
    const V: &str = "7c4b2f1f-2d3e-11ef-9a7b-0242ac120003";

    /// A node: name, registered?, census (running position, cached_downto) or none.
    struct N {
        name: &'static str,
        registered: bool,
        census: Option<(Position, Option<Position>, Option<i64>)>,
    }

    fn run(name: &'static str, uuid: &str, seqno: i64, cached: Option<i64>) -> N {
        N {
            name,
            registered: true,
            census: Some((
                Position::known(uuid, seqno),
                Some(Position::known(uuid, seqno)),
                cached,
            )),
        }
    }

    fn down(name: &'static str, pos: Option<Position>) -> N {
        N {
            name,
            registered: false,
            census: pos.map(|p| (p, None, None)),
        }
    }

    fn addr(name: &str) -> String {
        format!("10.0.0.{}", name.trim_start_matches("g-"))
    }

    /// Members g-0..g-2 (plus any listed node), the cluster uuid U, `leader` leading.
    fn snap(nodes: Vec<N>, leader: Option<&str>) -> ClusterSnapshot {
        let mut s = ClusterSnapshot {
            uuid: Some(U.into()),
            ..Default::default()
        };
        for m in ["g-0", "g-1", "g-2"] {
            s.members.insert(m.into(), addr(m));
        }
        for n in nodes {
            s.members.insert(n.name.into(), addr(n.name));
            if n.registered {
                s.nodes.insert(
                    n.name.into(),
                    NodeEntry {
                        address: addr(n.name),
                        lease: 1,
                    },
                );
            }
            if let Some((position, running, cached_downto)) = n.census {
                s.census.insert(
                    n.name.into(),
                    CensusEntry {
                        position,
                        address: addr(n.name),
                        at: 1,
                        running,
                        forks: vec![],
                        cached_downto,
                        stray_writes: 0,
                        version: None,
                    },
                );
            }
        }
        s.leader = leader.map(|l| LeaderEntry {
            address: addr(l),
            lease: 1,
            create_revision: 1,
            mod_revision: 1,
        });
        s
    }

    #[test]
    fn restart_gate_table() {
        // (case, snapshot, asked, yes?, text the sentence must contain)
        let cases: Vec<(&str, ClusterSnapshot, &str, bool, &str)> = vec![
            (
                "IST yes: the donor's gcache reaches back",
                snap(
                    vec![
                        run("g-0", U, 120, Some(50)),
                        run("g-1", U, 100, Some(90)),
                        run("g-2", U, 120, Some(1)),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                true,
                "rejoin by IST from g-0 (its gcache holds seqnos from 50",
            ),
            (
                "IST yes at the boundary: cached_downto = seqno + 1",
                snap(
                    vec![
                        run("g-0", U, 100, Some(61)),
                        run("g-2", U, 100, None),
                        down("g-1", Some(Position::known(U, 60))),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                true,
                "from 61, g-1 needs from 61",
            ),
            (
                "IST no: every donor's gcache starts past the node's seqno",
                snap(
                    vec![
                        run("g-0", U, 900, Some(500)),
                        run("g-2", U, 900, None),
                        down("g-1", Some(Position::known(U, 60))),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                false,
                "no donor's gcache reaches back to seqno 61, the first one g-1 lacks \
                 (g-0's from 500, g-2 publishes no gcache range), so its restart needs a full SST",
            ),
            (
                "IST yes: the donor has nothing the node lacks",
                snap(
                    vec![
                        run("g-0", U, 60, Some(500)),
                        run("g-2", U, 60, None),
                        down("g-1", Some(Position::known(U, 60))),
                    ],
                    None,
                ),
                "g-1",
                true,
                "g-0 has nothing g-1 lacks",
            ),
            (
                "no donor: nobody else registered",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        down("g-1", Some(Position::known(U, 100))),
                        down("g-2", Some(Position::known(U, 100))),
                    ],
                    Some("g-0"),
                ),
                "g-0",
                false,
                "no other node is registered to donate an IST",
            ),
            (
                "foreign uuid donors only",
                snap(
                    vec![
                        run("g-0", V, 100, Some(1)),
                        run("g-2", V, 100, Some(1)),
                        down("g-1", Some(Position::known(U, 100))),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                false,
                "no registered node runs g-1's history",
            ),
            (
                "quorum lost: one node down already, another asked about",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        run("g-1", U, 100, Some(1)),
                        down("g-2", Some(Position::known(U, 90))),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                false,
                "only 1 of 3 members would stay registered (g-0): not a majority",
            ),
            (
                "the stopped node itself keeps quorum",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        run("g-1", U, 100, Some(1)),
                        down("g-2", Some(Position::known(U, 90))),
                    ],
                    Some("g-0"),
                ),
                "g-2",
                true,
                "2 of 3 members stay registered",
            ),
            (
                "leader with a successor",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        run("g-1", U, 100, Some(1)),
                        run("g-2", U, 100, Some(1)),
                    ],
                    Some("g-0"),
                ),
                "g-0",
                true,
                "g-0 leads and g-1 can take leadership over",
            ),
            (
                "leader without a successor on the cluster's uuid",
                {
                    let mut s = snap(
                        vec![
                            run("g-0", U, 100, Some(1)),
                            run("g-1", V, 100, Some(1)),
                            run("g-2", V, 100, Some(1)),
                        ],
                        Some("g-0"),
                    );
                    // g-0 alone runs U: it has a donor for its IST nowhere, and no successor.
                    s.uuid = Some(U.into());
                    s
                },
                "g-0",
                false,
                "g-0 leads and no other registered node runs the cluster's uuid",
            ),
            (
                "node not running: its census (recovered) position is used",
                snap(
                    vec![
                        run("g-0", U, 100, Some(40)),
                        run("g-2", U, 100, Some(40)),
                        down("g-1", Some(Position::known(U, 39))),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                true,
                "g-1 needs from 40",
            ),
            (
                "node not running without a census entry",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        run("g-2", U, 100, Some(1)),
                        down("g-1", None),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                false,
                "g-1 publishes no census entry",
            ),
            (
                "fresh datadir",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        run("g-2", U, 100, Some(1)),
                        down("g-1", Some(Position::Fresh)),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                false,
                "holds no data: it joins by a full SST",
            ),
            (
                "unknown seqno (-1)",
                snap(
                    vec![
                        run("g-0", U, 100, Some(1)),
                        run("g-2", U, 100, Some(1)),
                        down("g-1", Some(Position::known(U, -1))),
                    ],
                    Some("g-0"),
                ),
                "g-1",
                false,
                "seqno is unknown",
            ),
        ];
        for (case, s, name, yes, text) in cases {
            let a = can_restart(&s, name).unwrap_or_else(|e| panic!("{case}: {e}"));
            let sentence = a.sentence();
            assert_eq!(a.yes(), yes, "{case}: {sentence}");
            assert!(
                sentence.starts_with(if yes { "yes: " } else { "no: " }),
                "{case}: {sentence}"
            );
            assert!(
                sentence.contains(text),
                "{case}: `{sentence}` lacks `{text}`"
            );
        }
    }

    #[test]
    fn restart_gate_unknown_node_lists_members() {
        let s = snap(vec![run("g-0", U, 1, Some(1))], None);
        let e = can_restart(&s, "g-9").expect_err("unknown");
        assert!(e.contains("g-0, g-1, g-2"), "{e}");
        assert_eq!(ist_possible(&s, "g-9"), None);
        let empty = ClusterSnapshot::default();
        let e = can_restart(&empty, "g-0").expect_err("unknown");
        assert!(e.contains("no members"), "{e}");
    }

    #[test]
    fn restart_gate_drain_ignores_leadership_only() {
        // The leader alone on the cluster's uuid: the drain does not wait for a successor…
        let s = snap(
            vec![
                run("g-0", U, 100, Some(1)),
                run("g-1", U, 100, Some(1)),
                run("g-2", U, 100, Some(1)),
            ],
            Some("g-0"),
        );
        let a = can_restart(&s, "g-0").expect("known");
        assert!(a.yes() && a.drain_ok());
        assert_eq!(ist_possible(&s, "g-0"), Some(true));
        // …but waits while IST is not possible, and says why.
        let s = snap(
            vec![
                run("g-0", U, 900, Some(500)),
                run("g-1", U, 900, Some(500)),
                down("g-2", Some(Position::known(U, 10))),
            ],
            None,
        );
        let a = can_restart(&s, "g-2").expect("known");
        assert!(!a.drain_ok());
        assert!(
            a.drain_wait_reason().contains("seqno 11"),
            "{}",
            a.drain_wait_reason()
        );
        assert_eq!(ist_possible(&s, "g-2"), Some(false));
    }

    #[test]
    fn restart_gate_status_flag() {
        // A registered node behind every donor's gcache is flagged…
        let s = snap(
            vec![
                run("g-0", U, 900, Some(500)),
                run("g-1", U, 100, Some(1)),
                run("g-2", U, 900, Some(500)),
            ],
            Some("g-0"),
        );
        let f = sst_flag(&s, "g-1").expect("flagged");
        assert!(
            f.contains("restarting g-1 now would cost a full SST"),
            "{f}"
        );
        assert_eq!(sst_flag(&s, "g-0"), None);
        // …but not when no donor publishes its range, nor a node that is not registered.
        let s = snap(
            vec![
                run("g-0", U, 900, None),
                run("g-1", U, 100, None),
                down("g-2", Some(Position::known(U, 1))),
            ],
            Some("g-0"),
        );
        assert_eq!(sst_flag(&s, "g-1"), None);
        assert_eq!(sst_flag(&s, "g-2"), None);
    }
}
