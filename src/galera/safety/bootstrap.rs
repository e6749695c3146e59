//! The gate's rulings on the bootstraps: a brand-new cluster, the recovery this node was
//! elected for, and the recovery the operator forced onto it — with the checks they share
//! (positions ahead or foreign, other mariadbds running, members that show nothing in etcd).

use super::histories::{cluster_uuid, holds_data, reported_positions};
use super::loss::{transactions_lost, unknown_positions_sentence};
use super::requests::force_request_problem;
use super::{Evidence, Verdict};
use crate::galera::branches::{forks_of, known_forks, split, split_sentence};
use crate::position::Position;

pub(super) fn new_cluster(ev: &Evidence) -> Verdict {
    let snap = ev.snap;
    if let Some(u) = &snap.uuid {
        return Verdict::Refuse(format!("cluster {u} existed (etcd records its uuid)"));
    }
    if !snap.members.is_empty() {
        return Verdict::Refuse(format!(
            "{} member(s) known ({})",
            snap.members.len(),
            snap.members.keys().cloned().collect::<Vec<_>>().join(",")
        ));
    }
    if holds_data(ev.local) {
        return Verdict::Refuse(format!("this datadir holds data ({})", ev.local));
    }
    let holders: Vec<String> = reported_positions(snap)
        .into_iter()
        .filter(|(n, p)| *n != ev.me && holds_data(p))
        .map(|(n, p)| format!("{n} at {p}"))
        .collect();
    if !holders.is_empty() {
        return Verdict::Refuse(format!(
            "{} reported data: this is a recovery, not a new cluster",
            holders.join(", ")
        ));
    }
    let mut fresh: Vec<&str> = snap
        .census
        .iter()
        .filter(|(_, c)| c.position == Position::Fresh && c.running.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !fresh.contains(&ev.me) {
        fresh.push(ev.me);
        fresh.sort();
    }
    if fresh.len() < ev.cluster_size {
        return Verdict::Wait(format!(
            "a brand-new cluster needs --cluster-size {} nodes to report fresh datadirs; {} did ({}). \
             A missing report proves nothing (etcd may have lost the cluster's keys): waiting for the others",
            ev.cluster_size,
            fresh.len(),
            fresh.join(",")
        ));
    }
    Verdict::Allow(format!(
        "all-fresh census: {} reported fresh datadirs, no uuid, no member",
        fresh.join(",")
    ))
}

/// Positions other nodes report that forbid bootstrapping `local` automatically.
fn ahead_or_foreign(ev: &Evidence, uuid: &str, seqno: i64) -> Option<String> {
    let known = known_forks(ev.snap);
    for (n, p) in reported_positions(ev.snap) {
        if n == ev.me {
            continue;
        }
        if let Some(fork) = split(ev.local, ev.forks, p, forks_of(ev.snap, n), &known) {
            return Some(format!(
                "{n} reports {p} on another branch of cluster {uuid}: {}",
                split_sentence(fork)
            ));
        }
        if matches!(p, Position::Known { seqno: s, .. } if *s >= 0)
            && !ev.snap.census.contains_key(n)
        {
            return Some(format!(
                "{n} reports {p} but has no census entry: which forced recoveries its datadir \
                 went through (its branch) is unknown until it reports again"
            ));
        }
        match p {
            Position::Fresh => {}
            Position::Unknown | Position::Known { seqno: -1, .. } => {
                return Some(format!(
                    "{n} reports an unknown position (it may hold the newest commits)"
                ))
            }
            Position::Known { uuid: u, .. } if u != uuid => {
                return Some(format!("{n} holds another history ({p})"))
            }
            Position::Known { seqno: s, .. } if *s > seqno => {
                return Some(format!(
                    "{n} reports {p}, {} transaction(s) ahead of this node",
                    s - seqno
                ))
            }
            Position::Known { .. } => {}
        }
    }
    None
}

/// Other nodes whose mariadbd runs (registered, or reporting a live position in the census):
/// a bootstrap beside them could make a second Primary Component.
fn others_running<'a>(ev: &Evidence<'a>) -> Vec<&'a str> {
    let mut out: Vec<&str> = ev
        .snap
        .census
        .iter()
        .filter(|(n, c)| n.as_str() != ev.me && c.running.is_some())
        .map(|(n, _)| n.as_str())
        .collect();
    out.extend(others_registered(ev));
    out.sort();
    out.dedup();
    out
}

pub(super) fn others_registered<'a>(ev: &Evidence<'a>) -> Vec<&'a str> {
    ev.snap
        .nodes
        .keys()
        .filter(|n| n.as_str() != ev.me)
        .map(String::as_str)
        .collect()
}

