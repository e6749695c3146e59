//! The etcd state module against a real etcd: snapshot, transactions, leases, the lock, watches.

mod common;

use std::time::Duration;

use common::etcd::EtcdServer;
use galera_sidecar::etcd::{lock, ClusterState, Lease};

#[tokio::test]
async fn snapshot_and_cas_state_with_no_nodes_condition() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    // Absent → BUILDING, guarded by "no nodes".
    assert!(etcd
        .cas_state(None, ClusterState::Building, vec![etcd.no_nodes()], vec![])
        .await
        .expect("cas"));
    // A second create-if-absent loses.
    assert!(!etcd
        .cas_state(None, ClusterState::Steady, vec![], vec![])
        .await
        .expect("cas"));
    // A registered node makes the "no nodes" condition fail.
    etcd.put(&etcd.keys.node("g-0"), "127.0.0.2", None)
        .await
        .expect("put");
    assert!(!etcd
        .cas_state(
            Some("BUILDING"),
            ClusterState::Recovery,
            vec![etcd.no_nodes()],
            vec![]
        )
        .await
        .expect("cas"));
    // A node of another cluster whose name extends ours does not count.
    let other = server.client("c").await;
    etcd.delete(&etcd.keys.node("g-0")).await.expect("delete");
    etcd.put("/galera/c10/nodes/x", "1.2.3.4", None)
        .await
        .expect("put");
    assert!(other
        .cas_state(None, ClusterState::Recovery, vec![other.no_nodes()], vec![])
        .await
        .expect("cas"));
    let snap = etcd.snapshot().await.expect("snapshot");
    assert_eq!(snap.known_state(), Some(ClusterState::Building));
    assert!(snap.nodes.is_empty());
    assert!(snap.revision > 0);
}

#[tokio::test]
async fn lease_expiry_removes_keys_and_loss_is_detected() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let mut lease = Lease::grant(&etcd, Duration::from_secs(2))
        .await
        .expect("grant");
    etcd.put(&etcd.keys.node("g-0"), "127.0.0.2", Some(lease.id()))
        .await
        .expect("put");
    // Kept alive well past its TTL.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(etcd
        .get(&etcd.keys.node("g-0"))
        .await
        .expect("get")
        .is_some());
    assert!(!lease.is_lost());
    // Revoked behind its back (as an etcd wipe or expiry would): detected as lost.
    let id = lease.id();
    let mut raw = etcd.raw();
    raw.lease_revoke(id).await.expect("revoke");
    let reason = tokio::time::timeout(Duration::from_secs(5), lease.lost())
        .await
        .expect("loss detected within 5 s");
    assert!(reason.contains("TTL 0"), "{reason}");
    assert!(etcd
        .get(&etcd.keys.node("g-0"))
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn lock_holder_with_expired_lease_cannot_write() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let l1 = Lease::grant(&etcd, Duration::from_secs(2))
        .await
        .expect("grant");
    let g1 = lock::acquire(&etcd, "g-0", l1.id(), Duration::from_secs(5))
        .await
        .expect("lock");
    let key = etcd.keys.uuid();
    assert!(etcd
        .guarded(
            &g1,
            vec![],
            vec![galera_sidecar::etcd::put_op(&key, "a", None)]
        )
        .await
        .expect("guarded"));
    // The holder "pauses": its lease expires; someone else takes the lock.
    drop(l1);
    let l2 = Lease::grant(&etcd, Duration::from_secs(10))
        .await
        .expect("grant");
    let g2 = lock::acquire(&etcd, "g-1", l2.id(), Duration::from_secs(10))
        .await
        .expect("second locker gets it after expiry");
    assert_ne!(g1.create_revision, g2.create_revision);
    // The old holder wakes up and tries to act: nothing written.
    assert!(!etcd
        .guarded(
            &g1,
            vec![],
            vec![galera_sidecar::etcd::put_op(&key, "stale", None)]
        )
        .await
        .expect("guarded"));
    let v = etcd.get(&key).await.expect("get").expect("uuid");
    assert_eq!(v.value, b"a");
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

/// A dead owner (dropped without revoking: its keep-alive stops, as when the process is killed)
/// loses its keys after the TTL; a clean shutdown (revoke) removes them at once.
#[tokio::test]
async fn dead_owner_keys_expire_and_revoke_removes_them_at_once() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let node = etcd.keys.node("g-0");
    let queue = etcd.keys.queue("g-0");

    // Dead owner: no revoke, keys outlive the process by at most the TTL.
    let dead = Lease::grant(&etcd, Duration::from_secs(2))
        .await
        .expect("grant");
    etcd.put_all(
        &[
            (node.clone(), "127.0.0.2".into()),
            (queue.clone(), "1".into()),
        ],
        Some(dead.id()),
    )
    .await
    .expect("put_all under lease");
    let kv = etcd.get(&node).await.expect("get").expect("node key");
    assert_eq!(kv.lease, dead.id(), "the key is under the owner's lease");
    drop(dead);
    assert!(
        etcd.get(&node).await.expect("get").is_some(),
        "a dropped lease's keys live on until the TTL passes"
    );
    common::wait_until_async(
        "the dead owner's keys to expire",
        Duration::from_secs(15),
        || {
            let etcd = etcd.clone();
            let (node, queue) = (node.clone(), queue.clone());
            async move {
                etcd.get(&node).await.expect("get").is_none()
                    && etcd.get(&queue).await.expect("get").is_none()
            }
        },
    )
    .await;

    // Clean shutdown: revoke, the keys are gone before the next read.
    let alive = Lease::grant(&etcd, Duration::from_secs(60))
        .await
        .expect("grant");
    etcd.put(&node, "127.0.0.2", Some(alive.id()))
        .await
        .expect("put");
    etcd.put(&queue, "2", Some(alive.id())).await.expect("put");
    alive.revoke().await;
    assert!(etcd.get(&node).await.expect("get").is_none());
    assert!(etcd.get(&queue).await.expect("get").is_none());
    // A key not under the lease is untouched.
    etcd.put(&etcd.keys.state(), "STEADY", None)
        .await
        .expect("put");
    let other = Lease::grant(&etcd, Duration::from_secs(60))
        .await
        .expect("grant");
    other.revoke().await;
    assert!(etcd.get(&etcd.keys.state()).await.expect("get").is_some());
}

