//! Clients filling `max_connections` on the leader, end to end: a real etcd, a real Galera
//! node run by `galera-sidecar galera`, its `checker serve`, and the haproxy sidecar routing
//! to it with `httpchk` — the pod of k8s/statefulset.yaml on loopback. Client sessions are
//! opened through haproxy (as an application would) until the server answers "Too many
//! connections".
//!
//! - Without a reserved port (the my.cnf sets no `extra_port`): the probes and the entrypoint
//!   are locked out with the clients — readiness fails, haproxy marks the leader down and cuts
//!   every session (`on-marked-down shutdown-sessions`), the leader resigns and deregisters.
//! - With `extra_port` / `extra_max_connections` in the my.cnf: the probes, `checker serve` and
//!   the entrypoint's status queries use the reserved port; readiness stays ready, the node
//!   stays registered, `P/leader` stays put, and every session survives.
//!
//! Subnets 127.0.230.x and 127.0.231.x are this file's (haproxy on .1, the node on .2).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::galera::{CheckerServe, Cluster, MONITOR_PASSWORD, MONITOR_USER};
use common::haproxy::{listen_addr, Sidecar};
use common::kubelet::{Kubelet, ProbeSpec};
use common::{bin, wait_until};
use galera_sidecar::etcd::watch::{watch, WatchEvent};
use galera_sidecar::mysql::{self, Credentials, Endpoint, MysqlError};
use mysql_async::prelude::Queryable;

const MAX_CONNECTIONS: usize = 20;
const CHECK_PORT: u16 = 18080;
const EXTRA_PORT: u16 = 3307;
const APP_PW: &str = "app-pw";

/// `P/leader` as a watch saw it: (when, value; None = deleted).
type LeaderEvents = Arc<Mutex<Vec<(Instant, Option<String>)>>>;
/// (case, arguments, environment, what the one line must contain)
type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// One cluster at a time: the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

struct Pod {
    c: Cluster,
    _serve: CheckerServe,
    haproxy: Sidecar,
    rt: tokio::runtime::Runtime,
    leader_events: LeaderEvents,
}

/// A one-node cluster at 127.0.<subnet>.2 with its checker serve and haproxy sidecar, STEADY,
/// haproxy routing to it; `mycnf_extra` appended to the node's my.cnf.
fn pod(subnet: u8, mycnf_extra: &str) -> Pod {
    let mut c = Cluster::new(subnet, 0);
    c.add_node(0, 1);
    c.nodes[0].mycnf_extra = format!("max_connections={MAX_CONNECTIONS}\n{mycnf_extra}");
    c.start(0);
    c.check("the node reaches STEADY", || {
        c.wait_steady(1, Duration::from_secs(90))
    });
    // The application's user: no privilege beyond its schema (no CONNECTION ADMIN).
    let node = &c.nodes[0];
    node.sql_result(&format!(
        "CREATE DATABASE IF NOT EXISTS app; CREATE USER 'app'@'%' IDENTIFIED BY '{APP_PW}'; \
         GRANT ALL ON app.* TO 'app'@'%'"
    ))
    .expect("create the application user");

    let serve = c.checker_serve(0, CHECK_PORT);

    let hdir = c.root.path().join("haproxy");
    let listen = listen_addr(&format!("127.0.{subnet}.1"));
    let haproxy = Sidecar::builder(&hdir, &c.endpoint(), &c.name, listen)
        .backend_port(3306)
        .check_port(CHECK_PORT)
        .start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let leader_events: LeaderEvents = Arc::new(Mutex::new(vec![]));
    {
        let events = leader_events.clone();
        let etcd = rt.block_on(c.etcd.client(&c.name));
        rt.spawn(async move {
            let key = etcd.keys.leader();
            let mut rx = watch(etcd, key.clone(), false);
            while let Some(ev) = rx.recv().await {
                let v = match ev {
                    WatchEvent::Reset { kvs, .. } => kvs
                        .iter()
                        .find(|kv| kv.key == key)
                        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
                    WatchEvent::Put(kv) => Some(String::from_utf8_lossy(&kv.value).into_owned()),
                    WatchEvent::Delete { .. } => None,
                };
                events.lock().expect("events").push((Instant::now(), v));
            }
        });
    }
    let p = Pod {
        c,
        _serve: serve,
        haproxy,
        rt,
        leader_events,
    };
    p.c.check("haproxy routes to the leader", || {
        wait_until("a session through haproxy", Duration::from_secs(30), || {
            p.rt.block_on(session(listen)).is_ok()
        })
    });
    p
}

