//! The entrypoint's writes to etcd as domain operations: each names what it writes and the
//! belief it is fenced on (what must still hold in etcd for the write to happen), so no module
//! outside `etcd/` builds a raw transaction (the operator commands' writes have their own
//! module beside this one).
//!
//! Every operation returns whether it wrote (`false`: the fence failed, nothing changed).

use etcd_client::{Compare, CompareOp, Txn, TxnOp};

use super::snapshot::{CensusEntry, ClusterSnapshot, LeaderEntry, Mark, SwitchoverRequest};
use super::{delete_op, put_op, unchanged_since, Etcd, EtcdError};

/// What a node's registration writes (see [`Etcd::register`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    /// The census entry, when it is due.
    pub census: Option<CensusEntry>,
    /// `nodes/<me>` is not this node's address under this lease yet.
    pub node: bool,
    /// `members/<me>` does not hold this node's address yet.
    pub member: bool,
    /// The node is still queued (`queue/`, `seqno/`, `position/` of its name go).
    pub queued: bool,
    /// A refusal of its name is still published (`refused/<me>` goes).
    pub refused: bool,
}

impl Registration {
    /// What registering `me` at `address` under `lease` changes in `snap` (pure); the census
    /// entry is added by the caller when due.
    pub fn needed(snap: &ClusterSnapshot, me: &str, address: &str, lease: i64) -> Registration {
        Registration {
            census: None,
            node: snap.nodes.get(me).map(|n| (n.address.as_str(), n.lease))
                != Some((address, lease)),
            member: snap.members.get(me).map(String::as_str) != Some(address),
            queued: snap.queue.contains_key(me),
            refused: snap.refused.contains_key(me),
        }
    }

    /// Anything beyond the census to write?
    pub fn registers(&self) -> bool {
        self.node || self.member || self.queued || self.refused
    }
}