/// An etcd restart keeps leases (etcd persists them and refreshes their TTL): not reported lost.
/// An etcd wipe loses them: the keep-alive sees TTL 0 / not found and `lost()` resolves.
#[tokio::test]
async fn lease_survives_restart_and_loss_is_detected_after_wipe() {
    common::init_test_logging();
    let mut server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let mut lease = Lease::grant(&etcd, Duration::from_secs(3))
        .await
        .expect("grant");
    let node = etcd.keys.node("g-0");
    etcd.put(&node, "127.0.0.2", Some(lease.id()))
        .await
        .expect("put");

    server.restart();
    // Kept alive across the restart and well past the TTL.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!lease.is_lost(), "a restart does not lose the lease");
    let kv = etcd
        .get(&node)
        .await
        .expect("get after restart")
        .expect("key kept");
    assert_eq!(kv.lease, lease.id());

    server.wipe();
    let reason = tokio::time::timeout(Duration::from_secs(20), lease.lost())
        .await
        .expect("the loss is detected after a wipe");
    assert!(reason.contains("TTL 0"), "{reason}");
    assert!(lease.is_lost());
    assert!(etcd.get(&node).await.expect("get after wipe").is_none());
    // The owner repairs: new lease, keys put again.
    let fresh = Lease::grant(&etcd, Duration::from_secs(3))
        .await
        .expect("re-grant");
    etcd.put(&node, "127.0.0.2", Some(fresh.id()))
        .await
        .expect("re-put");
    assert_eq!(
        etcd.get(&node)
            .await
            .expect("get")
            .expect("re-put key")
            .lease,
        fresh.id()
    );
}

// ---------------------------------------------------------------------------------------------
// The lock
// ---------------------------------------------------------------------------------------------

