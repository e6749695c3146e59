//! The etcd side of the follow loop: the view the sidecar keeps of `P/leader` and
//! `P/members/` ([`EtcdView`]), how one watch event updates it ([`update_view`], pure), and the
//! task that watches the cluster's prefix and feeds the view to the loop.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::warn;

use crate::etcd::keys::KeyRef;
use crate::etcd::watch::{watch, WatchEvent};
use crate::etcd::{Etcd, EtcdConfig, Keys};

/// What the sidecar reads from etcd: `P/leader` (None: absent) and `P/members/<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdView {
    pub leader: Option<String>,
    pub members: BTreeMap<String, String>,
}

/// Apply one watch event on the cluster's prefix to the view (pure): only `P/leader` and
/// `P/members/` matter. Returns whether to decide again: the view changed, or `P/leader` was
/// put again with the same value (a decision point as before: the template is read afresh).
pub fn update_view(view: &mut EtcdView, keys: &Keys, ev: &WatchEvent) -> bool {
    let value = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
    let before = view.clone();
    let leader_put =
        matches!(ev, WatchEvent::Put(kv) if keys.classify(&kv.key) == Some(KeyRef::Leader));
    match ev {
        WatchEvent::Reset { kvs, .. } => {
            let mut fresh = EtcdView::default();
            for kv in kvs {
                match keys.classify(&kv.key) {
                    Some(KeyRef::Leader) => fresh.leader = Some(value(&kv.value)),
                    Some(KeyRef::Member(n)) => {
                        fresh.members.insert(n.to_string(), value(&kv.value));
                    }
                    _ => {}
                }
            }
            *view = fresh;
        }
        WatchEvent::Put(kv) => match keys.classify(&kv.key) {
            Some(KeyRef::Leader) => view.leader = Some(value(&kv.value)),
            Some(KeyRef::Member(n)) => {
                view.members.insert(n.to_string(), value(&kv.value));
            }
            _ => {}
        },
        WatchEvent::Delete { key, .. } => match keys.classify(key) {
            Some(KeyRef::Leader) => view.leader = None,
            Some(KeyRef::Member(n)) => {
                view.members.remove(n);
            }
            _ => {}
        },
    }
    *view != before || leader_put
}

/// Feed etcd's view (`P/leader`, `P/members/`) into `tx` whenever it changes (and after every
/// re-read), for as long as `tx` is open.
pub(super) async fn etcd_task(cfg: EtcdConfig, cluster: String, tx: mpsc::Sender<EtcdView>) {
    let mut backoff = Duration::from_millis(200);
    let started = tokio::time::Instant::now();
    let mut say = crate::logging::Every::now(Duration::from_secs(10));
    let etcd = loop {
        match Etcd::connect(&cfg, &cluster).await {
            Ok(e) => break e,
            Err(e) => {
                if say.due() {
                    warn!(
                        "cannot connect to etcd ({e}); haproxy keeps its config; retrying (for {:.0?})",
                        started.elapsed()
                    );
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    let keys = Keys::new(&cluster);
    // The whole prefix: census refreshes and the like come too, but only a change of the
    // leader or of a member is passed on.
    let mut events = watch(etcd, keys.prefix().to_string(), true);
    let mut view = EtcdView::default();
    while let Some(ev) = events.recv().await {
        let changed = update_view(&mut view, &keys, &ev);
        // A reset is passed on even unchanged: it tells the loop etcd answered.
        if (changed || matches!(ev, WatchEvent::Reset { .. }))
            && tx.send(view.clone()).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haproxy::follow::fixtures::members;

    #[test]
    fn the_view_follows_leader_and_members_only() {
        let keys = Keys::new("c");
        let kv = |k: &str, v: &str| crate::etcd::RawKv {
            key: format!("/galera/c/{k}"),
            value: v.as_bytes().to_vec(),
            create_revision: 1,
            mod_revision: 1,
            lease: 0,
        };
        let mut view = EtcdView::default();
        let reset = WatchEvent::Reset {
            kvs: vec![
                kv("leader", "10.0.0.5\n"),
                kv("members/g-0", "10.0.0.5"),
                kv("members/g-1", "10.0.0.6"),
                kv("nodes/g-0", "10.0.0.5"),
                kv("census/g-0", "{}"),
            ],
            revision: 5,
        };
        assert!(update_view(&mut view, &keys, &reset));
        assert_eq!(view.leader.as_deref(), Some("10.0.0.5"));
        assert_eq!(
            view.members,
            members(&[("g-0", "10.0.0.5"), ("g-1", "10.0.0.6")])
        );
        // (event, changes the view?)
        let steps: Vec<(WatchEvent, bool)> = vec![
            (WatchEvent::Put(kv("census/g-1", "{\"x\":1}")), false),
            (WatchEvent::Put(kv("nodes/g-2", "10.0.0.7")), false),
            (WatchEvent::Put(kv("members/g-1", "10.0.0.6")), false),
            (WatchEvent::Put(kv("members/g-2", "10.0.0.7")), true),
            (
                WatchEvent::Delete {
                    key: "/galera/c/leader".into(),
                    revision: 7,
                },
                true,
            ),
            (
                WatchEvent::Delete {
                    key: "/galera/c/nodes/g-0".into(),
                    revision: 8,
                },
                false,
            ),
            (WatchEvent::Put(kv("leader", "10.0.0.6")), true),
            // The same leader put again: decided again (as every put of P/leader always was).
            (WatchEvent::Put(kv("leader", "10.0.0.6")), true),
            (
                WatchEvent::Delete {
                    key: "/galera/c/members/g-0".into(),
                    revision: 9,
                },
                true,
            ),
            (reset.clone(), true),
            (reset, false),
        ];
        for (i, (ev, want)) in steps.into_iter().enumerate() {
            assert_eq!(update_view(&mut view, &keys, &ev), want, "step {i}: {ev:?}");
        }
        assert_eq!(view.leader.as_deref(), Some("10.0.0.5"));
    }
}
