//! The entrypoint's startup sequence (`galera/run/`), one loop iteration per simulated step:
//! decide, take the lock, join or bootstrap under it (fenced); the recovery loops are in
//! [`super::queue`].
//! Every etcd round trip that the product makes separately is a separate step where it
//! matters (snapshot → fenced txn), so other nodes, faults and operators interleave.

use std::collections::BTreeSet;
use std::rc::Rc;

use galera_sidecar::etcd::snapshot::{
    BootstrapRecord, ClusterSnapshot, RecoveryRecord, StateValue,
};
use galera_sidecar::etcd::ClusterState;
use galera_sidecar::galera::branches;
use galera_sidecar::galera::plan::Plan;
use galera_sidecar::galera::safety::{self, Action, Evidence, Verdict};
use galera_sidecar::position::Position;

use super::etcd::{address, state, Cond, Dir, Key, Op, Val, NAMES};
use super::node::{Entry, Then};
use super::product;
use super::world::World;

fn state_text(snap: &ClusterSnapshot) -> Option<String> {
    match &snap.state {
        Some(StateValue::Known(s)) => Some(s.as_str().to_string()),
        Some(StateValue::Invalid(v)) => Some(v.clone()),
        None => None,
    }
}

impl World {
    /// Registered nodes (other than `i`) whose Galera port answers `i`.
    pub fn reachable(&self, i: usize, snap: &ClusterSnapshot) -> BTreeSet<String> {
        snap.nodes
            .keys()
            .filter(|n| n.as_str() != NAMES[i])
            .filter(|n| {
                NAMES
                    .iter()
                    .position(|x| x == n)
                    .is_some_and(|j| self.answers(i, j))
            })
            .cloned()
            .collect()
    }

    /// Does node `j`'s mariadbd answer node `i` on the Galera port?
    fn answers(&self, i: usize, j: usize) -> bool {
        j < self.nodes.len() && self.comp_of[j].is_some() && self.g.side[i] == self.g.side[j]
    }

    /// `--peers` members answering (probed only before a brand-new bootstrap).
    fn peers(&self, i: usize, snap: &ClusterSnapshot) -> Vec<String> {
        if !(snap.nodes.is_empty() && snap.uuid.is_none() && snap.members.is_empty()) {
            return vec![];
        }
        (0..self.nodes.len())
            .filter(|j| *j != i && self.answers(i, *j))
            .map(address)
            .collect()
    }

    fn decide_for(
        &self,
        i: usize,
        snap: &ClusterSnapshot,
        reachable: &BTreeSet<String>,
        peers: &[String],
    ) -> Plan {
        let n = &self.nodes[i];
        let o = product::observation(
            snap,
            n.name,
            &n.position,
            reachable,
            peers,
            n.data.mark.as_deref(),
            &n.data.forks,
            n.since,
            self.now,
            self.cfg.cluster_size,
            self.quiet_secs(),
        );
        product::decide(self.cfg.mutant, &o)
    }

    pub fn gate_for(&self, i: usize, snap: &ClusterSnapshot, action: Action) -> Verdict {
        let n = &self.nodes[i];
        let ev = Evidence {
            snap,
            me: n.name,
            local: &n.position,
            local_since: n.since,
            joined_recovery: n.data.mark.as_deref(),
            forks: &n.data.forks,
            now: self.now,
            cluster_size: self.cfg.cluster_size,
            quiet_secs: self.quiet_secs(),
        };
        product::gate(self.cfg.mutant, action, &ev)
    }

    /// `safety::member_quiet_secs` for the simulated lease TTL.
    pub fn quiet_secs(&self) -> i64 {
        safety::member_quiet_secs(std::time::Duration::from_secs(self.cfg.ttl as u64))
    }

    /// `lock::release`: delete the lock if it is still ours.
    pub fn release(&mut self, guard: i64) {
        let _ = self.etcd.txn(
            &[Cond::CreateRev(Key::Lock, guard)],
            vec![Op::Del(Key::Lock)],
        );
    }

    fn redecide(&mut self, i: usize, guard: i64, why: &str) {
        self.release(guard);
        self.nodes[i].entry = Entry::Deciding { refusal: None };
        self.log(i, format!("under the lock: {why}; re-deciding"));
    }

