//! Branches of one uuid (pure). A forced recovery continues a cluster's uuid from the forced
//! node's position; a datadir of that uuid that had gone past it holds commits the forced
//! cluster never saw, under the same uuid and overlapping seqnos. From then on two datadirs of
//! one uuid are on one line only if they agree on every fork both have gone past: seqnos are
//! comparable on one line, never across branches.
//!
//! The forks are known from `P/forks/` and from every census entry (each datadir lists the
//! forks its history went through, in `galera-sidecar.forks.log`), so that etcd losing its keys
//! does not erase them while one datadir of the forced branch reports.

use std::collections::BTreeMap;

use crate::etcd::snapshot::{ClusterSnapshot, Fork, RecoveryRecord};
use crate::position::Position;

/// Every fork known: `P/forks/` and the forks the census entries list.
pub fn known_forks(snap: &ClusterSnapshot) -> Vec<Fork> {
    let mut all: BTreeMap<&str, &Fork> = snap.forks.iter().map(|(k, f)| (k.as_str(), f)).collect();
    for c in snap.census.values() {
        for f in &c.forks {
            all.entry(f.id.as_str()).or_insert(f);
        }
    }
    all.into_values().cloned().collect()
}

/// The forks a node's datadir lists, as its census entry reports them (none when it has no
/// census entry: it then counts as never having gone through a fork).
pub fn forks_of<'a>(snap: &'a ClusterSnapshot, name: &str) -> &'a [Fork] {
    snap.census.get(name).map_or(&[], |c| c.forks.as_slice())
}

/// Where two positions of one uuid part: the lowest fork that both have gone past and that
/// exactly one of them went through. `None` when they are on one line (or of different
/// uuids, or either has no known seqno: the caller compares those otherwise).
pub fn split<'a>(
    a: &Position,
    a_forks: &[Fork],
    b: &Position,
    b_forks: &[Fork],
    known: &'a [Fork],
) -> Option<&'a Fork> {
    let (
        Position::Known {
            uuid: ua,
            seqno: sa,
        },
        Position::Known {
            uuid: ub,
            seqno: sb,
        },
    ) = (a, b)
    else {
        return None;
    };
    if ua != ub {
        return None;
    }
    let both_past = (*sa).min(*sb);
    let went = |forks: &[Fork], k: &Fork| forks.iter().any(|f| f.id == k.id);
    known
        .iter()
        .filter(|k| k.uuid == *ua && k.seqno < both_past)
        .filter(|k| went(a_forks, k) != went(b_forks, k))
        .min_by_key(|k| k.seqno)
}

/// The sentence for two datadirs of one uuid on different branches.
pub fn split_sentence(fork: &Fork) -> String {
    format!(
        "they share cluster {} only up to seqno {}, where the forced recovery {} continued it from \
         an older position: past it their seqnos count different commits",
        fork.uuid, fork.seqno, fork.id
    )
}

/// The fork a forced recovery under record `r` starts when it bootstraps from `position`: a
/// known position only (a fresh datadir starts a new uuid).
pub fn forced_fork(r: &RecoveryRecord, position: &Position) -> Option<Fork> {
    match (position, &r.forced) {
        (Position::Known { uuid, seqno }, Some(_)) if *seqno >= 0 => Some(Fork {
            id: r.id(),
            uuid: uuid.clone(),
            seqno: *seqno,
        }),
        _ => None,
    }
}

/// The forks the running cluster went through: those its registered nodes (other than `me`)
/// list. A datadir that joins it, or is Synced in it, holds its branch.
pub fn cluster_forks(snap: &ClusterSnapshot, me: &str) -> Vec<Fork> {
    let lists: Vec<&[Fork]> = snap
        .nodes
        .keys()
        .filter(|n| n.as_str() != me)
        .map(|n| forks_of(snap, n))
        .collect();
    merged(&[], &lists)
}