/// One application session to `addr` (haproxy, or the node itself), and its connection id.
async fn session(addr: SocketAddr) -> Result<(mysql_async::Conn, u64), String> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some("app"))
        .pass(Some(APP_PW))
        .db_name(Some("app"))
        .prefer_socket(false);
    let fut = async {
        let mut c = mysql_async::Conn::new(opts)
            .await
            .map_err(|e| e.to_string())?;
        let id: Option<u64> = c
            .query_first("SELECT CONNECTION_ID()")
            .await
            .map_err(|e| e.to_string())?;
        Ok((c, id.unwrap_or_default()))
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Open sessions to `addr` until the server says "Too many connections".
fn fill(p: &Pod, addr: SocketAddr) -> Vec<(mysql_async::Conn, u64)> {
    let mut held = vec![];
    loop {
        assert!(
            held.len() <= MAX_CONNECTIONS + 5,
            "{} sessions and still no refusal",
            held.len()
        );
        match p.rt.block_on(session(addr)) {
            Ok(s) => held.push(s),
            Err(e) if e.contains("Too many connections") || e.contains("1040") => return held,
            Err(e) => panic!("session {} failed otherwise: {e}", held.len() + 1),
        }
    }
}

/// How many of the sessions still answer, on the same server connection.
fn alive(p: &Pod, held: &mut [(mysql_async::Conn, u64)]) -> usize {
    p.rt.block_on(async {
        let mut n = 0;
        for (conn, id) in held.iter_mut() {
            let q = tokio::time::timeout(
                Duration::from_secs(3),
                conn.query_first::<u64, _>("SELECT CONNECTION_ID()"),
            )
            .await;
            if matches!(q, Ok(Ok(Some(x))) if x == *id) {
                n += 1;
            }
        }
        n
    })
}

/// GET /readiness from the node's checker serve: (status, body).
fn http_readiness(ip: &str) -> (u16, String) {
    let mut s = TcpStream::connect((ip, CHECK_PORT)).expect("connect to checker serve");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /readiness HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read the response");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    (status, body)
}

fn kubelet_spec() -> ProbeSpec {
    // k8s/statefulset.yaml's readiness timings, the period shortened.
    ProbeSpec {
        period: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        failure_threshold: 1,
    }
}

fn monitor() -> Credentials {
    Credentials {
        user: Some(MONITOR_USER.into()),
        password: Some(MONITOR_PASSWORD.into()),
    }
}

#[test]
fn without_a_reserved_port_full_connections_take_the_leader_out() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = pod(230, "");
    let node = &p.c.nodes[0];
    assert!(
        node.log().contains("no reserved port"),
        "the entrypoint says it has no reserved port:\n{}",
        node.log()
    );
    // A reserved port given to the probe while mariadbd does not listen there (a configuration
    // mismatch): the probe still answers through the socket, and warns.
    let out = node
        .probe_cmd(&p.c.endpoint(), &p.c.name, "readiness")
        .args(["--extra-port", "3399"])
        .output()
        .expect("run the probe");
    let (line, err) = (common::stdout(&out), common::stderr(&out));
    assert!(
        out.status.success() && line.starts_with("ready: Synced"),
        "{line}{err}"
    );
    assert!(
        err.contains("the reserved port refuses connections") && err.contains(":3399"),
        "{err}"
    );

    // 1. Sessions through haproxy fill max_connections: the probes are locked out with them,
    //    readiness fails, haproxy marks the leader down and cuts every session.
    let mut held = fill(&p, p.haproxy.listen);
    let opened = held.len();
    let r = p.rt.block_on(mysql::wsrep_status(
        &Endpoint::Socket(node.socket()),
        &monitor(),
        Duration::from_secs(2),
    ));
    assert!(
        matches!(r, Err(MysqlError::TooManyConnections(_))),
        "monitor over the socket: {r:?}"
    );
    let mut k = Kubelet::new(kubelet_spec());
    k.run(1, || {
        node.probe_cmd(&p.c.endpoint(), &p.c.name, "readiness")
    });
    let cut = Instant::now();
    wait_until("haproxy cuts the sessions", Duration::from_secs(20), || {
        alive(&p, &mut held) == 0
    });
    println!(
        "without a reserved port: {opened} sessions through haproxy; exec readiness `{}`; all \
         {opened} cut by haproxy within {:.1?}",
        k.results[0].line,
        cut.elapsed()
    );
    assert!(
        !k.results[0].ok && k.results[0].line.contains("too many connections"),
        "{}",
        k.transcript()
    );
    drop(held);

    // 2. Sessions haproxy does not cut (a pool that reconnects at once keeps the server as
    //    full; here they go to the node's SQL port): the entrypoint cannot query its own
    //    server, so the healthy leader resigns and deregisters.
    wait_until("ready again", Duration::from_secs(20), || {
        http_readiness(&node.ip).0 == 200
    });
    let leader_before = p.leader_events.lock().expect("events").len();
    let log_from = node.log().len();
    let direct: SocketAddr = format!("{}:3306", node.ip).parse().expect("addr");
    let start = Instant::now();
    let held = fill(&p, direct);
    p.c.check("the leader resigns and deregisters", || {
        wait_until("P/leader deleted", Duration::from_secs(20), || {
            p.leader_events.lock().expect("events")[leader_before..]
                .iter()
                .any(|(_, v)| v.is_none())
        });
        let resigned = start.elapsed();
        wait_until("deregistered", Duration::from_secs(20), || {
            p.c.registered() == 0
        });
        println!(
            "without a reserved port: {} direct sessions; P/leader deleted {resigned:.1?} and the \
             node deregistered {:.1?} after the fill",
            held.len(),
            start.elapsed()
        );
        let log = node.log()[log_from..].to_string();
        assert!(
            log.contains("gave up leadership: local server not answering"),
            "the entrypoint resigned for its own status query:\n{log}"
        );
    });
    drop(held);
    // Connections free again: it registers and leads again.
    p.c.check("back", || {
        wait_until("registered again", Duration::from_secs(30), || {
            p.c.registered() == 1
        })
    });
}

