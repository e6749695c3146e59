//! A simulated node: its datadir, its entrypoint's state (mirroring `galera/run/`: the decision
//! loop, the lock, the fenced bootstrap, the queue, the refusal; then `galera/steady/`), its lease
//! and what its state file says. Process start and exit live here too.

use std::rc::Rc;

use galera_sidecar::etcd::snapshot::{CensusEntry, ClusterSnapshot, RecoveryRecord};
use galera_sidecar::position::Position;

use super::etcd::{address, Cond, Key, Op, NAMES};
use super::galera::Datadir;
use super::world::World;

/// The entrypoint's place in its sequence.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Not running; the kubelet restarts it at `restart_at`.
    Down { restart_at: i64 },
    /// The `start()` loop (a refusal carried from the queue is acted on first).
    Deciding { refusal: Option<String> },
    /// `take_lock`, then `then`.
    Lock { then: Then, since: i64 },
    /// `join_locked`: re-decide under the lock, then start mariadbd.
    JoinLocked { guard: i64 },
    /// `bootstrap_locked`: re-check the belief on a snapshot under the lock.
    BootLocked {
        guard: i64,
        rec: Option<RecoveryRecord>,
    },
    /// `bootstrap_locked`: the fenced `P/bootstrap` txn (the belief was checked at `at`).
    BootTxn {
        guard: i64,
        rec: Option<RecoveryRecord>,
        conds: Vec<Cond>,
        ops: Vec<Op>,
        at: i64,
    },
    /// mariadbd bootstrapped and Synced: `record_bootstrap`, then release the lock.
    /// `fork`: a forced recovery's fork known only once mariadbd started (an unknown
    /// position), with the record's time, to put in `P/forks/`.
    Booted {
        guard: i64,
        replace_uuid: bool,
        fork: Option<(galera_sidecar::etcd::snapshot::Fork, i64)>,
    },
    /// The `queue()` loop; `pending`: a winner to record (its txn runs next).
    Queued {
        queued_lease: i64,
        pending: Option<Pending>,
    },
    /// The `refused()` loop; `sticky`: a refusal taken outside `decide` (ahead of the
    /// recorded winner), kept until a resync answers it.
    Refused { reason: String, sticky: bool },
    /// `steady::run`.
    Running,
}

/// What the lock is taken for (the simulation's own state, not a product type: its size does
/// not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Then {
    Join,
    Boot(Option<RecoveryRecord>),
}

/// An election's winner, to be recorded.
#[derive(Debug, Clone)]
pub struct Pending {
    pub rec: RecoveryRecord,
    pub replace: bool,
    /// The election's snapshot revision.
    pub rev: i64,
    /// `P/bootstrap` in the election's snapshot.
    pub seen: Option<galera_sidecar::etcd::snapshot::BootstrapRecord>,
}

pub struct Node {
    pub i: usize,
    pub name: &'static str,
    pub data: Datadir,
    pub entry: Entry,
    /// The entrypoint is stopped (SIGSTOP) until then; mariadbd keeps running.
    pub paused_until: i64,
    pub lease: i64,
    /// The entrypoint's local position (recovered at start; fresh after a resync).
    pub position: Position,
    /// `Node::position_since`.
    pub since: i64,
    /// The state file: when the entrypoint last wrote an "alive" phase (running, joining,
    /// stopping); `None` once it wrote another.
    pub alive_at: Option<i64>,
    pub census: Option<(i64, CensusEntry)>,
    pub last_snap: Option<Rc<ClusterSnapshot>>,
    pub primary_at: i64,
    /// A joiner is Synced from then on (Joined before).
    pub synced_at: i64,
}

impl Node {
    pub fn new(i: usize) -> Node {
        Node {
            i,
            name: NAMES[i],
            data: Datadir::default(),
            entry: Entry::Down { restart_at: 0 },
            paused_until: 0,
            lease: 0,
            position: Position::Fresh,
            since: 0,
            alive_at: None,
            census: None,
            last_snap: None,
            primary_at: 0,
            synced_at: 0,
        }
    }

    pub fn is_down(&self) -> bool {
        matches!(self.entry, Entry::Down { .. })
    }

    /// `Node::census_due`.
    pub fn census_due(
        &self,
        snap: Option<&ClusterSnapshot>,
        entry: &CensusEntry,
        refresh: Option<i64>,
    ) -> bool {
        let Some((lease, last)) = &self.census else {
            return true;
        };
        if *lease != self.lease
            || last.address != entry.address
            || snap.is_some_and(|s| !s.census.contains_key(self.name))
        {
            return true;
        }
        fn history(p: &Position) -> (Option<&str>, bool) {
            (p.uuid(), matches!(p, Position::Fresh))
        }
        let material = history(&last.position) != history(&entry.position)
            || last.running.as_ref().map(history) != entry.running.as_ref().map(history)
            || last.forks != entry.forks;
        let moved = last.position != entry.position || last.running != entry.running;
        match refresh {
            None => material || moved,
            Some(r) => material || entry.at - last.at >= r,
        }
    }
}

/// The keys `Keys::owned_by` names.
pub fn owned(i: usize) -> [Key; 6] {
    [
        Key::Node(i),
        Key::Queue(i),
        Key::Seqno(i),
        Key::Pos(i),
        Key::Refused(i),
        Key::Census(i),
    ]
}

