//! Open findings: violations the simulation found in the product, recognised by a precise
//! signature so that the budget run keeps looking for new ones while they are being fixed.
//! A recognised violation still ends its schedule and is counted and reported;
//! `SIM_STRICT=1` makes it fail the run like any other. Each finding has an `#[ignore]`d test
//! in tests/simulation.rs replaying its shrunk schedule (docs/faults.md lists them).
//!
//! The signatures rest on two facts the simulation records: the bootstraps that started from
//! a position some datadir had gone past (a fork: one uuid, two branches), with why; and the
//! datadirs overwritten by state transfers. A lost commit is traced to the overwrite that
//! dropped its last copy and to the fork where the two branches split; two Primary
//! Components, to the bootstrap that started beside a running mariadbd.

use galera_sidecar::etcd::snapshot::RecoveryRecord;
use galera_sidecar::position::Position;

use super::etcd::NAMES;
use super::galera::CommitId;
use super::invariants::Violation;
use super::world::World;

/// Why a bootstrap (or a heal in place) forks: it started from a position some datadir had
/// gone past, or — a heal — beside other running mariadbd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// An operator's force-bootstrap of a node behind another.
    Forced,
    /// A forced record written over a recovery whose winner had bootstrapped meanwhile.
    Raced,
    /// A second bootstrap under one recovery record.
    Rebootstrap,
    /// The election counted a queue entry older than its node's datadir.
    StaleQueue,
    /// The election or the heal did not wait for the holders: the operator removed them.
    Removed,
    /// The election or the heal did not wait for the holders: their `members/` keys are gone.
    MemberLost,
    /// A heal in place (`pc.bootstrap=YES`) past other datadirs, or beside running mariadbd.
    Heal,
    /// An automatic election, for no reason above.
    Automatic,
}

/// A bootstrap from commit `point` while a datadir held a descendant of it.
#[derive(Debug, Clone, Copy)]
pub struct Fork {
    pub point: CommitId,
    pub cause: Cause,
}

/// A bootstrap: by `node`, from `start`, the nodes whose mariadbd ran beside it, whether it
/// was forced, the fork it started (if any), and whether a raced record erased its
/// `P/bootstrap` afterwards.
#[derive(Debug, Clone)]
pub struct Boot {
    pub node: usize,
    pub start: Option<CommitId>,
    pub forced: bool,
    pub beside: Vec<usize>,
    pub cause: Option<Cause>,
    pub erased: bool,
}

/// A datadir overwritten by a state transfer (`reported`: the position its entrypoint knew).
#[derive(Debug, Clone)]
pub struct Overwrite {
    pub before: CommitId,
    pub reported: Position,
    pub after: CommitId,
    pub join: bool,
}

/// The findings (docs/faults.md), recognised by signature; all fixed but the documented limit
/// L1 ([`Finding::is_open`]). F3 (a forced record replacing a bootstrapped one) and F7 (a
/// joiner's stale queue entry elected on) were fixed earlier: their causes are still
/// recognised, and a recurrence fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// F1: after a forced bootstrap of a node behind another, one uuid carries two branches;
    /// seqno comparisons (the join gate, the election, `ahead_of_winner` against the current
    /// record only) take them for one history, and a datadir of one branch is overwritten by
    /// IST from the other once the record that protected it is replaced or gone.
    Branches,
    /// F2: a datadir whose position is unknown (it may hold the newest commits: the election
    /// blocks on it) is overwritten by SST when it joins a cluster forced from an older one.
    UnknownOverwritten,
    /// F4: with `P/bootstrap` lost, a recovery record outlives its winner's bootstrap: the
    /// winner bootstraps again from its position (members that committed past it in a
    /// partition unheard), and their recovery marks (same record id) let them IST over it.
    RecordOutlivesBootstrap,
    /// F5: a forced bootstrap while another member's mariadbd runs hidden from etcd (its
    /// entrypoint paused past its lease, its census gone — e.g. after an etcd wipe) and out of
    /// the Galera-port probe's reach (a partition): a second Primary Component.
    ForcedBesideRunning,
    /// F6: `members/` incomplete — a lost `members/<name>` key, or an etcd wipe after which
    /// `members/` holds only the nodes that registered again: the heal in place (and, before
    /// the election waited for `--cluster-size` queued nodes, the election) considers the known
    /// members only, and starts without the node holding the newest commits.
    MemberKeyLost,
    /// F8: a heal in place (`pc.bootstrap=YES`) while the other members' mariadbd run
    /// non-Primary: when a majority of the last Primary view reconnects without the healed
    /// node, Galera re-forms a second Primary Component; when they all meet, one side's
    /// acknowledged commits are overwritten.
    HealBesideRunning,
    /// L1 (documented in docs/recovery.md): a member removed while it holds the newest
    /// commits (down, or running non-Primary) loses them — overwritten by IST over a diverged
    /// history.
    RemovedMember,
}