/// Two lockers (own tasks, own leases, own clients) loop over acquire/release: never inside
/// together, and both get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_lockers_are_never_inside_together() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let server = EtcdServer::start();
    let inside = Arc::new(AtomicBool::new(false));
    let entries = Arc::new(AtomicUsize::new(0));
    const ROUNDS: usize = 25;
    let mut tasks = vec![];
    for name in ["g-0", "g-1"] {
        let etcd = server.client("c1").await;
        let (inside, entries) = (inside.clone(), entries.clone());
        tasks.push(tokio::spawn(async move {
            let lease = Lease::grant(&etcd, Duration::from_secs(10))
                .await
                .expect("grant");
            for round in 0..ROUNDS {
                let guard = lock::acquire(&etcd, name, lease.id(), Duration::from_secs(30))
                    .await
                    .expect("acquire");
                assert!(
                    !inside.swap(true, Ordering::SeqCst),
                    "{name} round {round}: the other locker is inside"
                );
                entries.fetch_add(1, Ordering::SeqCst);
                // A write under the lock succeeds while we hold it.
                assert!(etcd
                    .guarded(
                        &guard,
                        vec![],
                        vec![galera_sidecar::etcd::put_op(&etcd.keys.uuid(), name, None)]
                    )
                    .await
                    .expect("guarded"));
                tokio::time::sleep(Duration::from_millis(5)).await;
                inside.store(false, Ordering::SeqCst);
                assert!(lock::release(&etcd, &guard).await.expect("release"));
                tokio::task::yield_now().await;
            }
            lease.revoke().await;
        }));
    }
    for t in tasks {
        t.await.expect("locker task");
    }
    assert_eq!(entries.load(Ordering::SeqCst), 2 * ROUNDS);
}