impl Etcd {
    /// Register `me` at `address` under `lease`, in one unconditional transaction: the census
    /// entry (under the lease), `nodes/<me>`, `members/<me>` (permanent), and the queue and
    /// refusal keys of its name deleted. Unfenced on purpose: every key written is this node's
    /// own, and a registration only ever states what its live status shows.
    pub async fn register(
        &self,
        me: &str,
        address: &str,
        lease: i64,
        r: &Registration,
    ) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let mut ops = vec![];
        if let Some(c) = &r.census {
            let value = serde_json::to_string(c).unwrap_or_default();
            ops.push(put_op(&k.census(me), &value, Some(lease)));
        }
        if r.node {
            ops.push(put_op(&k.node(me), address, Some(lease)));
        }
        if r.member {
            ops.push(put_op(&k.member(me), address, None));
        }
        if r.queued {
            ops.extend([k.queue(me), k.seqno(me), k.position(me)].map(|key| delete_op(&key)));
        }
        if r.refused {
            ops.push(delete_op(&k.refused(me)));
        }
        if ops.is_empty() {
            return Ok(false);
        }
        self.txn(Txn::new().and_then(ops)).await.map(|_| true)
    }

    /// Write `me`'s census entry under `lease` (its own key: unfenced).
    pub async fn publish_census(
        &self,
        me: &str,
        entry: &CensusEntry,
        lease: i64,
    ) -> Result<(), EtcdError> {
        let value = serde_json::to_string(entry).unwrap_or_default();
        self.put(&self.keys.census(me), &value, Some(lease)).await
    }

    /// Delete `nodes/<me>` (the caller checked it is held under this node's lease).
    pub async fn deregister(&self, me: &str) -> Result<bool, EtcdError> {
        self.delete(&self.keys.node(me)).await
    }

    /// Delete each of `keys` that exists, in one transaction fenced on every one of them
    /// being unchanged since it was read here (one read each, just before). `false` when
    /// none exists or one changed in between.
    pub async fn delete_if_unchanged(&self, keys: &[String]) -> Result<bool, EtcdError> {
        let mut when = vec![];
        let mut ops = vec![];
        for key in keys {
            if let Some(kv) = self.get(key).await? {
                when.push(Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    kv.mod_revision,
                ));
                ops.push(delete_op(key));
            }
        }
        if ops.is_empty() {
            return Ok(false);
        }
        Ok(self
            .txn(Txn::new().when(when).and_then(ops))
            .await?
            .succeeded)
    }

    /// Delete `key` if it is still at `mod_revision` and under another lease than `lease`
    /// (a key an earlier run of this node left).
    pub async fn delete_left_over(&self, key: &str, lease: i64) -> Result<bool, EtcdError> {
        let Some(kv) = self.get(key).await? else {
            return Ok(false);
        };
        if kv.lease == 0 || kv.lease == lease {
            return Ok(false);
        }
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(
                key,
                CompareOp::Equal,
                kv.mod_revision,
            )])
            .and_then(vec![delete_op(key)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Delete `P/leader` if it is still exactly `leader` (not handed over or re-created since
    /// it was read): resigning, or clearing an earlier run's leadership.
    pub async fn resign(&self, leader: &LeaderEntry) -> Result<bool, EtcdError> {
        let key = self.keys.leader();
        let txn = Txn::new()
            .when(vec![leader.unchanged(&key)])
            .and_then(vec![delete_op(&key)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Campaign: create `P/leader` = `address` under `lease`, only if no leader key exists.
    pub async fn campaign(&self, address: &str, lease: i64) -> Result<bool, EtcdError> {
        self.create_if_absent(&self.keys.leader(), address, Some(lease))
            .await
    }

    /// A switchover's hand-over, one transaction: fenced on `P/leader` still being `leader`
    /// and `P/switchover` still being `req`, `P/leader` becomes `address` under `lease` and
    /// the request is deleted.
    pub async fn take_over(
        &self,
        leader: &LeaderEntry,
        req: &SwitchoverRequest,
        address: &str,
        lease: i64,
    ) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let txn = Txn::new()
            .when(vec![
                leader.unchanged(&k.leader()),
                Compare::mod_revision(k.switchover(), CompareOp::Equal, req.mod_revision),
            ])
            .and_then(vec![
                put_op(&k.leader(), address, Some(lease)),
                delete_op(&k.switchover()),
            ]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Write the target's refusal into the switchover request `req` (same lease), fenced on
    /// the request being unchanged.
    pub async fn refuse_switchover(
        &self,
        req: &SwitchoverRequest,
        why: &str,
    ) -> Result<bool, EtcdError> {
        let key = self.keys.switchover();
        let mut refused = req.clone();
        refused.refused = Some(why.to_string());
        let value = serde_json::to_string(&refused).unwrap_or_default();
        let lease = (req.lease != 0).then_some(req.lease);
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(
                key.clone(),
                CompareOp::Equal,
                req.mod_revision,
            )])
            .and_then(vec![put_op(&key, &value, lease)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// The leader's commit high-water mark: fenced on `P/leader` still being `leader` and on
    /// `P/hwm` unchanged since the snapshot at `revision` (never over a newer mark).
    pub async fn put_mark(
        &self,
        leader: &LeaderEntry,
        revision: i64,
        mark: &Mark,
    ) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let value = serde_json::to_string(mark).unwrap_or_default();
        let txn = Txn::new()
            .when(vec![
                leader.unchanged(&k.leader()),
                unchanged_since(&k.hwm(), revision),
            ])
            .and_then(vec![put_op(&k.hwm(), &value, None)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// `P/state` → STEADY, fenced on the state still being `expected` (None: absent) and the
    /// recovery queue empty; the bootstrap and recovery records go in the same transaction.
    pub async fn set_steady(&self, expected: Option<&str>) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let ops = vec![delete_op(&k.bootstrap()), delete_op(&k.recovery())];
        self.cas_state(
            expected,
            super::ClusterState::Steady,
            vec![self.no_queue()],
            ops,
        )
        .await
    }

    /// Delete every key of `keys` at once, unfenced (the caller's own keys, on its way out).
    pub async fn delete_keys(&self, keys: &[String]) -> Result<(), EtcdError> {
        let ops: Vec<TxnOp> = keys.iter().map(|k| delete_op(k)).collect();
        self.txn(Txn::new().and_then(ops)).await.map(|_| ())
    }
}
