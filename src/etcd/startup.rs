//! The startup sequence's writes as domain operations, each with the belief it is fenced on:
//! the recovery queue, the state's move to RECOVERY, the election's winner, the bootstrap
//! record (under the membership lock), the uuid a forced bootstrap replaces, a resync's
//! consumption. Every operation returns whether it wrote (`false`: the fence failed).

use etcd_client::{Compare, CompareOp, Txn};

use super::snapshot::{BootstrapRecord, Fork, RecoveryRecord, ResyncedRecord};
use super::{
    absent, delete_op, prefix_empty, put_op, unchanged_since, ClusterState, Etcd, EtcdError,
    LockGuard,
};
use crate::position::Position;

/// What a bootstrap record's write believes, besides holding the lock with `nodes/` empty and
/// no pause begun since the snapshot.
#[derive(Debug, Clone)]
pub enum BootstrapBelief {
    /// A new cluster: the state as read (absent, or BUILDING), no uuid, no member, and the
    /// all-fresh census and the queue the gate saw unchanged since the snapshot. The state
    /// becomes BUILDING.
    NewCluster { state_absent: bool },
    /// The elected recovery: state RECOVERY, and the census, the queue and the recovery record
    /// unchanged since the snapshot. The record is rewritten as `bootstrapped` (showing its own
    /// bootstrap: `P/bootstrap` alone may be lost, and a record that outlives its bootstrap
    /// would be obeyed a second time).
    Recovery { bootstrapped: Box<RecoveryRecord> },
}

/// Which recovery record a winner's record replaces, if any.
#[derive(Debug, Clone, Copy)]
pub enum Replacing {
    /// None may exist.
    Nothing,
    /// The record (and the bootstrap record, present or not) the election saw at the
    /// snapshot: neither may have changed since (a winner that bootstrapped meanwhile keeps
    /// its recovery). `bootstrap`: a bootstrap record existed, and is deleted.
    Record { bootstrap: bool },
}

impl Etcd {
    /// Queue `me` for the recovery at `position`, under `lease` (its own keys: unfenced).
    pub async fn enqueue(
        &self,
        me: &str,
        position: &Position,
        now: i64,
        lease: i64,
    ) -> Result<(), EtcdError> {
        let k = &self.keys;
        let seqno = position.seqno().unwrap_or(-1);
        self.put_all(
            &[
                (k.queue(me), now.to_string()),
                (k.seqno(me), seqno.to_string()),
                (k.position(me), position.to_string()),
            ],
            Some(lease),
        )
        .await
    }

    /// Leave the recovery queue (its own keys: unfenced).
    pub async fn leave_queue(&self, me: &str) -> Result<(), EtcdError> {
        let k = &self.keys;
        self.delete_keys(&[k.queue(me), k.seqno(me), k.position(me)])
            .await
    }

    /// `P/state` → RECOVERY, fenced on the state still being `expected` (None: absent) and
    /// no node registered.
    pub async fn enter_recovery(&self, expected: Option<&str>) -> Result<bool, EtcdError> {
        self.cas_state(
            expected,
            ClusterState::Recovery,
            vec![self.no_nodes()],
            vec![],
        )
        .await
    }

