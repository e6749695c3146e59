//! The commit high-water mark in the election: a winner below it does not bootstrap while a
//! node left out of the election may hold the commits past it; the reason, for `status`.

use std::collections::BTreeSet;

use crate::etcd::snapshot::ClusterSnapshot;
use crate::position::Position;

use super::elect::{elect, queued_position, Election};
use crate::galera::branches::forks_of;
use crate::galera::safety;

/// Words every election blocked by the commit high-water mark says.
const BELOW_MARK: &str = "below the commit high-water mark";

/// For `status` (which does not know `--cluster-size`): why the election over the queued
/// members is blocked by the commit high-water mark, or `None`. Only while every member has
/// queued and no record names a winner (the election the entrypoints run then, whatever
/// their `--cluster-size`, once it is no larger than the members known).
pub fn blocked_by_mark(snap: &ClusterSnapshot, now: i64) -> Option<String> {
    if snap.members.is_empty() || snap.recovery.is_some() || !snap.nodes.is_empty() {
        return None;
    }
    match elect(snap, snap.members.len(), now) {
        Election::Blocked { reason } if reason.contains(BELOW_MARK) => Some(reason),
        _ => None,
    }
}

/// The nodes that do not take part in the election (`took_part`) and may hold the commits
/// past a winner below the commit high-water mark `m`, each with why it is left out: the
/// mark's writer, and any member not taking part. A node queued at a known position that does
/// not hold the mark's commits does not hold them.
pub(super) fn could_hold_mark(
    snap: &ClusterSnapshot,
    m: &crate::etcd::snapshot::Mark,
    took_part: &BTreeSet<&str>,
) -> Vec<(String, String)> {
    let mut names: BTreeSet<&str> = snap.members.keys().map(String::as_str).collect();
    names.insert(m.by.as_str());
    names
        .into_iter()
        .filter(|n| !took_part.contains(n))
        .filter_map(|n| {
            let member = snap.members.contains_key(n);
            let why = match snap.queue.get(n).map(queued_position) {
                Some(p @ Position::Known { seqno, .. }) if seqno >= 0 => {
                    if !safety::holds_mark(&p, forks_of(snap, n), snap) {
                        return None;
                    }
                    format!(
                        "{n} is queued at {p} but cannot take part: it has no census entry (its \
                         branch is unknown)"
                    )
                }
                Some(_) => format!("{n} is queued with an unknown position"),
                None if member => format!("{n} is a member left out of this election"),
                None => format!(
                    "{n} is not a member any more (removed with `remove-member`, or its members/ \
                     key lost) and has not queued"
                ),
            };
            Some((n.to_string(), why))
        })
        .collect()
}

/// Why a winner below the commit high-water mark does not bootstrap, and what to do.
pub(super) fn below_mark_sentence(
    win: &str,
    seqno: i64,
    lost: i64,
    m: &crate::etcd::snapshot::Mark,
    holders: &[(String, String)],
    now: i64,
) -> String {
    let names: Vec<&str> = holders.iter().map(|(n, _)| n.as_str()).collect();
    let whys: Vec<&str> = holders.iter().map(|(_, w)| w.as_str()).collect();
    format!(
        "{win} would win at seqno {seqno}, {BELOW_MARK} ({}): bootstrapping \
         {win} would lose at least {lost} committed transaction(s), which {} may hold: {}. \
         Nothing bootstraps. Bring {} back (start its entrypoint: once it queues holding those \
         commits, the recovery goes on), or accept the loss: `galera-sidecar force-bootstrap \
         {win} --accept-data-loss`",
        safety::mark_words(m, now),
        names.join(" or "),
        whys.join("; "),
        names.join(" and "),
    )
}