    /// One iteration of the `start()` loop.
    pub fn deciding(&mut self, i: usize, refusal: Option<String>) {
        self.renew_if_lost(i);
        let last = self.nodes[i].last_snap.clone();
        if !self.report_census(i, last.as_deref()) {
            return;
        }
        let snap = self.etcd.snapshot();
        let refusal_was_sticky = refusal.is_some();
        let plan = match refusal {
            Some(reason) => Plan::Refuse { reason },
            None => {
                let reachable = self.reachable(i, &snap);
                let peers = self.peers(i, &snap);
                self.decide_for(i, &snap, &reachable, &peers)
            }
        };
        self.nodes[i].last_snap = Some(snap.clone());
        let now = self.now;
        match plan {
            Plan::Fail { reason } => self.exit_process(i, &reason),
            Plan::Wait { .. } | Plan::WaitForRegistered { .. } => {}
            Plan::Refuse { reason } => {
                self.log(i, format!("refuses: {reason}"));
                self.stats.refusals += 1;
                self.nodes[i].entry = Entry::Refused {
                    reason,
                    sticky: refusal_was_sticky,
                };
            }
            Plan::EnterRecovery { .. } => {
                let conds = [Cond::StateIs(state_text(&snap)), Cond::Empty(Dir::Nodes)];
                let ops = vec![Op::Put(Key::State, state(ClusterState::Recovery), 0)];
                if self.txn_or_redecide(i, &conds, ops) == Some(true) {
                    self.log(i, "state -> RECOVERY".into());
                }
            }
            Plan::Queue { .. } => {
                self.nodes[i].entry = Entry::Queued {
                    queued_lease: 0,
                    pending: None,
                };
                self.queued(i, 0, None);
            }
            Plan::NewCluster { .. } => self.take_lock(i, Then::Boot(None), now),
            Plan::Join { .. } => self.take_lock(i, Then::Join, now),
        }
    }

    /// One attempt of `lock::acquire` (600 s at most, then re-decide).
    pub fn take_lock(&mut self, i: usize, then: Then, since: i64) {
        let lease = self.nodes[i].lease;
        match self.etcd.get(&Key::Lock).cloned() {
            None => {
                let put = Op::Put(Key::Lock, Val::Text(NAMES[i].into()), lease);
                match self.txn_or_redecide(i, &[Cond::Absent(Key::Lock)], vec![put]) {
                    None => {}
                    Some(true) => {
                        let guard = self.etcd.rev;
                        self.nodes[i].entry = match then {
                            Then::Join => Entry::JoinLocked { guard },
                            Then::Boot(rec) => Entry::BootLocked { guard, rec },
                        };
                    }
                    Some(false) => self.nodes[i].entry = Entry::Lock { then, since },
                }
            }
            Some(kv) => {
                let mine = matches!(&kv.val, Val::Text(h) if h == NAMES[i]);
                if mine && kv.lease != lease {
                    let _ = self.etcd.txn(
                        &[Cond::ModRev(Key::Lock, kv.modrev)],
                        vec![Op::Del(Key::Lock)],
                    );
                }
                self.nodes[i].entry = if self.now - since >= 600 {
                    Entry::Deciding { refusal: None }
                } else {
                    Entry::Lock { then, since }
                };
            }
        }
    }

    /// `join_locked`.
    pub fn join_locked(&mut self, i: usize, guard: i64) {
        let snap = self.etcd.snapshot();
        let reachable = self.reachable(i, &snap);
        let plan = self.decide_for(i, &snap, &reachable, &[]);
        let Plan::Join { peers, .. } = plan else {
            return self.redecide(i, guard, &plan.sentence());
        };
        self.nodes[i].alive_at = Some(self.now);
        // The datadir changes from here: a queue entry from before the join would stand for a
        // position it no longer has.
        if snap.queue.contains_key(NAMES[i]) {
            let ops = vec![
                Op::Del(Key::Queue(i)),
                Op::Del(Key::Seqno(i)),
                Op::Del(Key::Pos(i)),
            ];
            let _ = self.etcd.txn(&[], ops);
        }
        // `add_forks`: after the transfer this datadir holds the running cluster's branch.
        let cluster = branches::cluster_forks(&snap, NAMES[i]);
        let own = self.nodes[i].data.forks.clone();
        self.nodes[i].data.forks = branches::merged(&own, &[&cluster]);
        let peers: Vec<usize> = peers
            .iter()
            .filter_map(|(n, _)| NAMES.iter().position(|x| x == n))
            .collect();
        let joined = self.galera_join(i, &peers);
        self.release(guard);
        match joined {
            Ok(how) => {
                self.log(i, format!("joined ({how})"));
                self.stats.joins += 1;
                self.nodes[i].entry = Entry::Running;
                self.nodes[i].primary_at = self.now;
            }
            Err(why) => self.exit_process(i, &format!("mariadbd exited while joining: {why}")),
        }
    }

