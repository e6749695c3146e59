//! The membership lock, `P/lock` = holder name, under the holder's lease.
//!
//! Acquired by create-if-absent, then re-checked by reading the key back. The key's
//! create_revision is the fencing token: every write made "under the lock" is a transaction
//! comparing it ([`LockGuard::still_held`]), so a holder that lost its lease (partition,
//! SIGSTOP) can no longer act, whatever it believes.

use std::time::Duration;

use etcd_client::{Compare, CompareOp, Txn, TxnOp, WatchOptions};
use tracing::{info, warn};

use super::{absent, put_op, Etcd, EtcdError};

/// Proof of holding the lock at some revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockGuard {
    pub key: String,
    pub holder: String,
    pub create_revision: i64,
    pub lease: i64,
}

impl LockGuard {
    /// Condition: the lock key is still the one we created.
    pub fn still_held(&self) -> Compare {
        Compare::create_revision(self.key.clone(), CompareOp::Equal, self.create_revision)
    }
}

/// Why the lock was not acquired.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error("gave up waiting for the lock after {waited:?}; held by {holder}")]
    TimedOut { waited: Duration, holder: String },
}

/// Acquire the lock for `holder` under `lease`, waiting (with a log line every few seconds)
/// at most `max_wait`. A lock left by this same holder under another lease (its previous
/// life, killed before its lease expired) is taken over: nobody else can hold that name.
pub async fn acquire(
    etcd: &Etcd,
    holder: &str,
    lease: i64,
    max_wait: Duration,
) -> Result<LockGuard, LockError> {
    let key = etcd.keys.lock();
    let start = tokio::time::Instant::now();
    let mut last_log = start;
    loop {
        let txn =
            Txn::new()
                .when(vec![absent(&key)])
                .and_then(vec![put_op(&key, holder, Some(lease))]);
        let outcome = etcd.txn(txn).await?;
        if outcome.succeeded {
            // Re-check: the key is ours, under our lease, created by this txn.
            if let Some(kv) = etcd.get(&key).await? {
                if kv.value == holder.as_bytes()
                    && kv.lease == lease
                    && kv.create_revision == outcome.revision
                {
                    info!("lock acquired (revision {})", outcome.revision);
                    return Ok(LockGuard {
                        key,
                        holder: holder.to_string(),
                        create_revision: outcome.revision,
                        lease,
                    });
                }
            }
            warn!("lock created but not ours on re-read (lease lost meanwhile?); retrying");
            continue;
        }
        let Some(current) = etcd.get(&key).await? else {
            continue;
        };
        let current_holder = String::from_utf8_lossy(&current.value).into_owned();
        if current_holder == holder && current.lease != lease {
            // Our previous life's lock: delete it only if it is still that very key.
            let stale = Txn::new()
                .when(vec![Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    current.mod_revision,
                )])
                .and_then(vec![TxnOp::delete(key.clone(), None)]);
            if etcd.txn(stale).await?.succeeded {
                info!("removed a stale lock left by an earlier run of {holder}");
            }
            continue;
        }
        let waited = start.elapsed();
        if waited >= max_wait {
            return Err(LockError::TimedOut {
                waited,
                holder: current_holder,
            });
        }
        if last_log.elapsed() >= Duration::from_secs(5) || waited < Duration::from_millis(50) {
            info!("waiting for the lock held by {current_holder} (waited {waited:.0?})");
            last_log = tokio::time::Instant::now();
        }
        wait_for_change(etcd, &key, current.mod_revision, Duration::from_secs(2)).await;
    }
}

/// Wait until `key` changes after `revision` (a watch), or `max` passes.
async fn wait_for_change(etcd: &Etcd, key: &str, revision: i64, max: Duration) {
    let key = key.to_string();
    let fut = async {
        let mut c = etcd.raw();
        let opts = WatchOptions::new().with_start_revision(revision + 1);
        if let Ok(mut stream) = c.watch(key, Some(opts)).await {
            while let Ok(Some(resp)) = stream.message().await {
                if !resp.events().is_empty() || resp.canceled() {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(max, fut).await;
}

/// Release the lock if we still hold it (a txn on the fencing token).
pub async fn release(etcd: &Etcd, guard: &LockGuard) -> Result<bool, EtcdError> {
    let txn = Txn::new()
        .when(vec![guard.still_held()])
        .and_then(vec![TxnOp::delete(guard.key.clone(), None)]);
    let released = etcd.txn(txn).await?.succeeded;
    if released {
        info!("lock released");
    } else {
        warn!("lock was no longer ours when releasing (lease expired?)");
    }
    Ok(released)
}
