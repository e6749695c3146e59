//! Backup servers (src/haproxy/render.rs, docs/leader.md "Backup servers"): the etcd leader is
//! haproxy's normal server, the other members (`P/members/`) are checked `backup` servers in
//! name order, and haproxy moves to the first healthy backup at health-check speed.
//!
//! - `two_haproxies_disagree_for_a_bounded_window`: real etcd, two real haproxies (each run by
//!   `galera-sidecar haproxy`), three real MariaDB servers (wsrep OFF) told apart by
//!   `@@server_id`; each haproxy checks its own HTTP responders (its own `--check-port`), so
//!   the test gives the two haproxies different views of the leader's health.
//! - `kill9_of_the_leader_fails_over_to_the_first_backup_before_the_lease_expires`: real etcd,
//!   three real Galera nodes run by `galera-sidecar galera` (lease TTL 10 s), one haproxy with
//!   `mysql-check`; kill -9 of the leader's whole process group.
//!
//! Subnets: 127.0.240.x and 127.0.241.x (haproxies on .1, nodes on .2…).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::etcd::EtcdServer;
use common::galera::{Cluster, ROOT_PASSWORD};
use common::haproxy::{listen_addr, CheckResponder, Sidecar};
use common::plain_mariadb::{server_id_once, PlainMariadb};
use common::{free_port, wait_until_async};
use mysql_async::prelude::Queryable;

const SQL_PORT: u16 = 33306;

fn ip(net: u8, host: u8) -> String {
    format!("127.0.{net}.{host}")
}

/// The `server` lines of a rendered config, trimmed.
fn server_lines(cfg: &str) -> Vec<String> {
    cfg.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .map(str::to_string)
        .collect()
}

