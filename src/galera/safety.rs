//! The safety gate: one pure function that every history-choosing action passes before it runs
//! (docs/recovery.md, "Safety invariants").
//!
//! A history-choosing action is one that decides which committed transactions survive: starting
//! a brand-new cluster (a new uuid), bootstrapping a recovery (automatic or forced), joining a
//! running cluster (which may overwrite this datadir by SST), and wiping a datadir (`resync`).
//! Each needs *positive evidence*: a missing etcd key proves nothing (etcd can lose its data),
//! and an operator's request counts only while it is bound to the position it was issued
//! against and has not expired.
//!
//! The invariants kept here:
//! - **one history**: no new uuid while any reported datadir holds data; a node joins only a
//!   running cluster whose *actual* uuid (published by its registered nodes) is its own;
//! - **no silent overwrite**: a datadir with a known position is overwritten only by a cluster
//!   of the same uuid and a history at least as long, or by a bound, unexpired operator request;
//! - **operator requests are bound and expire**.

use std::collections::BTreeMap;

use crate::etcd::snapshot::{ClusterSnapshot, ForceRequest, Fork, ResyncRequest};
use crate::position::Position;

use super::branches::{forks_of, known_forks, split, split_sentence};
use super::recovery::ahead_of_winner;

/// How long after a node's last sign of life a running cluster's published position must be,
/// to prove the cluster's history is at least as long as that node's (the state file's time
/// lags the last commit by up to a second; the publication's time is rounded to seconds).
pub const PUBLICATION_MARGIN_SECS: i64 = 3;

/// A joiner whose seqno is above the running cluster's published one is refused only once a
/// publication this long after its last run says so: a node that was still applying commits
/// while it stopped, or a publisher lagging in applying, looks "ahead" for a few seconds.
pub const AHEAD_CONFIRM_SECS: i64 = 15;

/// The actions the gate rules on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a brand-new cluster (a new uuid) from this fresh datadir.
    NewCluster,
    /// Bootstrap the recovery this node was elected for automatically.
    RecoveryBootstrap,
    /// Bootstrap the recovery the operator forced onto this node.
    ForcedBootstrap,
    /// Join the running cluster (IST, or SST over this datadir).
    Join,
    /// Discard this datadir and re-initialise it (`resync`).
    Wipe,
}

/// What the gate rules on: the etcd snapshot (census, registered nodes with their published
/// cluster positions, records, operator requests) and this node's own facts.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub snap: &'a ClusterSnapshot,
    pub me: &'a str,
    /// This datadir's position.
    pub local: &'a Position,
    /// When this datadir's position was last current (mariadbd last seen running, or this
    /// process's start): a running cluster's position published before that proves nothing.
    pub local_since: i64,
    /// The recovery record this datadir joined (its marker file), if any.
    pub joined_recovery: Option<&'a str>,
    /// The forced recoveries this datadir's history went through (its forks file).
    pub forks: &'a [Fork],
    pub now: i64,
    pub cluster_size: usize,
    /// How long after a forced recovery was recorded a member that shows nothing in etcd (no
    /// census, not queued) counts as stopped ([`member_quiet_secs`]).
    pub quiet_secs: i64,
}

/// How long a forced bootstrap waits, from the forced record, for members that show nothing
/// in etcd: a lease TTL (a census key written just before lives that long) plus two census
/// refreshes (a live entrypoint re-writes a missing census key within one). A member whose
/// mariadbd runs while etcd shows nothing of it (etcd lost its keys, its entrypoint was paused
/// past its lease) shows itself within that time if its entrypoint runs at all; one paused
/// for longer cannot be told from a stopped one (docs/recovery.md).
pub fn member_quiet_secs(lease_ttl: std::time::Duration) -> i64 {
    (lease_ttl + 2 * super::steady::CENSUS_REFRESH).as_secs() as i64
}

