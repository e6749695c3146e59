//! The running loop (`galera/steady/`), one pass per simulated step, decided by the product's
//! own pure pass (`steady::decide::decide`) and played on the model: after 5 s without a
//! Primary Component, stay, heal in place, or leave for the recovery (30 s unless members are
//! confirmed down); registration with the census (the cluster's actual uuid:seqno, published
//! Primary or not), the census refresh, `P/uuid` restored create-if-absent, the heal-in-place
//! record removed once registered, a moot forced recovery deleted, the STEADY txn (queue
//! empty; deletes `P/bootstrap` and `P/recovery`), the recovery mark, the forks; the leader's
//! commit high-water mark (the simulated leader is the smallest-named registered node).

use std::time::Duration;

use galera_sidecar::etcd::snapshot::{CensusEntry, ClusterSnapshot, LeaderEntry};
use galera_sidecar::etcd::ClusterState;
use galera_sidecar::galera::branches;
use galera_sidecar::galera::non_primary::{non_primary_plan, NonPrimaryPlan};
use galera_sidecar::galera::steady::decide::{decide, Observation, Step};
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

/// What playing one step came to.
enum Played {
    Done,
    /// Its etcd write failed: the pass's other etcd writes are skipped.
    EtcdFailed,
    /// The process exited (left for the recovery).
    Exited,
}

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

    /// One pass of `steady::run`, decided by the product's own `steady::decide::decide` on
    /// this world's observation; the plan's steps are played on the model etcd and datadir.
    /// Leadership is not modelled: the smallest-named registered node stands in as the leader
    /// (it writes the commit high-water mark), so campaign, resign and switchover steps are
    /// not played. A joiner is Joined (catching up, not registered) for a few seconds after
    /// its state transfer, then Synced.
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
        self.renew_if_lost(i);
        let mut snap = (*self.etcd.snapshot()).clone();
        let probes = if !primary && non_primary_for >= CONFIRMED_DOWN_GRACE {
            self.probe_gone(i, &snap)
        } else {
            Default::default()
        };
        if let Some((name, n)) = snap.nodes.iter().next() {
            snap.leader = Some(LeaderEntry {
                address: address(NAMES.iter().position(|x| x == name).unwrap_or(0)),
                lease: n.lease,
                create_revision: 1,
                mod_revision: 1,
            });
        }
        let census = self.census_now(i);
        let census_due = self.nodes[i].census_due(Some(&snap), &census, Some(CENSUS_REFRESH));
        let o = Observation {
            me: NAMES[i].into(),
            address: address(i),
            lease: self.nodes[i].lease,
            cluster_size: self.cfg.cluster_size,
            now,
            status: self.status(i),
            sql_failures: 0,
            snap: Some(snap.clone()),
            etcd_ok: true,
            census,
            census_due,
            vacant_for: Duration::ZERO,
            last_leader: None,
            forks: self.nodes[i].data.forks.clone(),
            recovery_mark: self.nodes[i].data.mark.clone(),
            first_synced: false,
            non_primary_for: Duration::from_secs(non_primary_for.max(0) as u64),
            // A simulated join always reaches a Primary Component (the model's joins never
            // fail).
            ever_primary: true,
            probes,
            woken_by: "the simulation".into(),
            upgrade: Default::default(),
        };
        // The executor's sequencing: after a failed etcd write the pass's other etcd writes
        // are skipped (a take-over, which ends them too, is not modelled).
        let mut etcd_failed = false;
        for step in decide(&o).steps {
            if step.skipped(etcd_failed, false) {
                continue;
            }
            match self.play(i, step, &snap, non_primary_for) {
                Played::Exited => return,
                Played::EtcdFailed => etcd_failed = true,
                Played::Done => {}
            }
        }
        self.nodes[i].alive_at = Some(now);
    }

    /// Play one step of the running loop's plan.
    fn play(
        &mut self,
        i: usize,
        step: Step,
        snap: &ClusterSnapshot,
        non_primary_for: i64,
    ) -> Played {
        let lease = self.nodes[i].lease;
        // An etcd error (a put under a lease etcd no longer has) fails the step.
        let mut failed = false;
        match step {
            Step::Leave(_) => {
                // A clean stop: the datadir keeps its position.
                self.exit_process(i, "left to take part in recovery");
                return Played::Exited;
            }
            Step::HealInPlace(_) => self.heal_in_place(i, non_primary_for),
            Step::Register(r) => {
                let mut ops = vec![];
                if let Some(c) = &r.census {
                    ops.push(Op::Put(Key::Census(i), Val::Census(c.clone()), lease));
                }
                if r.node {
                    ops.push(Op::Put(Key::Node(i), Val::Text(address(i)), lease));
                }
                if r.member {
                    ops.push(Op::Put(Key::Member(i), Val::Text(address(i)), 0));
                }
                if r.queued {
                    ops.extend([
                        Op::Del(Key::Queue(i)),
                        Op::Del(Key::Seqno(i)),
                        Op::Del(Key::Pos(i)),
                    ]);
                }
                if r.refused {
                    ops.push(Op::Del(Key::Refused(i)));
                }
                match self.etcd.txn(&[], ops) {
                    Ok(_) => {
                        if let Some(c) = r.census {
                            self.nodes[i].census = Some((lease, c));
                        }
                    }
                    Err(_) => failed = true,
                }
            }
            Step::Deregister(_) => {
                failed = self.etcd.txn(&[], vec![Op::Del(Key::Node(i))]).is_err();
            }
            Step::PublishCensus(c) => {
                failed = !self.publish_census(i, c, true);
            }
            Step::RestoreUuid(u) => {
                let put = Op::Put(Key::Uuid, Val::Text(u), 0);
                failed = self
                    .etcd
                    .txn(&[Cond::Absent(Key::Uuid)], vec![put])
                    .is_err();
            }
            Step::ClearHealRecord => {
                if let Some(rev) = self.etcd.get(&Key::Bootstrap).map(|kv| kv.modrev) {
                    failed = self
                        .etcd
                        .txn(
                            &[Cond::ModRev(Key::Bootstrap, rev)],
                            vec![Op::Del(Key::Bootstrap)],
                        )
                        .is_err();
                }
            }
            Step::DropMootForce(m) => {
                let mut conds = vec![];
                let mut ops = vec![];
                for (wanted, key) in [(m.request, Key::Force), (m.record, Key::Recovery)] {
                    if let Some(kv) = self.etcd.get(&key).filter(|_| wanted) {
                        conds.push(Cond::ModRev(key, kv.modrev));
                        ops.push(Op::Del(key));
                    }
                }
                if !ops.is_empty() {
                    match self.etcd.txn(&conds, ops) {
                        Ok(true) => self.log(i, m.why),
                        Ok(false) => {}
                        Err(_) => failed = true,
                    }
                }
            }
            Step::SetSteady { expected, .. } => {
                let conds = [Cond::StateIs(expected), Cond::Empty(Dir::Queue)];
                let ops = vec![
                    Op::Put(Key::State, state(ClusterState::Steady), 0),
                    Op::Del(Key::Bootstrap),
                    Op::Del(Key::Recovery),
                ];
                match self.etcd.txn(&conds, ops) {
                    Ok(true) => self.log(i, "state -> STEADY".into()),
                    Ok(false) => {}
                    Err(_) => failed = true,
                }
            }
            Step::WriteMark { mark, .. } => {
                failed = self
                    .etcd
                    .txn(
                        &[Cond::KeyUnchangedSince(Key::Hwm, snap.revision)],
                        vec![Op::Put(Key::Hwm, Val::Mark(mark), 0)],
                    )
                    .is_err();
            }
            Step::WriteRecoveryMark(id) => self.nodes[i].data.mark = Some(id),
            Step::AddForks(missing) => {
                let own = self.nodes[i].data.forks.clone();
                self.nodes[i].data.forks = branches::merged(&own, &[&missing]);
            }
            // Leadership is not modelled; the rest is local bookkeeping or a log line.
            Step::WriteInitOk
            | Step::TakeOver(_)
            | Step::RefuseSwitchover(_)
            | Step::Note(_)
            | Step::Campaign
            | Step::Resign(_)
            | Step::Upgrade(_) => {}
        }
        if failed {
            Played::EtcdFailed
        } else {
            Played::Done
        }
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
