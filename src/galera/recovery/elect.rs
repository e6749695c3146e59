//! The election: who bootstraps after a full outage, from the snapshot taken in RECOVERY
//! ([`elect`], its outcome [`Election`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::etcd::snapshot::{ClusterSnapshot, ForceRequest, QueueEntry, RecoveryRecord};
use crate::position::Position;

use super::high_water_mark::{below_mark_sentence, could_hold_mark};
use super::record::{bootstrap_under_way, stale_record};
use crate::galera::branches::{forks_of, known_forks, split, split_sentence};
use crate::galera::safety::{self, force_request_problem};

/// The outcome of an election over a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Election {
    /// `P/recovery` names the winner: obey it.
    Recorded(RecoveryRecord),
    /// Not everyone needed has queued yet.
    Waiting {
        present: Vec<String>,
        missing: Vec<String>,
    },
    /// A winner: record it (create-if-absent, or replace the record — and a stale bootstrap
    /// record — when `replaces_record`).
    Winner {
        name: String,
        position: Position,
        reason: String,
        replaces_record: bool,
        /// The operator's request, when forced.
        forced: Option<ForceRequest>,
    },
    /// No automatic choice is safe; the reason says what the operator can do.
    Blocked { reason: String },
}

/// A queued node's position as the election sees it: `position/`, else `seqno/` alone is not
/// enough (no uuid), so it counts as unknown.
pub(super) fn queued_position(q: &QueueEntry) -> Position {
    q.position.clone().unwrap_or(Position::Unknown)
}