/// The gate's ruling, with the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow(String),
    /// The evidence is not complete yet; it may become an allow (or a refusal) later.
    Wait(String),
    /// The evidence says no; only the operator can change it.
    Refuse(String),
}

impl Verdict {
    pub fn sentence(&self) -> &str {
        match self {
            Verdict::Allow(s) | Verdict::Wait(s) | Verdict::Refuse(s) => s,
        }
    }
    pub fn allowed(&self) -> bool {
        matches!(self, Verdict::Allow(_))
    }
}

/// Rule on `action` given the evidence.
pub fn check(action: Action, ev: &Evidence) -> Verdict {
    match action {
        Action::NewCluster => new_cluster(ev),
        Action::RecoveryBootstrap => recovery_bootstrap(ev),
        Action::ForcedBootstrap => forced_bootstrap(ev),
        Action::Join => join(ev),
        Action::Wipe => wipe(ev),
    }
}

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
fn holds_data(p: &Position) -> bool {
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
fn two_histories(me: &str, local: &Position, other: &str, snap: &ClusterSnapshot) -> String {
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
fn two_branches(ev: &Evidence, other: &str, theirs: &Position, fork: &Fork) -> String {
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

/// Why a force-bootstrap request must not be obeyed, or `None` when it may. `current`: the
/// named node's position now (`None` while it has not reported one).
pub fn force_request_problem(
    req: &ForceRequest,
    current: Option<&Position>,
    cluster: Option<&str>,
    now: i64,
) -> Option<String> {
    if req.expires_at <= 0 {
        return Some(format!(
            "the force-bootstrap request for {} has no expiry and no binding (not written by \
             `galera-sidecar force-bootstrap`); ignored",
            req.node
        ));
    }
    if req.expires_at <= now {
        return Some(format!(
            "the force-bootstrap request for {} expired {}s ago; ignored",
            req.node,
            now - req.expires_at
        ));
    }
    if let (Some(bound), Some(cur)) = (&req.position, current) {
        if bound != cur {
            return Some(format!(
                "the force-bootstrap request for {} was issued against position {bound}, but {} now \
                 reports {cur}; ignored (issue it again if {} should still bootstrap)",
                req.node, req.node, req.node
            ));
        }
    }
    if req.accept_data_loss {
        return None;
    }
    if req.position.is_none() {
        return Some(format!(
            "the force-bootstrap request for {} is bound to no known position and does not accept \
             data loss; ignored",
            req.node
        ));
    }
    match current {
        Some(Position::Fresh) => Some(format!(
            "{} has a fresh (empty) datadir: bootstrapping it discards the whole cluster; \
             only with --accept-data-loss",
            req.node
        )),
        Some(Position::Unknown) | Some(Position::Known { seqno: -1, .. }) => Some(format!(
            "{}'s position is unknown; only with --accept-data-loss",
            req.node
        )),
        Some(Position::Known { uuid, .. }) if cluster.is_some_and(|c| c != uuid) => Some(format!(
            "{} holds cluster {uuid}, not the cluster's {}; only with --accept-data-loss",
            req.node,
            cluster.unwrap_or_default()
        )),
        _ => None,
    }
}

/// Why a resync request must not be obeyed, or `None` when it may.
pub fn resync_request_problem(
    name: &str,
    req: &ResyncRequest,
    current: &Position,
    now: i64,
) -> Option<String> {
    if req.expires_at <= 0 {
        return Some(format!(
            "the resync request for {name} has no expiry and no binding (not written by \
             `galera-sidecar resync`); ignored"
        ));
    }
    if req.expires_at <= now {
        return Some(format!(
            "the resync request for {name} expired {}s ago; ignored",
            now - req.expires_at
        ));
    }
    match &req.position {
        None => Some(format!(
            "the resync request for {name} is bound to no position; ignored"
        )),
        Some(p) if p != current => Some(format!(
            "the resync request for {name} was issued against position {p}, but its datadir now \
             holds {current}; ignored"
        )),
        Some(_) => None,
    }
}

fn new_cluster(ev: &Evidence) -> Verdict {
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

fn others_registered<'a>(ev: &Evidence<'a>) -> Vec<&'a str> {
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

fn recovery_bootstrap(ev: &Evidence) -> Verdict {
    let Some(rec) = &ev.snap.recovery else {
        return Verdict::Refuse("no recovery record names a winner".into());
    };
    if rec.winner != ev.me {
        return Verdict::Refuse(format!("the recovery record names {}", rec.winner));
    }
    let running = others_running(ev);
    if !running.is_empty() {
        return Verdict::Refuse(format!(
            "the mariadbd of {} runs (registered, or up outside a Primary Component): a bootstrap \
             beside it could make a second Primary Component; join it, or stop it first",
            running.join(",")
        ));
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

fn forced_bootstrap(ev: &Evidence) -> Verdict {
    let Some(rec) = &ev.snap.recovery else {
        return Verdict::Refuse("no recovery record names a winner".into());
    };
    let Some(req) = &rec.forced else {
        return Verdict::Refuse("the recovery record was not forced by the operator".into());
    };
    if rec.winner != ev.me || req.node != ev.me {
        return Verdict::Refuse(format!("the forced recovery names {}", rec.winner));
    }
    let running = others_running(ev);
    if !running.is_empty() {
        return Verdict::Refuse(format!(
            "the mariadbd of {} runs (registered, or up outside a Primary Component): a bootstrap \
             beside it could make a second Primary Component; join it, or stop it first",
            running.join(",")
        ));
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

fn join(ev: &Evidence) -> Verdict {
    let snap = ev.snap;
    if *ev.local == Position::Fresh {
        return Verdict::Allow("fresh datadir: joins by SST, nothing to overwrite".into());
    }
    let registered = others_registered(ev);
    if registered.is_empty() {
        return Verdict::Refuse(
            "no node is registered: there is no running cluster to join".into(),
        );
    }
    let mine = ev.local.uuid();
    if let (Some(u), Some(c)) = (mine, &snap.uuid) {
        if u != c {
            return Verdict::Refuse(two_histories(ev.me, ev.local, c, snap));
        }
    }
    // The running cluster's actual uuid and history length, as its registered nodes publish.
    let known = known_forks(snap);
    let mut published: Vec<(&str, i64, i64)> = vec![];
    for r in &registered {
        let running = snap
            .census
            .get(*r)
            .and_then(|c| c.running.as_ref().map(|p| (p, c.at)));
        let Some((p, at)) = running else {
            return Verdict::Wait(format!(
                "{r} is registered but has not published its cluster's actual uuid yet"
            ));
        };
        if let (Some(u), Some(theirs)) = (mine, p.uuid()) {
            if u != theirs {
                return Verdict::Refuse(two_histories(ev.me, ev.local, theirs, snap));
            }
        }
        if let Some(fork) = split(ev.local, ev.forks, p, forks_of(snap, r), &known) {
            return Verdict::Refuse(two_branches(ev, r, p, fork));
        }
        published.push((r, p.seqno().unwrap_or(-1), at));
    }
    let unknown = matches!(
        ev.local,
        Position::Unknown | Position::Known { seqno: -1, .. }
    );
    if unknown {
        // Where an unknown datadir stands on the history is unknown too: it is on the running
        // cluster's line only if it went through exactly the same forced recoveries.
        let theirs = super::branches::cluster_forks(snap, ev.me);
        let of_uuid = |f: &&Fork| mine.is_none_or(|u| u == f.uuid);
        let differ = theirs
            .iter()
            .filter(of_uuid)
            .find(|f| !ev.forks.iter().any(|m| m.id == f.id))
            .map(|f| {
                (
                    f,
                    "the running cluster went through it, this datadir did not",
                )
            })
            .or_else(|| {
                ev.forks
                    .iter()
                    .filter(of_uuid)
                    .find(|m| !theirs.iter().any(|f| f.id == m.id))
                    .map(|f| {
                        (
                            f,
                            "this datadir went through it, the running cluster did not",
                        )
                    })
            });
        if let Some((f, how)) = differ {
            return Verdict::Refuse(format!(
                "this datadir's position is unknown (it could not be recovered) and the forced \
                 recovery {} continued cluster {} from seqno {} ({how}): it may hold commits \
                 past that point that the running cluster lacks, and joining would overwrite \
                 them by SST. Find its position, then keep it or discard it (docs/operations.md, \
                 \"A datadir of unknown position\")",
                f.id, f.uuid, f.seqno
            ));
        }
    }
    if let Some(rec) = &snap.recovery {
        if unknown && rec.winner != ev.me && ev.joined_recovery != Some(rec.id().as_str()) {
            return Verdict::Refuse(format!(
                "this datadir's position is unknown (it could not be recovered) and it did not take \
                 part in the recovery {} bootstrapped at {}: it may hold commits that cluster lacks, \
                 and joining would overwrite them by SST. Find its position, then keep it or discard \
                 it (docs/operations.md, \"A datadir of unknown position\")",
                rec.winner, rec.position
            ));
        }
        if let Some(ahead) = ahead_of_winner(rec, ev.me, ev.local, ev.joined_recovery) {
            return Verdict::Refuse(format!(
                "this node is {ahead} transaction(s) ahead of {} which bootstrapped the recovery at {}; \
                 joining would discard them by SST. This node holds the newer commits: keep them \
                 (docs/operations.md, \"A node ahead of the recovered cluster\")",
                rec.winner, rec.position
            ));
        }
    }
    if let Some(mine_seqno) = ev.local.seqno() {
        let since = ev.local_since + PUBLICATION_MARGIN_SECS;
        let recent: Vec<&(&str, i64, i64)> =
            published.iter().filter(|(_, _, at)| *at >= since).collect();
        let Some(longest) = recent.iter().max_by_key(|(_, s, _)| *s) else {
            return Verdict::Wait(format!(
                "waiting for {} to publish the cluster's position after this node's last run \
                 (to check its history is at least as long as this datadir's seqno {mine_seqno})",
                registered.join(",")
            ));
        };
        if mine_seqno > longest.1 && longest.2 < ev.local_since + AHEAD_CONFIRM_SECS {
            return Verdict::Wait(format!(
                "this datadir's seqno {mine_seqno} is above the running cluster's published {} ({}); \
                 waiting for a later publication to confirm before refusing",
                longest.1, longest.0
            ));
        }
        if mine_seqno > longest.1 {
            return Verdict::Refuse(format!(
                "this node is {} transaction(s) ahead of the running cluster ({} at seqno {}); joining \
                 would discard them by SST. This node holds the newer commits: keep them \
                 (docs/operations.md, \"A node ahead of the recovered cluster\")",
                mine_seqno - longest.1,
                longest.0,
                longest.1
            ));
        }
    }
    Verdict::Allow(match ev.local {
        Position::Unknown => {
            "position unknown: the running cluster is the only known history".into()
        }
        _ => format!(
            "same history as the running cluster, not ahead of it ({})",
            ev.local
        ),
    })
}

fn wipe(ev: &Evidence) -> Verdict {
    let Some(req) = ev.snap.resync.get(ev.me) else {
        return Verdict::Wait(format!("no resync of {} requested", ev.me));
    };
    if let Some(problem) = resync_request_problem(ev.me, req, ev.local, ev.now) {
        return Verdict::Refuse(problem);
    }
    Verdict::Allow(format!(
        "resync of {} at position {} requested by the operator (issued at {}, expires at {})",
        ev.me, ev.local, req.issued_at, req.expires_at
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::{CensusEntry, NodeEntry, QueueEntry, RecoveryRecord};

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
}