#[test]
fn a_reserved_port_keeps_probes_leader_and_sessions_through_full_connections() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = pod(
        231,
        &format!("extra_port={EXTRA_PORT}\nextra_max_connections=10\n"),
    );
    let node = &p.c.nodes[0];
    let want = format!(
        "status queries and probes use the reserved port {}:{EXTRA_PORT} (extra_port) \
         (extra_max_connections = 10)",
        node.ip
    );
    assert!(node.log().contains(&want), "{want}:\n{}", node.log());
    let leader_kv = |p: &Pod| {
        p.rt.block_on(async {
            let etcd = p.c.etcd.client(&p.c.name).await;
            etcd.get(&etcd.keys.leader())
                .await
                .expect("read P/leader")
                .map(|kv| (kv.value_str().unwrap_or("").to_string(), kv.create_revision))
        })
    };
    let leader = leader_kv(&p).expect("a leader");
    assert_eq!(leader.0, node.ip);
    let events_before = p.leader_events.lock().expect("events").len();
    let log_from = node.log().len();

    let mut held = fill(&p, p.haproxy.listen);
    let opened = held.len();
    assert!(opened >= MAX_CONNECTIONS - 2, "{opened} sessions");
    // Exhausted for the monitor user on the normal paths: the socket and the SQL port.
    for ep in [
        Endpoint::Socket(node.socket()),
        Endpoint::Tcp {
            host: node.ip.clone(),
            port: 3306,
        },
    ] {
        let r =
            p.rt.block_on(mysql::wsrep_status(&ep, &monitor(), Duration::from_secs(2)));
        assert!(
            matches!(r, Err(MysqlError::TooManyConnections(_))),
            "monitor over {ep}: {r:?}"
        );
    }
    // Hold it full for three lease TTLs (4 s) while the kubelet probes and haproxy checks.
    let started = Instant::now();
    let make = {
        let (ep, name) = (p.c.endpoint(), p.c.name.clone());
        let cmd_node = (node.state_dir(), node.datadir(), node.socket());
        move || {
            let mut c = Command::new(bin());
            c.args(["--etcd-endpoints", &ep, "--cluster-name", &name])
                .args(["checker", "readiness", "--state-dir"])
                .arg(&cmd_node.0)
                .arg("--datadir")
                .arg(&cmd_node.1)
                .arg("--mysql-socket")
                .arg(&cmd_node.2)
                .env("GALERA_MONITOR_USER", MONITOR_USER)
                .env("GALERA_MONITOR_PASSWORD", MONITOR_PASSWORD)
                .env_remove("GALERA_ETCD_ENDPOINTS");
            c
        }
    };
    // The exec probe as the manifest runs it: the my.cnf (GALERA_DEFAULTS_FILE) names the port.
    let defaults = node.defaults_file();
    let readiness = Kubelet::start(kubelet_spec(), move || {
        let mut c = make();
        c.env("GALERA_DEFAULTS_FILE", &defaults);
        c
    });
    let liveness = {
        let (ep, name) = (p.c.endpoint(), p.c.name.clone());
        let n = (node.state_dir(), node.datadir(), node.defaults_file());
        Kubelet::start(
            ProbeSpec {
                period: Duration::from_secs(2),
                timeout: Duration::from_secs(5),
                failure_threshold: 3,
            },
            move || {
                let mut c = Command::new(bin());
                c.args(["--etcd-endpoints", &ep, "--cluster-name", &name])
                    .args(["checker", "liveness", "--state-dir"])
                    .arg(&n.0)
                    .arg("--datadir")
                    .arg(&n.1)
                    .arg("--defaults-file")
                    .arg(&n.2)
                    .env("GALERA_MONITOR_USER", MONITOR_USER)
                    .env("GALERA_MONITOR_PASSWORD", MONITOR_PASSWORD)
                    .env_remove("GALERA_ETCD_ENDPOINTS");
                c
            },
        )
    };
    let mut http = vec![];
    let mut registered = vec![];
    while started.elapsed() < Duration::from_secs(12) {
        http.push(http_readiness(&node.ip));
        registered.push(p.c.registered());
        std::thread::sleep(Duration::from_millis(500));
    }
    let readiness = readiness.stop();
    let liveness = liveness.stop();
    // Still full: the sessions hold every connection.
    let r = p.rt.block_on(mysql::wsrep_status(
        &Endpoint::Socket(node.socket()),
        &monitor(),
        Duration::from_secs(2),
    ));
    let still_full = matches!(r, Err(MysqlError::TooManyConnections(_)));
    let survivors = alive(&p, &mut held);
    let leader_after = leader_kv(&p);
    let events: Vec<_> = p.leader_events.lock().expect("events")[events_before..].to_vec();
    let log = node.log()[log_from..].to_string();
    let http_ok = http.iter().filter(|(s, _)| *s == 200).count();
    println!(
        "with the reserved port: {opened} sessions held {:.1?}; exec readiness {}/{} ready, \
         liveness {}/{} alive; checker serve {http_ok}/{} 200; registered {:?}; {survivors}/{opened} \
         sessions alive; P/leader events {}",
        started.elapsed(),
        readiness.results.iter().filter(|r| r.ok).count(),
        readiness.results.len(),
        liveness.results.iter().filter(|r| r.ok).count(),
        liveness.results.len(),
        http.len(),
        registered.iter().min(),
        events.len()
    );
    p.c.check("everything stays up through full connections", || {
        assert!(still_full, "still full at the end: {r:?}");
        assert!(
            readiness.results.len() >= 8 && readiness.results.iter().all(|r| r.ok),
            "exec readiness:\n{}",
            readiness.transcript()
        );
        assert!(
            readiness
                .results
                .iter()
                .all(|r| r.line.starts_with("ready: Synced")),
            "{}",
            readiness.transcript()
        );
        assert!(
            liveness.restarts.is_empty() && liveness.results.iter().all(|r| r.ok),
            "liveness:\n{}",
            liveness.transcript()
        );
        assert!(
            http.iter()
                .all(|(s, b)| *s == 200 && b.starts_with("ready:")),
            "checker serve: {http:?}"
        );
        assert!(
            registered.iter().all(|n| *n == 1),
            "registered: {registered:?}"
        );
        assert_eq!(leader_after, Some(leader.clone()), "P/leader unchanged");
        assert!(events.is_empty(), "P/leader events: {events:?}");
        assert!(
            !log.contains("gave up leadership") && !log.contains("local wsrep status unavailable"),
            "{log}"
        );
        assert_eq!(survivors, opened, "every session survives");
    });
    // The sessions go; the normal paths are usable again.
    drop(held);
    wait_until("connections free", Duration::from_secs(10), || {
        p.rt.block_on(mysql::wsrep_status(
            &Endpoint::Socket(node.socket()),
            &monitor(),
            Duration::from_secs(2),
        ))
        .is_ok()
    });
}

