//! `galera-sidecar haproxy` and `haproxy readiness` against real components: a real etcd, a
//! real haproxy (run by the sidecar), and real MariaDB servers (wsrep OFF) standing for the
//! nodes, told apart by `@@server_id`. Each node's `checker serve` is stood in for by a small
//! HTTP responder in the test process whose answer (200/503) the test sets.
//!
//! Each test uses its own loopback /24 (127.0.60.x … 127.0.66.x, 127.0.151.x): haproxy on .1,
//! nodes on .2, .3, … (SQL port 33306, the default `--backend-port`). Every case prints how many
//! new connections it tried through haproxy and how many failed.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::etcd::EtcdServer;
use common::haproxy::{listen_addr, CheckResponder, Sidecar};
use common::plain_mariadb::{opts, server_id_once, PlainMariadb};
use common::{free_port, stdout, wait_until_async};
use galera_sidecar::etcd::Etcd;
use mysql_async::prelude::Queryable;

const CLUSTER: &str = "hx";
const SQL_PORT: u16 = 33306;

fn ip(net: u8, host: u8) -> String {
    format!("127.0.{net}.{host}")
}

/// etcd, `n` nodes (server ids 1..=n on .2, .3, …) with their check responders, a temp dir.
struct Bed {
    net: u8,
    etcd: EtcdServer,
    client: Etcd,
    _nodes: Vec<PlainMariadb>,
    checks: Vec<CheckResponder>,
    check_port: u16,
    dir: tempfile::TempDir,
    listen: SocketAddr,
}

impl Bed {
    async fn new(net: u8, n: u8) -> Bed {
        let etcd = EtcdServer::start();
        let client = etcd.client(CLUSTER).await;
        let check_port = free_port();
        let mut nodes = Vec::new();
        let mut checks = Vec::new();
        for i in 0..n {
            let node_ip = ip(net, 2 + i);
            // On the test's own thread, not `spawn_blocking`: children die with the thread
            // that started them (PR_SET_PDEATHSIG), and an idle blocking-pool thread exits
            // after 10 s — taking mariadbd or the sidecar (and its haproxy) with it mid-test.
            nodes.push(tokio::task::block_in_place(|| {
                PlainMariadb::start(&node_ip, SQL_PORT, 1 + i as u32)
            }));
            let addr: SocketAddr = format!("{node_ip}:{check_port}").parse().expect("addr");
            checks.push(CheckResponder::start(addr).await);
        }
        let listen = listen_addr(&ip(net, 1));
        Bed {
            net,
            etcd,
            client,
            _nodes: nodes,
            checks,
            check_port,
            dir: tempfile::tempdir().expect("tempdir"),
            listen,
        }
    }

    /// The sidecar in the bed's temp dir: `--check-port` of the responders, then `extra`.
    async fn sidecar(&self, extra: &[&str]) -> Sidecar {
        // On the test's own thread (see `Bed::new`).
        tokio::task::block_in_place(|| {
            Sidecar::builder(self.dir.path(), &self.etcd.endpoint(), CLUSTER, self.listen)
                .etcd_timeout("2s")
                .check_port(self.check_port)
                .args(extra)
                .start()
        })
    }

    async fn set_leader(&self, host: u8) {
        self.client
            .put(&self.client.keys.leader(), &ip(self.net, host), None)
            .await
            .expect("put leader");
    }

    fn hx_ip(&self) -> String {
        self.listen.ip().to_string()
    }

    async fn via_haproxy(&self) -> Result<u32, String> {
        server_id_once(&self.hx_ip(), self.listen.port()).await
    }
}

/// New connections through haproxy in a loop, until stopped: counts and the last server id.
struct Load {
    stop: Arc<AtomicBool>,
    last_id: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<(u32, Vec<String>)>,
}

