//! The running loop (`steady.rs`), one pass per simulated step: after 5 s without a Primary
//! Component, `non_primary::non_primary_plan` (stay, heal in place, or leave for the recovery;
//! 30 s unless members are confirmed down);
//! registration with the census (the cluster's actual uuid:seqno, published Primary or not),
//! the census refresh, `P/uuid` restored create-if-absent, the heal-in-place record removed
//! once registered, the STEADY txn (queue empty; deletes `P/bootstrap` and `P/recovery`), the
//! recovery mark; the leader's commit high-water mark (`rules::mark_due`; the simulated
//! leader is the smallest-named registered node).

use galera_sidecar::etcd::snapshot::{CensusEntry, ClusterSnapshot, StateValue};
use galera_sidecar::etcd::ClusterState;
use galera_sidecar::galera::branches;
use galera_sidecar::galera::heal::HEAL_IN_PLACE;
use galera_sidecar::galera::non_primary::{non_primary_plan, NonPrimaryPlan};
use galera_sidecar::galera::rules::{
    forks_due, mark_due as hwm_due, moot_force, recovery_mark_due, steady_due,
};
use galera_sidecar::mysql::WsrepStatus;
use galera_sidecar::position::Position;

use super::etcd::{address, state, Cond, Dir, Key, Op, Val, NAMES};
use super::world::World;

/// `steady::CENSUS_REFRESH`.
const CENSUS_REFRESH: i64 = 5;
/// `steady::NON_PRIMARY_GRACE`.
const NON_PRIMARY_GRACE: i64 = 30;
/// `non_primary::CONFIRMED_DOWN_GRACE`: the running loop plans from then on.
const CONFIRMED_DOWN_GRACE: i64 = 5;

impl World {
    /// What `SHOW STATUS LIKE 'wsrep%'` says on node `i` (None: mariadbd is not running).
    fn status(&self, i: usize) -> Option<WsrepStatus> {
        let c = self.g.comps.get(&self.comp_of[i]?)?;
        let p = self.g.position_of(c.head);
        let synced = self.now >= self.nodes[i].synced_at;
        let rows = [
            (
                "wsrep_local_state_comment",
                if synced { "Synced" } else { "Joined" }.to_string(),
            ),
            ("wsrep_local_state", if synced { "4" } else { "3" }.into()),
            (
                "wsrep_cluster_status",
                if c.primary { "Primary" } else { "non-Primary" }.into(),
            ),
            ("wsrep_cluster_state_uuid", p.uuid().unwrap_or("").into()),
            ("wsrep_last_committed", p.seqno().unwrap_or(-1).to_string()),
            ("wsrep_ready", "ON".into()),
            ("wsrep_cluster_size", c.members.len().to_string()),
        ];
        Some(WsrepStatus::from_rows(rows))
    }

