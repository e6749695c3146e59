//! The simulated etcd: the product's keys as typed values with etcd's revisions and leases,
//! transactions applied atomically with their conditions checked, wipes (a new, empty etcd
//! whose revisions start again at 1) and the loss of single keys.
//!
//! Conditions mirror the product's: `absent`/`present` (create_revision), a key's
//! mod_revision, `prefix_empty`, and `unchanged_since` — which, like etcd's range compare,
//! only looks at the keys that exist (a deleted key does not fail it).

use std::collections::BTreeMap;
use std::rc::Rc;

use galera_sidecar::etcd::snapshot::{
    BootstrapRecord, CensusEntry, ClusterSnapshot, ForceRequest, Fork, LockEntry, Mark, NodeEntry,
    QueueEntry, RecoveryRecord, ResyncRequest, StateValue,
};
use galera_sidecar::etcd::ClusterState;
use galera_sidecar::position::Position;

/// Node names, by index.
pub const NAMES: [&str; 5] = ["g-0", "g-1", "g-2", "g-3", "g-4"];

/// A node's address, by index.
pub fn address(i: usize) -> String {
    format!("10.0.0.{}", i + 1)
}

/// The keys under the prefix; per-node keys carry the node's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    State,
    Uuid,
    Lock,
    Bootstrap,
    Recovery,
    Force,
    Node(usize),
    Queue(usize),
    Seqno(usize),
    Pos(usize),
    Member(usize),
    Refused(usize),
    Resync(usize),
    Census(usize),
    /// `forks/<winner>@<at>`.
    Fork(usize, i64),
    /// `hwm`: the commit high-water mark (last, so that adding it left the other keys'
    /// order — and the `LoseKey` picks of the recorded schedules — as they were).
    Hwm,
}

/// The directories `unchanged_since` and `prefix_empty` range over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Nodes,
    Queue,
    Census,
    Members,
}

impl Dir {
    fn holds(self, k: &Key) -> bool {
        matches!(
            (self, k),
            (Dir::Nodes, Key::Node(_))
                | (Dir::Queue, Key::Queue(_))
                | (Dir::Census, Key::Census(_))
                | (Dir::Members, Key::Member(_))
        )
    }
}

/// A typed value.
#[derive(Debug, Clone)]
pub enum Val {
    State(StateValue),
    Text(String),
    Int(i64),
    Pos(Position),
    Bootstrap(BootstrapRecord),
    Recovery(Box<RecoveryRecord>),
    Force(ForceRequest),
    Resync(ResyncRequest),
    Census(CensusEntry),
    Fork(Fork),
    Mark(Mark),
}

#[derive(Debug, Clone)]
pub struct Kv {
    pub val: Val,
    pub create: i64,
    pub modrev: i64,
    pub lease: i64,
}

/// A transaction condition.
#[derive(Debug, Clone)]
pub enum Cond {
    Absent(Key),
    Present(Key),
    ModRev(Key, i64),
    CreateRev(Key, i64),
    /// `P/state` has this value (`None`: absent).
    StateIs(Option<String>),
    UuidIs(String),
    Empty(Dir),
    UnchangedSince(Dir, i64),
    /// The key is absent or was last changed at or before the revision.
    KeyUnchangedSince(Key, i64),
}

/// A transaction operation; a put under lease 0 has no lease.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Key, Val, i64),
    Del(Key),
}

/// A put under a lease etcd does not know fails the whole transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseNotFound;

#[derive(Default)]
pub struct Etcd {
    kvs: BTreeMap<Key, Kv>,
    pub rev: i64,
    /// Lease id → expiry (sim time).
    leases: BTreeMap<i64, i64>,
    next_lease: i64,
    /// Bumped on every change, to cache the snapshot.
    version: u64,
    cache: Option<(u64, Rc<ClusterSnapshot>)>,
}