impl Load {
    fn start(ip: String, port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let last_id = Arc::new(AtomicU32::new(0));
        let (s, l) = (stop.clone(), last_id.clone());
        let task = tokio::spawn(async move {
            let mut ok = 0;
            let mut failed = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match server_id_once(&ip, port).await {
                    Ok(id) => {
                        ok += 1;
                        l.store(id, Ordering::SeqCst);
                    }
                    Err(e) => failed.push(e),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (ok, failed)
        });
        Load {
            stop,
            last_id,
            task,
        }
    }

    async fn finish(self, case: &str) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let (ok, failed) = self.task.await.expect("load task");
        println!(
            "case {case}: {} new connections through haproxy, {} failed {:?}",
            ok as usize + failed.len(),
            failed.len(),
            failed
        );
        (ok, failed)
    }
}

async fn wait_reloads(s: &Sidecar, n: u64) {
    wait_until_async(&format!("reload #{n}"), Duration::from_secs(15), || async {
        s.status().and_then(|st| st["reloads"].as_u64()) == Some(n)
    })
    .await;
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follows_leader_changes_without_failed_connections() {
    let bed = Bed::new(60, 2).await;
    bed.set_leader(2).await;
    let sc = bed.sidecar(&[]).await;

    // The config names the leader; SQL reaches it.
    let cfg = sc.rendered();
    let line = format!(
        "server 127.0.60.2 127.0.60.2:{SQL_PORT} check port {}",
        bed.check_port
    );
    assert!(
        cfg.contains(&line),
        "rendered config lacks `{line}`:\n{cfg}"
    );
    assert_eq!(
        bed.via_haproxy().await,
        Ok(1),
        "SQL through haproxy reaches node 1"
    );
    assert_eq!(sc.reloads(), 0);
    // Sockets are owner-only; persisted files are not world-readable.
    assert_eq!(mode(&sc.run_dir.join("admin.sock")), 0o600);
    assert_eq!(mode(&sc.run_dir.join("master.sock")), 0o600);
    assert_eq!(mode(&sc.run_dir.join("last-good.cfg")), 0o640);
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(0), "readiness: {}", stdout(&r));

    // A long-lived (pooled) connection on the old leader.
    let mut pooled = mysql_async::Conn::new(opts(&bed.hx_ip(), bed.listen.port()))
        .await
        .expect("pooled connection");
    let id: Option<u32> = pooled
        .query_first("SELECT @@server_id")
        .await
        .expect("query");
    assert_eq!(id, Some(1));

    // Leader change under a loop of new connections.
    let load = Load::start(bed.hx_ip(), bed.listen.port());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    bed.set_leader(3).await;
    wait_until_async(
        "new connections reach node 2",
        Duration::from_secs(15),
        || async { load.last_id.load(Ordering::SeqCst) == 2 },
    )
    .await;
    println!(
        "case leader-change: new connections reach the new leader after {:?}",
        t0.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last = load.last_id.load(Ordering::SeqCst);
    let (ok, failed) = load.finish("leader-change").await;
    assert!(ok > 20, "the load loop ran ({ok} connections)");
    assert!(
        failed.is_empty(),
        "failed new connections during the switch: {failed:?}"
    );
    assert_eq!(
        last, 2,
        "after the switch every new connection goes to node 2"
    );
    let cfg = sc.rendered();
    assert!(cfg.contains("server 127.0.60.3 127.0.60.3:33306"), "{cfg}");
    assert!(!cfg.contains("127.0.60.2:33306"), "{cfg}");
    assert_eq!(sc.reloads(), 1);

    // The pooled connection to the old leader was cut (shutdown sessions).
    let cut = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let r: Result<Option<u32>, _> = pooled.query_first("SELECT @@server_id").await;
            match r {
                Err(_) => return true,
                Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(
        cut,
        "the long-lived connection to the old leader was not cut; log:\n{}",
        sc.log()
    );
    assert!(
        sc.log()
            .contains("ended a session still open on old leader galera/127.0.60.2"),
        "{}",
        sc.log()
    );

    // The same leader put again: same bytes, no reload.
    let unchanged = || {
        sc.log()
            .matches(
                "127.0.60.3:33306, backups in order none: rendered config unchanged, no reload",
            )
            .count()
    };
    let seen = unchanged();
    bed.set_leader(3).await;
    wait_until_async("the re-put is seen", Duration::from_secs(10), || async {
        unchanged() > seen
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sc.reloads(), 1, "same leader re-put must not reload");

    // The leader key deleted: the last config stays, SQL still routes, readiness holds.
    bed.client
        .delete(&bed.client.keys.leader())
        .await
        .expect("delete leader");
    wait_until_async("the delete is seen", Duration::from_secs(10), || async {
        sc.log().contains(
            "no leader in etcd: keeping the running config (127.0.60.3:33306; backups none)",
        )
    })
    .await;
    assert_eq!(sc.reloads(), 1);
    assert!(sc.rendered().contains("server 127.0.60.3 127.0.60.3:33306"));
    let load = Load::start(bed.hx_ip(), bed.listen.port());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last = load.last_id.load(Ordering::SeqCst);
    let (_, failed) = load.finish("leader-deleted").await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(last, 2);
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(0), "readiness: {}", stdout(&r));
    assert!(stdout(&r).contains("127.0.60.3:33306"), "{}", stdout(&r));
    drop(pooled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_verdicts() {
    let bed = Bed::new(61, 1).await;
    let mut sc = bed.sidecar(&[]).await;
    // No leader anywhere.
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(1), "{}", stdout(&r));
    assert!(
        stdout(&r).starts_with("not ready: no leader"),
        "{}",
        stdout(&r)
    );
    assert!(sc.rendered().contains("No leader known"));

    // A leader whose check passes.
    bed.set_leader(2).await;
    wait_reloads(&sc, 1).await;
    assert_eq!(bed.via_haproxy().await, Ok(1));
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(0), "{}", stdout(&r));
    assert!(stdout(&r).contains("UP"), "{}", stdout(&r));
    assert_eq!(stdout(&r).lines().count(), 1, "one line: {}", stdout(&r));

    // The leader's health check fails → not ready, saying so.
    bed.checks[0].set(503);
    wait_until_async("readiness fails", Duration::from_secs(15), || async {
        sc.readiness().status.code() == Some(1)
    })
    .await;
    let r = sc.readiness();
    println!("case check-failing: readiness says {}", stdout(&r).trim());
    assert!(
        stdout(&r).contains("DOWN (its health check fails)"),
        "{}",
        stdout(&r)
    );
    let r2 = bed.via_haproxy().await;
    assert!(
        r2.is_err(),
        "no SQL goes to a leader whose check fails: {r2:?}"
    );

    // Healthy again.
    bed.checks[0].set(200);
    wait_until_async("readiness passes", Duration::from_secs(15), || async {
        sc.readiness().status.code() == Some(0)
    })
    .await;

    // haproxy dying is fatal and named.
    let hpid = sc
        .status()
        .and_then(|s| s["haproxy_pid"].as_u64())
        .expect("haproxy pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hpid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill haproxy");
    let mut exit = None;
    wait_until_async("the sidecar exits", Duration::from_secs(10), || {
        exit = sc.try_wait();
        let done = exit.is_some();
        async move { done }
    })
    .await;
    assert_eq!(exit.and_then(|e| e.code()), Some(1));
    assert!(sc.log().contains("exited unexpectedly"), "{}", sc.log());
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(1), "{}", stdout(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_with_etcd_down_routes_with_the_persisted_config() {
    let mut bed = Bed::new(62, 1).await;
    bed.set_leader(2).await;
    let mut sc = bed.sidecar(&[]).await;
    assert_eq!(bed.via_haproxy().await, Ok(1));

    // Graceful stop: exit 0, haproxy gone (nothing listens).
    assert!(sc.stop(), "SIGTERM → exit 0; log:\n{}", sc.log());
    assert!(
        std::net::TcpStream::connect(bed.listen).is_err(),
        "haproxy still listens"
    );

    bed.etcd.stop();
    tokio::task::block_in_place(|| sc.restart());
    assert!(
        sc.log()
            .contains("the persisted last good config (127.0.62.2:33306)"),
        "{}",
        sc.log()
    );
    assert!(sc.rendered().contains("server 127.0.62.2 127.0.62.2:33306"));
    let load = Load::start(bed.hx_ip(), bed.listen.port());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last = load.last_id.load(Ordering::SeqCst);
    let (ok, failed) = load.finish("etcd-down-restart").await;
    assert!(ok > 5 && failed.is_empty(), "{ok} ok, failed {failed:?}");
    assert_eq!(last, 1);
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(0), "{}", stdout(&r));
    assert!(stdout(&r).contains("persisted"), "{}", stdout(&r));

    // etcd back with the same leader: seen, same bytes, no reload.
    tokio::task::block_in_place(|| bed.etcd.restart());
    wait_until_async("etcd seen again", Duration::from_secs(20), || async {
        sc.status().map(|s| s["etcd_seen"] == true) == Some(true)
    })
    .await;
    assert_eq!(sc.reloads(), 0);
    let st = sc.status().expect("status");
    assert_eq!(st["etcd_leader"], "127.0.62.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn template_override_and_a_config_haproxy_rejects() {
    let bed = Bed::new(63, 2).await;
    let good = format!(
        "# custom-template-marker\n{}",
        galera_sidecar::haproxy::render::BUILTIN_TEMPLATE
            .replace("backend galera", "backend writers")
            .replace("default_backend galera", "default_backend writers")
    );
    let tpl = bed.dir.path().join("custom.cfg.j2");
    std::fs::write(&tpl, &good).expect("write template");
    bed.set_leader(2).await;
    let sc = bed
        .sidecar(&["--template", tpl.to_str().expect("utf8")])
        .await;
    let cfg = sc.rendered();
    assert!(cfg.starts_with("# custom-template-marker"), "{cfg}");
    assert!(cfg.contains("backend writers"), "{cfg}");
    assert_eq!(bed.via_haproxy().await, Ok(1));
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(0), "{}", stdout(&r));
    assert!(
        stdout(&r).contains("writers/127.0.63.2 UP"),
        "{}",
        stdout(&r)
    );

    // An edited template that haproxy -c rejects: no reload, old config kept, clear error.
    std::fs::write(&tpl, format!("{good}\n    this-is-not-a-directive\n")).expect("write template");
    let before = sc.rendered();
    bed.set_leader(3).await;
    wait_until_async(
        "the rejection is recorded",
        Duration::from_secs(15),
        || async { sc.status().map(|s| s["last_error"].is_string()) == Some(true) },
    )
    .await;
    let err = sc.status().expect("status")["last_error"]
        .as_str()
        .expect("error")
        .to_string();
    println!("case bad-template: last_error = {err}");
    assert!(err.contains("haproxy -c rejected"), "{err}");
    assert!(err.contains("this-is-not-a-directive"), "{err}");
    assert_eq!(sc.reloads(), 0, "no reload with a rejected config");
    assert_eq!(sc.rendered(), before, "the running config file is kept");
    assert!(sc
        .log()
        .contains("haproxy keeps running the previous config (127.0.63.2:33306)"));
    let load = Load::start(bed.hx_ip(), bed.listen.port());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last = load.last_id.load(Ordering::SeqCst);
    let (_, failed) = load.finish("bad-template").await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(last, 1, "still routed to the old leader");
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(1), "{}", stdout(&r));
    assert!(
        stdout(&r).contains("still routes to 127.0.63.2:33306"),
        "{}",
        stdout(&r)
    );

    // Template fixed; the next event (a re-put) applies it.
    std::fs::write(&tpl, &good).expect("write template");
    bed.set_leader(3).await;
    wait_reloads(&sc, 1).await;
    assert_eq!(bed.via_haproxy().await, Ok(2));
    assert!(sc.status().expect("status")["last_error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_check_option() {
    let bed = Bed::new(64, 1).await;
    bed.set_leader(2).await;
    let stats = format!("127.0.64.1:{}", free_port());
    let sc = bed
        .sidecar(&["--health-check", "mysql-check", "--stats-listen", &stats])
        .await;
    let cfg = sc.rendered();
    // The stats page answers.
    let page = tokio::task::block_in_place(|| {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&stats).expect("connect to the stats page");
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    });
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
        "{page}"
    );
    assert!(
        cfg.contains("option mysql-check user haproxy post-41"),
        "{cfg}"
    );
    assert!(
        cfg.contains("server 127.0.64.2 127.0.64.2:33306 check\n"),
        "{cfg}"
    );
    // The HTTP responder says 503: mysql-check does not look at it.
    bed.checks[0].set(503);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = sc.readiness();
    assert_eq!(r.status.code(), Some(0), "{}", stdout(&r));
    let failures = Arc::new(Mutex::new(0));
    for _ in 0..20 {
        if bed.via_haproxy().await != Ok(1) {
            *failures.lock().expect("lock") += 1;
        }
    }
    let f = *failures.lock().expect("lock");
    println!("case mysql-check: 20 new connections through haproxy, {f} failed");
    assert_eq!(f, 0);
}

/// One new-connection attempt that lives like a short client transaction: connect, a 50 ms
/// statement, `SELECT @@server_id`, disconnect (bounded by 5 s).
async fn short_transaction(ip: &str, port: u16) -> Result<u32, String> {
    let fut = async {
        let mut c = mysql_async::Conn::new(opts(ip, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        c.query_drop("DO SLEEP(0.05)")
            .await
            .map_err(|e| format!("statement: {e}"))?;
        let id: Option<u32> = c
            .query_first("SELECT @@server_id")
            .await
            .map_err(|e| format!("query: {e}"))?;
        let _ = c.disconnect().await;
        id.ok_or_else(|| "no row".to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Graceful moves (the old leader stays up) under four clients that each open a new
/// connection per short transaction, back to back: not one attempt fails — neither those
/// accepted by the old worker just before a reload, nor those arriving while the new worker's
/// first check of the new leader times out — and a session pinned on the old leader is still
/// ended after every move. `HAPROXY_MOVES` sets how many moves (default 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_moves_fail_no_new_connection() {
    let moves: u32 = std::env::var("HAPROXY_MOVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let bed = Bed::new(65, 2).await;
    bed.set_leader(2).await;
    let sc = bed.sidecar(&[]).await;
    let (ip, port) = (bed.hx_ip(), bed.listen.port());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (s, ip) = (stop.clone(), ip.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !s.load(Ordering::SeqCst) {
                match short_transaction(&ip, port).await {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ended_after = Vec::new();
    let mut failed_pinned = Vec::new();
    for m in 0..moves {
        let (from, to): (u8, u8) = if m % 2 == 0 { (2, 3) } else { (3, 2) };
        // Counted with the clients' attempts: a failed connect here is a failure too.
        let mut pinned_failures = Vec::new();
        let t = Instant::now();
        let mut pinned = loop {
            match mysql_async::Conn::new(opts(&ip, port)).await {
                Ok(c) => break c,
                Err(e) if t.elapsed() < Duration::from_secs(10) => {
                    pinned_failures.push(format!("pinned connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("move {m}: a long-lived connection: {e}; log:\n{}", sc.log()),
            }
        };
        failed_pinned.extend(pinned_failures);
        let id: Option<u32> = pinned
            .query_first("SELECT @@server_id")
            .await
            .expect("query");
        assert_eq!(
            id,
            Some(u32::from(from) - 1),
            "move {m}: pinned on the old leader"
        );
        // As in a drain: the old leader's readiness fails from the start of the move, and
        // the new worker's first check of the new leader times out (a busy node).
        bed.checks[usize::from(from - 2)].set(503);
        bed.checks[usize::from(to - 2)].slow_next(1);
        let t0 = Instant::now();
        bed.set_leader(to).await;
        wait_reloads(&sc, u64::from(m) + 1).await;
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let r: Result<Option<u32>, _> = pinned.query_first("SELECT @@server_id").await;
                if r.is_err() {
                    return t0.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "move {m}: the session pinned on the old leader was not ended; log:\n{}",
                sc.log()
            )
        });
        ended_after.push(ended);
        bed.checks[usize::from(from - 2)].set(200);
        // Let the slow check time out while this worker is the current one.
        let settle = Duration::from_secs(3).saturating_sub(t0.elapsed());
        tokio::time::sleep(settle.max(Duration::from_millis(300))).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut failed) = (0, failed_pinned);
    for c in clients {
        let (o, f) = c.await.expect("client");
        ok += o;
        failed.extend(f);
    }
    println!(
        "case graceful-moves: {moves} moves, {} new connections, {} failed {failed:?}; the \
         pinned session ended {ended_after:.2?} after each move",
        ok as usize + failed.len(),
        failed.len()
    );
    assert!(ok > 50, "the clients ran ({ok} connections)");
    assert!(
        failed.is_empty(),
        "failed new connections across {moves} graceful moves: {failed:?}; log:\n{}",
        sc.log()
    );
    let ended_by_haproxy = sc
        .log()
        .matches("ended a session still open on old leader")
        .count();
    assert!(
        ended_by_haproxy >= moves as usize,
        "every move ended the pinned session itself ({ended_by_haproxy} logged); log:\n{}",
        sc.log()
    );
}

/// `n` connections held open at once through `port`: the server id each one landed on.
async fn held_connections(ip: &str, port: u16, n: usize) -> Vec<u32> {
    let mut conns = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut c = tokio::time::timeout(
            Duration::from_secs(5),
            mysql_async::Conn::new(opts(ip, port)),
        )
        .await
        .expect("connect in time")
        .expect("connect to the read port");
        let id: Option<u32> = c
            .query_first("SELECT @@server_id")
            .await
            .expect("query through the read port");
        ids.push(id.expect("a row"));
        // Held open: leastconn sees it while the next one is placed.
        conns.push(c);
    }
    for c in conns {
        let _ = c.disconnect().await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_port_spreads_over_the_other_members_and_falls_back_to_the_leader() {
    // Three members; server id 1 (127.0.151.2) is the leader.
    let bed = Bed::new(151, 3).await;
    for i in 0..3u8 {
        bed.client
            .put(
                &bed.client.keys.member(&format!("g-{i}")),
                &ip(151, 2 + i),
                None,
            )
            .await
            .expect("put member");
    }
    bed.set_leader(2).await;
    let read: SocketAddr = format!("{}:{}", ip(151, 1), free_port())
        .parse()
        .expect("addr");
    let sc = bed.sidecar(&["--read-listen", &read.to_string()]).await;
    let cfg = sc.rendered();
    assert!(cfg.contains("backend galera_read"), "{cfg}");
    let port = read.port();
    let hx = bed.hx_ip();

    // Every node passes its check: 12 connections held at once spread over the two others,
    // none on the leader; the write port still reaches the leader.
    let ids = held_connections(&hx, port, 12).await;
    let on = |id: u32| ids.iter().filter(|&&x| x == id).count();
    println!("case read port: 12 connections held open landed on {ids:?}");
    assert_eq!((on(1), on(2), on(3)), (0, 6, 6), "{ids:?}");
    assert_eq!(bed.via_haproxy().await, Ok(1));

    // Both other nodes fail their checks: reads go to the leader, the backup.
    bed.checks[1].set(503);
    bed.checks[2].set(503);
    wait_until_async("reads on the leader", Duration::from_secs(10), || async {
        server_id_once(&hx, port).await == Ok(1)
    })
    .await;
    let ids = held_connections(&hx, port, 6).await;
    assert_eq!(ids, vec![1; 6], "only the leader is left");

    // One of them passes again: reads leave the leader for it.
    bed.checks[2].set(200);
    wait_until_async("reads back on node 3", Duration::from_secs(10), || async {
        server_id_once(&hx, port).await == Ok(3)
    })
    .await;
    let ids = held_connections(&hx, port, 6).await;
    assert_eq!(ids, vec![3; 6], "the healthy non-leader takes every read");
    assert_eq!(bed.via_haproxy().await, Ok(1), "writes stay on the leader");
}