impl Finding {
    /// Still open (tolerated by the budget run unless `SIM_STRICT`): only what is left of L1,
    /// the removal of a stopped member holding the newest commits (a documented limit). F1,
    /// F2, F4, F5, F6 and F8 are fixed: their signatures fail the run.
    pub fn is_open(self) -> bool {
        matches!(self, Finding::RemovedMember)
    }
}

impl World {
    /// Which finding explains a violation, if one does.
    pub fn classify(&self, v: &Violation, lost: Option<CommitId>) -> Option<Finding> {
        match (v.invariant, lost) {
            ("ACK", Some(c)) => self.classify_loss(c),
            ("S1", _) => self.classify_two_primaries(),
            _ => None,
        }
    }

    fn classify_loss(&self, c: CommitId) -> Option<Finding> {
        let o = self
            .overwrites
            .iter()
            .rev()
            .find(|o| self.g.contains(o.before, c) && !self.g.contains(o.after, c))?;
        let fork = self
            .g
            .common(o.before, o.after)
            .and_then(|p| self.forks.iter().find(|f| f.point == p));
        match fork.map(|f| f.cause) {
            // Fixed (docs/faults.md): a recurrence fails the run.
            Some(Cause::Raced) | Some(Cause::StaleQueue) => None,
            Some(Cause::Rebootstrap) => Some(Finding::RecordOutlivesBootstrap),
            _ if o.join && o.reported == Position::Unknown => Some(Finding::UnknownOverwritten),
            Some(Cause::Forced) => Some(Finding::Branches),
            Some(Cause::MemberLost) => Some(Finding::MemberKeyLost),
            Some(Cause::Removed) => Some(Finding::RemovedMember),
            Some(Cause::Heal) => Some(Finding::HealBesideRunning),
            Some(Cause::Automatic) | None => None,
        }
    }

    /// The latest bootstrap that started beside a mariadbd now in another Primary Component.
    fn classify_two_primaries(&self) -> Option<Finding> {
        let primaries = self.g.primaries();
        let b = self.boots.iter().rev().find(|b| {
            let mine = primaries.iter().find(|(_, c)| c.members.contains(&b.node));
            primaries.iter().any(|(id, c)| {
                Some(*id) != mine.map(|(i, _)| *i) && c.members.iter().any(|m| b.beside.contains(m))
            })
        })?;
        match (b.cause, b.forced) {
            (Some(Cause::Raced), _) | (Some(Cause::StaleQueue), _) => None,
            (_, true) => Some(Finding::ForcedBesideRunning),
            (Some(Cause::Heal), _) => Some(Finding::HealBesideRunning),
            (Some(Cause::Rebootstrap), _) => Some(Finding::RecordOutlivesBootstrap),
            (Some(Cause::MemberLost), _) => Some(Finding::MemberKeyLost),
            (Some(Cause::Removed), _) => Some(Finding::RemovedMember),
            _ => None,
        }
    }

