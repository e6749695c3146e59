//! Leases kept alive in the background, with detection of a lost lease.
//!
//! A lease is *lost* only when etcd says so: a keep-alive answered with TTL 0 (the lease
//! expired or never existed, e.g. after a partition longer than the TTL or an etcd wipe).
//! While etcd is unreachable the lease is *unconfirmed*, not lost: etcd extends leases when
//! it recovers, so guessing would make the owner drop keys it still holds. The owner learns
//! of a loss through [`Lease::lost`] and re-grants a new lease and re-puts its keys.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Etcd, EtcdError};

/// A granted lease and its keep-alive task.
pub struct Lease {
    id: i64,
    ttl: Duration,
    lost: watch::Receiver<Option<String>>,
    /// etcd refused a write under this lease ("lease not found") before the keep-alive
    /// task noticed.
    marked_lost: bool,
    task: JoinHandle<()>,
    etcd: Etcd,
}

impl Lease {
    /// Grant a lease of `ttl` (whole seconds, at least 1) and start keeping it alive.
    pub async fn grant(etcd: &Etcd, ttl: Duration) -> Result<Lease, EtcdError> {
        let secs = ttl.as_secs().max(1) as i64;
        let resp = etcd
            .call_retrying("lease grant", |mut c| async move {
                c.lease_grant(secs, None).await
            })
            .await?;
        let id = resp.id();
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(keep_alive(
            etcd.clone(),
            id,
            Duration::from_secs(secs as u64),
            tx,
        ));
        info!("lease {id:x} granted, TTL {secs}s");
        Ok(Lease {
            id,
            ttl: Duration::from_secs(secs as u64),
            lost: rx,
            marked_lost: false,
            task,
            etcd: etcd.clone(),
        })
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// etcd said it no longer has this lease (a write under it failed with "not found"):
    /// treat it as lost now, so the owner re-grants and re-puts its keys.
    pub fn mark_lost(&mut self) {
        self.marked_lost = true;
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether etcd has said this lease is gone.
    pub fn is_lost(&self) -> bool {
        self.marked_lost || self.lost.borrow().is_some()
    }

    /// Resolves when the lease is lost, with the reason.
    pub async fn lost(&mut self) -> String {
        loop {
            if let Some(r) = self.lost.borrow().clone() {
                return r;
            }
            if self.lost.changed().await.is_err() {
                return "keep-alive task ended".into();
            }
        }
    }

    /// Stop keeping it alive and revoke it: every key under it disappears at once.
    pub async fn revoke(self) {
        self.revoke_now().await;
    }

    /// [`Lease::revoke`] without giving the handle up (used on the way out).
    pub async fn revoke_now(&self) {
        self.task.abort();
        let id = self.id;
        match self
            .etcd
            .call_retrying(
                "lease revoke",
                |mut c| async move { c.lease_revoke(id).await },
            )
            .await
        {
            Ok(_) => info!("lease {id:x} revoked"),
            Err(e) => warn!("lease {id:x} not revoked ({e}); its keys expire with its TTL"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn keep_alive(etcd: Etcd, id: i64, ttl: Duration, lost: watch::Sender<Option<String>>) {
    let period = (ttl / 3).max(Duration::from_millis(500));
    let mut last_ok = tokio::time::Instant::now();
    let mut warned = false;
    loop {
        let stream = etcd
            .call_retrying("lease keep-alive", |mut c| async move {
                c.lease_keep_alive(id).await
            })
            .await;
        let (mut keeper, mut stream) = match stream {
            Ok(s) => s,
            // Reopening the stream (after a disconnect, or an etcd restart or wipe) for a
            // lease etcd no longer has: lost, exactly as a TTL 0 answer on an open stream.
            Err(e) if e.is_lease_not_found() => {
                let reason = format!(
                    "etcd answered TTL 0 / not found for lease {id:x}: it expired or is gone (etcd wiped, or unreachable longer than its TTL)"
                );
                warn!("{reason}");
                let _ = lost.send(Some(reason));
                return;
            }
            Err(e) => {
                if !warned || last_ok.elapsed() > ttl {
                    warn!(
                        "lease {id:x}: keep-alive failing for {:?}: {e}",
                        last_ok.elapsed()
                    );
                    warned = true;
                }
                tokio::time::sleep(period.min(Duration::from_secs(1))).await;
                continue;
            }
        };
        loop {
            if keeper.keep_alive().await.is_err() {
                break;
            }
            match tokio::time::timeout(etcd.timeout(), stream.message()).await {
                Ok(Ok(Some(resp))) if resp.ttl() <= 0 => {
                    let reason = format!(
                        "etcd answered TTL 0 for lease {id:x}: it expired or is gone (etcd wiped, or unreachable longer than its TTL)"
                    );
                    warn!("{reason}");
                    let _ = lost.send(Some(reason));
                    return;
                }
                Ok(Ok(Some(_))) => {
                    if warned {
                        info!("lease {id:x}: keep-alive answered again");
                        warned = false;
                    }
                    last_ok = tokio::time::Instant::now();
                }
                _ => break,
            }
            tokio::time::sleep(period).await;
        }
        if !warned {
            warn!("lease {id:x}: keep-alive stream broke; reopening");
            warned = true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