/// A lock left by this same holder name under an old lease (its previous life, killed before the
/// lease expired) is taken over at once; another holder's lock is not.
#[tokio::test]
async fn own_stale_lock_is_taken_over_at_once() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let old = Lease::grant(&etcd, Duration::from_secs(60))
        .await
        .expect("grant");
    let stale = lock::acquire(&etcd, "g-0", old.id(), Duration::from_secs(5))
        .await
        .expect("first life locks");
    drop(old); // killed: the key stays for up to 60 s

    let new = Lease::grant(&etcd, Duration::from_secs(60))
        .await
        .expect("grant");
    let start = std::time::Instant::now();
    let g = lock::acquire(&etcd, "g-0", new.id(), Duration::from_secs(30))
        .await
        .expect("second life takes its own lock over");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "taken over without waiting for the old lease (took {:?})",
        start.elapsed()
    );
    assert_eq!(g.lease, new.id());
    assert!(g.create_revision > stale.create_revision);
    let kv = etcd
        .get(&etcd.keys.lock())
        .await
        .expect("get")
        .expect("lock key");
    assert_eq!((kv.value.as_slice(), kv.lease), (&b"g-0"[..], new.id()));
    // The previous life's fencing token no longer works.
    assert!(!etcd
        .guarded(
            &stale,
            vec![],
            vec![galera_sidecar::etcd::put_op(&etcd.keys.uuid(), "x", None)]
        )
        .await
        .expect("guarded"));

    // Someone else's lock is waited for, not stolen.
    let other = Lease::grant(&etcd, Duration::from_secs(60))
        .await
        .expect("grant");
    let err = lock::acquire(&etcd, "g-1", other.id(), Duration::from_secs(1))
        .await
        .expect_err("g-0 holds it");
    assert!(err.to_string().contains("held by g-0"), "{err}");
    assert_eq!(
        etcd.get(&etcd.keys.lock())
            .await
            .expect("get")
            .expect("lock")
            .lease,
        new.id()
    );
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_if_absent_and_put_all_atomicity() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let k = etcd.keys.clone();
    for key in [k.leader(), k.bootstrap(), k.recovery()] {
        assert!(etcd
            .create_if_absent(&key, "first", None)
            .await
            .expect("create"));
        assert!(!etcd
            .create_if_absent(&key, "second", None)
            .await
            .expect("create"));
        assert_eq!(
            etcd.get(&key).await.expect("get").expect(&key).value,
            b"first"
        );
    }
    // Under a lease: the key goes with the lease, and can then be created again.
    let lease = Lease::grant(&etcd, Duration::from_secs(60))
        .await
        .expect("grant");
    etcd.delete(&k.leader()).await.expect("delete");
    assert!(etcd
        .create_if_absent(&k.leader(), "127.0.0.2", Some(lease.id()))
        .await
        .expect("create"));
    lease.revoke().await;
    assert!(etcd
        .create_if_absent(&k.leader(), "127.0.0.3", None)
        .await
        .expect("create"));

    // Racing creators: exactly one wins.
    let mut tasks = vec![];
    for i in 0..8 {
        let etcd = etcd.clone();
        let key = format!("{}race", k.prefix());
        tasks.push(tokio::spawn(async move {
            etcd.create_if_absent(&key, &format!("w{i}"), None)
                .await
                .expect("create")
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.expect("task"));
    }
    assert_eq!(wins, 1);

    // put_all: all keys at one revision...
    let kvs = vec![
        (k.queue("g-1"), "1700000000".to_string()),
        (k.seqno("g-1"), "42".to_string()),
        (
            k.position("g-1"),
            "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:42".to_string(),
        ),
    ];
    etcd.put_all(&kvs, None).await.expect("put_all");
    let revs: Vec<i64> = futures_revs(&etcd, &kvs).await;
    assert!(revs.iter().all(|r| *r == revs[0]), "one revision: {revs:?}");
    let snap = etcd.snapshot().await.expect("snapshot");
    assert_eq!(snap.queue["g-1"].seqno, Some(42));
    // ...or none: a put under a lease that does not exist fails the whole txn.
    let bad = vec![
        (k.queue("g-2"), "1".to_string()),
        (k.seqno("g-2"), "1".to_string()),
    ];
    let err = etcd
        .put_all(&bad, Some(0x7777_7777))
        .await
        .expect_err("no such lease");
    assert!(!err.is_transient(), "a missing lease is not retried: {err}");
    assert!(err.to_string().contains("lease"), "{err}");
    assert!(etcd.get(&k.queue("g-2")).await.expect("get").is_none());
    assert!(etcd.get(&k.seqno("g-2")).await.expect("get").is_none());
}

async fn futures_revs(etcd: &galera_sidecar::etcd::Etcd, kvs: &[(String, String)]) -> Vec<i64> {
    let mut out = vec![];
    for (key, _) in kvs {
        out.push(etcd.get(key).await.expect("get").expect("key").mod_revision);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn garbage_in_every_key_gives_warnings_not_a_panic() {
    let server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let warned = common::etcd::put_garbage(&etcd).await;
    let snap = etcd.snapshot().await.expect("snapshot of garbage");
    for key in &warned {
        assert!(
            snap.warnings.iter().any(|w| w.contains(key.as_str())),
            "no warning for {key}: {:#?}",
            snap.warnings
        );
    }
    assert_eq!(snap.warnings.len(), warned.len(), "{:#?}", snap.warnings);
    assert!(snap.uuid.is_none() && snap.leader.is_none() && snap.bootstrap.is_none());
    assert!(snap.nodes.is_empty() && snap.members.is_empty() && snap.queue.is_empty());
    assert!(matches!(
        snap.state,
        Some(galera_sidecar::etcd::snapshot::StateValue::Invalid(_))
    ));
    assert_eq!(snap.known_state(), None);
    // Values any string is valid for are kept.
    assert!(snap.refused.contains_key("g-3") && snap.resync.contains_key("g-3"));
}

// ---------------------------------------------------------------------------------------------
// Watches
// ---------------------------------------------------------------------------------------------

use galera_sidecar::etcd::watch::{watch, WatchEvent};
use tokio::sync::mpsc::Receiver;

/// The next event, within `within`.
async fn next(rx: &mut Receiver<WatchEvent>, within: Duration) -> WatchEvent {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("a watch event in time")
        .expect("the watch task is running")
}

fn reset_values(ev: &WatchEvent) -> Option<(Vec<(String, String)>, i64)> {
    match ev {
        WatchEvent::Reset { kvs, revision } => Some((
            kvs.iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        String::from_utf8_lossy(&kv.value).into_owned(),
                    )
                })
                .collect(),
            *revision,
        )),
        _ => None,
    }
}

fn put_value(ev: &WatchEvent) -> Option<(String, String)> {
    match ev {
        WatchEvent::Put(kv) => Some((
            kv.key.clone(),
            String::from_utf8_lossy(&kv.value).into_owned(),
        )),
        _ => None,
    }
}

