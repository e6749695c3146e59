//! A partition is not an outage, and a quorum loss with a live survivor heals in place — end
//! to end on real etcd and real Galera nodes run by the entrypoint, with nftables cutting
//! Galera traffic on loopback (SQL and etcd still flow). Every row is checked on every node.
//! This file uses subnets 127.0.220–229.x and nftables tables `galera_avail2xx*`.

mod common;

use std::time::{Duration, Instant};

use common::galera::Cluster;
use common::nft::Partition;

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
