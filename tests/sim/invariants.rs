//! The safety invariants, checked after every step and at every history-choosing action:
//!
//! - S1 one history: never two Primary Components at once; never a brand-new uuid while any
//!   datadir holds data, unless a force-bootstrap accepting data loss was obeyed;
//! - S2 no silent overwrite: a datadir with a known position is overwritten by a join only
//!   when the cluster has its uuid and a seqno at least its own (or wiped by a valid resync);
//! - S3 operator requests: a force-bootstrap or resync is obeyed only unexpired and bound to
//!   the node's actual position (a force accepting data loss needs no binding);
//! - no acknowledged commit lost: every newest acknowledged commit (one per diverged branch)
//!   stays in some datadir, unless the operator accepted a loss (then re-baselined);
//! - MARK: no automatic winner below the commit high-water mark while the mark's writer,
//!   not queued, holds the commits past it in its datadir.

use galera_sidecar::etcd::snapshot::{ClusterSnapshot, ForceRequest, ResyncRequest};
use galera_sidecar::galera::branches::forks_of;
use galera_sidecar::galera::safety;
use galera_sidecar::position::Position;

use super::etcd::NAMES;
use super::findings::Finding;
use super::galera::{CommitId, Transfer};
use super::world::World;

#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
    pub step: u32,
    /// The open finding that explains it, if one does.
    pub known: Option<Finding>,
}

impl World {
    pub fn violate(&mut self, invariant: &'static str, detail: String) {
        if self.violation.is_none() {
            self.trace
                .push(format!("t={} VIOLATION {invariant}: {detail}", self.step));
            self.violation = Some(Violation {
                invariant,
                detail,
                step: self.step,
                known: None,
            });
        }
    }

    /// Is commit `c` in some datadir?
    pub fn held(&self, c: CommitId) -> bool {
        self.nodes
            .iter()
            .any(|n| n.data.head.is_some_and(|h| self.g.contains(h, c)))
    }

    /// A new acknowledged commit replaces its ancestors in the frontier.
    pub fn acknowledge(&mut self, c: CommitId) {
        let g = &self.g;
        self.frontier.retain(|f| !g.contains(c, *f));
        self.frontier.insert(c);
    }

    /// After a loss the operator accepted (or the environment caused: a lost volume): keep
    /// tracking only what some datadir still holds.
    pub fn rebaseline_held(&mut self, why: &str) {
        let before = self.frontier.len();
        let frontier = std::mem::take(&mut self.frontier);
        self.frontier = frontier.into_iter().filter(|f| self.held(*f)).collect();
        if self.frontier.len() != before {
            self.trace
                .push(format!("t={} re-baselined: {why}", self.step));
        }
    }

    /// The operator accepted losing everything but what the bootstrapped node holds.
    pub fn rebaseline_all(&mut self, why: &str) {
        self.frontier.clear();
        self.trace
            .push(format!("t={} re-baselined: {why}", self.step));
    }

    /// The state invariants.
    pub fn check(&mut self) {
        if self.violation.is_some() {
            return;
        }
        let count = self
            .g
            .comps
            .values()
            .filter(|c| c.primary && !c.members.is_empty())
            .count();
        if count > 1 {
            let primaries = self.g.primaries();
            let list: Vec<String> = primaries
                .iter()
                .map(|(_, c)| {
                    let names: Vec<&str> = c.members.iter().map(|m| self.nodes[*m].name).collect();
                    format!("{} on {}", self.g.position_of(c.head), names.join(","))
                })
                .collect();
            self.violate(
                "S1",
                format!("two Primary Components: {}", list.join(" and ")),
            );
            return self.classify_violation(None);
        }
        if let Some(lost) = self.frontier.iter().copied().find(|f| !self.held(*f)) {
            let p = self.g.position_of(lost);
            self.violate(
                "ACK",
                format!("acknowledged commit {p} is in no datadir (no loss was accepted)"),
            );
            self.classify_violation(Some(lost));
        }
    }

    fn classify_violation(&mut self, lost: Option<CommitId>) {
        let known = self.violation.as_ref().and_then(|v| self.classify(v, lost));
        if let Some(v) = &mut self.violation {
            v.known = known;
        }
    }

    /// S1: a bootstrap from a fresh datadir creates a new uuid.
    pub fn check_new_uuid(&mut self, i: usize, accepted: bool) {
        if accepted {
            return;
        }
        let holders: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.i != i && n.data.head.is_some())
            .map(|n| format!("{} at {}", n.name, self.g.recovered(&n.data)))
            .collect();
        if !holders.is_empty() {
            let me = self.nodes[i].name;
            self.violate(
                "S1",
                format!(
                    "{me} bootstrapped a new uuid while {} hold data",
                    holders.join(", ")
                ),
            );
        }
    }

    /// S2: a state transfer into a datadir with a known position.
    pub fn check_transfer(&mut self, t: &Transfer) {
        let Position::Known { uuid, seqno } = &t.before else {
            return;
        };
        let cluster = &self.g.uuids[t.uuid as usize];
        if cluster != uuid || t.seqno < *seqno {
            let name = self.nodes[t.node].name;
            self.violate(
                "S2",
                format!(
                    "{name}'s datadir at {} overwritten by {}cluster {cluster}:{}",
                    t.before,
                    if t.sst { "SST from " } else { "IST from " },
                    t.seqno
                ),
            );
        }
    }

    /// S3: a forced bootstrap obeyed at `at`.
    pub fn check_force_obeyed(&mut self, i: usize, f: &ForceRequest, at: i64) {
        let actual = self.g.recovered(&self.nodes[i].data);
        let name = self.nodes[i].name;
        if f.expires_at <= at {
            return self.violate(
                "S3",
                format!("{name} obeyed an expired force-bootstrap {f:?}"),
            );
        }
        if !f.accept_data_loss && f.position.as_ref() != Some(&actual) {
            self.violate(
                "S3",
                format!("{name} at {actual} obeyed a force-bootstrap bound elsewhere: {f:?}"),
            );
        }
    }

    /// MARK: an automatic election on `snap` chose `name` at `position`: never below the
    /// commit high-water mark while the mark's writer has not queued and its datadir holds
    /// every commit the mark records.
    pub fn check_mark_winner(&mut self, snap: &ClusterSnapshot, name: &str, position: &Position) {
        let Some(m) = &snap.hwm else {
            return;
        };
        if safety::mark_loss(position, forks_of(snap, name), snap).is_none() {
            return;
        }
        let Some(j) = NAMES[..self.cfg.n].iter().position(|n| *n == m.by) else {
            return;
        };
        let d = &self.nodes[j].data;
        let held = self.g.recovered(d);
        if !snap.queue.contains_key(&m.by) && safety::holds_mark(&held, &d.forks, snap) {
            self.violate(
                "MARK",
                format!(
                    "{name} elected at {position}, below the commit high-water mark {}:{}, while \
                     its writer {} (not queued) holds {held}",
                    m.uuid, m.seqno, m.by
                ),
            );
        }
    }

    /// S3: a resync obeyed now.
    pub fn check_resync_obeyed(&mut self, i: usize, r: &ResyncRequest) {
        let actual = self.g.recovered(&self.nodes[i].data);
        let name = self.nodes[i].name;
        if r.expires_at <= self.now || r.position.as_ref() != Some(&actual) {
            self.violate(
                "S3",
                format!("{name} at {actual} obeyed an expired or unbound resync {r:?}"),
            );
        }
    }
}