impl Etcd {
    pub fn new() -> Etcd {
        Etcd {
            rev: 1,
            next_lease: 1,
            ..Default::default()
        }
    }

    pub fn get(&self, k: &Key) -> Option<&Kv> {
        self.kvs.get(k)
    }

    pub fn keys(&self) -> Vec<Key> {
        self.kvs.keys().copied().collect()
    }

    pub fn grant(&mut self, now: i64, ttl: i64) -> i64 {
        let id = self.next_lease;
        self.next_lease += 1;
        self.leases.insert(id, now + ttl);
        id
    }

    pub fn lease_alive(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    pub fn keepalive(&mut self, id: i64, now: i64, ttl: i64) {
        if let Some(e) = self.leases.get_mut(&id) {
            *e = now + ttl;
        }
    }

    /// Revoke a lease: its keys go in one revision.
    pub fn revoke(&mut self, id: i64) {
        if self.leases.remove(&id).is_some() {
            self.drop_keys_of(&[id]);
        }
    }

    /// Expire the leases whose time passed; returns how many.
    pub fn expire(&mut self, now: i64) -> usize {
        let gone: Vec<i64> = self
            .leases
            .iter()
            .filter(|(_, e)| **e <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.leases.remove(id);
        }
        if !gone.is_empty() {
            self.drop_keys_of(&gone);
        }
        gone.len()
    }

    fn drop_keys_of(&mut self, ids: &[i64]) {
        let before = self.kvs.len();
        self.kvs.retain(|_, kv| !ids.contains(&kv.lease));
        if self.kvs.len() != before {
            self.rev += 1;
            self.version += 1;
        }
    }

    /// A new, empty etcd (restored from nothing): no keys, no leases, revisions from 1.
    pub fn wipe(&mut self) {
        self.kvs.clear();
        self.leases.clear();
        self.rev = 1;
        self.version += 1;
    }

    /// One key lost (deleted behind the product's back).
    pub fn lose(&mut self, k: &Key) -> bool {
        let gone = self.kvs.remove(k).is_some();
        if gone {
            self.rev += 1;
            self.version += 1;
        }
        gone
    }

    fn holds(&self, c: &Cond) -> bool {
        let state_text = |kv: &Kv| match &kv.val {
            Val::State(StateValue::Known(s)) => Some(s.as_str().to_string()),
            Val::State(StateValue::Invalid(v)) => Some(v.clone()),
            _ => None,
        };
        match c {
            Cond::Absent(k) => !self.kvs.contains_key(k),
            Cond::Present(k) => self.kvs.contains_key(k),
            Cond::ModRev(k, r) => self.kvs.get(k).map_or(0, |kv| kv.modrev) == *r,
            Cond::CreateRev(k, r) => self.kvs.get(k).map_or(0, |kv| kv.create) == *r,
            Cond::StateIs(want) => self.kvs.get(&Key::State).and_then(state_text) == *want,
            Cond::UuidIs(u) => {
                matches!(self.kvs.get(&Key::Uuid), Some(Kv { val: Val::Text(v), .. }) if v == u)
            }
            Cond::Empty(d) => !self.kvs.keys().any(|k| d.holds(k)),
            Cond::UnchangedSince(d, r) => self
                .kvs
                .iter()
                .all(|(k, kv)| !d.holds(k) || kv.modrev <= *r),
            Cond::KeyUnchangedSince(k, r) => self.kvs.get(k).is_none_or(|kv| kv.modrev <= *r),
        }
    }

    /// Apply `ops` atomically if every condition holds. Returns whether it did.
    pub fn txn(&mut self, conds: &[Cond], ops: Vec<Op>) -> Result<bool, LeaseNotFound> {
        if !conds.iter().all(|c| self.holds(c)) {
            return Ok(false);
        }
        for op in &ops {
            if let Op::Put(_, _, l) = op {
                if *l != 0 && !self.leases.contains_key(l) {
                    return Err(LeaseNotFound);
                }
            }
        }
        if ops.is_empty() {
            return Ok(true);
        }
        self.rev += 1;
        self.version += 1;
        let rev = self.rev;
        for op in ops {
            match op {
                Op::Put(k, val, lease) => {
                    let create = self.kvs.get(&k).map_or(rev, |kv| kv.create);
                    self.kvs.insert(
                        k,
                        Kv {
                            val,
                            create,
                            modrev: rev,
                            lease,
                        },
                    );
                }
                Op::Del(k) => {
                    self.kvs.remove(&k);
                }
            }
        }
        Ok(true)
    }

    pub fn put(&mut self, k: Key, v: Val, lease: i64) -> Result<(), LeaseNotFound> {
        self.txn(&[], vec![Op::Put(k, v, lease)]).map(|_| ())
    }

    /// Everything under the prefix at the current revision (cached per change).
    pub fn snapshot(&mut self) -> Rc<ClusterSnapshot> {
        if let Some((v, s)) = &self.cache {
            if *v == self.version {
                return s.clone();
            }
        }
        let s = Rc::new(self.build());
        self.cache = Some((self.version, s.clone()));
        s
    }

    /// A snapshot without touching the cache.
    pub fn peek(&self) -> ClusterSnapshot {
        self.build()
    }

    fn build(&self) -> ClusterSnapshot {
        let mut s = ClusterSnapshot {
            revision: self.rev,
            cluster_id: 1,
            ..Default::default()
        };
        let name = |i: &usize| NAMES[*i].to_string();
        for (k, kv) in &self.kvs {
            match (k, &kv.val) {
                (Key::State, Val::State(v)) => s.state = Some(v.clone()),
                (Key::Uuid, Val::Text(u)) => s.uuid = Some(u.clone()),
                (Key::Lock, Val::Text(h)) => {
                    s.lock = Some(LockEntry {
                        holder: h.clone(),
                        lease: kv.lease,
                        create_revision: kv.create,
                    })
                }
                (Key::Bootstrap, Val::Bootstrap(b)) => s.bootstrap = Some(b.clone()),
                (Key::Recovery, Val::Recovery(r)) => s.recovery = Some((**r).clone()),
                (Key::Force, Val::Force(f)) => s.force_bootstrap = Some(f.clone()),
                (Key::Node(i), Val::Text(a)) => {
                    s.nodes.insert(
                        name(i),
                        NodeEntry {
                            address: a.clone(),
                            lease: kv.lease,
                        },
                    );
                }
                (Key::Queue(i), Val::Int(t)) => {
                    s.queue.entry(name(i)).or_default().queued_at = Some(*t);
                }
                (Key::Seqno(i), Val::Int(q)) => {
                    s.queue.entry(name(i)).or_default().seqno = Some(*q);
                }
                (Key::Pos(i), Val::Pos(p)) => {
                    s.queue.entry(name(i)).or_default().position = Some(p.clone());
                }
                (Key::Member(i), Val::Text(a)) => {
                    s.members.insert(name(i), a.clone());
                }
                (Key::Refused(i), Val::Text(r)) => {
                    s.refused.insert(name(i), r.clone());
                }
                (Key::Resync(i), Val::Resync(r)) => {
                    s.resync.insert(name(i), r.clone());
                }
                (Key::Fork(..), Val::Fork(f)) => {
                    s.forks.insert(f.id.clone(), f.clone());
                }
                (Key::Census(i), Val::Census(c)) => {
                    s.census.insert(name(i), c.clone());
                }
                (Key::Hwm, Val::Mark(m)) => s.hwm = Some(m.clone()),
                (k, v) => s.warnings.push(format!("{k:?} holds {v:?}")),
            }
        }
        s.queue
            .retain(|_, q: &mut QueueEntry| q.queued_at.is_some());
        s
    }
}

/// `P/state` as the product writes it.
pub fn state(s: ClusterState) -> Val {
    Val::State(StateValue::Known(s))
}