/// Elect the bootstrapping node from a snapshot taken in RECOVERY with no registered node.
/// `now` (unix time) decides whether an operator's request has expired.
pub fn elect(snap: &ClusterSnapshot, cluster_size: usize, now: i64) -> Election {
    let queued: &BTreeMap<String, QueueEntry> = &snap.queue;
    let present: Vec<String> = queued.keys().cloned().collect();

    if let Some(req) = &snap.force_bootstrap {
        let forced = &req.node;
        let already_forced = snap
            .recovery
            .as_ref()
            .is_some_and(|r| r.forced.as_ref() == Some(req));
        let bootstrapped = bootstrap_under_way(snap);
        let current = queued.get(forced).map(queued_position);
        let cluster = safety::cluster_uuid(snap);
        let problem = force_request_problem(req, current.as_ref(), cluster.as_deref(), now);
        // A request that is expired, unbound or no longer matches is ignored: the automatic
        // rules below decide, and `status` shows why the request was not obeyed.
        if !already_forced && !bootstrapped && problem.is_none() {
            return match current {
                Some(position) => Election::Winner {
                    name: forced.clone(),
                    position,
                    reason: format!("force-bootstrap of {forced} requested by the operator"),
                    replaces_record: snap.recovery.is_some(),
                    forced: Some(req.clone()),
                },
                None => Election::Waiting {
                    present,
                    missing: vec![forced.clone()],
                },
            };
        }
    }
    if let Some(r) = &snap.recovery {
        match stale_record(snap, r, now) {
            None => return Election::Recorded(r.clone()),
            // Fall through: a new election among the positions reported now replaces it.
            Some(_why) => {}
        }
    }
    let replaces_record = snap.recovery.is_some();

    // Who must be present.
    let members: BTreeSet<&String> = snap.members.keys().collect();
    let mut participants: Vec<(&String, Position)> = if !members.is_empty() {
        let missing: Vec<String> = members
            .iter()
            .filter(|m| !queued.contains_key(**m))
            .map(|m| m.to_string())
            .collect();
        if !missing.is_empty() {
            return Election::Waiting { present, missing };
        }
        // Fewer members known than --cluster-size (a lost members/ key, or an etcd wipe after
        // which only the nodes that registered again are members): also wait for
        // --cluster-size queued nodes, so a member etcd forgot is not left out.
        if members.len() < cluster_size && queued.len() < cluster_size {
            return Election::Waiting {
                present,
                missing: vec![format!(
                    "{} more node(s): only {} member(s) known, --cluster-size {cluster_size}",
                    cluster_size - queued.len(),
                    members.len()
                )],
            };
        }
        // With fewer members known than --cluster-size, every queued node takes part: the one
        // etcd forgot may hold the newest commits.
        let forgotten = members.len() < cluster_size;
        queued
            .iter()
            .filter(|(n, _)| forgotten || members.contains(n))
            .map(|(n, q)| (n, queued_position(q)))
            .collect()
    } else {
        // No member known (etcd lost its data, or the first build never finished): wait for
        // --cluster-size queued nodes. Fresh datadirs count as present (a lost PVC must not
        // block the recovery of the others' data); the data-holding ones must agree on one
        // uuid, checked below.
        if queued.len() < cluster_size {
            let need = cluster_size - queued.len();
            return Election::Waiting {
                present,
                missing: vec![format!(
                    "{need} more node(s) (no members known; --cluster-size {cluster_size})"
                )],
            };
        }
        queued
            .iter()
            .map(|(n, q)| (n, queued_position(q)))
            .collect()
    };

    // The cluster's uuid: P/uuid, else the one every known position agrees on.
    let known_uuids: BTreeSet<&str> = participants.iter().filter_map(|(_, p)| p.uuid()).collect();
    let cluster_uuid: String = match &snap.uuid {
        Some(u) => u.clone(),
        None if known_uuids.len() == 1 => known_uuids
            .iter()
            .next()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        None if known_uuids.is_empty() => {
            return Election::Blocked {
                reason: "no queued member holds data (all datadirs fresh): nothing to recover; \
                         `galera-sidecar force-bootstrap <name> --accept-data-loss` starts an empty cluster"
                    .into(),
            }
        }
        None => {
            return Election::Blocked {
                reason: format!(
                    "queued members disagree on the cluster uuid ({}) and etcd has none: \
                     split brain; choose with `galera-sidecar force-bootstrap <name>`",
                    known_uuids.into_iter().collect::<Vec<_>>().join(", ")
                ),
            }
        }
    };

    let mut best: Option<(&String, i64)> = None;
    for (name, pos) in &participants {
        match pos {
            Position::Unknown | Position::Known { seqno: -1, .. } => {
                return Election::Blocked {
                    reason: format!(
                        "{name} has an unknown position (it may hold the newest commits): \
                         no automatic choice; inspect it, then `galera-sidecar force-bootstrap <name>`"
                    ),
                }
            }
            Position::Known { uuid, .. } if *uuid != cluster_uuid => {
                return Election::Blocked {
                    reason: format!(
                        "{name} has history of cluster {uuid}, not {cluster_uuid}: two histories, \
                         no automatic choice; compare them (`galera-sidecar status`) and \
                         `galera-sidecar force-bootstrap <name>` the one to keep"
                    ),
                }
            }
            Position::Known { seqno, .. } => {
                // Highest seqno; ties → smallest name (participants iterate in name order).
                if best.is_none_or(|(_, b)| *seqno > b) {
                    best = Some((name, *seqno));
                }
            }
            Position::Fresh => {}
        }
    }
    // Seqnos are comparable only on one line: a datadir on another branch of the uuid (a
    // forced recovery continued it from an older position) is another history. Which forks a
    // datadir went through its census entry says: without it, its branch is unknown.
    let silent: Vec<String> = participants
        .iter()
        .filter(|(n, p)| p.seqno().is_some_and(|s| s >= 0) && !snap.census.contains_key(*n))
        .map(|(n, _)| {
            format!("{n}'s census entry (the forced recoveries its datadir went through)")
        })
        .collect();
    if !silent.is_empty() {
        return Election::Waiting {
            present,
            missing: silent,
        };
    }
    let Some((mut win, mut seqno)) = best else {
        return Election::Blocked {
            reason: "no queued member holds data (all datadirs fresh): nothing to recover; \
                     `galera-sidecar force-bootstrap <name> --accept-data-loss` starts an empty cluster"
                .into(),
        };
    };
    // Below the commit high-water mark, a queued node that does not take part (not a member:
    // removed, or its key lost) but holds every commit the mark records takes part: it is
    // the one node known to hold them, and nothing is lost by starting from it.
    let mut admitted = false;
    let below = |name: &str, seqno: i64| {
        safety::mark_loss(
            &Position::known(&cluster_uuid, seqno),
            forks_of(snap, name),
            snap,
        )
    };
    if below(win, seqno).is_some() {
        let holder = queued
            .iter()
            .filter(|(n, _)| !participants.iter().any(|(p, _)| p == n))
            .filter(|(n, _)| snap.census.contains_key(*n))
            .map(|(n, q)| (n, queued_position(q)))
            .filter(|(n, p)| {
                p.uuid() == Some(cluster_uuid.as_str())
                    && safety::holds_mark(p, forks_of(snap, n), snap)
            })
            .max_by_key(|(n, p)| (p.seqno(), std::cmp::Reverse(n.as_str())));
        if let Some((n, p)) = holder {
            win = n;
            seqno = p.seqno().unwrap_or(seqno);
            participants.push((n, p));
            participants.sort_by(|a, b| a.0.cmp(b.0));
            admitted = true;
        }
    }
    let known = known_forks(snap);
    let best_pos = Position::known(&cluster_uuid, seqno);
    for (name, pos) in &participants {
        if let Some(fork) = split(
            &best_pos,
            forks_of(snap, win),
            pos,
            forks_of(snap, name),
            &known,
        ) {
            return Election::Blocked {
                reason: format!(
                    "{win} ({best_pos}) and {name} ({pos}) hold two branches of cluster \
                     {cluster_uuid}: {}. No automatic choice; compare them (`galera-sidecar \
                     status`) and `galera-sidecar force-bootstrap <name>` the one to keep",
                    split_sentence(fork)
                ),
            };
        }
    }
    let tied: Vec<&str> = participants
        .iter()
        .filter(|(n, p)| p.seqno() == Some(seqno) && *n != win)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut reason = if tied.is_empty() {
        format!("highest seqno {seqno} of cluster {cluster_uuid}")
    } else {
        format!(
            "highest seqno {seqno} of cluster {cluster_uuid}, tied with {} (smallest name wins)",
            tied.join(", ")
        )
    };
    if admitted {
        reason.push_str(&format!(
            "; {win} is not a member, but it is the queued node holding every commit the commit \
             high-water mark records (the members are below it)"
        ));
    }
    if let Some((lost, m)) = below(win, seqno) {
        let took_part: BTreeSet<&str> = participants.iter().map(|(n, _)| n.as_str()).collect();
        let holders = could_hold_mark(snap, m, &took_part);
        if !holders.is_empty() {
            return Election::Blocked {
                reason: below_mark_sentence(win, seqno, lost, m, &holders, now),
            };
        }
        reason.push_str(&format!(
            "; it loses at least {lost} transaction(s) the commit high-water mark records ({}) \
             that no member holds: every member took part, each below the mark",
            safety::mark_words(m, now)
        ));
    }
    Election::Winner {
        name: win.clone(),
        position: best_pos,
        reason,
        replaces_record,
        forced: None,
    }
}
