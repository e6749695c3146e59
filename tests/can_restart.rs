//! `can-restart NAME` against a real 3-node cluster: it says yes when a restart rejoins by IST
//! (and the restart does), no when the donors' gcache no longer reaches back to the node's
//! position (and the restart does a full SST), no when the restart would lose quorum; an
//! unknown node is bad input; and a rolling restart of every node, each one after
//! `can-restart` says yes, under continuous writes, rejoins each by IST with every
//! acknowledged row on every node. Subnets 127.0.175.x and 127.0.176.x are this file's.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::galera::{Cluster, ROOT_PASSWORD};
use common::wait_until;
use common::writers::{summary, Writers, SCHEMA};

const STEADY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// `can-restart name`: (exit code, stdout, stderr).
fn can_restart(c: &Cluster, name: &str) -> (Option<i32>, String, String) {
    let out = c.cli(&["can-restart", name]);
    let answer = (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    );
    eprintln!("can-restart {name} → {answer:?}");
    answer
}

/// Ask until the answer satisfies `pred` (census entries refresh every few seconds); the last
/// answer.
fn ask_until(
    c: &Cluster,
    name: &str,
    what: &str,
    pred: impl Fn(&(Option<i32>, String, String)) -> bool,
) -> (Option<i32>, String, String) {
    let mut last = can_restart(c, name);
    let start = Instant::now();
    while !pred(&last) {
        if start.elapsed() > Duration::from_secs(60) {
            panic!(
                "can-restart {name}: {what} not seen within 60 s; last answer {last:?}\n{}",
                c.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        last = can_restart(c, name);
    }
    last
}

/// Write 40 rows of 256 KB (10 MB, 40 transactions) through node `i`, ids from `from`.
fn write_big_rows(c: &Cluster, i: usize, from: u32) {
    let node = &c.nodes[i];
    let inserts: Vec<String> = (from..from + 40)
        .map(|id| format!("INSERT INTO t.big VALUES ({id}, REPEAT('x', 262144));"))
        .collect();
    let sql = format!(
        "CREATE DATABASE IF NOT EXISTS t; \
         CREATE TABLE IF NOT EXISTS t.big (id INT PRIMARY KEY, v LONGBLOB); {}",
        inserts.join(" ")
    );
    if let Err(e) = node.sql_result(&sql) {
        panic!("writing big rows through {}: {e}", node.name);
    }
}

/// The seqno a cleanly stopped node's grastate.dat records.
fn grastate_seqno(c: &Cluster, i: usize) -> i64 {
    let g = c.nodes[i].grastate();
    g.lines()
        .find_map(|l| l.strip_prefix("seqno:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no seqno in grastate.dat:\n{g}"))
}

/// `wsrep_local_cached_downto` of node `i` (None when empty or not answering).
fn cached_downto(c: &Cluster, i: usize) -> Option<i64> {
    c.nodes[i]
        .wsrep("local_cached_downto")
        .and_then(|v| v.parse().ok())
}

#[test]
fn can_restart_ist_sst_quorum_and_bad_input() {
    let mut c = Cluster::new(175, 3);
    c.nodes[2].extra_args = vec!["--drain-wait-ist".into()];
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(3, STEADY_TIMEOUT));
    c.write_rows(0, 1, 100);

    // 1. STEADY, every gcache whole: yes, by IST.
    let (code, out, _) = ask_until(&c, "g-2", "yes", |a| a.0 == Some(0));
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("yes: ") && out.contains("rejoin by IST"),
        "{out}"
    );
    // The entrypoint's own answer for the metric, in its state file.
    wait_until("g-0's state file says IST possible", STEADY_TIMEOUT, || {
        std::fs::read_to_string(c.nodes[0].state_dir().join("state.json"))
            .is_ok_and(|s| s.contains("\"ist_possible\": true"))
    });

    // …and a SIGTERM + restart indeed rejoins by IST (the drain's wait finds the gate open).
    let code = c.nodes[2].sigterm(STOP_TIMEOUT);
    assert_eq!(code, Some(0), "clean exit:\n{}", c.nodes[2].log());
    assert!(
        c.nodes[2].log().contains("drain: restart gate open"),
        "{}",
        c.nodes[2].log()
    );
    c.write_rows(0, 101, 20);
    let off = c.nodes[2].error_log_len();
    c.start(2);
    c.check("rejoin after SIGTERM", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("IST", || {
        assert!(
            c.nodes[2].joined_by_ist_since(off),
            "{}",
            c.nodes[2].error_log_since(off)
        )
    });

    // 2. One node stopped: restarting another would lose quorum.
    let code = c.nodes[2].sigterm(STOP_TIMEOUT);
    assert_eq!(code, Some(0), "clean exit:\n{}", c.nodes[2].log());
    c.check("g-2 deregistered", || c.wait_until_registered(2));
    let (code, out, _) = can_restart(&c, "g-1");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("no: ") && out.contains("lose quorum"),
        "{out}"
    );
    // The stopped node publishes nothing: its position is unknown, and so is the IST.
    let (code, out, _) = can_restart(&c, "g-2");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no census entry"), "{out}");

    // 3. More written meanwhile than the others' gcache (16M) holds: its restart needs an SST.
    let stopped_at = grastate_seqno(&c, 2);
    assert!(stopped_at > 0, "a clean stop records the seqno");
    // Write 10 MB at a time until both donors' gcache starts past what g-2 needs (Galera
    // purges it only as the group's commit cut moves, so the amount varies).
    let purged = |c: &Cluster| {
        [0, 1]
            .iter()
            .all(|&i| cached_downto(c, i).is_some_and(|d| d > stopped_at + 1))
    };
    let mut from = 0;
    while !purged(&c) {
        assert!(
            from < 12 * 40,
            "gcache still holds seqno {} after {} MB: g-0 from {:?}, g-1 from {:?}",
            stopped_at + 1,
            from / 4,
            cached_downto(&c, 0),
            cached_downto(&c, 1)
        );
        write_big_rows(&c, 0, from);
        from += 40;
    }
    // Hold the membership lock so that g-2's entrypoint reports its recovered position and
    // waits, then ask about it.
    let lock = format!("/galera/{}/lock", c.name);
    let put = c.etcd.etcdctl(&["put", &lock, "test-holds-the-lock"]);
    assert!(put.status.success(), "{put:?}");
    let off = c.nodes[2].error_log_len();
    c.start(2);
    let (code, out, _) = ask_until(&c, "g-2", "the gcache answer", |a| {
        a.1.contains("gcache reaches back")
    });
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("no: ") && out.contains("needs a full SST"),
        "{out}"
    );
    let del = c.etcd.etcdctl(&["del", &lock]);
    assert!(del.status.success(), "{del:?}");
    c.check("rejoin after the big writes", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.check("SST", || {
        assert!(
            c.nodes[2].joined_by_sst_since(off),
            "{}",
            c.nodes[2].error_log_since(off)
        )
    });
    assert_eq!(c.count_rows(2), Some(120));

    // 4. Bad input: exit 2, the members listed.
    let (code, _, err) = can_restart(&c, "g-9");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("g-0, g-1, g-2"), "{err}");
    let (code, _, err) = can_restart(&c, "a/b");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a valid node name"), "{err}");
}

