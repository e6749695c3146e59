//! Quorum loss healed in place (`heal.rs`): a running, non-Primary node that
//! `rules::non_primary_plan` says holds the most advanced position of every member takes the
//! lock, re-plans on a snapshot read under it, writes `P/bootstrap` (reason `heal-in-place`)
//! fenced on the lock, `nodes/` empty, no other bootstrap record and the census and queue
//! unchanged since that snapshot, and only then sets `pc.bootstrap=YES`: its component
//! becomes Primary.

use galera_sidecar::etcd::snapshot::BootstrapRecord;
use galera_sidecar::galera::heal::HEAL_IN_PLACE;
use galera_sidecar::galera::rules::NonPrimaryPlan;

use super::etcd::{Cond, Dir, Key, Op, Val, NAMES};
use super::world::World;

impl World {
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
        ];
        let ops = vec![Op::Put(Key::Bootstrap, Val::Bootstrap(record), 0)];
        if self.etcd.txn(&conds, ops) != Ok(true) {
            return;
        }
        self.note_boot(i, Some(head), None, true);
        self.g.make_primary(cid);
        self.stats.heals += 1;
        let p = self.g.position_of(head);
        self.log(i, format!("heals in place (pc.bootstrap=YES) at {p}"));
    }
}