/// The forks to list in a datadir that joins (or bootstraps) a cluster whose running nodes
/// list `cluster`: its own and the cluster's, once each, sorted.
pub fn merged(own: &[Fork], cluster: &[&[Fork]]) -> Vec<Fork> {
    let mut all: Vec<Fork> = own.to_vec();
    for forks in cluster {
        all.extend(forks.iter().cloned());
    }
    all.sort();
    all.dedup_by(|a, b| a.id == b.id);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::CensusEntry;

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
    const V: &str = "11111111-2222-3333-4444-555555555555";

    fn fork(id: &str, seqno: i64) -> Fork {
        Fork {
            id: id.into(),
            uuid: U.into(),
            seqno,
        }
    }

    #[test]
    fn split_table() {
        let x = fork("g-2@100", 36);
        let y = fork("g-0@200", 60);
        let known = vec![x.clone(), y.clone()];
        let k = |s| Position::known(U, s);
        let none: &[Fork] = &[];
        let on_x = std::slice::from_ref(&x);
        let on_xy = &[x.clone(), y.clone()][..];
        // (case, a, a's forks, b, b's forks, the fork where they split)
        type Case<'a> = (
            &'a str,
            Position,
            &'a [Fork],
            Position,
            &'a [Fork],
            Option<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("no forks: one line", k(50), none, k(40), none, None),
            (
                "old branch past the fork vs forced branch past it",
                k(50),
                none,
                k(40),
                on_x,
                Some("g-2@100"),
            ),
            ("symmetric", k(40), on_x, k(50), none, Some("g-2@100")),
            (
                "a prefix (at the fork point) is on both",
                k(36),
                none,
                k(40),
                on_x,
                None,
            ),
            (
                "a prefix below the fork point",
                k(20),
                none,
                k(40),
                on_x,
                None,
            ),
            ("both went through it", k(50), on_x, k(40), on_x, None),
            (
                "second fork splits them",
                k(70),
                on_x,
                k(65),
                on_xy,
                Some("g-0@200"),
            ),
            (
                "the lowest split is named",
                k(70),
                none,
                k(65),
                on_xy,
                Some("g-2@100"),
            ),
            (
                "other uuid: not this module's question",
                Position::known(V, 50),
                none,
                k(40),
                on_x,
                None,
            ),
            (
                "unknown: not comparable here",
                Position::Unknown,
                none,
                k(40),
                on_x,
                None,
            ),
        ];
        for (name, a, fa, b, fb, want) in cases {
            let got = split(&a, fa, &b, fb, &known).map(|f| f.id.as_str());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn known_forks_are_the_union_of_etcd_and_census() {
        let mut snap = ClusterSnapshot::default();
        snap.forks.insert("a".into(), fork("a", 1));
        snap.census.insert(
            "g-1".into(),
            CensusEntry {
                position: Position::known(U, 9),
                address: "10.0.0.1".into(),
                at: 1,
                running: None,
                forks: vec![fork("a", 1), fork("b", 5)],
                cached_downto: None,
                stray_writes: 0,
                version: None,
            },
        );
        let ids: Vec<String> = known_forks(&snap).into_iter().map(|f| f.id).collect();
        assert_eq!(ids, vec!["a", "b"]);
        assert_eq!(forks_of(&snap, "g-1").len(), 2);
        assert!(forks_of(&snap, "g-9").is_empty());
        let m = merged(&[fork("b", 5)], &[&[fork("a", 1), fork("b", 5)]]);
        assert_eq!(m, vec![fork("a", 1), fork("b", 5)]);
        assert!(
            cluster_forks(&snap, "g-0").is_empty(),
            "g-1 is not registered"
        );
        snap.nodes.insert(
            "g-1".into(),
            crate::etcd::snapshot::NodeEntry {
                address: "10.0.0.1".into(),
                lease: 1,
            },
        );
        assert_eq!(cluster_forks(&snap, "g-0").len(), 2);
        assert!(cluster_forks(&snap, "g-1").is_empty(), "not its own");
    }
}