#[tokio::test]
async fn watch_sees_puts_and_deletes_then_continues_after_restart() {
    let mut server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let node = etcd.keys.node("g-0");
    etcd.put(&node, "a", None).await.expect("put");
    let mut rx = watch(etcd.clone(), etcd.keys.nodes_prefix(), true);
    let first = next(&mut rx, Duration::from_secs(5)).await;
    let (kvs, rev0) = reset_values(&first).expect("first event is a Reset");
    assert_eq!(kvs, vec![(node.clone(), "a".to_string())]);

    etcd.put(&node, "b", None).await.expect("put");
    assert_eq!(
        put_value(&next(&mut rx, Duration::from_secs(5)).await),
        Some((node.clone(), "b".into()))
    );
    etcd.delete(&node).await.expect("delete");
    match next(&mut rx, Duration::from_secs(5)).await {
        WatchEvent::Delete { key, revision } => {
            assert_eq!(key, node);
            assert!(revision > rev0);
        }
        other => panic!("expected a Delete, got {other:?}"),
    }
    // Keys outside the watched prefix are not reported.
    etcd.put(&etcd.keys.state(), "STEADY", None)
        .await
        .expect("put");
    etcd.put(&node, "c", None).await.expect("put");
    assert_eq!(
        put_value(&next(&mut rx, Duration::from_secs(5)).await),
        Some((node.clone(), "c".into()))
    );

    server.restart();
    // The stream broke: the consumer gets a Reset with the current value...
    let ev = next(&mut rx, Duration::from_secs(20)).await;
    let (kvs, _) =
        reset_values(&ev).unwrap_or_else(|| panic!("a Reset after the restart, got {ev:?}"));
    assert_eq!(kvs, vec![(node.clone(), "c".to_string())]);
    // ...then later events.
    etcd.put(&node, "d", None).await.expect("put after restart");
    assert_eq!(
        put_value(&next(&mut rx, Duration::from_secs(10)).await),
        Some((node.clone(), "d".into()))
    );
}