    /// One pass of `steady::run`. A joiner is Joined (catching up, not registered) for a few
    /// seconds after its state transfer, then Synced.
    pub fn running(&mut self, i: usize) {
        let Some(primary) = self.comp_of[i]
            .and_then(|c| self.g.comps.get(&c))
            .map(|c| c.primary)
        else {
            return self.exit_process(i, "mariadbd exited");
        };
        let now = self.now;
        if primary {
            self.nodes[i].primary_at = now;
        }
        let non_primary_for = now - self.nodes[i].primary_at;
        if !primary && non_primary_for >= CONFIRMED_DOWN_GRACE {
            match self.non_primary(i, non_primary_for) {
                Some(NonPrimaryPlan::Leave(_)) => {
                    // A clean stop: the datadir keeps its position.
                    return self.exit_process(i, "left to take part in recovery");
                }
                Some(NonPrimaryPlan::HealInPlace(_)) => self.heal_in_place(i, non_primary_for),
                Some(NonPrimaryPlan::Stay(_)) | None => {}
            }
        }
        self.renew_if_lost(i);
        let snap = self.etcd.snapshot();
        // `should_register`: Synced (or Donor) and Primary.
        let serving = self.comp_of[i]
            .and_then(|c| self.g.comps.get(&c))
            .is_some_and(|c| c.primary)
            && now >= self.nodes[i].synced_at;
        let census = self.census_now(i);
        if serving {
            self.register(i, &snap, Some(census.clone()));
        } else if snap
            .nodes
            .get(NAMES[i])
            .is_some_and(|n| n.lease == self.nodes[i].lease)
        {
            let _ = self.etcd.txn(&[], vec![Op::Del(Key::Node(i))]);
        }
        if self.nodes[i].census_due(Some(&snap), &census, Some(CENSUS_REFRESH)) {
            self.publish_census(i, census.clone(), true);
        }
        if serving && snap.uuid.is_none() {
            if let Some(u) = census.running.as_ref().and_then(|p| p.uuid()) {
                let put = Op::Put(Key::Uuid, Val::Text(u.into()), 0);
                let _ = self.etcd.txn(&[Cond::Absent(Key::Uuid)], vec![put]);
            }
        }
        // A heal in place is over once this node is registered: its fenced record goes.
        let healed = snap
            .bootstrap
            .as_ref()
            .is_some_and(|b| b.node == NAMES[i] && b.reason == HEAL_IN_PLACE);
        if healed && snap.nodes.contains_key(NAMES[i]) {
            if let Some(rev) = self.etcd.get(&Key::Bootstrap).map(|kv| kv.modrev) {
                let _ = self.etcd.txn(
                    &[Cond::ModRev(Key::Bootstrap, rev)],
                    vec![Op::Del(Key::Bootstrap)],
                );
            }
        }
        // `rules::moot_force`: a forced recovery pending while this node serves a Primary
        // Component is deleted.
        if let Some(m) = self.status(i).and_then(|s| moot_force(&s, &snap, NAMES[i])) {
            let mut conds = vec![];
            let mut ops = vec![];
            for (wanted, key) in [(m.request, Key::Force), (m.record, Key::Recovery)] {
                if let Some(kv) = self.etcd.get(&key).filter(|_| wanted) {
                    conds.push(Cond::ModRev(key, kv.modrev));
                    ops.push(Op::Del(key));
                }
            }
            if !ops.is_empty() && self.etcd.txn(&conds, ops) == Ok(true) {
                self.log(i, m.why);
            }
        }
        if steady_due(&snap, NAMES[i], self.cfg.cluster_size).is_some() {
            let expected = match &snap.state {
                Some(StateValue::Known(s)) => Some(s.as_str().to_string()),
                _ => None,
            };
            let conds = [Cond::StateIs(expected), Cond::Empty(Dir::Queue)];
            let ops = vec![
                Op::Put(Key::State, state(ClusterState::Steady), 0),
                Op::Del(Key::Bootstrap),
                Op::Del(Key::Recovery),
            ];
            if self.etcd.txn(&conds, ops) == Ok(true) {
                self.log(i, "state -> STEADY".into());
            }
        }
        let mark_due = snap
            .recovery
            .as_ref()
            .is_some_and(|r| self.nodes[i].data.mark.as_deref() != Some(r.id().as_str()));
        if mark_due && snap.known_state() == Some(ClusterState::Recovery) {
            let marked = self.nodes[i].data.mark.clone();
            let due = self
                .status(i)
                .and_then(|status| recovery_mark_due(&status, &snap, marked.as_deref()));
            if let Some(id) = due {
                self.nodes[i].data.mark = Some(id);
            }
        }
        // The commit high-water mark, written by the leader over no mark written since its
        // snapshot.
        let leader = serving && snap.nodes.keys().next().map(String::as_str) == Some(NAMES[i]);
        if leader {
            let forks = self.nodes[i].data.forks.clone();
            let due = self
                .status(i)
                .and_then(|status| hwm_due(&status, &snap, NAMES[i], true, &forks, now));
            if let Some(m) = due {
                let _ = self.etcd.txn(
                    &[Cond::KeyUnchangedSince(Key::Hwm, snap.revision)],
                    vec![Op::Put(Key::Hwm, Val::Mark(m), 0)],
                );
            }
        }
        if !snap.forks.is_empty() || snap.census.values().any(|c| !c.forks.is_empty()) {
            if let Some(status) = self.status(i) {
                let missing = forks_due(&status, &snap, NAMES[i], &self.nodes[i].data.forks);
                if !missing.is_empty() {
                    let own = self.nodes[i].data.forks.clone();
                    self.nodes[i].data.forks = branches::merged(&own, &[&missing]);
                }
            }
        }
        self.nodes[i].alive_at = Some(now);
    }

