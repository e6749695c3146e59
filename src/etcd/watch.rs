//! A watch on a key or a prefix that survives reconnects, compaction, and an etcd whose
//! cluster id changed or whose revision went backwards (wiped or replaced).
//!
//! Each time the underlying watch cannot continue, the task re-reads the key(s) — emitting a
//! [`WatchEvent::Reset`] with the full current value — and watches again from the read's
//! revision. Consumers therefore never miss a change: they see either the events, or a reset.

use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::client::kv_from;
use super::{Etcd, RawKv};

/// What a watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The full current value(s), read at `revision` (first event, and after every re-read).
    Reset {
        kvs: Vec<RawKv>,
        revision: i64,
    },
    Put(RawKv),
    Delete {
        key: String,
        revision: i64,
    },
}

/// Watch `key` (or every key under it when `prefix`). The task ends when the receiver is dropped.
pub fn watch(etcd: Etcd, key: String, prefix: bool) -> mpsc::Receiver<WatchEvent> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(etcd, key, prefix, tx));
    rx
}

async fn run(etcd: Etcd, key: String, prefix: bool, tx: mpsc::Sender<WatchEvent>) {
    let mut backoff = Duration::from_millis(200);
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut say = crate::logging::Every::now(Duration::from_secs(10));
    loop {
        // 1. Read the current value(s).
        let read = etcd.get_range(&key, prefix).await;
        let (kvs, revision, cluster_id) = match read {
            Ok(r) => r,
            Err(e) => {
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if say.due() {
                    warn!(
                        "watch {key}: cannot read ({e}); retrying, failing for {:.0?}",
                        since.elapsed()
                    );
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(3));
                continue;
            }
        };
        if let Some(since) = failing_since.take() {
            info!(
                "watch {key}: etcd readable again after {:.0?}",
                since.elapsed()
            );
        }
        backoff = Duration::from_millis(200);
        if tx.send(WatchEvent::Reset { kvs, revision }).await.is_err() {
            return;
        }
        // 2. Watch from the read's revision.
        let mut opts = WatchOptions::new().with_start_revision(revision + 1);
        if prefix {
            opts = opts.with_prefix();
        }
        let mut client = etcd.raw();
        let mut stream = match client.watch(key.clone(), Some(opts)).await {
            Ok(s) => s,
            Err(e) => {
                debug!("watch {key}: cannot start ({e}); re-reading");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let mut last_rev = revision;
        loop {
            let msg = tokio::select! {
                m = stream.message() => m,
                _ = tx.closed() => return,
            };
            let resp = match msg {
                Ok(Some(r)) => r,
                Ok(None) => {
                    info!("watch {key}: stream ended; re-reading");
                    break;
                }
                Err(e) => {
                    info!("watch {key}: stream error ({e}); re-reading");
                    break;
                }
            };
            if resp.canceled() || resp.compact_revision() > 0 {
                info!(
                    "watch {key}: cancelled (compacted at {}, {}); re-reading",
                    resp.compact_revision(),
                    resp.cancel_reason()
                );
                break;
            }
            if let Some(h) = resp.header() {
                if (cluster_id != 0 && h.cluster_id() != 0 && h.cluster_id() != cluster_id)
                    || (h.revision() > 0 && h.revision() < last_rev)
                {
                    warn!("watch {key}: etcd changed under us (cluster id or revision went back); re-reading");
                    break;
                }
                last_rev = last_rev.max(h.revision());
            }
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let event = match ev.event_type() {
                    EventType::Put => WatchEvent::Put(kv_from(kv)),
                    EventType::Delete => WatchEvent::Delete {
                        key: String::from_utf8_lossy(kv.key()).into_owned(),
                        revision: kv.mod_revision(),
                    },
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
