//! A partition is not an outage, and a quorum loss with a live survivor heals in place — end
//! to end on real etcd and real Galera nodes run by the entrypoint, with nftables cutting
//! Galera traffic on loopback (SQL and etcd still flow). Every row is checked on every node.
//! This file uses subnets 127.0.220–229.x and nftables tables `galera_avail2xx*`.

mod common;

use std::time::{Duration, Instant};

use common::galera::{Cluster, ROOT_PASSWORD};
use common::nft::Partition;
use common::writers::{Writers, SCHEMA};

const STEADY_TIMEOUT: Duration = Duration::from_secs(180);

fn steady_cluster(subnet: u8) -> Cluster {
    let mut c = Cluster::new(subnet, 3);
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(3, STEADY_TIMEOUT));
    c
}

fn mysqld_pids(c: &Cluster) -> Vec<Option<i32>> {
    c.nodes.iter().map(|n| n.mysqld_pid()).collect()
}

fn logs_since(c: &Cluster, offsets: &[usize]) -> String {
    c.nodes
        .iter()
        .zip(offsets)
        .map(|(n, o)| format!("--- {}\n{}", n.name, &n.log()[*o..]))
        .collect()
}

/// 1+1+1 for 45 s: mariadbd keeps running everywhere (no restart, no RECOVERY) and no node is
/// made Primary on its own (the others could reunite and re-form a Primary Component from the
/// last view's majority: two Primary Components); after the heal Galera re-merges them and
/// every row is on every node.
#[test]
fn full_partition_is_not_an_outage() {
    let c = steady_cluster(220);
    c.write_rows(0, 1, 20);
    let pids = mysqld_pids(&c);
    assert!(pids.iter().all(Option::is_some), "{pids:?}");
    let offsets = c.log_offsets();
    let ips: Vec<String> = c.nodes.iter().map(|n| n.ip.clone()).collect();
    Partition::remove_leftover("galera_avail220a");
    Partition::remove_leftover("galera_avail220b");
    let mut cut_a = Partition::isolate("galera_avail220a", &ips[0], &ips[1..]);
    let mut cut_b = Partition::isolate("galera_avail220b", &ips[1], &ips[2..]);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(45) {
        let s = c.status();
        assert_ne!(
            s["state"].as_str(),
            Some("RECOVERY"),
            "a partition became an outage:\n{}",
            logs_since(&c, &offsets)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        c.registered(),
        0,
        "no node made Primary on its own during the partition:\n{}",
        logs_since(&c, &offsets)
    );
    cut_a.heal();
    cut_b.heal();
    let heal = Instant::now();
    c.check("3 Synced after the heal", || {
        c.wait_all_synced(3, STEADY_TIMEOUT)
    });
    c.check("3 registered", || c.wait_until_registered(3));
    eprintln!(
        "1+1+1 partition of 45 s: 3 Synced {:.1?} after the heal",
        heal.elapsed()
    );
    assert_eq!(mysqld_pids(&c), pids, "no mariadbd was restarted");
    let logs = logs_since(&c, &offsets);
    assert!(logs.contains("staying non-Primary"), "{logs}");
    assert!(!logs.contains("healing in place"), "{logs}");
    assert!(!logs.contains("leaving to take part in recovery"), "{logs}");
    assert_ne!(c.state().as_deref(), Some("RECOVERY"));
    c.write_rows(0, 21, 10);
    c.assert_rows_everywhere(30);
}

/// kill -9 of two of three: the survivor stays up, non-Primary (their positions are unknown
/// while their entrypoints are gone). When they come back and report (stopped, queued, not
/// ahead), the survivor is made Primary in place — its mariadbd is not restarted — and they
/// rejoin it.
#[test]
fn quorum_loss_heals_in_place_without_a_restart() {
    let mut c = steady_cluster(221);
    c.write_rows(0, 1, 20);
    let survivor_pid = c.nodes[0].mysqld_pid();
    let offsets = c.log_offsets();
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    std::thread::sleep(Duration::from_secs(8));
    c.start(1);
    c.start(2);
    c.check("healed and rejoined", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    let logs = logs_since(&c, &offsets);
    assert!(logs.contains("healing in place"), "{logs}");
    assert!(!logs.contains("leaving to take part in recovery"), "{logs}");
    assert_eq!(
        c.nodes[0].mysqld_pid(),
        survivor_pid,
        "the survivor's mariadbd was not restarted:\n{logs}"
    );
    assert!(c.nodes[0].running(), "the survivor's entrypoint runs");
    c.assert_rows_everywhere(20);
}

/// kill -9 of two of three, and they stay down: once their leases expired and their Galera
/// ports refuse connections (nothing listens: positive evidence that no mariadbd of theirs
/// runs), the survivor — which holds the commit high-water mark — is made Primary in place on
/// its own: no mariadbd restart, no operator, seconds after the leases expire. It takes writes;
/// the heal records a fork at its position, and the two, whose datadirs do not go past it,
/// rejoin by IST when they come back. Every row is on every node.
#[test]
fn quorum_loss_heals_alone_once_the_others_are_confirmed_down() {
    let mut c = steady_cluster(222);
    c.write_rows(0, 1, 20);
    let seqno = |i: usize| {
        c.nodes[i]
            .wsrep("last_committed")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let at = seqno(0);
    // The leader's mark moves at most every 5 s: wait until it covers the rows.
    c.wait_status(
        "the commit high-water mark covers the rows",
        Duration::from_secs(30),
        |s| s["hwm"]["seqno"].as_i64().is_some_and(|m| m >= at),
    );
    let survivor_pid = c.nodes[0].mysqld_pid();
    let offsets = c.log_offsets();
    let ist_from: Vec<usize> = c.nodes.iter().map(|n| n.error_log_len()).collect();
    // Writers on the survivor through the whole fault: every insert it acknowledges must be
    // on every node at the end.
    c.nodes[0].sql_result(SCHEMA).expect("writers' schema");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let survivor_sql = format!("{}:3306", c.nodes[0].ip).parse().expect("addr");
    let mut writers = Writers::start(
        rt.handle(),
        &[("g-0".to_string(), survivor_sql)],
        "root",
        ROOT_PASSWORD,
    );
    std::thread::sleep(Duration::from_secs(2));
    let fault = Instant::now();
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    c.check("the survivor loses the Primary Component", || {
        common::wait_until("g-0 non-Primary", Duration::from_secs(30), || {
            c.nodes[0].wsrep("cluster_status").as_deref() == Some("non-Primary")
        })
    });
    c.check("the survivor is Primary again on its own", || {
        common::wait_until("g-0 Primary", Duration::from_secs(90), || {
            c.nodes[0].wsrep("cluster_status").as_deref() == Some("Primary") && c.registered() == 1
        })
    });
    eprintln!(
        "quorum loss, the others kept down: the survivor Primary {:.1?} after the kill (lease TTL {})",
        fault.elapsed(),
        c.nodes[0].lease_ttl
    );
    let logs = logs_since(&c, &offsets);
    assert!(
        logs.contains("down (lease expired, Galera port refusing connections)")
            && logs.contains("healing in place"),
        "{logs}"
    );
    assert_eq!(
        c.nodes[0].mysqld_pid(),
        survivor_pid,
        "the survivor's mariadbd was not restarted:\n{logs}"
    );
    assert!(
        logs.contains("datadir lists the forks") && logs.contains("heal:g-0@"),
        "the heal's fork is recorded in the datadir:\n{logs}"
    );
    c.write_rows(0, 21, 10);
    c.start(1);
    c.start(2);
    c.check("rejoined", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    for i in [1, 2] {
        assert!(
            c.nodes[i].joined_by_ist_since(ist_from[i]),
            "{} rejoined by IST:\n{}",
            c.nodes[i].name,
            c.nodes[i].error_log_since(ist_from[i])
        );
    }
    assert_eq!(c.nodes[0].mysqld_pid(), survivor_pid);
    c.assert_rows_everywhere(30);
    writers.stop(&rt);
    assert_acked_everywhere(&c, &writers.acked());
}

/// Every insert the writers saw acknowledged is on every node.
fn assert_acked_everywhere(c: &Cluster, acked: &[(String, u64)]) {
    assert!(!acked.is_empty(), "the writers had no insert acknowledged");
    for n in &c.nodes {
        let rows = n
            .sql_result("SELECT CONCAT(src, ':', seq) FROM lt.t")
            .unwrap_or_else(|e| panic!("{}: {e}", n.name));
        let have: std::collections::BTreeSet<&str> = rows.lines().collect();
        let lost: Vec<String> = acked
            .iter()
            .map(|(src, seq)| format!("{src}:{seq}"))
            .filter(|k| !have.contains(k.as_str()))
            .collect();
        assert!(
            lost.is_empty(),
            "{} lacks {} acknowledged insert(s): {lost:?}",
            n.name,
            lost.len()
        );
    }
    eprintln!("{} acknowledged inserts, all on every node", acked.len());
}

/// kill -9 of two of four: the two survivors form a component of 2 of the last view's 4, not a
/// majority, so Galera leaves it non-Primary. Both others confirmed down (leases expired,
/// ports refusing) and every running member in that one component (wsrep_cluster_size 2):
/// no other component exists that could become Primary, so the most advanced survivor heals
/// the pair in place — no restart — and the two rejoin when they come back.
#[test]
fn quorum_loss_of_two_of_four_heals_the_surviving_pair() {
    let mut c = Cluster::new(223, 4);
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(4, STEADY_TIMEOUT));
    c.write_rows(0, 1, 20);
    let at = c.nodes[0]
        .wsrep("last_committed")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(-1);
    c.wait_status(
        "the commit high-water mark covers the rows",
        Duration::from_secs(30),
        |s| s["hwm"]["seqno"].as_i64().is_some_and(|m| m >= at),
    );
    let pids: Vec<Option<i32>> = mysqld_pids(&c)[..2].to_vec();
    let offsets = c.log_offsets();
    c.nodes[2].kill9();
    c.nodes[3].kill9();
    c.check("the pair loses the Primary Component", || {
        common::wait_until("g-0 and g-1 non-Primary", Duration::from_secs(30), || {
            (0..2).all(|i| c.nodes[i].wsrep("cluster_status").as_deref() == Some("non-Primary"))
        })
    });
    c.check("the pair is Primary again", || {
        common::wait_until("g-0 and g-1 Primary", Duration::from_secs(90), || {
            (0..2).all(|i| c.nodes[i].wsrep("cluster_status").as_deref() == Some("Primary"))
                && c.registered() == 2
        })
    });
    let logs = logs_since(&c, &offsets);
    assert!(
        logs.contains("run(s) in this node's own component (wsrep_cluster_size 2)")
            && logs.contains("healing in place"),
        "{logs}"
    );
    assert_eq!(
        mysqld_pids(&c)[..2],
        pids[..],
        "no survivor restarted:\n{logs}"
    );
    c.write_rows(1, 21, 10);
    c.start(2);
    c.start(3);
    c.check("rejoined", || c.wait_steady(4, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(4, STEADY_TIMEOUT));
    c.assert_rows_everywhere(30);
}