/// Every `src:seq` the writers' table holds on node `i`, read once the node has applied all
/// the cluster committed before the read (`wsrep_sync_wait`).
fn written_rows(c: &Cluster, i: usize) -> BTreeSet<String> {
    let node = &c.nodes[i];
    match node.sql_result("SET SESSION wsrep_sync_wait = 1; SELECT CONCAT(src, ':', seq) FROM lt.t")
    {
        Ok(out) => out.lines().map(str::to_string).collect(),
        Err(e) => panic!("reading lt.t on {}: {e}\n{}", node.name, c.logs()),
    }
}

/// One restart of the rolling restart: the node, SIGTERM → STEADY again with 3 registered,
/// rows acknowledged meanwhile, and how it rejoined.
struct Restart {
    name: String,
    at: Instant,
    took: Duration,
    acked_meanwhile: usize,
    ist: bool,
    sst: bool,
}

#[test]
fn rolling_restart_under_write_load_rejoins_by_ist() {
    let mut c = Cluster::new(176, 3);
    for n in c.nodes.iter_mut() {
        n.extra_args = vec!["--drain-wait-ist".into()];
    }
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all Synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    if let Err(e) = c.nodes[0].sql_result(SCHEMA) {
        panic!("creating the writers' table: {e}\n{}", c.logs());
    }

    // Writers on every node directly (a new connection per insert, and a kept one), so
    // whichever nodes are up keep committing while one restarts.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let targets: Vec<(String, SocketAddr)> = c
        .nodes
        .iter()
        .map(|n| {
            let ip: IpAddr = n.ip.parse().expect("a node's address is an IP");
            (n.name.clone(), SocketAddr::new(ip, 3306))
        })
        .collect();
    let writers_start = Instant::now();
    let mut writers = Writers::start(rt.handle(), &targets, "root", ROOT_PASSWORD);
    c.check("writes through every node", || {
        wait_until(
            "an acknowledged write by every writer",
            STEADY_TIMEOUT,
            || {
                c.nodes.iter().all(|n| {
                    writers.last_ok_node(&format!("{}-new", n.name)).is_some()
                        && writers
                            .last_ok_node(&format!("{}-pooled", n.name))
                            .is_some()
                })
            },
        )
    });

    let rolling = Instant::now();
    let mut restarts = Vec::new();
    for i in 0..c.nodes.len() {
        let name = c.nodes[i].name.clone();
        // Ask first, as the runbook says; census entries refresh every few seconds.
        let (_, out, _) = ask_until(&c, &name, "yes", |a| a.0 == Some(0));
        assert!(out.starts_with("yes: "), "{out}");
        let t = Instant::now();
        let acked_before = writers.acked().len();
        let log_off = c.nodes[i].log().len();
        let code = c.nodes[i].sigterm(STOP_TIMEOUT);
        assert_eq!(code, Some(0), "clean exit:\n{}", c.nodes[i].log());
        let drain_log = c.nodes[i].log().get(log_off..).unwrap_or("").to_string();
        assert!(
            drain_log.contains("drain: restart gate open"),
            "{name}'s drain did not find the restart gate open:\n{drain_log}"
        );
        let off = c.nodes[i].error_log_len();
        c.start(i);
        c.check(&format!("{name} rejoins"), || {
            c.wait_steady(3, STEADY_TIMEOUT);
            wait_until(&format!("{name} Synced"), STEADY_TIMEOUT, || {
                c.nodes[i].synced()
            });
        });
        restarts.push(Restart {
            name,
            at: t,
            took: t.elapsed(),
            acked_meanwhile: writers.acked().len() - acked_before,
            ist: c.nodes[i].joined_by_ist_since(off),
            sst: c.nodes[i].joined_by_sst_since(off),
        });
    }
    let rolling = rolling.elapsed();
    writers.stop(&rt);
    let attempts = writers.since(writers_start);
    let acked = writers.acked();

    for r in &restarts {
        let i = c
            .nodes
            .iter()
            .position(|n| n.name == r.name)
            .expect("a node of the cluster");
        c.check(&format!("{} rejoined by IST", r.name), || {
            assert!(
                r.ist && !r.sst,
                "{} did not rejoin by IST:\n{}",
                r.name,
                c.nodes[i].mysqld_log()
            )
        });
        // The others kept committing while it was away: the IST had something to carry.
        assert!(
            r.acked_meanwhile > 0,
            "no write acknowledged while {} restarted: {:?}",
            r.name,
            summary(&attempts)
        );
    }
    // Every acknowledged row is on every node, and the nodes hold the same rows.
    let rows: Vec<BTreeSet<String>> = (0..c.nodes.len()).map(|i| written_rows(&c, i)).collect();
    for (i, held) in rows.iter().enumerate() {
        let missing: Vec<String> = acked
            .iter()
            .map(|(src, seq)| format!("{src}:{seq}"))
            .filter(|k| !held.contains(k))
            .collect();
        assert!(
            missing.is_empty(),
            "{} lacks {} acknowledged row(s), e.g. {:?}",
            c.nodes[i].name,
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        assert_eq!(held, &rows[0], "{} and g-0 differ", c.nodes[i].name);
    }
    let ssts = restarts.iter().filter(|r| r.sst).count();
    let failed = attempts.iter().filter(|a| a.outcome.is_err()).count();
    // Failed attempts of a node's own writers while that node was restarting (its mariadbd
    // away or joining); the rest failed elsewhere.
    let failed_own = attempts
        .iter()
        .filter(|a| a.outcome.is_err())
        .filter(|a| {
            restarts.iter().any(|r| {
                a.writer.starts_with(&format!("{}-", r.name))
                    && a.at >= r.at
                    && a.at <= r.at + r.took
            })
        })
        .count();
    let each: Vec<String> = restarts
        .iter()
        .map(|r| {
            format!(
                "{} {:.1} s, {} acked meanwhile",
                r.name,
                r.took.as_secs_f64(),
                r.acked_meanwhile
            )
        })
        .collect();
    eprintln!(
        "rolling restart under write load: {} restarts, {} SSTs ({} by IST); {} write attempts \
         ({} failed, {} of them to the restarting node), {} rows written (on every node), {} acknowledged (all on every node); \
         {:.1} s from the first SIGTERM to the last STEADY ({})",
        restarts.len(),
        ssts,
        restarts.iter().filter(|r| r.ist).count(),
        attempts.len(),
        failed,
        failed_own,
        rows[0].len(),
        acked.len(),
        rolling.as_secs_f64(),
        each.join("; ")
    );
    for (writer, n, failed, errors) in summary(&attempts) {
        eprintln!(
            "  {writer}: {n} attempts, {failed} failed: {:?}",
            &errors[..errors.len().min(5)]
        );
    }
    assert_eq!(ssts, 0);
}
