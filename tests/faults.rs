//! Fault injection with a data-loss check, end to end: real etcd, three real Galera nodes run by
//! `galera-sidecar galera`, and the haproxy sidecar (`galera-sidecar haproxy --health-check
//! mysql-check`, a password-less `'haproxy'@'%'` created after the first STEADY) in front.
//!
//! A writer thread commits numbered rows through haproxy (autocommit `INSERT … VALUES (id, …)`,
//! retried on failure with the same id; a duplicate-key answer on a retry means an earlier
//! attempt committed) and records every acknowledged commit. A sampler thread reads every
//! node's wsrep view twice a second. Meanwhile a seeded random schedule injects one fault per
//! round: kill -9 a node, kill -9 all nodes, SIGTERM the leader, stop etcd for 5–30 s, wipe
//! etcd, SIGSTOP an entrypoint past its lease TTL, cut a node off with nftables and heal it,
//! restart a node at a new address, empty a node's datadir, restart the nodes in random order.
//! Exited entrypoints are restarted as a kubelet would. After each round, within a bound:
//! 3 Synced nodes (cluster size 3, the cluster's uuid) and STEADY, one leader that haproxy
//! routes to (its status file and a live `SELECT @@bind_address` through it), `P/uuid`
//! unchanged, no two disjoint Primary Components of one uuid seen during the round, no Primary
//! with another uuid, writes through haproxy resumed, and every acknowledged row on every node
//! (read with `wsrep_sync_wait=1`).
//!
//! Each block of ten rounds injects every kind once, in a seeded order.
//!
//! ```text
//! cargo test --test faults                                   # CI: 10 rounds (~4 min)
//! GALERA_FAULT_ROUNDS=50 cargo test --test faults -- --nocapture  # a long run
//! GALERA_FAULT_SEED=1234 cargo test --test faults -- --nocapture  # replay a schedule
//! GALERA_FAULT_KINDS=partition,kill-all cargo test --test faults  # only these kinds
//! GALERA_FAULT_LOG_DIR=/tmp/fault-logs cargo test --test faults   # keep every log
//! ```
//!
//! The random seed is printed first; a failure names that number, the round and the fault. Loopback
//! subnet 127.0.180.x is this file's (the nftables table `galera_faults_180`).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::{disjoint_primaries, KeepLogs, Sampler, SamplerLog, Schedule, View};
use common::galera::{Cluster, MONITOR_PASSWORD, MONITOR_USER, ROOT_PASSWORD};
use common::haproxy::{listen_addr, Sidecar};
use common::nft::Partition;
use common::writers::{Writer, WriterLog};
use galera_sidecar::mysql::Credentials;
use nix::sys::signal::Signal;

const SUBNET: u8 = 180;
const NODES: usize = 3;
const DEFAULT_ROUNDS: usize = 10;
/// From the end of a fault (the heal, the restart) to a converged, routed cluster.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(300);
/// The nodes' lease TTL in the harness (`TestNode::lease_ttl`).
const LEASE_TTL: Duration = Duration::from_secs(4);
const NFT_TABLE: &str = "galera_faults_180";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillNode,
    KillAll,
    SigtermLeader,
    EtcdStop,
    EtcdWipe,
    PauseEntrypoint,
    Partition,
    NewAddress,
    EmptyDatadir,
    RestartRandomOrder,
}

const ALL: [Fault; 10] = [
    Fault::KillNode,
    Fault::KillAll,
    Fault::SigtermLeader,
    Fault::EtcdStop,
    Fault::EtcdWipe,
    Fault::PauseEntrypoint,
    Fault::Partition,
    Fault::NewAddress,
    Fault::EmptyDatadir,
    Fault::RestartRandomOrder,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillNode => "kill-node",
            Fault::KillAll => "kill-all",
            Fault::SigtermLeader => "sigterm-leader",
            Fault::EtcdStop => "etcd-stop",
            Fault::EtcdWipe => "etcd-wipe",
            Fault::PauseEntrypoint => "pause-entrypoint",
            Fault::Partition => "partition",
            Fault::NewAddress => "new-address",
            Fault::EmptyDatadir => "empty-datadir",
            Fault::RestartRandomOrder => "restart-random-order",
        }
    }
}