    /// `rules::non_primary_plan` for node `i` on a fresh snapshot.
    pub fn non_primary(&mut self, i: usize, non_primary_for: i64) -> Option<NonPrimaryPlan> {
        let snap = self.etcd.snapshot();
        let status = self.status(i)?;
        let secs = |s: i64| std::time::Duration::from_secs(s as u64);
        // A simulated join always reaches a Primary Component (the model's joins never fail).
        let probes = self.probe_gone(i, &snap);
        non_primary_plan(
            NAMES[i],
            &status,
            true,
            &snap,
            self.cfg.cluster_size,
            &probes,
            secs(non_primary_for),
            secs(NON_PRIMARY_GRACE),
        )
    }

    /// `census_now`: while mariadbd answers, its live position as both the position and the
    /// running cluster's (Primary or not); else the last one reported.
    fn census_now(&self, i: usize) -> CensusEntry {
        let head = self.comp_of[i]
            .and_then(|c| self.g.comps.get(&c))
            .map(|c| c.head);
        if let Some(head) = head {
            let live = self.g.position_of(head);
            return self.census_entry_for(i, &live, Some(live.clone()));
        }
        match &self.nodes[i].census {
            Some((_, last)) => self.census_entry_for(i, &last.position, last.running.clone()),
            None => self.census_entry_for(i, &Position::Unknown, None),
        }
    }

    /// `Node::register`: `nodes/`, `members/`, the census, queue and refusal keys dropped,
    /// in one txn. Returns false when the process exited.
    pub fn register(
        &mut self,
        i: usize,
        snap: &ClusterSnapshot,
        census: Option<CensusEntry>,
    ) -> bool {
        let lease = self.nodes[i].lease;
        let me = NAMES[i];
        let census =
            census.filter(|c| self.nodes[i].census_due(Some(snap), c, Some(CENSUS_REFRESH)));
        let mut ops = vec![];
        if let Some(c) = &census {
            ops.push(Op::Put(Key::Census(i), Val::Census(c.clone()), lease));
        }
        let addr = address(i);
        if !snap
            .nodes
            .get(me)
            .is_some_and(|n| n.address == addr && n.lease == lease)
        {
            ops.push(Op::Put(Key::Node(i), Val::Text(addr.clone()), lease));
        }
        if snap.members.get(me) != Some(&addr) {
            ops.push(Op::Put(Key::Member(i), Val::Text(addr), 0));
        }
        if snap.queue.contains_key(me) {
            ops.extend([
                Op::Del(Key::Queue(i)),
                Op::Del(Key::Seqno(i)),
                Op::Del(Key::Pos(i)),
            ]);
        }
        if snap.refused.contains_key(me) {
            ops.push(Op::Del(Key::Refused(i)));
        }
        if ops.is_empty() {
            return true;
        }
        match self.etcd.txn(&[], ops) {
            Ok(_) => {
                if let Some(c) = census {
                    self.nodes[i].census = Some((lease, c));
                }
                true
            }
            // The running loop logs etcd errors and goes on.
            Err(_) => true,
        }
    }
}