impl World {
    /// The kubelet starts the entrypoint: lease, previous life cleared, position recovered.
    pub fn start_process(&mut self, i: usize) {
        let lease = self.etcd.grant(self.now, self.cfg.ttl);
        let stale: Vec<Key> = owned(i)
            .into_iter()
            .filter(|k| {
                self.etcd
                    .get(k)
                    .is_some_and(|kv| kv.lease != 0 && kv.lease != lease)
            })
            .collect();
        for k in stale {
            let rev = self.etcd.get(&k).map_or(0, |kv| kv.modrev);
            let _ = self.etcd.txn(&[Cond::ModRev(k, rev)], vec![Op::Del(k)]);
        }
        let position = self.g.recovered(&self.nodes[i].data);
        let now = self.now;
        let n = &mut self.nodes[i];
        n.lease = lease;
        n.since = n.alive_at.unwrap_or(now);
        n.alive_at = None;
        n.census = None;
        n.last_snap = None;
        n.paused_until = 0;
        n.primary_at = now;
        n.entry = Entry::Deciding { refusal: None };
        self.log(i, format!("started: datadir at {position}"));
        self.nodes[i].position = position;
    }

    /// The entrypoint exits (an error, or leaving for recovery): mariadbd stops with it, its
    /// keys are deleted and its lease revoked; the kubelet restarts it shortly.
    pub fn exit_process(&mut self, i: usize, why: &str) {
        let ops = owned(i).into_iter().map(Op::Del).collect();
        let _ = self.etcd.txn(&[], ops);
        self.etcd.revoke(self.nodes[i].lease);
        self.stop_mysqld(i);
        let delay = 1 + (self.nodes[i].i as i64 % 2);
        let n = &mut self.nodes[i];
        n.alive_at = Some(self.now);
        n.entry = Entry::Down {
            restart_at: self.now + delay,
        };
        self.log(i, format!("exits: {why}"));
    }

    /// kill -9 of the container: nothing is cleaned up; keys live until the lease expires.
    pub fn crash(&mut self, i: usize, down_for: i64, prepared: bool) {
        let was_running = self.comp_of[i].is_some();
        self.stop_mysqld(i);
        let n = &mut self.nodes[i];
        n.data.prepared |= prepared && was_running;
        n.entry = Entry::Down {
            restart_at: self.now + down_for,
        };
        n.paused_until = 0;
    }

    pub fn stop_mysqld(&mut self, i: usize) {
        self.comp_of[i] = None;
        self.g.dirty = true;
    }

    /// `renew_lease_if_lost`.
    pub fn renew_if_lost(&mut self, i: usize) -> bool {
        if self.etcd.lease_alive(self.nodes[i].lease) {
            return false;
        }
        self.nodes[i].lease = self.etcd.grant(self.now, self.cfg.ttl);
        true
    }

    /// A transaction of node `i`'s startup sequence. A write under a lease etcd no longer has
    /// ends the pass, not the process: the lease is renewed and the decision re-taken (None).
    pub fn txn_or_redecide(&mut self, i: usize, conds: &[Cond], ops: Vec<Op>) -> Option<bool> {
        match self.etcd.txn(conds, ops) {
            Ok(done) => Some(done),
            Err(_) => {
                let refusal = match &self.nodes[i].entry {
                    Entry::Refused {
                        reason,
                        sticky: true,
                    } => Some(reason.clone()),
                    Entry::Deciding { refusal } => refusal.clone(),
                    _ => None,
                };
                self.nodes[i].entry = Entry::Deciding { refusal };
                self.log(
                    i,
                    "a write under a lost lease: renewing it, re-deciding".into(),
                );
                None
            }
        }
    }

    /// `report_census`: returns false when the process exited.
    pub fn report_census(&mut self, i: usize, snap: Option<&ClusterSnapshot>) -> bool {
        let entry = self.census_entry_for(i, &self.nodes[i].position.clone(), None);
        if !self.nodes[i].census_due(snap, &entry, None) {
            return true;
        }
        self.publish_census(i, entry, false)
    }

    pub fn census_entry_for(
        &self,
        i: usize,
        position: &Position,
        running: Option<Position>,
    ) -> CensusEntry {
        CensusEntry {
            position: position.clone(),
            address: address(i),
            at: self.now,
            running,
            forks: self.nodes[i].data.forks.clone(),
            cached_downto: None,
            stray_writes: 0,
            version: None,
        }
    }

    /// Write the census entry; false when etcd refused it (a lost lease), which the startup
    /// sequence answers by re-deciding and the running loop by retrying at its next pass.
    pub fn publish_census(&mut self, i: usize, entry: CensusEntry, running: bool) -> bool {
        let lease = self.nodes[i].lease;
        let put = Op::Put(
            Key::Census(i),
            super::etcd::Val::Census(entry.clone()),
            lease,
        );
        let done = if running {
            self.etcd.txn(&[], vec![put]).is_ok()
        } else {
            self.txn_or_redecide(i, &[], vec![put]).is_some()
        };
        if done {
            self.nodes[i].census = Some((lease, entry));
        }
        done
    }
}