/// The watcher is behind (its consumer does not read; the task waits with a Reset it read
/// before the etcd history it would resume from was compacted): the compacted watch is
/// re-read, and the consumer gets the events it had, then a Reset with the current value, then
/// later events — nothing silently lost.
#[tokio::test]
async fn watch_continues_after_compaction_while_behind() {
    common::init_test_logging();
    let mut server = EtcdServer::start();
    let etcd = server.client("c1").await;
    let key = etcd.keys.uuid();
    let mut rx = watch(etcd.clone(), key.clone(), false);
    let (kvs, _) = reset_values(&next(&mut rx, Duration::from_secs(5)).await).expect("Reset");
    assert!(kvs.is_empty());

    // Fill the watch's channel (capacity 64) without reading: the task is then idle on the etcd
    // stream with a full channel.
    const CAPACITY: usize = 64;
    for i in 0..CAPACITY {
        etcd.put(&key, &format!("v{i}"), None).await.expect("put");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Restart etcd: the task re-reads (at revision r1) and blocks handing that Reset over.
    server.restart();
    common::wait_until_async(
        "the watch task to re-read after the restart",
        Duration::from_secs(20),
        || {
            let reads =
                server.metric(r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Range""#);
            async move { reads >= 1.0 }
        },
    )
    .await;
    // History moves on and is compacted past r1.
    let c = server.client("c1").await;
    for v in ["w1", "w2", "w3"] {
        c.put(&key, v, None).await.expect("put");
    }
    let head = c.get(&key).await.expect("get").expect("key").mod_revision;
    c.raw().compact(head, None).await.expect("compact");

    // The consumer catches up: the 64 events it had...
    for i in 0..CAPACITY {
        let ev = next(&mut rx, Duration::from_secs(5)).await;
        assert_eq!(
            put_value(&ev),
            Some((key.clone(), format!("v{i}"))),
            "event {i}"
        );
    }
    // ...the Reset read before the compaction (stale but consistent at its revision)...
    let (kvs, r1) = reset_values(&next(&mut rx, Duration::from_secs(5)).await).expect("Reset");
    assert_eq!(kvs, vec![(key.clone(), format!("v{}", CAPACITY - 1))]);
    assert!(r1 < head);
    // ...then, the watch from r1 being compacted, a fresh Reset with the current value.
    let ev = next(&mut rx, Duration::from_secs(10)).await;
    let (kvs, r2) =
        reset_values(&ev).unwrap_or_else(|| panic!("a Reset after compaction, got {ev:?}"));
    assert_eq!(kvs, vec![(key.clone(), "w3".to_string())]);
    assert!(r2 >= head);
    c.put(&key, "later", None).await.expect("put");
    assert_eq!(
        put_value(&next(&mut rx, Duration::from_secs(5)).await),
        Some((key.clone(), "later".into()))
    );
}

/// etcd wiped (new cluster id, revision back to 1): the consumer gets a Reset with the new
/// (empty) value at the new, lower revision, then later events.
#[tokio::test]
async fn watch_continues_after_wipe() {
    let mut server = EtcdServer::start();
    let etcd = server.client("c1").await;
    for i in 0..20 {
        etcd.put(&etcd.keys.state(), &format!("s{i}"), None)
            .await
            .expect("put");
    }
    let before = etcd.snapshot().await.expect("snapshot");
    let mut rx = watch(etcd.clone(), etcd.keys.prefix().to_string(), true);
    let (kvs, rev) = reset_values(&next(&mut rx, Duration::from_secs(5)).await).expect("Reset");
    assert_eq!(kvs.len(), 1);
    assert_eq!(rev, before.revision);

    server.wipe();
    let ev = next(&mut rx, Duration::from_secs(20)).await;
    let (kvs, rev_after) =
        reset_values(&ev).unwrap_or_else(|| panic!("a Reset after the wipe, got {ev:?}"));
    assert!(kvs.is_empty(), "the wiped etcd is empty: {kvs:?}");
    assert!(rev_after < rev, "revision went back: {rev_after} < {rev}");
    let after = etcd.snapshot().await.expect("snapshot after wipe");
    assert_ne!(after.cluster_id, before.cluster_id, "a new cluster id");

    etcd.put(&etcd.keys.state(), "RECOVERY", None)
        .await
        .expect("put");
    assert_eq!(
        put_value(&next(&mut rx, Duration::from_secs(10)).await),
        Some((etcd.keys.state(), "RECOVERY".into()))
    );
    for i in 0..5 {
        etcd.put(&etcd.keys.uuid(), &format!("u{i}"), None)
            .await
            .expect("put");
        next(&mut rx, Duration::from_secs(10)).await;
    }

    // Wiped again, same configuration: same cluster id, only the revision tells.
    let before = etcd.snapshot().await.expect("snapshot");
    server.wipe_keep_identity();
    let ev = next(&mut rx, Duration::from_secs(20)).await;
    let (kvs, rev_after) =
        reset_values(&ev).unwrap_or_else(|| panic!("a Reset after the wipe, got {ev:?}"));
    assert!(kvs.is_empty(), "the wiped etcd is empty: {kvs:?}");
    assert!(
        rev_after < before.revision,
        "revision went back: {rev_after} < {}",
        before.revision
    );
    let after = etcd.snapshot().await.expect("snapshot after wipe");
    assert_eq!(
        after.cluster_id, before.cluster_id,
        "same configuration, same cluster id"
    );
    etcd.put(&etcd.keys.state(), "BUILDING", None)
        .await
        .expect("put");
    assert_eq!(
        put_value(&next(&mut rx, Duration::from_secs(10)).await),
        Some((etcd.keys.state(), "BUILDING".into()))
    );
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

/// Several endpoints, one of them down: every call still succeeds (a request that could not be
/// sent to the dead one is sent again, to the live one, within the call's timeout).
#[tokio::test]
async fn one_dead_endpoint_among_several_does_not_fail_calls() {
    let server = EtcdServer::start();
    let mut cfg = server.config();
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    cfg.endpoints = vec![dead, server.endpoint()];
    let etcd = galera_sidecar::etcd::Etcd::connect(&cfg, "c1")
        .await
        .expect("connect");
    for i in 0..40 {
        etcd.put(&etcd.keys.uuid(), &format!("v{i}"), None)
            .await
            .unwrap_or_else(|e| panic!("put {i}: {e}"));
        let snap = etcd
            .snapshot()
            .await
            .unwrap_or_else(|e| panic!("snapshot {i}: {e}"));
        assert!(snap.revision > 0);
        assert!(
            etcd.create_if_absent(&etcd.keys.leader(), "127.0.0.2", None)
                .await
                .unwrap_or_else(|e| panic!("txn {i}: {e}"))
                || i > 0
        );
    }
    let lease = Lease::grant(&etcd, Duration::from_secs(5))
        .await
        .expect("grant");
    lease.revoke().await;
}
