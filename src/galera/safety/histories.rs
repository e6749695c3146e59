//! The histories the reports show: every reported position ([`reported_positions`]), the
//! histories they group into (uuids and branches, [`histories`]), the cluster's uuid, and the
//! two-histories / two-branches sentences of a refusal.

use std::collections::BTreeMap;

use super::Evidence;
use crate::etcd::snapshot::{ClusterSnapshot, Fork};
use crate::galera::branches::{forks_of, known_forks, split, split_sentence};
use crate::position::Position;

/// Every position a node reports, by name: its recovery queue entry if queued (the freshest),
/// else its census entry.
pub fn reported_positions(snap: &ClusterSnapshot) -> BTreeMap<&str, &Position> {
    let mut out: BTreeMap<&str, &Position> = BTreeMap::new();
    for (n, c) in &snap.census {
        out.insert(n.as_str(), c.running.as_ref().unwrap_or(&c.position));
    }
    for (n, q) in &snap.queue {
        if let Some(p) = &q.position {
            out.insert(n.as_str(), p);
        }
    }
    out
}

/// Does this position hold data that may matter (anything but a fresh datadir)?
pub(super) fn holds_data(p: &Position) -> bool {
    !matches!(p, Position::Fresh)
}

/// One history as the reports show it: a uuid (and, when a forced recovery split it, the
/// branch), the highest seqno reported for it, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct History {
    pub uuid: String,
    /// Which branch of `uuid`, when a forced recovery split it and other branches of it are
    /// reported (e.g. "through forced recovery g-2@17 (from seqno 36)").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub seqno: i64,
    pub nodes: Vec<String>,
    /// The nodes that report the highest seqno.
    pub newest: Vec<String>,
    /// Names of registered nodes running this history.
    pub running: Vec<String>,
}

impl History {
    /// "uuid at seqno N on a,b" (with the branch when there is one).
    pub fn describe(&self) -> String {
        format!(
            "{}{} at seqno {} on {}",
            self.uuid,
            self.branch
                .as_ref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default(),
            self.seqno,
            self.nodes.join(",")
        )
    }
}

/// The branch label of a position of `uuid` at `seqno` listing `forks`, among the `known`.
fn branch_label(uuid: &str, seqno: i64, forks: &[Fork], known: &[Fork]) -> String {
    let parts: Vec<String> = known
        .iter()
        .filter(|k| k.uuid == uuid && k.seqno < seqno)
        .map(|k| {
            if forks.iter().any(|f| f.id == k.id) {
                format!("through forced recovery {} (from seqno {})", k.id, k.seqno)
            } else {
                format!("without forced recovery {} (past seqno {})", k.id, k.seqno)
            }
        })
        .collect();
    if parts.is_empty() {
        "before any forced recovery".into()
    } else {
        parts.join(", ")
    }
}

/// The histories the census, the queue and the registered nodes report, longest first.
/// Two or more means two clusters' data exist side by side: two uuids, or two branches of one
/// uuid (a forced recovery continued it from a position others had gone past).
pub fn histories(snap: &ClusterSnapshot) -> Vec<History> {
    let known = known_forks(snap);
    let mut reports: Vec<(&str, &Position, &[Fork])> = reported_positions(snap)
        .into_iter()
        .filter(|(_, p)| matches!(p, Position::Known { .. }))
        .map(|(n, p)| (n, p, forks_of(snap, n)))
        .collect();
    // Longest first, so that each history's first node is its longest: a prefix of two
    // branches joins the longest one it is on.
    reports.sort_by(|a, b| b.1.seqno().cmp(&a.1.seqno()).then(a.0.cmp(b.0)));
    let mut groups: Vec<(History, &Position, &[Fork])> = vec![];
    for (n, p, forks) in reports {
        let Position::Known { uuid, seqno } = p else {
            continue;
        };
        let at = groups.iter().position(|(h, rep, rep_forks)| {
            h.uuid == *uuid && split(rep, rep_forks, p, forks, &known).is_none()
        });
        let h = match at {
            Some(i) => &mut groups[i].0,
            None => {
                groups.push((
                    History {
                        uuid: uuid.clone(),
                        branch: None,
                        seqno: *seqno,
                        nodes: vec![],
                        newest: vec![],
                        running: vec![],
                    },
                    p,
                    forks,
                ));
                let last = groups.len() - 1;
                &mut groups[last].0
            }
        };
        if *seqno == h.seqno {
            h.newest.push(n.to_string());
        }
        h.nodes.push(n.to_string());
        if snap.nodes.contains_key(n) && snap.census.get(n).is_some_and(|c| c.running.is_some()) {
            h.running.push(n.to_string());
        }
    }
    let split_uuids: Vec<String> = groups
        .iter()
        .map(|(h, _, _)| h.uuid.clone())
        .filter(|u| groups.iter().filter(|(h, _, _)| h.uuid == *u).count() > 1)
        .collect();
    let mut out: Vec<History> = groups
        .into_iter()
        .map(|(mut h, _, forks)| {
            if split_uuids.contains(&h.uuid) {
                h.branch = Some(branch_label(&h.uuid, h.seqno, forks, &known));
            }
            h.nodes.sort();
            h.newest.sort();
            h.running.sort();
            h
        })
        .collect();
    out.sort_by(|a, b| b.seqno.cmp(&a.seqno).then(a.uuid.cmp(&b.uuid)));
    out
}

/// The two-histories sentence (never advises discarding either side: which one is the
/// younger is the operator's call).
pub(super) fn two_histories(
    me: &str,
    local: &Position,
    other: &str,
    snap: &ClusterSnapshot,
) -> String {
    let hs = histories_sentence(snap);
    format!(
        "two histories: this datadir holds {local} but the running cluster is {other}; joining would \
         overwrite {me}'s data by SST. Reported histories: {hs}. Compare them (`galera-sidecar status`) \
         before choosing which to keep: docs/operations.md, \"Two histories\""
    )
}

/// Every reported history, described, separated by "; ".
pub fn histories_sentence(snap: &ClusterSnapshot) -> String {
    histories(snap)
        .iter()
        .map(History::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The two-branches sentence: this datadir and the running cluster share a uuid but split at
/// a forced recovery.
pub(super) fn two_branches(ev: &Evidence, other: &str, theirs: &Position, fork: &Fork) -> String {
    let past = ev.local.seqno().unwrap_or(fork.seqno) - fork.seqno;
    format!(
        "two histories: this datadir ({}) and the running cluster ({other} at {theirs}) are two \
         branches: {}. Joining would overwrite the {past} transaction(s) {} holds past the split. \
         Reported histories: {}. Compare them (`galera-sidecar status`) before choosing which to \
         keep: docs/operations.md, \"Two histories\"",
        ev.local,
        split_sentence(fork),
        ev.me,
        histories_sentence(ev.snap)
    )
}

/// The cluster's uuid as etcd records it, or as every reported history agrees on.
pub fn cluster_uuid(snap: &ClusterSnapshot) -> Option<String> {
    if let Some(u) = &snap.uuid {
        return Some(u.clone());
    }
    let hs = histories(snap);
    match hs.as_slice() {
        [one] => Some(one.uuid.clone()),
        _ => None,
    }
}