    /// `bootstrap_locked`, first half: the belief re-checked on a snapshot under the lock.
    pub fn boot_locked(&mut self, i: usize, guard: i64, rec: Option<RecoveryRecord>) {
        let snap: Rc<ClusterSnapshot> = self.etcd.snapshot();
        let rev = snap.revision;
        let (reason, mut conds, mut ops) = match &rec {
            None => {
                let peers = self.peers(i, &snap);
                let plan = self.decide_for(i, &snap, &BTreeSet::new(), &peers);
                if !matches!(plan, Plan::NewCluster { .. }) {
                    return self.redecide(i, guard, &plan.sentence());
                }
                let state_cond = match &snap.state {
                    None => Cond::Absent(Key::State),
                    Some(_) => Cond::StateIs(Some("BUILDING".into())),
                };
                (
                    "new-cluster",
                    vec![
                        state_cond,
                        Cond::Absent(Key::Uuid),
                        Cond::UnchangedSince(Dir::Census, rev),
                        Cond::UnchangedSince(Dir::Queue, rev),
                        Cond::Empty(Dir::Members),
                    ],
                    vec![Op::Put(Key::State, state(ClusterState::Building), 0)],
                )
            }
            Some(r) => {
                if snap.recovery.as_ref() != Some(r)
                    || snap.known_state() != Some(ClusterState::Recovery)
                {
                    return self.redecide(i, guard, "the recovery record changed");
                }
                let action = if r.forced.is_some() {
                    Action::ForcedBootstrap
                } else {
                    Action::RecoveryBootstrap
                };
                // `probe_members`: a member's Galera port answering although etcd does not
                // show it running.
                let answering: Vec<&str> = (0..self.cfg.n)
                    .filter(|j| *j != i && self.answers(i, *j))
                    .map(|j| NAMES[j])
                    .filter(|n| snap.members.contains_key(*n) || snap.census.contains_key(*n))
                    .collect();
                if !answering.is_empty() {
                    let why = format!("the Galera port of {} answers", answering.join(","));
                    return self.redecide(i, guard, &why);
                }
                if let Verdict::Wait(why) | Verdict::Refuse(why) = self.gate_for(i, &snap, action) {
                    return self.redecide(i, guard, &why);
                }
                (
                    if r.forced.is_some() {
                        "force-bootstrap"
                    } else {
                        "recovery"
                    },
                    vec![
                        Cond::StateIs(Some("RECOVERY".into())),
                        Cond::UnchangedSince(Dir::Census, rev),
                        Cond::UnchangedSince(Dir::Queue, rev),
                        Cond::KeyUnchangedSince(Key::Recovery, rev),
                    ],
                    vec![Op::Put(
                        Key::Recovery,
                        Val::Recovery(Box::new(RecoveryRecord {
                            bootstrapped_at: Some(self.now),
                            ..r.clone()
                        })),
                        0,
                    )],
                )
            }
        };
        conds.push(Cond::Empty(Dir::Nodes));
        match &snap.bootstrap {
            Some(b) if b.node == NAMES[i] => {
                let modrev = self.etcd.get(&Key::Bootstrap).map_or(0, |kv| kv.modrev);
                conds.push(Cond::ModRev(Key::Bootstrap, modrev));
            }
            Some(b) => {
                let why = format!("{} is recorded as bootstrapping", b.node);
                return self.redecide(i, guard, &why);
            }
            None => conds.push(Cond::Absent(Key::Bootstrap)),
        }
        let record = BootstrapRecord {
            node: NAMES[i].into(),
            position: self.nodes[i].position.clone(),
            at: self.now,
            reason: reason.into(),
        };
        ops.insert(0, Op::Put(Key::Bootstrap, Val::Bootstrap(record), 0));
        let fork = rec
            .as_ref()
            .and_then(|r| branches::forced_fork(r, &self.nodes[i].position));
        if let (Some(f), Some(r)) = (fork, &rec) {
            ops.push(Op::Put(Key::Fork(i, r.at), Val::Fork(f), 0));
        }
        self.nodes[i].entry = Entry::BootTxn {
            guard,
            rec,
            conds,
            ops,
            at: self.now,
        };
    }