/// Which server id answers new connections through `listen`, polled every 50 ms until it is
/// `want` (returns when), or `timeout` passes (None).
async fn until_served_by(listen: SocketAddr, want: u32, timeout: Duration) -> Option<Instant> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if server_id_once(&listen.ip().to_string(), listen.port()).await == Ok(want) {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_haproxies_disagree_for_a_bounded_window() {
    let net = 240;
    let etcd = EtcdServer::start();
    let cluster = "bk";
    let client = etcd.client(cluster).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Nodes g-0..g-2 on .2..4, server ids 1..3.
    let mut nodes = Vec::new();
    for i in 0..3u8 {
        let node_ip = ip(net, 2 + i);
        nodes.push(tokio::task::block_in_place(|| {
            PlainMariadb::start(&node_ip, SQL_PORT, 1 + i as u32)
        }));
        client
            .put(&client.keys.member(&format!("g-{i}")), &node_ip, None)
            .await
            .expect("put member");
    }
    // Each haproxy its own check port, so each its own view of every node's health.
    let mut checks: Vec<Vec<CheckResponder>> = Vec::new();
    let mut hx = Vec::new();
    for h in 0..2 {
        let port = free_port();
        let mut mine = Vec::new();
        for i in 0..3u8 {
            let addr: SocketAddr = format!("{}:{port}", ip(net, 2 + i)).parse().expect("addr");
            mine.push(CheckResponder::start(addr).await);
        }
        checks.push(mine);
        if h == 0 {
            client
                .put(&client.keys.leader(), &ip(net, 2), None)
                .await
                .expect("put leader");
        }
        let d = dir.path().join(format!("hx{h}"));
        let listen = listen_addr(&ip(net, 1));
        hx.push(tokio::task::block_in_place(|| {
            Sidecar::builder(&d, &etcd.endpoint(), cluster, listen)
                .etcd_timeout("2s")
                .check_port(port)
                .start()
        }));
    }

    // Both render the leader as the normal server and the others as backups, by name.
    for (h, s) in hx.iter().enumerate() {
        let cfg = s.rendered();
        let lines = server_lines(&cfg);
        assert_eq!(lines.len(), 3, "hx{h}:\n{cfg}");
        assert!(
            lines[0].starts_with(&format!("server {0} {0}:{SQL_PORT} check port", ip(net, 2)))
                && !lines[0].ends_with("backup"),
            "hx{h}: the leader is the normal server:\n{cfg}"
        );
        for (k, host) in [(1, 3), (2, 4)] {
            assert!(
                lines[k].starts_with(&format!("server {0} {0}:{SQL_PORT}", ip(net, host)))
                    && lines[k].ends_with(" backup"),
                "hx{h}: backup {k} is node .{host}:\n{cfg}"
            );
        }
        assert!(!cfg.contains("allbackups"), "{cfg}");
    }
    let same_servers = |h: usize| {
        server_lines(&hx[h].rendered())
            .iter()
            .map(|l| l.replace(&checks_port_of(&hx[h]), " port N"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        same_servers(0),
        same_servers(1),
        "both sidecars render the same servers in the same order"
    );
    for s in &hx {
        assert!(
            until_served_by(s.listen, 1, Duration::from_secs(10))
                .await
                .is_some(),
            "SQL through {} reaches the leader (server id 1)",
            s.listen
        );
    }

    // hx0 sees the leader fail its check; hx1 does not. hx0 moves to the first backup (g-1,
    // server id 2) within the health-check time (inter 1 s, fastinter 0.5 s, fall 2).
    let reloads = [hx[0].reloads(), hx[1].reloads()];
    let t0 = Instant::now();
    checks[0][0].set(503);
    let moved = until_served_by(hx[0].listen, 2, Duration::from_secs(10)).await;
    let Some(moved) = moved else {
        panic!("hx0 did not move to the first backup:\n{}", hx[0].log());
    };
    println!(
        "case two-views: hx0 sees the leader down; new connections via hx0 reach the first backup {:.2?} after",
        moved - t0
    );
    assert!(
        moved - t0 <= Duration::from_secs(4),
        "hx0 moved after {:?}: more than the health-check time",
        moved - t0
    );
    // The window: hx0 writes to g-1, hx1 to g-0 (two writers), for as long as the views
    // differ and etcd does not move. Sampled for 2 s: every answer says so.
    let window_start = Instant::now();
    let (mut via0, mut via1) = (Vec::new(), Vec::new());
    while window_start.elapsed() < Duration::from_secs(2) {
        via0.push(server_id_once(&hx[0].listen.ip().to_string(), hx[0].listen.port()).await);
        via1.push(server_id_once(&hx[1].listen.ip().to_string(), hx[1].listen.port()).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("case two-views: during the window hx0 answered {via0:?}, hx1 answered {via1:?}");
    assert!(via0.iter().all(|r| *r == Ok(2)), "hx0: {via0:?}");
    assert!(via1.iter().all(|r| *r == Ok(1)), "hx1: {via1:?}");
    assert_eq!(
        [hx[0].reloads(), hx[1].reloads()],
        reloads,
        "the move to a backup is haproxy's own: no reload"
    );

    // etcd elects g-1 (as a resigning leader would be replaced): both sidecars make it the
    // normal server; hx0 already routes there (no second move), hx1 moves. The window ends.
    let t1 = Instant::now();
    client
        .put(&client.keys.leader(), &ip(net, 3), None)
        .await
        .expect("put leader");
    for (h, s) in hx.iter().enumerate() {
        let n = reloads[h] + 1;
        wait_until_async(
            &format!("hx{h} reload #{n}"),
            Duration::from_secs(15),
            || async { s.status().and_then(|st| st["reloads"].as_u64()) == Some(n) },
        )
        .await;
        let at = until_served_by(s.listen, 2, Duration::from_secs(10)).await;
        assert!(at.is_some(), "hx{h} does not reach g-1:\n{}", s.log());
        let lines = server_lines(&s.rendered());
        assert!(
            lines[0].starts_with(&format!("server {}", ip(net, 3)))
                && !lines[0].ends_with("backup"),
            "hx{h}: g-1 is now the normal server: {lines:?}"
        );
        assert!(
            lines[1].starts_with(&format!("server {}", ip(net, 2)))
                && lines[1].ends_with(" backup"),
            "hx{h}: the old leader g-0 is now the first backup: {lines:?}"
        );
    }
    println!(
        "case two-views: both haproxies route to the new etcd leader {:.2?} after it was put",
        t1.elapsed()
    );
    assert!(
        hx[0].log().contains("(it was the first backup"),
        "hx0 logs that the new leader was its first backup:\n{}",
        hx[0].log()
    );
    // Both agree now: 10 new connections each, all to g-1.
    for (h, s) in hx.iter().enumerate() {
        for _ in 0..10 {
            assert_eq!(
                server_id_once(&s.listen.ip().to_string(), s.listen.port()).await,
                Ok(2),
                "hx{h}"
            );
        }
    }
    // The old leader coming back healthy (hx0's view) takes nothing back: it is a backup now.
    checks[0][0].set(200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..10 {
        assert_eq!(
            server_id_once(&hx[0].listen.ip().to_string(), hx[0].listen.port()).await,
            Ok(2)
        );
    }
    drop(nodes);
}

/// The `--check-port` a sidecar's rendered config uses (` port N`).
fn checks_port_of(s: &Sidecar) -> String {
    let cfg = s.rendered();
    let line = server_lines(&cfg).into_iter().next().expect("a server");
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .expect("check port")
        .to_string();
    format!(" port {port}")
}

/// A new connection through `listen` as root: `@@wsrep_node_name` (bounded by 2 s).
async fn node_via(listen: SocketAddr) -> Result<String, String> {
    let o: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(listen.ip().to_string())
        .tcp_port(listen.port())
        .user(Some("root"))
        .pass(Some(ROOT_PASSWORD))
        .prefer_socket(false)
        .into();
    let fut = async {
        let mut c = mysql_async::Conn::new(o)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let n: Option<String> = c
            .query_first("SELECT @@wsrep_node_name")
            .await
            .map_err(|e| format!("query: {e}"))?;
        let _ = c.disconnect().await;
        n.ok_or_else(|| "no row".to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .map_err(|_| "timed out".to_string())?
}

#[test]
fn kill9_of_the_leader_fails_over_to_the_first_backup_before_the_lease_expires() {
    let ttl = Duration::from_secs(10);
    let mut c = Cluster::new(241, 3);
    for n in &mut c.nodes {
        n.lease_ttl = format!("{}s", ttl.as_secs());
    }
    c.start_all();
    let steady = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.wait_steady(3, Duration::from_secs(120))
    }));
    if steady.is_err() {
        panic!("not STEADY:\n{}", c.logs());
    }
    c.nodes[0]
        .sql("CREATE USER IF NOT EXISTS 'haproxy'@'%'")
        .expect("create the haproxy user");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let etcd = rt.block_on(c.etcd.client(&c.name));
    let leader_ip = || {
        rt.block_on(etcd.get(&etcd.keys.leader()))
            .ok()
            .flatten()
            .map(|kv| String::from_utf8_lossy(&kv.value).trim().to_string())
    };
    common::wait_until("a leader and 3 members", Duration::from_secs(30), || {
        leader_ip().is_some()
            && rt
                .block_on(etcd.get_range(&etcd.keys.members_prefix(), true))
                .map(|(kvs, _, _)| kvs.len() == 3)
                .unwrap_or(false)
    });
    let l_ip = leader_ip().expect("leader");
    let l = c
        .nodes
        .iter()
        .position(|n| n.ip == l_ip)
        .expect("leader is a node");
    // The first backup: the lowest name among the others.
    let first_backup = (0..3).find(|&i| i != l).expect("another node");
    let (l_name, fb_name) = (c.nodes[l].name.clone(), c.nodes[first_backup].name.clone());

    let dir = tempfile::tempdir().expect("tempdir");
    let listen = listen_addr("127.0.241.1");
    let hx = Sidecar::builder(dir.path(), &c.endpoint(), &c.name, listen)
        .etcd_timeout("2s")
        .mysql_check()
        .backend_port(3306)
        .start();
    let cfg = hx.rendered();
    let lines = server_lines(&cfg);
    assert_eq!(lines.len(), 3, "{cfg}");
    assert!(
        lines[0].starts_with(&format!("server {l_ip} ")) && !lines[0].ends_with("backup"),
        "{cfg}"
    );
    assert!(
        lines[1].starts_with(&format!("server {} ", c.nodes[first_backup].ip))
            && lines[1].ends_with(" backup"),
        "{cfg}"
    );
    common::wait_until(
        "SQL through haproxy reaches the leader",
        Duration::from_secs(20),
        || rt.block_on(node_via(listen)).as_deref() == Ok(l_name.as_str()),
    );
    let reloads = hx.reloads();

    // kill -9 of the leader's entrypoint and mariadbd: nobody revokes its lease.
    let t0 = Instant::now();
    c.nodes[l].kill9();
    let mut attempts: Vec<(Duration, Result<String, String>, Option<String>)> = Vec::new();
    let mut first_ok: Option<(Duration, String, Option<String>)> = None;
    let mut reloads_at_first_ok: Option<u64> = None;
    while t0.elapsed() < ttl + Duration::from_secs(20) {
        let r = rt.block_on(node_via(listen));
        // Read the reload count before etcd: if etcd still names the dead leader after it,
        // every reload counted happened before the lease expired.
        let reloads_now = hx.reloads();
        let in_etcd = leader_ip();
        let at = t0.elapsed();
        if let Ok(n) = &r {
            if first_ok.is_none() {
                first_ok = Some((at, n.clone(), in_etcd.clone()));
                reloads_at_first_ok = Some(reloads_now);
            }
        }
        attempts.push((at, r, in_etcd.clone()));
        if first_ok.is_some() && in_etcd.as_deref().is_some_and(|v| v != l_ip) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed = attempts.iter().filter(|a| a.1.is_err()).count();
    let Some((ok_at, ok_node, leader_then)) = first_ok else {
        panic!(
            "no connection through haproxy succeeded after the kill: {attempts:?}\n{}",
            hx.log()
        );
    };
    let expired = attempts
        .iter()
        .find(|a| a.2.as_deref() != Some(l_ip.as_str()))
        .map(|a| a.0);
    println!(
        "case kill9-leader: {l_name} killed; first new connection through haproxy succeeded on \
         {ok_node} after {ok_at:.2?} (P/leader then: {leader_then:?}); P/leader changed after \
         {expired:.2?}; {failed} of {} attempts failed before",
        attempts.len()
    );
    assert_eq!(
        ok_node, fb_name,
        "the first backup takes over: {attempts:?}"
    );
    assert_eq!(
        leader_then.as_deref(),
        Some(l_ip.as_str()),
        "it did so while etcd still named the dead leader (before the lease expired)"
    );
    assert!(
        ok_at <= Duration::from_secs(4),
        "failover at health-check speed (inter 1 s, fastinter 0.5 s, fall 2), not {ok_at:?}"
    );
    // Counted while etcd still named the dead leader: the sidecar reloads once the lease
    // expires and a new leader is elected, which may be before this line.
    assert_eq!(
        reloads_at_first_ok,
        Some(reloads),
        "haproxy's own move: no reload"
    );
    // Then the lease expires, a new leader is elected and haproxy makes it the normal server.
    let new_leader = match attempts.last().and_then(|a| a.2.clone()) {
        Some(v) if v != l_ip => v,
        other => panic!("no new leader in etcd ({other:?}):\n{}", c.logs()),
    };
    common::wait_until(
        "the new leader as haproxy's normal server",
        Duration::from_secs(15),
        || {
            server_lines(&hx.rendered()).first().is_some_and(|s| {
                s.starts_with(&format!("server {new_leader} ")) && !s.ends_with("backup")
            })
        },
    );
    let n = c
        .nodes
        .iter()
        .position(|x| x.ip == new_leader)
        .expect("a node");
    let n_name = c.nodes[n].name.clone();
    common::wait_until(
        "new connections on the new leader",
        Duration::from_secs(20),
        || rt.block_on(node_via(listen)).as_deref() == Ok(n_name.as_str()),
    );
    println!(
        "case kill9-leader: etcd elected {n_name} ({}), haproxy routes to it {:.1?} after the kill",
        if n == first_backup {
            "the first backup: no second move"
        } else {
            "not the first backup: a second move"
        },
        t0.elapsed()
    );
    drop(hx);
    drop(rt);
}