/// The kinds to draw from: `GALERA_FAULT_KINDS` (comma-separated names) or all.
fn kinds_from_env() -> Vec<Fault> {
    match std::env::var("GALERA_FAULT_KINDS") {
        Err(_) => ALL.to_vec(),
        Ok(s) => s
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                ALL.iter()
                    .copied()
                    .find(|f| f.name() == n)
                    .unwrap_or_else(|| {
                        panic!(
                            "GALERA_FAULT_KINDS: unknown kind {n:?}; known: {:?}",
                            ALL.map(Fault::name)
                        )
                    })
            })
            .collect(),
    }
}

fn rounds_from_env() -> usize {
    std::env::var("GALERA_FAULT_ROUNDS")
        .ok()
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("GALERA_FAULT_ROUNDS={s:?} is not a number"))
        })
        .unwrap_or(DEFAULT_ROUNDS)
}

/// Everything a round needs.
struct Bed {
    c: Cluster,
    hx: Sidecar,
    hx_listen: SocketAddr,
    /// The nodes' current addresses, shared with the sampler.
    ips: Arc<Mutex<Vec<String>>>,
    next_host: u8,
    uuid: String,
    sched: Schedule,
    /// Restarts of exited entrypoints done by the "kubelet" in the current round.
    kubelet_restarts: usize,
}