/// The members that show nothing in etcd — neither queued nor in the census — and, when
/// fewer members are known than `--cluster-size`, how many nodes are unaccounted for; `None`
/// when every member has shown itself.
fn silent_members(ev: &Evidence) -> Option<String> {
    let snap = ev.snap;
    let shown = |n: &str| snap.queue.contains_key(n) || snap.census.contains_key(n);
    let silent: Vec<&str> = snap
        .members
        .keys()
        .map(String::as_str)
        .filter(|n| *n != ev.me && !shown(n))
        .collect();
    let mut seen: Vec<&str> = snap
        .queue
        .keys()
        .chain(snap.census.keys())
        .map(String::as_str)
        .collect();
    seen.push(ev.me);
    seen.sort();
    seen.dedup();
    let unaccounted = ev.cluster_size.saturating_sub(seen.len() + silent.len());
    match (silent.is_empty(), unaccounted) {
        (true, 0) => None,
        (false, 0) => Some(format!("{} show(s) nothing in etcd", silent.join(","))),
        (true, n) => Some(format!(
            "{n} of --cluster-size {} node(s) show nothing in etcd",
            ev.cluster_size
        )),
        (false, n) => Some(format!(
            "{} and {n} more node(s) show nothing in etcd",
            silent.join(",")
        )),
    }
}

/// A bootstrap beside another member's running mariadbd could make a second Primary
/// Component: the refusal, when one runs.
fn beside_running(ev: &Evidence) -> Option<Verdict> {
    let running = others_running(ev);
    (!running.is_empty()).then(|| {
        Verdict::Refuse(format!(
            "the mariadbd of {} runs (registered, or up outside a Primary Component): a bootstrap \
             beside it could make a second Primary Component; join it, or stop it first",
            running.join(",")
        ))
    })
}

pub(super) fn recovery_bootstrap(ev: &Evidence) -> Verdict {
    let Some(rec) = &ev.snap.recovery else {
        return Verdict::Refuse("no recovery record names a winner".into());
    };
    if rec.winner != ev.me {
        return Verdict::Refuse(format!("the recovery record names {}", rec.winner));
    }
    if let Some(refusal) = beside_running(ev) {
        return refusal;
    }
    let (Position::Known { uuid, seqno }, Some(want)) = (ev.local, rec.position.uuid()) else {
        return Verdict::Refuse(format!(
            "this datadir's position {} is not a known position of the elected history {}",
            ev.local, rec.position
        ));
    };
    if uuid != want || *seqno < 0 {
        return Verdict::Refuse(format!(
            "this datadir holds {}, not the elected history {}",
            ev.local, rec.position
        ));
    }
    if let Some(why) = ahead_or_foreign(ev, uuid, *seqno) {
        return Verdict::Refuse(format!(
            "{why}: bootstrapping {} would lose or hide commits; the recovery must be re-elected",
            ev.me
        ));
    }
    Verdict::Allow(format!(
        "elected winner at {}; no reported position is ahead or foreign",
        ev.local
    ))
}

pub(super) fn forced_bootstrap(ev: &Evidence) -> Verdict {
    let Some(rec) = &ev.snap.recovery else {
        return Verdict::Refuse("no recovery record names a winner".into());
    };
    let Some(req) = &rec.forced else {
        return Verdict::Refuse("the recovery record was not forced by the operator".into());
    };
    if rec.winner != ev.me || req.node != ev.me {
        return Verdict::Refuse(format!("the forced recovery names {}", rec.winner));
    }
    if let Some(refusal) = beside_running(ev) {
        return refusal;
    }
    let cluster = cluster_uuid(ev.snap);
    if let Some(problem) = force_request_problem(req, Some(ev.local), cluster.as_deref(), ev.now) {
        return Verdict::Refuse(problem);
    }
    if let Some(silent) = silent_members(ev) {
        let left = rec.at + ev.quiet_secs - ev.now;
        if left > 0 {
            return Verdict::Wait(format!(
                "{silent}: a member whose mariadbd runs while etcd shows nothing of it (etcd lost \
                 its keys, its entrypoint paused) would make a second Primary Component; waiting \
                 for every member to report, or until the forced record is {}s old (at {})",
                ev.quiet_secs,
                rec.at + ev.quiet_secs
            ));
        }
    }
    let loss = match transactions_lost(ev.local, ev.forks, ev.snap) {
        Some(l) => format!(
            "; loses at least {} transaction(s) of {} (held by {})",
            l.count,
            l.uuid,
            l.holders.join(",")
        ),
        None => "; no reported position is ahead".into(),
    } + &unknown_positions_sentence(ev.snap, ev.me);
    Verdict::Allow(format!(
        "forced by the operator (issued at {}, expires at {}{}){loss}",
        req.issued_at,
        req.expires_at,
        if req.accept_data_loss {
            ", data loss accepted"
        } else {
            ""
        }
    ))
}