#[test]
fn bad_reserved_port_values_exit_2_naming_the_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cnf = dir.path().join("my.cnf");
    std::fs::write(&cnf, "[mysqld]\nport=33306\nextra_port=33307\n").expect("my.cnf");
    let cnf = cnf.display().to_string();
    let probe = |extra: &[&str]| {
        let mut a = vec!["checker", "readiness", "--defaults-file", &cnf];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let cases: Vec<Case> = vec![
        (
            "not a port",
            probe(&["--extra-port", "abc"]),
            vec![],
            vec!["--extra-port", "abc"],
        ),
        (
            "out of range, from the environment",
            probe(&[]),
            vec![("GALERA_EXTRA_PORT", "70000")],
            vec!["70000", "GALERA_EXTRA_PORT"],
        ),
        (
            "not the port mariadbd listens on",
            probe(&["--extra-port", "33308"]),
            vec![],
            vec!["--extra-port", "extra_port = 33307", "GALERA_EXTRA_PORT"],
        ),
        (
            "the SQL port itself",
            vec![
                "checker".into(),
                "liveness".into(),
                "--extra-port".into(),
                "3306".into(),
            ],
            vec![],
            vec!["--extra-port", "is the SQL port"],
        ),
    ];
    for (case, args, env, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::run(&args, &env);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{case}: one line: {err}");
        for n in needles {
            assert!(err.contains(n), "{case}: `{err}` lacks `{n}`");
        }
    }
}