impl Bed {
    fn status(&self) -> serde_json::Value {
        let out = self.c.cli(&["status", "--json", "--no-live"]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn leader_host(status: &serde_json::Value) -> Option<String> {
        let l = status["leader"].as_str()?;
        // `host` or `host:port` (IPv4 here).
        Some(l.split(':').next().unwrap_or(l).to_string())
    }

    fn node_of(&self, ip: &str) -> Option<usize> {
        self.c.nodes.iter().position(|n| n.ip == ip)
    }

    fn restart_exited(&mut self) {
        self.kubelet_restarts += self.c.restart_exited();
    }

    /// Sleep `d`, restarting exited entrypoints meanwhile.
    fn sleep_restarting(&mut self, d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {
            self.restart_exited();
            std::thread::sleep(Duration::from_millis(500).min(d.saturating_sub(start.elapsed())));
        }
    }

    fn sync_ips(&self) {
        *self.ips.lock().expect("ips") = self.c.nodes.iter().map(|n| n.ip.clone()).collect();
    }

    /// One node's wsrep state in one query over the socket.
    fn wsrep(&self, i: usize) -> BTreeMap<String, String> {
        self.c.nodes[i]
            .sql(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', \
                 'wsrep_cluster_size', 'wsrep_cluster_state_uuid', 'wsrep_cluster_status')",
            )
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect()
    }

    /// `SELECT @@bind_address` through haproxy: the node it routes a new connection to.
    fn routed_live(&self) -> Option<String> {
        let out = std::process::Command::new("mariadb")
            .args(["-h", &self.hx_listen.ip().to_string()])
            .args(["-P", &self.hx_listen.port().to_string()])
            .args([
                "-uroot",
                "--protocol=tcp",
                "--connect-timeout=2",
                "-N",
                "-B",
            ])
            .args(["-e", "SELECT @@bind_address"])
            .env("MYSQL_PWD", ROOT_PASSWORD)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `Ok` when converged, else why not.
    fn converged(&self) -> Result<String, String> {
        let s = self.status();
        if s["state"] != "STEADY" {
            return Err(format!("state {}", s["state"]));
        }
        let registered = s["members"]
            .as_array()
            .map(|m| m.iter().filter(|r| r["registered"] == true).count())
            .unwrap_or(0);
        if registered != NODES {
            return Err(format!("{registered} registered"));
        }
        if s["uuid"].as_str() != Some(self.uuid.as_str()) {
            return Err(format!("P/uuid is {} (was {})", s["uuid"], self.uuid));
        }
        let leader = Self::leader_host(&s).ok_or("no leader")?;
        let li = self
            .node_of(&leader)
            .ok_or_else(|| format!("leader {leader} is not a current node address"))?;
        for i in 0..NODES {
            let w = self.wsrep(i);
            let get = |k: &str| w.get(k).map(String::as_str).unwrap_or("?");
            if get("wsrep_local_state_comment") != "Synced"
                || get("wsrep_cluster_size") != "3"
                || get("wsrep_cluster_status") != "Primary"
                || get("wsrep_cluster_state_uuid") != self.uuid
            {
                return Err(format!(
                    "{} not Synced in the cluster: {w:?}",
                    self.c.nodes[i].name
                ));
            }
        }
        let routed = self.hx.routed_host();
        if routed.as_deref() != Some(leader.as_str()) {
            return Err(format!("haproxy routes to {routed:?}, leader {leader}"));
        }
        match self.routed_live() {
            Some(b) if b == leader => {}
            other => return Err(format!("a connection through haproxy reached {other:?}")),
        }
        Ok(self.c.nodes[li].name.clone())
    }
}

/// The outcome of the whole run, printed at the end (also after a failure).
#[derive(Default)]
struct Summary {
    seed: u64,
    rounds: usize,
    by_kind: BTreeMap<&'static str, (usize, Duration)>,
    worst: Duration,
    worst_round: String,
    kubelet_restarts: usize,
}

impl Summary {
    fn print(&self, w: &WriterLog, s: &SamplerLog, lost: usize) {
        println!("==== fault injection summary (seed {}) ====", self.seed);
        println!("rounds: {}", self.rounds);
        for (k, (n, worst)) in &self.by_kind {
            println!("  {k:<22} {n:>3} × (worst convergence {worst:.1?})");
        }
        println!(
            "rows acknowledged: {} (plus {} confirmed by a duplicate on retry; {} failed attempts retried)",
            w.acked.len(),
            w.dup_confirmed.len(),
            w.failures
        );
        println!("rows lost: {lost}");
        println!(
            "worst convergence: {:.1?} ({})",
            self.worst, self.worst_round
        );
        println!(
            "entrypoints restarted by the kubelet: {}",
            self.kubelet_restarts
        );
        println!(
            "wsrep samples: {} (most Primary nodes in one: {}), two-Primary violations: {}, foreign uuids: {:?}",
            s.samples,
            s.max_primary,
            s.violations.len(),
            s.foreign_uuids
        );
        println!(
            "seed: {} (GALERA_FAULT_SEED={} replays it)",
            self.seed, self.seed
        );
    }
}

/// Inject `kind`; returns what was done. Returns when the fault is over (healed, restarted).
fn inject(b: &mut Bed, kind: Fault) -> String {
    let n = b.c.nodes.len();
    match kind {
        Fault::KillNode => {
            let i = b.sched.pick(n);
            let delay = Duration::from_millis(b.sched.between(0, 10_000));
            b.c.nodes[i].kill9();
            std::thread::sleep(delay);
            b.c.start(i);
            format!("kill -9 {}, restarted after {delay:.1?}", b.c.nodes[i].name)
        }
        Fault::KillAll => {
            let delay = Duration::from_millis(b.sched.between(0, 5_000));
            let order = b.sched.permutation(n);
            b.c.kill_all();
            std::thread::sleep(delay);
            let mut gaps = vec![];
            for &i in &order {
                let gap = Duration::from_millis(b.sched.between(0, 2_000));
                b.c.start(i);
                std::thread::sleep(gap);
                gaps.push(format!("{} (+{gap:.1?})", b.c.nodes[i].name));
            }
            format!("kill -9 all, after {delay:.1?} started {}", gaps.join(", "))
        }
        Fault::SigtermLeader => {
            let s = b.status();
            let leader = Bed::leader_host(&s).expect("a leader before the fault");
            let i = b.node_of(&leader).expect("the leader is a node");
            let delay = Duration::from_millis(b.sched.between(0, 3_000));
            let t = Instant::now();
            let code = b.c.nodes[i].sigterm(Duration::from_secs(90));
            let took = t.elapsed();
            assert_eq!(
                code,
                Some(0),
                "seed {}: the leader {} exited {code:?} after SIGTERM:\n{}",
                b.sched.seed,
                b.c.nodes[i].name,
                b.c.logs()
            );
            std::thread::sleep(delay);
            b.c.start(i);
            format!(
                "SIGTERM the leader {} (exit 0 after {took:.1?}), restarted after {delay:.1?}",
                b.c.nodes[i].name
            )
        }
        Fault::EtcdStop => {
            let d = Duration::from_secs(b.sched.between(5, 30));
            b.c.etcd.stop();
            b.sleep_restarting(d);
            b.c.etcd.restart();
            format!("etcd stopped for {d:.1?}")
        }
        Fault::EtcdWipe => {
            b.c.etcd.wipe();
            "etcd wiped (new cluster id, no keys)".into()
        }
        Fault::PauseEntrypoint => {
            let i = b.sched.pick(n);
            let d = LEASE_TTL + Duration::from_secs(b.sched.between(2, 10));
            b.c.nodes[i].signal(Signal::SIGSTOP);
            std::thread::sleep(d);
            // The fault took effect: the paused entrypoint's lease expired with its keys.
            let name = b.c.nodes[i].name.clone();
            let registered = b.status()["members"]
                .as_array()
                .and_then(|m| m.iter().find(|r| r["name"] == name.as_str()).cloned())
                .map(|r| r["registered"] == true);
            b.c.nodes[i].signal(Signal::SIGCONT);
            assert_eq!(
                registered,
                Some(false),
                "seed {}: {name} still registered after its entrypoint was paused {d:?} \
                 (lease TTL {LEASE_TTL:?})",
                b.sched.seed
            );
            format!("SIGSTOP {name}'s entrypoint for {d:.1?} (its lease expired), SIGCONT")
        }
        Fault::Partition => {
            let i = b.sched.pick(n);
            let d = Duration::from_secs(b.sched.between(8, 20));
            let others: Vec<String> = (0..n)
                .filter(|&j| j != i)
                .map(|j| b.c.nodes[j].ip.clone())
                .collect();
            let cut = Partition::isolate(NFT_TABLE, &b.c.nodes[i].ip, &others);
            let start = Instant::now();
            let mut lost_primary = None;
            while start.elapsed() < d {
                b.restart_exited();
                let w = b.wsrep(i);
                if lost_primary.is_none()
                    && w.get("wsrep_cluster_status").map(String::as_str) != Some("Primary")
                {
                    lost_primary = Some(start.elapsed());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            drop(cut);
            let lost = lost_primary.unwrap_or_else(|| {
                panic!(
                    "seed {}: the partition of {} had no effect: still Primary after {d:?}",
                    b.sched.seed, b.c.nodes[i].name
                )
            });
            format!(
                "{} cut off for {d:.1?} (non-Primary after {lost:.1?}), healed",
                b.c.nodes[i].name
            )
        }
        Fault::NewAddress => {
            let i = b.sched.pick(n);
            b.c.nodes[i].kill9();
            let old = b.c.nodes[i].ip.clone();
            b.c.nodes[i].ip = format!("127.0.{SUBNET}.{}", b.next_host);
            b.next_host = if b.next_host >= 250 {
                5
            } else {
                b.next_host + 1
            };
            b.sync_ips();
            let delay = Duration::from_millis(b.sched.between(0, 3_000));
            std::thread::sleep(delay);
            b.c.start(i);
            format!(
                "kill -9 {}, restarted after {delay:.1?} at {} (was {old})",
                b.c.nodes[i].name, b.c.nodes[i].ip
            )
        }
        Fault::EmptyDatadir => {
            let i = b.sched.pick(n);
            b.c.nodes[i].kill9();
            let dd = b.c.nodes[i].datadir();
            std::fs::remove_dir_all(&dd).expect("remove the datadir");
            b.c.start(i);
            format!("kill -9 {}, datadir emptied, restarted", b.c.nodes[i].name)
        }
        Fault::RestartRandomOrder => {
            let order = b.sched.permutation(n);
            let mut done = vec![];
            for &i in &order {
                let gap = Duration::from_millis(b.sched.between(0, 6_000));
                let code = b.c.nodes[i].sigterm(Duration::from_secs(90));
                assert_eq!(
                    code,
                    Some(0),
                    "seed {}: {} exited {code:?} after SIGTERM:\n{}",
                    b.sched.seed,
                    b.c.nodes[i].name,
                    b.c.logs()
                );
                b.c.start(i);
                std::thread::sleep(gap);
                done.push(format!("{} (+{gap:.1?})", b.c.nodes[i].name));
            }
            format!("SIGTERM and restart, in order {}", done.join(", "))
        }
    }
}

/// Every id in `must` is on every node (read with `wsrep_sync_wait=1`); returns the missing
/// ones per node.
fn missing_rows(b: &Bed, must: &[u32]) -> Vec<(String, Vec<u32>)> {
    let mut out = vec![];
    for node in &b.c.nodes {
        let start = Instant::now();
        let ids = loop {
            if let Some(s) = node.sql("SET SESSION wsrep_sync_wait=1; SELECT id FROM t.rows") {
                break s;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "seed {}: cannot read t.rows on {}:\n{}",
                    b.sched.seed,
                    node.name,
                    b.c.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let present: HashSet<u32> = ids.lines().filter_map(|l| l.trim().parse().ok()).collect();
        let missing: Vec<u32> = must
            .iter()
            .copied()
            .filter(|id| !present.contains(id))
            .collect();
        if !missing.is_empty() {
            out.push((node.name.clone(), missing));
        }
    }
    out
}

/// A snippet of every ~20 missing ids, for messages.
fn ids_preview(ids: &[u32]) -> String {
    let head: Vec<String> = ids.iter().take(20).map(u32::to_string).collect();
    format!(
        "{} ids: {}{}",
        ids.len(),
        head.join(","),
        if ids.len() > 20 { ",…" } else { "" }
    )
}

#[test]
fn faults_lose_no_acknowledged_row() {
    common::init_test_logging();
    let sched = Schedule::from_env();
    let rounds = rounds_from_env();
    let kinds = kinds_from_env();
    println!(
        "fault injection: seed {} (GALERA_FAULT_SEED={} replays it), {rounds} rounds, kinds {:?}",
        sched.seed,
        sched.seed,
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>()
    );
    Partition::remove_leftover(NFT_TABLE);

    // The cluster, its first STEADY, the users haproxy and the writer need.
    let mut c = Cluster::new(SUBNET, NODES);
    c.start_all();
    c.check("first bootstrap", || {
        c.wait_steady(NODES, Duration::from_secs(180))
    });
    let setup = "CREATE USER IF NOT EXISTS 'haproxy'@'%'; \
                 CREATE DATABASE IF NOT EXISTS t; \
                 CREATE TABLE IF NOT EXISTS t.rows (id INT PRIMARY KEY, v VARCHAR(32))";
    assert!(c.nodes[0].sql(setup).is_some(), "setup SQL:\n{}", c.logs());
    let uuid = c.status()["uuid"].as_str().expect("P/uuid").to_string();

    let hx_dir = c.root.path().join("haproxy");
    let hx_listen = listen_addr(&format!("127.0.{SUBNET}.1"));
    let hx = Sidecar::builder(&hx_dir, &c.endpoint(), &c.name, hx_listen)
        .etcd_timeout("2s")
        .mysql_check()
        .backend_port(3306)
        .start();
    let ips = Arc::new(Mutex::new(vec![]));
    let mut b = Bed {
        c,
        hx,
        hx_listen,
        ips: ips.clone(),
        next_host: 5,
        uuid: uuid.clone(),
        sched,
        kubelet_restarts: 0,
    };
    b.sync_ips();
    // Declared after `b`: dropped (logs copied) before the cluster's temp dir is removed.
    let _keep = KeepLogs {
        root: b.c.root.path().to_path_buf(),
    };
    converge(&mut b, "initial");

    let mut writer = Writer::start(hx_listen, "root", ROOT_PASSWORD, Duration::from_millis(25));
    let mut sampler = Sampler::start(
        ips,
        3306,
        Credentials {
            user: Some(MONITOR_USER.into()),
            password: Some(MONITOR_PASSWORD.into()),
        },
        uuid.clone(),
        Duration::from_millis(500),
    );
    wait_writes(&b, &writer, "initial");

    let mut summary = Summary {
        seed: b.sched.seed,
        ..Default::default()
    };
    let mut deck: Vec<Fault> = vec![];
    let mut seen_violations = 0;
    for round in 1..=rounds {
        if deck.is_empty() {
            deck = b
                .sched
                .permutation(kinds.len())
                .into_iter()
                .map(|i| kinds[i])
                .collect();
        }
        let kind = deck.remove(0);
        b.kubelet_restarts = 0;
        let what = inject(&mut b, kind);
        let ctx = format!(
            "seed {} round {round}/{rounds} {}: {what}",
            b.sched.seed,
            kind.name()
        );
        println!("{ctx}");
        let took = converge(&mut b, &ctx);
        wait_writes(&b, &writer, &ctx);

        // No second Primary Component, no Primary with another uuid, during the round.
        let s = sampler.snapshot();
        assert!(
            s.violations.len() == seen_violations,
            "{ctx}: two Primary Components at once:\n{}\n{}",
            s.violations[seen_violations..].join("\n"),
            b.c.logs()
        );
        seen_violations = s.violations.len();
        assert!(
            s.foreign_uuids.is_empty(),
            "{ctx}: a Primary Component with another uuid than {uuid}: {:?}\n{}",
            s.foreign_uuids,
            b.c.logs()
        );
        // Every acknowledged row on every node.
        let w = writer.snapshot();
        let must: Vec<u32> = w.acked.iter().chain(&w.dup_confirmed).copied().collect();
        let missing = missing_rows(&b, &must);
        assert!(
            missing.is_empty(),
            "{ctx}: DATA LOSS, acknowledged rows missing: {}\n{}",
            missing
                .iter()
                .map(|(n, ids)| format!("{n}: {}", ids_preview(ids)))
                .collect::<Vec<_>>()
                .join("; "),
            b.c.logs()
        );
        println!(
            "  converged in {took:.1?} (kubelet restarts {}), {} rows acknowledged so far, all present on every node",
            b.kubelet_restarts,
            w.acked.len()
        );
        summary.rounds = round;
        summary.kubelet_restarts += b.kubelet_restarts;
        let e = summary.by_kind.entry(kind.name()).or_default();
        e.0 += 1;
        e.1 = e.1.max(took);
        if took >= summary.worst {
            summary.worst = took;
            summary.worst_round = format!("round {round}, {}", kind.name());
        }
    }

    // The end: writes stopped, every node holds the same rows, all acknowledged ones included.
    let w = writer.stop();
    let s = sampler.stop();
    let must: Vec<u32> = w.acked.iter().chain(&w.dup_confirmed).copied().collect();
    let missing = missing_rows(&b, &must);
    let lost: HashSet<u32> = missing
        .iter()
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    summary.print(&w, &s, lost.len());
    assert!(lost.is_empty(), "DATA LOSS at the end: {missing:?}");
    let counts: Vec<Option<u64>> = (0..NODES).map(|i| b.c.count_rows(i)).collect();
    assert!(
        counts.iter().all(|c| *c == counts[0] && c.is_some()),
        "the nodes disagree on the rows: {counts:?}"
    );
    assert!(
        w.acked.len() > rounds,
        "the writer got too few commits through: {}",
        w.acked.len()
    );
    assert!(
        s.samples > 0 && s.max_primary == NODES,
        "the sampler saw the cluster"
    );
}

/// Wait until the cluster has converged (restarting exited entrypoints); returns how long it took.
fn converge(b: &mut Bed, ctx: &str) -> Duration {
    let start = Instant::now();
    let mut why = String::new();
    while start.elapsed() < CONVERGE_TIMEOUT {
        b.restart_exited();
        match b.converged() {
            Ok(_) => return start.elapsed(),
            Err(e) => why = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!(
        "{ctx}: NOT CONVERGED within {CONVERGE_TIMEOUT:?}: {why}\nstatus: {}\nhaproxy: {:?}\n{}\n\
         ==== haproxy sidecar ====\n{}",
        b.status(),
        b.hx.status(),
        b.c.logs(),
        b.hx.log()
    );
}

/// Writes through haproxy resume: the writer gets 5 more commits acknowledged.
fn wait_writes(b: &Bed, writer: &Writer, ctx: &str) {
    let before = writer.acked_count();
    let start = Instant::now();
    while writer.acked_count() < before + 5 {
        if start.elapsed() > Duration::from_secs(60) {
            panic!(
                "{ctx}: writes through haproxy did not resume within 60 s (last error: {:?})\n{}",
                writer.snapshot().last_error,
                b.c.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn view(ip: &str, status: &str, uuid: &str, members: &[&str]) -> View {
    View {
        ip: ip.into(),
        status: status.into(),
        uuid: uuid.into(),
        size: members.len().to_string(),
        conf_id: "1".into(),
        members: members.iter().map(|s| s.to_string()).collect(),
    }
}

/// The split-brain detector of the sampler, on tables of views.
#[test]
fn disjoint_primary_detector() {
    let (a, b, c) = ("10.0.0.2", "10.0.0.3", "10.0.0.4");
    let cases: Vec<(&str, Vec<View>, usize)> = vec![
        (
            "one component",
            vec![
                view(a, "Primary", "u", &[a, b, c]),
                view(b, "Primary", "u", &[a, b, c]),
                view(c, "Primary", "u", &[a, b, c]),
            ],
            0,
        ),
        (
            "a minority is non-Primary",
            vec![
                view(a, "non-Primary", "u", &[a]),
                view(b, "Primary", "u", &[b, c]),
                view(c, "Primary", "u", &[b, c]),
            ],
            0,
        ),
        (
            "a join in flight: the old view lacks the joiner",
            vec![
                view(a, "Primary", "u", &[a]),
                view(b, "Primary", "u", &[a, b]),
            ],
            0,
        ),
        (
            "a leave in flight: the leaver still lists the others",
            vec![
                view(a, "Primary", "u", &[a, b, c]),
                view(b, "Primary", "u", &[b, c]),
            ],
            0,
        ),
        (
            "a second bootstrap: two disjoint Primaries",
            vec![
                view(a, "Primary", "u", &[a]),
                view(b, "Primary", "u", &[b, c]),
                view(c, "Primary", "u", &[b, c]),
            ],
            2,
        ),
        (
            "different uuids are different clusters (flagged elsewhere)",
            vec![view(a, "Primary", "u", &[a]), view(b, "Primary", "v", &[b])],
            0,
        ),
        (
            "membership unknown: not judged",
            vec![view(a, "Primary", "u", &[]), view(b, "Primary", "u", &[b])],
            0,
        ),
    ];
    for (name, views, want) in cases {
        assert_eq!(disjoint_primaries(&views).len(), want, "{name}");
    }
}