    /// `bootstrap_locked`, second half: the fenced txn, then `--wsrep-new-cluster`.
    pub fn boot_txn(
        &mut self,
        i: usize,
        guard: i64,
        rec: Option<RecoveryRecord>,
        conds: Vec<Cond>,
        ops: Vec<Op>,
        at: i64,
    ) {
        let mut conds = conds;
        conds.push(Cond::CreateRev(Key::Lock, guard));
        match self.txn_or_redecide(i, &conds, ops) {
            None => return,
            Some(false) => return self.redecide(i, guard, "bootstrap record not written"),
            Some(true) => {}
        }
        let fork = rec
            .as_ref()
            .and_then(|r| branches::forced_fork(r, &self.nodes[i].position));
        if let Some(f) = fork.clone() {
            let own = self.nodes[i].data.forks.clone();
            self.nodes[i].data.forks = branches::merged(&own, &[&[f]]);
        }
        let forced = rec.as_ref().and_then(|r| r.forced.clone());
        let accept = forced.as_ref().is_some_and(|f| f.accept_data_loss);
        if let Some(f) = &forced {
            self.check_force_obeyed(i, f, at);
        }
        self.note_boot(i, self.nodes[i].data.head, rec.as_ref(), false);
        let head = match self.nodes[i].data.head {
            Some(h) => h,
            None => {
                self.check_new_uuid(i, accept);
                self.g.genesis()
            }
        };
        if let Some(r) = &rec {
            self.booted.push(r.id());
        }
        // A forced recovery of an unknown position: the fork is where mariadbd started.
        let late_fork = match (&fork, &rec) {
            (None, Some(r)) if self.nodes[i].position != Position::Fresh => {
                branches::forced_fork(r, &self.g.position_of(head))
            }
            _ => None,
        };
        if let Some(f) = late_fork.clone() {
            let own = self.nodes[i].data.forks.clone();
            self.nodes[i].data.forks = branches::merged(&own, &[&[f]]);
        }
        let d = &mut self.nodes[i].data;
        d.head = Some(head);
        d.prepared = false;
        let comp = self.g.bootstrap(i, head);
        self.comp_of[i] = Some(comp);
        self.nodes[i].alive_at = Some(self.now);
        self.nodes[i].synced_at = self.now;
        let what = match &rec {
            None => "a new cluster",
            Some(r) if r.forced.is_some() => "a forced recovery",
            Some(_) => "a recovery",
        };
        self.log(
            i,
            format!("bootstraps {what} at {}", self.g.position_of(head)),
        );
        self.stats.bootstraps += 1;
        if accept {
            self.stats.accepted_losses += 1;
            self.rebaseline_all("force-bootstrap accepting data loss obeyed");
        }
        self.nodes[i].entry = Entry::Booted {
            guard,
            replace_uuid: accept,
            fork: late_fork.zip(rec.map(|r| r.at)),
        };
    }

    /// `record_bootstrap`, then the lock is released.
    pub fn booted(
        &mut self,
        i: usize,
        guard: i64,
        replace_uuid: bool,
        fork: Option<(galera_sidecar::etcd::snapshot::Fork, i64)>,
    ) {
        self.renew_if_lost(i);
        let Some(c) = self.comp_of[i].and_then(|c| self.g.comps.get(&c)) else {
            return;
        };
        let uuid = self.g.uuids[c.uuid as usize].clone();
        let live = self.g.position_of(c.head);
        let snap = self.etcd.snapshot();
        let put = Op::Put(Key::Uuid, Val::Text(uuid.clone()), 0);
        match &snap.uuid {
            None => {
                let _ = self.etcd.txn(&[Cond::Absent(Key::Uuid)], vec![put]);
            }
            Some(u) if *u == uuid => {}
            Some(u) if replace_uuid => {
                let _ = self.etcd.txn(&[Cond::UuidIs(u.clone())], vec![put]);
            }
            Some(_) => {}
        }
        if let Some((f, at)) = fork {
            let _ = self
                .etcd
                .txn(&[], vec![Op::Put(Key::Fork(i, at), Val::Fork(f), 0)]);
        }
        let snap = self.etcd.snapshot();
        let census = self.census_entry_for(i, &live, Some(live.clone()));
        if !self.register(i, &snap, Some(census)) {
            return;
        }
        self.release(guard);
        self.nodes[i].entry = Entry::Running;
        self.nodes[i].primary_at = self.now;
    }
}