    /// Record the election's winner `rec`, fenced on: the recovery record as `replacing`
    /// says, no pause begun since the snapshot at `revision`, and — when `rec` obeys the
    /// operator's force-bootstrap request — that request unchanged since it was read at
    /// `force_revision` (consumed in the same transaction).
    pub async fn record_winner(
        &self,
        rec: &RecoveryRecord,
        revision: i64,
        replacing: Replacing,
        force_revision: Option<i64>,
    ) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let value = serde_json::to_string(rec).unwrap_or_default();
        let mut ops = vec![put_op(&k.recovery(), &value, None)];
        let mut cond = vec![];
        if let Some(rev) = force_revision {
            cond.push(Compare::mod_revision(
                k.force_bootstrap(),
                CompareOp::Equal,
                rev,
            ));
            ops.push(delete_op(&k.force_bootstrap()));
        }
        match replacing {
            Replacing::Record { bootstrap } => {
                cond.push(unchanged_since(&k.recovery(), revision));
                cond.push(unchanged_since(&k.bootstrap(), revision));
                if bootstrap {
                    ops.push(delete_op(&k.bootstrap()));
                } else {
                    cond.push(absent(&k.bootstrap()));
                }
            }
            Replacing::Nothing => cond.push(absent(&k.recovery())),
        }
        cond.push(unchanged_since(&k.pause(), revision));
        Ok(self
            .txn(Txn::new().when(cond).and_then(ops))
            .await?
            .succeeded)
    }

    /// Write the bootstrap record `record` (and the state or recovery record `belief` moves,
    /// and a forced recovery's `fork`), fenced on `lock` still held, `nodes/` empty, no pause
    /// begun since the snapshot at `revision`, `belief`, and `P/bootstrap` absent — or, with
    /// `retry_of` (its mod_revision now), still this node's own earlier record.
    pub async fn record_bootstrap(
        &self,
        lock: &LockGuard,
        revision: i64,
        belief: &BootstrapBelief,
        retry_of: Option<i64>,
        record: &BootstrapRecord,
        fork: Option<&Fork>,
    ) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let mut cond = vec![self.no_nodes(), unchanged_since(&k.pause(), revision)];
        let mut ops = vec![put_op(
            &k.bootstrap(),
            &serde_json::to_string(record).unwrap_or_default(),
            None,
        )];
        match belief {
            BootstrapBelief::NewCluster { state_absent } => {
                cond.push(match state_absent {
                    true => absent(&k.state()),
                    false => {
                        Compare::value(k.state(), CompareOp::Equal, ClusterState::Building.as_str())
                    }
                });
                cond.extend([
                    absent(&k.uuid()),
                    unchanged_since(&k.census_prefix(), revision),
                    unchanged_since(&k.queue_prefix(), revision),
                    prefix_empty(&k.members_prefix()),
                ]);
                ops.push(put_op(&k.state(), ClusterState::Building.as_str(), None));
            }
            BootstrapBelief::Recovery { bootstrapped } => {
                cond.extend([
                    Compare::value(k.state(), CompareOp::Equal, ClusterState::Recovery.as_str()),
                    unchanged_since(&k.census_prefix(), revision),
                    unchanged_since(&k.queue_prefix(), revision),
                    unchanged_since(&k.recovery(), revision),
                ]);
                ops.push(put_op(
                    &k.recovery(),
                    &serde_json::to_string(bootstrapped).unwrap_or_default(),
                    None,
                ));
            }
        }
        cond.push(match retry_of {
            Some(rev) => Compare::mod_revision(k.bootstrap(), CompareOp::Equal, rev),
            None => absent(&k.bootstrap()),
        });
        if let Some(f) = fork {
            ops.push(put_op(
                &k.fork(&f.id),
                &serde_json::to_string(f).unwrap_or_default(),
                None,
            ));
        }
        self.guarded(lock, cond, ops).await
    }

    /// A forced bootstrap accepting data loss: `P/uuid` becomes `new`, fenced on it still
    /// being `old`.
    pub async fn replace_uuid(&self, old: &str, new: &str) -> Result<bool, EtcdError> {
        let k = &self.keys;
        let txn = Txn::new()
            .when(vec![Compare::value(k.uuid(), CompareOp::Equal, old)])
            .and_then(vec![put_op(&k.uuid(), new, None)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Record a fork (permanent; its id is unique to the recovery that made it).
    pub async fn put_fork(&self, fork: &Fork) -> Result<(), EtcdError> {
        let value = serde_json::to_string(fork).unwrap_or_default();
        self.put(&self.keys.fork(&fork.id), &value, None).await
    }

    /// A resync obeyed: the request and the refusal it answered go, and `P/resynced/<me>`
    /// records what was discarded (one transaction; its own keys: unfenced).
    pub async fn consume_resync(&self, me: &str, record: &ResyncedRecord) -> Result<(), EtcdError> {
        let k = &self.keys;
        let value = serde_json::to_string(record).unwrap_or_default();
        let ops = vec![
            delete_op(&k.resync(me)),
            delete_op(&k.refused(me)),
            put_op(&k.resynced(me), &value, None),
        ];
        self.txn(Txn::new().and_then(ops)).await.map(|_| ())
    }

    /// Publish why `me` refuses to start, under `lease`.
    pub async fn publish_refusal(&self, me: &str, why: &str, lease: i64) -> Result<(), EtcdError> {
        self.put(&self.keys.refused(me), why, Some(lease)).await
    }
}
