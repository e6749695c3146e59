//! A 3-node cluster on IPv6 addresses (docs/operations.md §15), end to end on real
//! components: the nodes on fd00::244:2–4 added to `lo`, their my.cnf setting only where group
//! communication listens (three nodes share this host); IST and SST addresses come from the
//! entrypoint and MariaDB, derived from the bare node address as on Kubernetes. The cluster
//! builds (two joiners by SST over IPv6), a node rejoins by IST, haproxy (listening on
//! [fd00::244:1]) routes a real connection to the leader, and after every node is killed the
//! cluster recovers with every row, haproxy following the new leader.
//!
//! Addresses fd00::244:x and loopback subnet 127.0.244.x (unused: the etcd is on 127.0.0.1)
//! are this file's.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::galera::Cluster;
use common::haproxy::Sidecar;

const SUBNET: u8 = 244;
const STEADY_TIMEOUT: Duration = Duration::from_secs(240);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// IPv6 addresses added to `lo` for the test, removed on drop.
struct LoAddresses(Vec<String>);

impl LoAddresses {
    fn add(addrs: &[String]) -> LoAddresses {
        let mut added = LoAddresses(Vec::new());
        for a in addrs {
            // A left-over from an interrupted run is fine: `replace` adds or keeps it.
            common::run_ok(
                Command::new("ip").args([
                    "-6",
                    "addr",
                    "replace",
                    &format!("{a}/128"),
                    "dev",
                    "lo",
                ]),
                "ip -6 addr replace",
            );
            added.0.push(a.clone());
        }
        added
    }
}

impl Drop for LoAddresses {
    fn drop(&mut self) {
        for a in &self.0 {
            let _ = Command::new("ip")
                .args(["-6", "addr", "del", &format!("{a}/128"), "dev", "lo"])
                .output();
        }
    }
}

/// The leader's name and address, by the address `status` shows (bare, as published).
fn leader(c: &Cluster) -> Option<(String, String)> {
    let s = c.status();
    let addr = s["leader"].as_str()?.to_string();
    let name = c.nodes.iter().find(|n| n.ip == addr)?.name.clone();
    Some((name, addr))
}

/// The node name mariadbd answers with through haproxy (a real TCP connection over IPv6).
fn name_through(listen: SocketAddr) -> Option<String> {
    let out = Command::new("mariadb")
        .args(["--protocol=tcp", "-h", &listen.ip().to_string()])
        .args(["-P", &listen.port().to_string(), "-u", "haproxy"])
        .args([
            "--connect-timeout=3",
            "-N",
            "-B",
            "-e",
            "SELECT @@wsrep_node_name",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| common::stdout(&out).trim().to_string())
}

#[test]
fn a_cluster_on_ipv6_addresses_builds_rejoins_recovers_and_is_routed() {
    let mut c = Cluster::new(SUBNET, 3);
    let addrs: Vec<String> = (1..=4).map(|i| format!("fd00::{SUBNET}:{i}")).collect();
    let _lo = LoAddresses::add(&addrs);
    for (i, n) in c.nodes.iter_mut().enumerate() {
        n.ip = addrs[i + 1].clone();
    }

    // 1. The first build: one bootstraps, two join by SST (rsync, to the derived address).
    c.start_all();
    c.check("first build", || c.wait_steady(3, STEADY_TIMEOUT));
    c.write_rows(0, 1, 20);
    for n in &c.nodes {
        assert_eq!(
            n.sql("SELECT @@wsrep_node_address").as_deref(),
            Some(format!("[{}]", n.ip).as_str()),
            "{}",
            n.name
        );
        let opts = n.sql("SELECT @@wsrep_provider_options").expect("options");
        assert!(
            opts.contains(&format!("ist.recv_addr = [{}]:4568", n.ip)),
            "{}: {opts}",
            n.name
        );
    }
    assert_eq!(
        c.nodes.iter().filter(|n| n.joined_by_sst_since(0)).count(),
        2,
        "{}",
        c.logs()
    );
    // etcd and `status` hold the bare addresses.
    let snap = c.snapshot().expect("snapshot");
    for n in &c.nodes {
        assert_eq!(
            snap.nodes.get(&n.name).map(|r| r.address.as_str()),
            Some(n.ip.as_str()),
            "{snap:?}"
        );
    }

    // 2. haproxy on [fd00::244:1] routes a real connection to the leader.
    c.nodes[0]
        .sql("CREATE USER IF NOT EXISTS 'haproxy'@'%'")
        .expect("haproxy user");
    let listen: SocketAddr = format!("[{}]:{}", addrs[0], common::free_port())
        .parse()
        .expect("listen address");
    let hdir = c.root.path().join("haproxy");
    let haproxy = Sidecar::builder(&hdir, &c.endpoint(), &c.name, listen)
        .backend_port(3306)
        .mysql_check()
        .start();
    let routed_to_leader = |c: &Cluster| {
        let Some((name, addr)) = leader(c) else {
            return false;
        };
        haproxy.routed_host().as_deref() == Some(addr.as_str())
            && haproxy.readiness().status.success()
            && name_through(listen).as_deref() == Some(name.as_str())
    };
    let wait_routed = |c: &Cluster, what: &str| {
        let start = std::time::Instant::now();
        while !routed_to_leader(c) {
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "{what}: leader {:?}, haproxy routes to {:?}, readiness: {}, through \
                     haproxy: {:?}\nconfig:\n{}\nhaproxy sidecar log:\n{}\n{}",
                    leader(c),
                    haproxy.routed_host(),
                    common::stdout(&haproxy.readiness()),
                    name_through(listen),
                    haproxy.rendered(),
                    haproxy.log(),
                    c.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_routed(&c, "haproxy routes to the leader over IPv6");
    let (_, leader_addr) = leader(&c).expect("a leader");
    assert!(
        haproxy
            .rendered()
            .contains(&format!("ipv6@{leader_addr}:3306")),
        "{}",
        haproxy.rendered()
    );

    // 3. IST: a node stopped cleanly rejoins by IST to the address the entrypoint set.
    assert_eq!(c.nodes[2].sigterm(STOP_TIMEOUT), Some(0));
    c.write_rows(0, 21, 20);
    let off = c.nodes[2].error_log_len();
    c.start(2);
    c.check("rejoin by IST", || c.wait_steady(3, STEADY_TIMEOUT));
    assert!(c.nodes[2].joined_by_ist_since(off), "{}", c.logs());
    let ist_log = c.nodes[2].error_log_since(off);
    assert!(
        ist_log.contains(&format!("tcp://[{}]:4568", c.nodes[2].ip)),
        "{ist_log}"
    );
    assert_eq!(c.count_rows(2), Some(40));

    // 4. Recovery after a full outage: every node killed, all restarted.
    c.write_rows(1, 41, 10);
    c.kill_all();
    let offsets = c.log_offsets();
    c.start_all();
    c.check("recovered", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    assert_eq!(c.bootstrappers_since(&offsets).len(), 1, "{}", c.logs());
    c.assert_rows_everywhere(50);
    wait_routed(&c, "haproxy follows the leader after the recovery");
}
