//! What a bootstrap from a candidate position loses: the transactions other reported datadirs
//! hold past it ([`transactions_lost`]), what it lacks by the commit high-water mark
//! ([`mark_loss`], [`holds_mark`]), and the nodes of unknown position no figure covers.

use super::histories::reported_positions;
use crate::etcd::snapshot::{ClusterSnapshot, Fork};
use crate::galera::branches::{forks_of, known_forks, split};
use crate::position::Position;

/// What a bootstrap from a candidate position loses, at least (the reports may lag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// Transactions committed on some datadir that the candidate's history does not hold.
    pub count: i64,
    /// The uuid of the history holding them.
    pub uuid: String,
    /// The nodes holding that many.
    pub holders: Vec<String>,
}

/// The transactions a bootstrap from `candidate` (listing `forks`) loses, at least: for every
/// other reported datadir, what it holds past the candidate — all of it for another uuid (or
/// a candidate without a known position), what lies past the split on another branch of the
/// uuid, the seqno difference on the same line. The largest such loss, with its holders;
/// `None` when nothing reported is lost. Unknown positions are not counted
/// ([`unknown_positions`] names them).
pub fn transactions_lost(
    candidate: &Position,
    forks: &[Fork],
    snap: &ClusterSnapshot,
) -> Option<Loss> {
    let known = known_forks(snap);
    let mut worst: Option<Loss> = None;
    for (n, p) in reported_positions(snap) {
        let Position::Known { uuid, seqno } = p else {
            continue;
        };
        if *seqno < 0 {
            continue;
        }
        let lost = match candidate {
            Position::Known {
                uuid: cu,
                seqno: cs,
            } if cu == uuid && *cs >= 0 => {
                match split(candidate, forks, p, forks_of(snap, n), &known) {
                    Some(f) => seqno - f.seqno,
                    None => seqno - cs,
                }
            }
            _ => seqno + 1,
        };
        if lost <= 0 {
            continue;
        }
        match &mut worst {
            Some(w) if w.count > lost => {}
            Some(w) if w.count == lost && w.uuid == *uuid => w.holders.push(n.to_string()),
            _ => {
                worst = Some(Loss {
                    count: lost,
                    uuid: uuid.clone(),
                    holders: vec![n.to_string()],
                })
            }
        }
    }
    worst
}

/// The commit high-water mark as a position, with the forks its branch went through (the
/// forks the mark lists, as a datadir or an etcd key describes them) and every fork known.
/// `None` without a mark, or when it lists a fork nobody describes any more (its seqno is
/// unknown: the mark then says nothing about any datadir).
fn mark_line(
    snap: &ClusterSnapshot,
) -> Option<(&crate::etcd::snapshot::Mark, Position, Vec<Fork>, Vec<Fork>)> {
    let m = snap.hwm.as_ref()?;
    let known = known_forks(snap);
    let theirs: Vec<Fork> = known
        .iter()
        .filter(|k| m.forks.contains(&k.id))
        .cloned()
        .collect();
    if theirs.len() != m.forks.len() {
        return None;
    }
    Some((m, Position::known(&m.uuid, m.seqno), theirs, known))
}

/// How many transactions below the commit high-water mark `candidate` (listing `forks`) is,
/// with the mark, when both are on one line of one uuid (the mark names the forced
/// recoveries the leader's datadir went through). `None` when it is not below, or when the
/// mark is of another uuid or branch (then it says nothing about this candidate).
pub fn mark_loss<'a>(
    candidate: &Position,
    forks: &[Fork],
    snap: &'a ClusterSnapshot,
) -> Option<(i64, &'a crate::etcd::snapshot::Mark)> {
    let (m, mark, theirs, known) = mark_line(snap)?;
    let Position::Known { uuid, seqno } = candidate else {
        return None;
    };
    if *uuid != m.uuid || *seqno < 0 || *seqno >= m.seqno {
        return None;
    }
    if split(candidate, forks, &mark, &theirs, &known).is_some() {
        return None;
    }
    Some((m.seqno - seqno, m))
}

/// Does `candidate` (listing `forks`) hold every commit the high-water mark records: the
/// mark's uuid and branch, at or past its seqno?
pub fn holds_mark(candidate: &Position, forks: &[Fork], snap: &ClusterSnapshot) -> bool {
    let Some((m, mark, theirs, known)) = mark_line(snap) else {
        return false;
    };
    match candidate {
        Position::Known { uuid, seqno } if *uuid == m.uuid && *seqno >= m.seqno => {
            split(candidate, forks, &mark, &theirs, &known).is_none()
        }
        _ => false,
    }
}

/// The mark in words: `uuid:seqno, written by NAME at TIME (AGE before now)`.
pub fn mark_words(m: &crate::etcd::snapshot::Mark, now: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.at.max(0) as u64);
    let age = std::time::Duration::from_secs((now - m.at).max(0) as u64);
    format!(
        "{}:{}, written by {} at {} ({} before now)",
        m.uuid,
        m.seqno,
        m.by,
        humantime::format_rfc3339_seconds(at),
        humantime::format_duration(age)
    )
}

/// The sentence for [`mark_loss`], empty when it says nothing.
pub fn mark_loss_sentence(
    name: &str,
    candidate: &Position,
    forks: &[Fork],
    snap: &ClusterSnapshot,
) -> String {
    match mark_loss(candidate, forks, snap) {
        Some((n, m)) => format!(
            "; by the commit high-water mark ({}:{}, written by {} at {}) choosing {name} loses \
             at least {n} transaction(s)",
            m.uuid, m.seqno, m.by, m.at
        ),
        None => String::new(),
    }
}

/// While a recovery waits: what choosing the most advanced queued node would lose by the
/// commit high-water mark (the missing members may hold the difference), as a sentence
/// starting with "; ", or empty.
pub fn queued_mark_loss(snap: &ClusterSnapshot) -> String {
    let best = snap
        .queue
        .iter()
        .filter_map(|(n, q)| q.position.as_ref().map(|p| (n, p)))
        .filter(|(_, p)| p.seqno().is_some_and(|s| s >= 0))
        .max_by_key(|(n, p)| (p.seqno(), std::cmp::Reverse(n.as_str())));
    match best {
        Some((n, p)) => mark_loss_sentence(n, p, forks_of(snap, n), snap),
        None => String::new(),
    }
}

/// The nodes other than `except` whose reported position is unknown (their recovery failed):
/// they may hold commits no reported position shows, so no loss figure covers them.
pub fn unknown_positions<'a>(snap: &'a ClusterSnapshot, except: &str) -> Vec<&'a str> {
    reported_positions(snap)
        .into_iter()
        .filter(|(n, p)| {
            *n != except && matches!(p, Position::Unknown | Position::Known { seqno: -1, .. })
        })
        .map(|(n, _)| n)
        .collect()
}

/// The sentence for [`unknown_positions`], empty when there are none.
pub fn unknown_positions_sentence(snap: &ClusterSnapshot, except: &str) -> String {
    let names = unknown_positions(snap, except);
    if names.is_empty() {
        return String::new();
    }
    format!(
        "; {} (each may hold commits this choice loses: refused, never overwritten, until \
         the operator resyncs it)",
        names
            .iter()
            .map(|n| format!("{n} reports an unknown position"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
