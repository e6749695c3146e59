//! The entrypoint's recovery loops (`galera/run/`): `queue()` — queue the position, elect, record
//! the winner (its txn a step after the election's snapshot), obey the record — and
//! `refused()` — publish the refusal, wait for a resync the gate allows, wipe.

use galera_sidecar::etcd::snapshot::RecoveryRecord;
use galera_sidecar::etcd::ClusterState;
use galera_sidecar::galera::recovery::{ahead_of_winner, Election};
use galera_sidecar::galera::safety::Action;
use galera_sidecar::position::Position;

use super::etcd::{Cond, Key, Op, Val, NAMES};
use super::node::{Entry, Pending, Then};
use super::product::elect;
use super::world::World;

impl World {
    /// One iteration of the `queue()` loop.
    pub fn queued(&mut self, i: usize, queued_lease: i64, pending: Option<Pending>) {
        if let Some(p) = pending {
            self.record_winner(i, p);
            return;
        }
        self.renew_if_lost(i);
        let lease = self.nodes[i].lease;
        let mut queued_lease = queued_lease;
        if queued_lease != lease {
            let p = self.nodes[i].position.clone();
            let ops = vec![
                Op::Put(Key::Queue(i), Val::Int(self.now), lease),
                Op::Put(Key::Seqno(i), Val::Int(p.seqno().unwrap_or(-1)), lease),
                Op::Put(Key::Pos(i), Val::Pos(p), lease),
            ];
            if self.txn_or_redecide(i, &[], ops).is_none() {
                return;
            }
            queued_lease = lease;
        }
        let me = NAMES[i];
        let snap = self.etcd.snapshot();
        if snap.nodes.keys().any(|n| n != me) || snap.known_state() != Some(ClusterState::Recovery)
        {
            self.nodes[i].entry = Entry::Deciding { refusal: None };
            return;
        }
        if !snap.queue.contains_key(me) {
            queued_lease = 0;
        }
        let mut next = Entry::Queued {
            queued_lease,
            pending: None,
        };
        if queued_lease != 0 {
            match elect(self.cfg.mutant, &snap, self.cfg.cluster_size, self.now) {
                Election::Waiting { .. } | Election::Blocked { .. } => {}
                Election::Winner {
                    name,
                    position,
                    reason,
                    replaces_record,
                    forced,
                } => {
                    if forced.is_none() {
                        self.check_mark_winner(&snap, &name, &position);
                    }
                    let rec = RecoveryRecord {
                        winner: name,
                        position,
                        decided_by: me.into(),
                        at: self.now,
                        reason,
                        forced,
                        bootstrapped_at: None,
                    };
                    let replace = replaces_record && snap.recovery.is_some();
                    if self.stale_queue(&snap) {
                        self.stale_elected.push(rec.id());
                    }
                    next = Entry::Queued {
                        queued_lease,
                        pending: Some(Pending {
                            rec,
                            replace,
                            rev: snap.revision,
                            seen: snap.bootstrap.clone(),
                        }),
                    };
                }
                Election::Recorded(rec) if rec.winner == me => {
                    let action = if rec.forced.is_some() {
                        Action::ForcedBootstrap
                    } else {
                        Action::RecoveryBootstrap
                    };
                    if self.gate_for(i, &snap, action).allowed() {
                        return self.take_lock(i, Then::Boot(Some(rec)), self.now);
                    }
                }
                Election::Recorded(rec) => {
                    let n = &self.nodes[i];
                    let ahead = ahead_of_winner(&rec, me, &n.position, n.data.mark.as_deref());
                    if let Some(ahead) = ahead {
                        next = Entry::Deciding {
                            refusal: Some(format!(
                                "this node is {ahead} transaction(s) ahead of {} which bootstraps the recovery at {}",
                                rec.winner, rec.position
                            )),
                        };
                    }
                }
            }
        }
        self.nodes[i].entry = next;
    }

    /// The election's txn: record the winner (create-if-absent, or replace exactly the
    /// record and bootstrap record read), consuming exactly the force request obeyed.
    fn record_winner(&mut self, i: usize, p: Pending) {
        let forced = p.rec.forced.is_some();
        let winner = p.rec.winner.clone();
        let id = p.rec.id();
        // A P/bootstrap written after the election's snapshot, which this txn deletes.
        let mut raced_boot: Option<String> = None;
        let mut ops = vec![Op::Put(Key::Recovery, Val::Recovery(Box::new(p.rec)), 0)];
        let mut conds = vec![];
        if forced {
            let modrev = self.etcd.get(&Key::Force).map_or(0, |kv| kv.modrev);
            conds.push(Cond::ModRev(Key::Force, modrev));
            ops.push(Op::Del(Key::Force));
        }
        if p.replace {
            // Replace exactly the record and the bootstrap record the election saw: neither
            // may have changed since its snapshot.
            conds.push(Cond::KeyUnchangedSince(Key::Recovery, p.rev));
            conds.push(Cond::KeyUnchangedSince(Key::Bootstrap, p.rev));
            if p.seen.is_some() {
                ops.push(Op::Del(Key::Bootstrap));
            } else {
                conds.push(Cond::Absent(Key::Bootstrap));
            }
            // What the txn deletes, when it is not the record the election saw (a race).
            if let Some(Val::Bootstrap(b)) = self.etcd.get(&Key::Bootstrap).map(|kv| &kv.val) {
                if p.seen.as_ref() != Some(b) {
                    raced_boot = Some(b.node.clone());
                }
            }
        } else {
            conds.push(Cond::Absent(Key::Recovery));
        }
        if self.txn_or_redecide(i, &conds, ops) == Some(true) {
            if let Some(b) = raced_boot {
                self.note_erased(&b);
                self.raced.push(id);
                self.log(i, "the record replaced deleted a P/bootstrap written after the election's snapshot".into());
            }
            let how = if forced { " (forced)" } else { "" };
            self.log(i, format!("recorded the recovery winner {winner}{how}"));
            self.stats.elections += 1;
        }
        if let Entry::Queued { pending, .. } = &mut self.nodes[i].entry {
            *pending = None;
        }
    }

    /// One iteration of the `refused()` loop.
    pub fn refused(&mut self, i: usize, reason: String) {
        self.renew_if_lost(i);
        let snap = self.etcd.snapshot();
        if !self.report_census(i, Some(&snap)) {
            return;
        }
        if snap.refused.get(NAMES[i]) != Some(&reason) {
            let put = Op::Put(Key::Refused(i), Val::Text(reason), self.nodes[i].lease);
            if self.txn_or_redecide(i, &[], vec![put]).is_none() {
                return;
            }
        }
        if !self.gate_for(i, &snap, Action::Wipe).allowed() {
            return;
        }
        if let Some(req) = snap.resync.get(NAMES[i]) {
            self.check_resync_obeyed(i, req);
        }
        let _ = self
            .etcd
            .txn(&[], vec![Op::Del(Key::Resync(i)), Op::Del(Key::Refused(i))]);
        let before = self.nodes[i].position.clone();
        self.nodes[i].data = Default::default();
        self.nodes[i].position = Position::Fresh;
        self.nodes[i].since = self.now;
        self.nodes[i].entry = Entry::Deciding { refusal: None };
        self.stats.resyncs += 1;
        self.log(i, format!("resync: discarded its datadir at {before}"));
        self.rebaseline_held("a valid resync consumed");
    }
}