    /// Does the election on `snap` count a queue entry older than its node's datadir (a node
    /// that joined after it queued)?
    pub fn stale_queue(&self, snap: &galera_sidecar::etcd::snapshot::ClusterSnapshot) -> bool {
        (0..self.cfg.n).any(|j| {
            let d = &self.nodes[j].data;
            let queued = snap.queue.get(NAMES[j]).and_then(|q| q.position.as_ref());
            d.head.is_some() && queued.is_some_and(|p| *p != self.g.recovered(d))
        })
    }

    /// A raced record deleted node `node`'s `P/bootstrap`: mark its latest bootstrap.
    pub fn note_erased(&mut self, node: &str) {
        if let Some(b) = self.boots.iter_mut().rev().find(|b| NAMES[b.node] == node) {
            b.erased = true;
        }
    }

    /// Why node `i`'s bootstrap from `head` — under `rec`, or a heal in place (`None`) —
    /// forks, if some datadir went past it.
    pub fn fork_cause(
        &self,
        i: usize,
        head: CommitId,
        rec: Option<&RecoveryRecord>,
    ) -> Option<Cause> {
        let holders = self.past(i, head);
        if holders.is_empty() {
            return None;
        }
        let snap = self.etcd.peek();
        let non_members = holders
            .iter()
            .all(|j| !snap.members.contains_key(NAMES[*j]));
        let erased = self.boots.iter().any(|b| b.erased && b.start == Some(head));
        let id = rec.map(|r| r.id()).unwrap_or_default();
        Some(if rec.is_some() && (self.raced.contains(&id) || erased) {
            Cause::Raced
        } else if rec.is_some() && self.booted.contains(&id) {
            Cause::Rebootstrap
        } else if rec.is_some_and(|r| r.forced.is_some()) {
            Cause::Forced
        } else if self.stale_elected.contains(&id) || self.stale_queue(&snap) {
            Cause::StaleQueue
        } else if non_members && holders.iter().any(|j| self.removed.contains(j)) {
            Cause::Removed
        } else if non_members {
            Cause::MemberLost
        } else if rec.is_none() {
            Cause::Heal
        } else {
            Cause::Automatic
        })
    }

    /// Record node `i`'s bootstrap from `head` (under `rec`, or a heal in place), and the
    /// fork it starts, if any.
    pub fn note_boot(
        &mut self,
        i: usize,
        head: Option<CommitId>,
        rec: Option<&RecoveryRecord>,
        heal: bool,
    ) {
        let beside: Vec<usize> = (0..self.cfg.n)
            .filter(|j| *j != i && self.comp_of[*j].is_some())
            .filter(|j| !heal || self.comp_of[*j] != self.comp_of[i])
            .collect();
        let cause = match (head, rec) {
            (Some(h), Some(r)) => self.fork_cause(i, h, Some(r)),
            // A heal also forks whenever another mariadbd runs beside it: a majority of the
            // last Primary view may reunite without it.
            (Some(h), None) if heal => self
                .fork_cause(i, h, None)
                .or((!beside.is_empty()).then_some(Cause::Heal)),
            _ => None,
        };
        self.boots.push(Boot {
            node: i,
            start: head,
            forced: rec.is_some_and(|r| r.forced.is_some()),
            beside,
            cause,
            erased: false,
        });
        if let (Some(cause), Some(head)) = (cause, head) {
            self.forks.push(Fork { point: head, cause });
            let p = self.g.position_of(head);
            let past: Vec<&str> = self.past(i, head).into_iter().map(|j| NAMES[j]).collect();
            let why = if past.is_empty() {
                "beside running mariadbd".to_string()
            } else {
                format!("{} hold(s) commits past it", past.join(","))
            };
            self.trace
                .push(format!("t={} FORK at {p} ({cause:?}): {why}", self.step));
        }
    }

    /// The nodes other than `i` whose datadir holds commits past `head`.
    fn past(&self, i: usize, head: CommitId) -> Vec<usize> {
        (0..self.cfg.n)
            .filter(|j| *j != i)
            .filter(|j| {
                self.nodes[*j]
                    .data
                    .head
                    .is_some_and(|d| d != head && self.g.contains(d, head))
            })
            .collect()
    }
}
