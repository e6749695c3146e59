//! Transactions: running one ([`TxnOutcome`]), the common ones on [`Etcd`] (create-if-absent,
//! multi-put, compare-and-set of `state`, lock-guarded writes), and the conditions and
//! operations they are built from ([`absent`], [`unchanged_since`], [`put_op`], …).

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};
use tracing::debug;

use super::{ClusterState, Etcd, EtcdError, LockGuard};

/// The result of a transaction: whether the comparisons held, and the revision it ran at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOutcome {
    pub succeeded: bool,
    pub revision: i64,
}

impl Etcd {
    /// Run a transaction.
    pub async fn txn(&self, txn: Txn) -> Result<TxnOutcome, EtcdError> {
        let resp = self
            .call_retrying("txn", |mut c| async move { c.txn(txn).await })
            .await?;
        Ok(TxnOutcome {
            succeeded: resp.succeeded(),
            revision: resp.header().map(|h| h.revision()).unwrap_or(0),
        })
    }

    /// Create `key` only if it does not exist. Returns whether it was created.
    pub async fn create_if_absent(
        &self,
        key: &str,
        value: &str,
        lease: Option<i64>,
    ) -> Result<bool, EtcdError> {
        let txn = Txn::new()
            .when(vec![absent(key)])
            .and_then(vec![put_op(key, value, lease)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Several puts in one transaction (all or nothing).
    pub async fn put_all(
        &self,
        kvs: &[(String, String)],
        lease: Option<i64>,
    ) -> Result<(), EtcdError> {
        let ops: Vec<TxnOp> = kvs.iter().map(|(k, v)| put_op(k, v, lease)).collect();
        self.txn(Txn::new().and_then(ops)).await.map(|_| ())
    }

    /// Compare-and-set `P/state`: succeeds only if the state is `expected` (None: absent) and
    /// every extra condition holds (e.g. [`Etcd::no_nodes`]).
    pub async fn cas_state(
        &self,
        expected: Option<&str>,
        new: ClusterState,
        extra: Vec<Compare>,
        extra_ops: Vec<TxnOp>,
    ) -> Result<bool, EtcdError> {
        let key = self.keys.state();
        let mut when = vec![match expected {
            Some(v) => Compare::value(key.clone(), CompareOp::Equal, v),
            None => absent(&key),
        }];
        when.extend(extra);
        let mut ops = vec![put_op(&key, new.as_str(), None)];
        ops.extend(extra_ops);
        Ok(self
            .txn(Txn::new().when(when).and_then(ops))
            .await?
            .succeeded)
    }

    /// Condition: no key under `nodes/`.
    pub fn no_nodes(&self) -> Compare {
        prefix_empty(&self.keys.nodes_prefix())
    }

    /// Condition: no key under `queue/`.
    pub fn no_queue(&self) -> Compare {
        prefix_empty(&self.keys.queue_prefix())
    }

    /// Write `ops` only if `lock` still holds the lock (same create_revision): a holder whose
    /// lease expired, or whose key was replaced, writes nothing. Returns whether it wrote.
    pub async fn guarded(
        &self,
        lock: &LockGuard,
        extra: Vec<Compare>,
        ops: Vec<TxnOp>,
    ) -> Result<bool, EtcdError> {
        let mut when = vec![lock.still_held()];
        when.extend(extra);
        let ok = self
            .txn(Txn::new().when(when).and_then(ops))
            .await?
            .succeeded;
        if !ok {
            debug!("guarded write not done: lock lost or a condition failed");
        }
        Ok(ok)
    }
}

/// Condition: `key` does not exist.
pub fn absent(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Equal, 0)
}

/// Condition: `key` exists.
pub fn present(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Greater, 0)
}

/// Condition: no key under `prefix` (etcd compares a range against every key in it; an empty
/// range compares against a zero key, so create_revision == 0 holds exactly when it is empty).
pub fn prefix_empty(prefix: &str) -> Compare {
    Compare::create_revision(prefix, CompareOp::Equal, 0).with_range(prefix_end(prefix))
}

/// Condition: no key starting with `prefix` was created or changed after `revision` (a
/// decision taken on a snapshot at `revision` still stands on those keys).
pub fn unchanged_since(prefix: &str, revision: i64) -> Compare {
    Compare::mod_revision(prefix, CompareOp::Less, revision + 1).with_range(prefix_end(prefix))
}

/// The end of the range of keys starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A put, optionally under a lease, for a transaction.
pub fn put_op(key: &str, value: &str, lease: Option<i64>) -> TxnOp {
    TxnOp::put(key, value, lease.map(|l| PutOptions::new().with_lease(l)))
}

/// A delete, for a transaction.
pub fn delete_op(key: &str) -> TxnOp {
    TxnOp::delete(key, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end("/galera/c/nodes/"), b"/galera/c/nodes0".to_vec());
        assert_eq!(prefix_end("a"), b"b".to_vec());
    }
}
