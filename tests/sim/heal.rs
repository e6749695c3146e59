//! Quorum loss healed in place (`heal.rs`): a running, non-Primary node that
//! `non_primary::non_primary_plan` says holds the most advanced position of every member that
//! reports (the others confirmed down: no census, Galera port refusing) takes the lock,
//! re-plans on a snapshot read under it, writes `P/bootstrap` (reason `heal-in-place`) — and,
//! with members down, the heal's fork — fenced on the lock, `nodes/` empty, no other bootstrap
//! record and the census, queue, members and mark unchanged since that snapshot, lists the
//! fork in its datadir, and only then sets `pc.bootstrap=YES`: its component becomes Primary.

use std::collections::BTreeMap;

use galera_sidecar::etcd::snapshot::{BootstrapRecord, ClusterSnapshot};
use galera_sidecar::galera::branches;
use galera_sidecar::galera::heal::HEAL_IN_PLACE;
use galera_sidecar::galera::non_primary::{gone_members, heal_fork, NonPrimaryPlan, PortProbe};

use super::etcd::{Cond, Dir, Key, Op, Val, NAMES};
use super::world::World;

impl World {
    /// `heal::probe_gone`: node `j`'s Galera port as node `i` finds it — silent across a
    /// partition, answering while its mariadbd runs, refusing otherwise.
    pub fn probe_gone(&self, i: usize, snap: &ClusterSnapshot) -> BTreeMap<String, PortProbe> {
        gone_members(snap, NAMES[i])
            .into_iter()
            .filter_map(|(m, _)| {
                let j = NAMES.iter().position(|x| *x == m)?;
                let seen = if j >= self.nodes.len() || self.g.side[i] != self.g.side[j] {
                    PortProbe::Silent
                } else if self.comp_of[j].is_some() {
                    PortProbe::Answers
                } else {
                    PortProbe::Refused
                };
                Some((m.to_string(), seen))
            })
            .collect()
    }

    /// `heal::heal_in_place`: one attempt at the lock per pass of the running loop.
    pub fn heal_in_place(&mut self, i: usize, non_primary_for: i64) {
        if self.etcd.get(&Key::Lock).is_some() {
            return;
        }
        let put = Op::Put(Key::Lock, Val::Text(NAMES[i].into()), self.nodes[i].lease);
        if self.etcd.txn(&[Cond::Absent(Key::Lock)], vec![put]) != Ok(true) {
            return;
        }
        let guard = self.etcd.rev;
        self.healed_locked(i, guard, non_primary_for);
        self.release(guard);
    }

    fn healed_locked(&mut self, i: usize, guard: i64, non_primary_for: i64) {
        let snap = self.etcd.snapshot();
        if !matches!(
            self.non_primary(i, non_primary_for),
            Some(NonPrimaryPlan::HealInPlace(_))
        ) {
            return;
        }
        let Some((cid, head)) =
            self.comp_of[i].and_then(|c| self.g.comps.get(&c).map(|comp| (c, comp.head)))
        else {
            return;
        };
        let record = BootstrapRecord {
            node: NAMES[i].into(),
            position: self.g.position_of(head),
            at: self.now,
            reason: HEAL_IN_PLACE.into(),
        };
        let conds = [
            Cond::CreateRev(Key::Lock, guard),
            Cond::Empty(Dir::Nodes),
            Cond::Absent(Key::Bootstrap),
            Cond::UnchangedSince(Dir::Census, snap.revision),
            Cond::UnchangedSince(Dir::Queue, snap.revision),
            Cond::UnchangedSince(Dir::Members, snap.revision),
            Cond::KeyUnchangedSince(Key::Hwm, snap.revision),
        ];
        let mut ops = vec![Op::Put(Key::Bootstrap, Val::Bootstrap(record.clone()), 0)];
        let fork = heal_fork(NAMES[i], self.now, &record.position, &snap);
        if let Some(f) = &fork {
            ops.push(Op::Put(Key::Fork(i, self.now), Val::Fork(f.clone()), 0));
        }
        if self.etcd.txn(&conds, ops) != Ok(true) {
            return;
        }
        if let Some(f) = fork {
            let own = self.nodes[i].data.forks.clone();
            self.nodes[i].data.forks = branches::merged(&own, &[std::slice::from_ref(&f)]);
        }
        self.note_boot(i, Some(head), None, true);
        self.g.make_primary(cid);
        self.stats.heals += 1;
        let p = self.g.position_of(head);
        self.log(i, format!("heals in place (pc.bootstrap=YES) at {p}"));
    }
}
