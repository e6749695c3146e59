//! Data safety under compound faults and operator mistakes, end to end: real etcd, real Galera nodes
//! run by the entrypoint. After every fault, each committed row is checked row by row on
//! every node (or, for a node that must keep its own data, in a copy of its datadir), and so
//! is the cluster uuid. No operator command may silently overwrite data by SST. This file
//! uses subnets 127.0.200–215.x (208: branches of one uuid; 209–210: resync keeps the datadir; 211: the old volume layout).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::galera::{Cluster, TestNode};

const STEADY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a decision may take to show (a refusal published, a node registered).
const DECISION_TIMEOUT: Duration = Duration::from_secs(120);
/// A fresh datadir's position as the queue and `status` show it.
const FRESH: &str = "00000000-0000-0000-0000-000000000000:-1";

/// Assert, printing every node's log when it fails.
macro_rules! ensure {
    ($c:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            panic!("{}\n{}", format!($($arg)+), $c.logs());
        }
    };
}

fn steady_cluster(subnet: u8, n: usize) -> Cluster {
    let mut c = Cluster::new(subnet, n);
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(n, STEADY_TIMEOUT));
    c
}

fn member<'a>(s: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    s["members"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["name"] == name))
}

fn refusal(s: &serde_json::Value, name: &str) -> Option<String> {
    member(s, name).and_then(|m| m["refused"].as_str().map(str::to_string))
}

fn registered(s: &serde_json::Value, name: &str) -> bool {
    member(s, name).is_some_and(|m| m["registered"] == true)
}

fn cluster_uuid(c: &Cluster) -> String {
    c.status()["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("no uuid in status:\n{}", c.logs()))
        .to_string()
}

/// `P/<rest>` of this cluster.
fn key(c: &Cluster, rest: &str) -> String {
    format!("/galera/{}/{rest}", c.name)
}

/// The value of one key (empty when absent), read with the real etcdctl.
fn etcd_value(c: &Cluster, k: &str) -> String {
    common::stdout(&c.etcd.etcdctl(&["get", k, "--print-value-only"]))
        .trim()
        .to_string()
}

/// The keys under a prefix (empty when none), read with the real etcdctl.
fn etcd_keys(c: &Cluster, prefix: &str) -> String {
    common::stdout(&c.etcd.etcdctl(&["get", "--prefix", "--keys-only", prefix]))
        .trim()
        .to_string()
}

/// The rows `write_rows` wrote for these `(from, n)` batches, as `id:v<id>`, in id order.
fn rows(batches: &[(u32, u32)]) -> Vec<String> {
    let mut ids: Vec<u32> = batches.iter().flat_map(|(f, n)| *f..*f + *n).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(|id| format!("{id}:v{id}")).collect()
}

/// Every row of `t.rows` through a root client command, as `id:v<id>` in id order.
fn rows_via(mut client: Command) -> Result<Vec<String>, String> {
    let out = client
        .args([
            "-N",
            "-B",
            "--connect-timeout=2",
            "-e",
            "SELECT CONCAT(id,':',v) FROM t.rows ORDER BY id",
        ])
        .output()
        .map_err(|e| format!("cannot run mariadb: {e}"))?;
    if !out.status.success() {
        return Err(common::stderr(&out));
    }
    Ok(common::stdout(&out).lines().map(str::to_string).collect())
}

/// Every node holds exactly `want`, row by row, and runs cluster `uuid`.
fn assert_every_row_everywhere(c: &Cluster, want: &[String], uuid: &str) {
    for n in &c.nodes {
        let got = rows_via(common::galera::root_client(&n.socket()));
        ensure!(
            c,
            got.as_deref() == Ok(want),
            "rows on {}: want {} rows ({:?}..), got {:?}",
            n.name,
            want.len(),
            want.first(),
            got.map(|r| (r.len(), r.first().cloned(), r.last().cloned()))
        );
        ensure!(
            c,
            n.wsrep("cluster_state_uuid").as_deref() == Some(uuid),
            "{} runs cluster {:?}, not the original {uuid}",
            n.name,
            n.wsrep("cluster_state_uuid")
        );
    }
}

/// Delete everything in the node's datadir, keeping the directory (a lost PVC: a new, empty
/// volume mounted at the same place, still owned by mysql).
fn lose_volume(node: &TestNode) {
    for e in std::fs::read_dir(node.datadir()).expect("read the datadir") {
        let p = e.expect("datadir entry").path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).expect("remove a datadir subdirectory");
        } else {
            std::fs::remove_file(&p).expect("remove a datadir file");
        }
    }
}

/// Give `node` (stopped) the datadir of a one-node cluster of its own, on `subnet`, with 5
/// rows (ids 1000–1004). Returns that other history's uuid.
fn give_foreign_history(subnet: u8, node: &TestNode) -> String {
    let mut other = Cluster::new(subnet, 0);
    other.add_node(0, 1);
    other.start(0);
    other.check("the other cluster", || other.wait_steady(1, STEADY_TIMEOUT));
    other.write_rows(0, 1000, 5);
    let uuid = cluster_uuid(&other);
    assert_eq!(other.nodes[0].sigterm(STOP_TIMEOUT), Some(0));
    std::fs::remove_dir_all(node.datadir()).expect("remove the datadir");
    common::run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(other.nodes[0].datadir())
            .arg(node.datadir()),
        "cp -a the other cluster's datadir",
    );
    uuid
}

/// The rows in a COPY of `node`'s datadir, read by a one-off mariadbd with wsrep off (the
/// node's own datadir is not touched): what the node would bring back if kept.
fn offline_rows(node: &TestNode, scratch: &Path) -> Vec<String> {
    let dir = scratch.join(format!("offline-{}", node.name));
    std::fs::create_dir_all(&dir).expect("offline dir");
    common::run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(node.datadir())
            .arg(dir.join("data")),
        "cp -a the datadir",
    );
    common::run_ok(
        Command::new("chown").args(["-R", "mysql:mysql"]).arg(&dir),
        "chown the copy",
    );
    standalone_rows(node, &dir.join("data"), &dir)
}

/// The rows of the datadir `data`, read by a standalone mariadbd (wsrep off, no networking,
/// its own socket, pid file and logs in `dir`) started on it with `node`'s my.cnf.
fn standalone_rows(node: &TestNode, data: &Path, dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).expect("standalone dir");
    common::run_ok(
        Command::new("chown").arg("mysql:mysql").arg(dir),
        "chown the standalone dir",
    );
    let sock = dir.join("mysqld.sock");
    let mut cmd = Command::new("mariadbd");
    cmd.arg(format!(
        "--defaults-file={}",
        node.defaults_file().display()
    ))
    .arg(format!("--datadir={}", data.display()))
    .arg(format!("--socket={}", sock.display()))
    .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
    .arg(format!("--log-error={}", dir.join("error.log").display()))
    .arg(format!("--tmpdir={}", dir.display()))
    .args([
        "--skip-networking",
        "--wsrep-on=OFF",
        "--wsrep-provider=none",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    common::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("start a one-off mariadbd");
    let start = Instant::now();
    let result = loop {
        match rows_via(common::galera::root_client(&sock)) {
            Ok(r) => break r,
            Err(e) if start.elapsed() > Duration::from_secs(60) => panic!(
                "the one-off mariadbd on {} did not answer ({e}); its log:\n{}",
                data.display(),
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Wait until STEADY with `n` registered; returns every state seen meanwhile, in order.
fn wait_steady_noting_states(c: &Cluster, n: usize) -> Vec<String> {
    let mut seen: Vec<String> = vec![];
    let start = Instant::now();
    loop {
        let s = c.status();
        let state = s["state"].as_str().unwrap_or("-").to_string();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        let regs = s["members"]
            .as_array()
            .map(|m| m.iter().filter(|r| r["registered"] == true).count())
            .unwrap_or(0);
        if state == "STEADY" && regs == n {
            return seen;
        }
        ensure!(
            c,
            start.elapsed() < STEADY_TIMEOUT,
            "not STEADY with {n} registered within {STEADY_TIMEOUT:?}; states seen {seen:?}; status {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every sidecar log line since `offsets` that mentions `resync`.
fn resync_advice_since(c: &Cluster, offsets: &[usize]) -> Vec<String> {
    c.nodes
        .iter()
        .zip(offsets)
        .flat_map(|(n, o)| {
            n.log()
                .get(*o..)
                .unwrap_or("")
                .lines()
                .filter(|l| l.contains("resync"))
                .map(|l| format!("{}: {l}", n.name))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// etcd lost AND g-0's volume lost while the cluster was down. g-0 alone must not bootstrap a
/// brand-new cluster (its peers hold the data); once they are back, the most advanced
/// data-holding node wins, g-0 joins by SST, and the ORIGINAL history survives, every row.
#[test]
fn etcd_loss_plus_lost_pvc_recovers_original_history() {
    let mut c = steady_cluster(200, 3);
    c.write_rows(0, 1, 30);
    let uuid = cluster_uuid(&c);
    // g-2 falls behind: the most advanced data-holding nodes are g-0 (whose volume will be
    // lost) and g-1 — so g-1 must win, not g-2.
    c.nodes[2].kill9();
    c.check("g-2 evicted", || c.wait_until_registered(2));
    c.write_rows(0, 31, 20);
    let want = rows(&[(1, 50)]);
    c.kill_all();
    c.etcd.wipe();
    lose_volume(&c.nodes[0]);
    let offsets = c.log_offsets();
    let sst_from = c.nodes[0].error_log_len();
    c.start(0);
    // Alone, with a fresh datadir and an empty etcd: it must wait, not found a new cluster.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let log = c.nodes[0].log();
        let log = log.get(offsets[0]..).unwrap_or("");
        ensure!(
            c,
            !log.contains("bootstrapping a new cluster") && !log.contains("--wsrep-new-cluster"),
            "g-0 (empty datadir, empty etcd) bootstrapped a brand-new cluster while its peers, \
             which hold the data, were down"
        );
        let s = c.status();
        ensure!(
            c,
            s["uuid"].is_null(),
            "a cluster uuid was recorded with only the fresh g-0 up: {s}"
        );
        ensure!(
            c,
            c.nodes[0].sql("SELECT 1").is_none(),
            "g-0's mariadbd runs although it is alone with a fresh datadir"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = c.nodes[0].log();
    let log = &log[offsets[0]..];
    ensure!(
        c,
        log.contains("a brand-new cluster needs --cluster-size")
            && log.contains("nodes to report fresh datadirs"),
        "g-0's log does not say it waits for an all-fresh census"
    );
    c.start(1);
    c.start(2);
    let states = wait_steady_noting_states(&c, 3);
    ensure!(
        c,
        states.iter().any(|s| s == "RECOVERY"),
        "no recovery happened (states seen: {states:?})"
    );
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    ensure!(
        c,
        c.bootstrappers_since(&offsets) == vec!["g-1".to_string()],
        "the winner must be g-1, the most advanced node holding data; bootstrapped: {:?}",
        c.bootstrappers_since(&offsets)
    );
    ensure!(
        c,
        c.nodes[0].joined_by_sst_since(sst_from),
        "g-0 (lost volume) joined without an SST"
    );
    ensure!(
        c,
        cluster_uuid(&c) == uuid,
        "etcd records {} instead of the original {uuid}",
        cluster_uuid(&c)
    );
    assert_every_row_everywhere(&c, &want, &uuid);
    let s = c.status();
    for n in ["g-0", "g-1", "g-2"] {
        ensure!(
            c,
            refusal(&s, n).is_none(),
            "{n} refused: {:?}",
            refusal(&s, n)
        );
    }
    let advice = resync_advice_since(&c, &offsets);
    ensure!(
        c,
        advice.is_empty(),
        "log lines mention resync: {advice:#?}"
    );
}

/// Full outage, g-0's volume lost, only g-0 back and queued (fresh): the operator cannot
/// force-bootstrap it without saying it accepts the loss — nothing is written — and the
/// normal recovery then keeps the original history, every row on every node.
#[test]
fn force_bootstrap_of_empty_node_is_refused() {
    let mut c = steady_cluster(201, 3);
    c.write_rows(0, 1, 40);
    let want = rows(&[(1, 40)]);
    let uuid = cluster_uuid(&c);
    c.kill_all();
    lose_volume(&c.nodes[0]);
    let offsets = c.log_offsets();
    let sst_from = c.nodes[0].error_log_len();
    c.start(0);
    c.check("g-0 queued with a fresh position", || {
        c.wait_status("g-0 queued, fresh", DECISION_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["queued"] == true && m["position"] == FRESH)
        })
    });
    let fb = key(&c, "force-bootstrap");
    let out = c.cli(&["force-bootstrap", "g-0"]);
    let err = common::stderr(&out);
    ensure!(
        c,
        out.status.code() == Some(1),
        "force-bootstrap of g-0, whose datadir is fresh, must fail with 1 (got {:?}); stdout: {}; stderr: {err}",
        out.status.code(),
        common::stdout(&out)
    );
    ensure!(
        c,
        err.contains("g-0") && err.contains("fresh") && err.contains("--accept-data-loss"),
        "the refusal must say g-0's datadir is fresh and name --accept-data-loss: {err}"
    );
    ensure!(
        c,
        etcd_value(&c, &fb).is_empty(),
        "a refused force-bootstrap wrote {fb} = {:?}",
        etcd_value(&c, &fb)
    );
    // Bad usage: exit 2, nothing written either.
    for args in [
        &["force-bootstrap", "g-0", "--expires", "banana"][..],
        &["force-bootstrap", "g-7", "--accept-data-loss"][..],
    ] {
        let out = c.cli(args);
        ensure!(
            c,
            out.status.code() == Some(2),
            "{args:?} must exit 2 (got {:?}): {}",
            out.status.code(),
            common::stderr(&out)
        );
        ensure!(
            c,
            etcd_value(&c, &fb).is_empty(),
            "{args:?} wrote {fb} = {:?}",
            etcd_value(&c, &fb)
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    let s = c.status();
    ensure!(
        c,
        s["force_bootstrap"].is_null(),
        "force_bootstrap set: {s}"
    );
    ensure!(
        c,
        c.bootstrappers_since(&offsets).is_empty(),
        "someone bootstrapped with only the fresh g-0 up"
    );
    // The others come back: a normal recovery from the data-holding nodes (tied: g-1 wins).
    c.start(1);
    c.start(2);
    c.check("recovered", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    ensure!(
        c,
        c.bootstrappers_since(&offsets) == vec!["g-1".to_string()],
        "bootstrapped: {:?}",
        c.bootstrappers_since(&offsets)
    );
    ensure!(
        c,
        c.nodes[0].joined_by_sst_since(sst_from),
        "g-0 joined without an SST"
    );
    ensure!(c, cluster_uuid(&c) == uuid, "uuid changed");
    assert_every_row_everywhere(&c, &want, &uuid);
}

/// Same outage, but the operator accepts the loss: g-0 bootstraps an EMPTY cluster with a new
/// uuid. g-1 and g-2, which hold the old history, are then refused — never overwritten by
/// SST — and keep every row; their refusal names both histories and does not advise `resync`.
#[test]
fn force_bootstrap_accepting_loss_never_sst_overwrites_data() {
    let mut c = steady_cluster(202, 3);
    c.write_rows(0, 1, 30);
    let want = rows(&[(1, 30)]);
    let old = cluster_uuid(&c);
    c.kill_all();
    lose_volume(&c.nodes[0]);
    c.start(0);
    c.check("g-0 queued with a fresh position", || {
        c.wait_status("g-0 queued, fresh", DECISION_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["queued"] == true && m["position"] == FRESH)
        })
    });
    let out = c.cli(&["force-bootstrap", "g-0", "--accept-data-loss"]);
    let said = common::stdout(&out);
    ensure!(
        c,
        out.status.success(),
        "force-bootstrap g-0 --accept-data-loss failed: {}",
        common::stderr(&out)
    );
    ensure!(
        c,
        ["g-0", "g-1", "g-2", "choosing g-0 loses", "transaction"]
            .iter()
            .all(|w| said.contains(w)),
        "force-bootstrap must print every node's known position and the expected loss:\n{said}"
    );
    c.check("g-0 bootstraps an empty cluster", || {
        c.wait_status("g-0 registered", DECISION_TIMEOUT, |s| registered(s, "g-0"))
    });
    let new = c.nodes[0].wsrep("cluster_state_uuid").unwrap_or_default();
    ensure!(
        c,
        !new.is_empty() && new != old,
        "g-0 runs {new:?}: an empty bootstrap must have a new uuid (old {old})"
    );
    ensure!(
        c,
        c.nodes[0]
            .sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='t'")
            .as_deref()
            == Some("0"),
        "g-0 was empty: it cannot hold the rows table"
    );
    let sst_from: Vec<usize> = c.nodes.iter().map(|n| n.error_log_len()).collect();
    c.start(1);
    c.start(2);
    c.check("g-1 and g-2 decided", || {
        c.wait_status("g-1 and g-2 refused or registered", DECISION_TIMEOUT, |s| {
            ["g-1", "g-2"]
                .iter()
                .all(|n| refusal(s, n).is_some() || registered(s, n))
        })
    });
    let s = c.status();
    for (i, n) in [(1, "g-1"), (2, "g-2")] {
        ensure!(
            c,
            !registered(&s, n) && !c.nodes[i].joined_by_sst_since(sst_from[i]),
            "{n} holds the old history {old} and joined the empty cluster {new}: its data was \
             overwritten by SST. status: {s}"
        );
        let r = refusal(&s, n).unwrap_or_default();
        ensure!(
            c,
            r.contains(&old) && r.contains(&new),
            "{n}'s refusal must name both histories ({old}, {new}): {r:?}"
        );
        ensure!(
            c,
            !r.contains("resync"),
            "{n} holds the newer data; its refusal must not advise resync: {r:?}"
        );
    }
    // They stay refused, their datadirs untouched.
    let listings: Vec<_> = c.nodes.iter().map(|n| n.datadir_listing()).collect();
    std::thread::sleep(Duration::from_secs(6));
    let s = c.status();
    for i in [1, 2] {
        let n = &c.nodes[i];
        ensure!(
            c,
            refusal(&s, &n.name).is_some() && !registered(&s, &n.name),
            "{} no longer refused: {s}",
            n.name
        );
        ensure!(
            c,
            !n.joined_by_sst_since(sst_from[i]),
            "{} received an SST",
            n.name
        );
        ensure!(
            c,
            n.datadir_listing() == listings[i],
            "{}'s datadir changed while refused",
            n.name
        );
        ensure!(
            c,
            n.grastate().contains(&old),
            "{}'s grastate.dat no longer holds {old}:\n{}",
            n.name,
            n.grastate()
        );
    }
    ensure!(
        c,
        s["force_bootstrap"].is_null(),
        "force-bootstrap not consumed: {s}"
    );
    // Row by row, in copies of their datadirs.
    for i in [1, 2] {
        let got = offline_rows(&c.nodes[i], c.root.path());
        ensure!(
            c,
            got == want,
            "{} lost rows: {} of {} left",
            c.nodes[i].name,
            got.len(),
            want.len()
        );
    }
}

/// `resync` is bound to a refused node and expires: refused on a node that is not refused;
/// a legacy request left in etcd, or one that expired while the node was paused, never
/// wipes a datadir; a fresh request on a refused node does (it rejoins by SST).
#[test]
fn resync_request_is_bound_and_expires() {
    let mut c = steady_cluster(203, 3);
    c.write_rows(0, 1, 20);
    let want = rows(&[(1, 20)]);
    let uuid = cluster_uuid(&c);
    let resync_prefix = key(&c, "resync/");
    // (a) g-1 is not refused: nothing to resync, nothing written.
    let out = c.cli(&["resync", "g-1"]);
    ensure!(
        c,
        out.status.code() == Some(1),
        "resync of g-1, which is not refused, must fail with 1 (got {:?}); stdout: {}",
        out.status.code(),
        common::stdout(&out)
    );
    ensure!(
        c,
        common::stderr(&out).contains("not refused"),
        "the error must say g-1 is not refused: {}",
        common::stderr(&out)
    );
    let out = c.cli(&["resync", "g-1", "--expires", "banana"]);
    ensure!(
        c,
        out.status.code() == Some(2),
        "garbage --expires must exit 2 (got {:?})",
        out.status.code()
    );
    ensure!(
        c,
        etcd_keys(&c, &resync_prefix).is_empty(),
        "a refused resync wrote {}",
        etcd_keys(&c, &resync_prefix)
    );

    // (b) A request in the old format (a bare unix time), left over in etcd, then g-1 comes
    // back with a foreign history: it is refused and keeps its data.
    assert_eq!(c.nodes[1].sigterm(STOP_TIMEOUT), Some(0));
    let foreign = give_foreign_history(204, &c.nodes[1]);
    c.etcd
        .etcdctl(&["put", &key(&c, "resync/g-1"), "1700000000"]);
    let before = c.nodes[1].datadir_listing();
    let sst_from = c.nodes[1].error_log_len();
    // A lease that outlives the 5 s pause of (c): only the request's expiry is at stake there.
    c.nodes[1].lease_ttl = "20s".into();
    c.start(1);
    c.check("g-1 decided", || {
        c.wait_status("g-1 refused or registered", DECISION_TIMEOUT, |s| {
            refusal(s, "g-1").is_some() || registered(s, "g-1")
        })
    });
    std::thread::sleep(Duration::from_secs(6));
    let s = c.status();
    ensure!(
        c,
        refusal(&s, "g-1").is_some() && !registered(&s, "g-1"),
        "g-1 (history {foreign}) acted on a stale resync request: {s}"
    );
    ensure!(c, c.nodes[1].running(), "refused g-1 waits in-process");
    ensure!(
        c,
        !c.nodes[1].joined_by_sst_since(sst_from) && c.nodes[1].datadir_listing() == before,
        "g-1's datadir was discarded on a stale request"
    );
    c.check("status flags the ignored request", || {
        c.wait_status("an ignored resync flagged", Duration::from_secs(20), |s| {
            s["flags"].to_string().contains("ignored")
                || s["resync"].to_string().contains("ignored")
        })
    });

    // (c) A request that expires while g-1 is paused (SIGSTOP) is not acted on at SIGCONT.
    c.nodes[1].signal(nix::sys::signal::Signal::SIGSTOP);
    let out = c.cli(&["resync", "g-1", "--expires", "2s"]);
    let paused_ok = out.status.success();
    std::thread::sleep(Duration::from_secs(5));
    c.nodes[1].signal(nix::sys::signal::Signal::SIGCONT);
    ensure!(
        c,
        paused_ok,
        "resync g-1 --expires 2s on the refused g-1 failed: {}",
        common::stderr(&out)
    );
    std::thread::sleep(Duration::from_secs(6));
    c.check("g-1 refused again after its pause", || {
        c.wait_status("g-1 refused", Duration::from_secs(30), |s| {
            refusal(s, "g-1").is_some()
        })
    });
    ensure!(
        c,
        !c.nodes[1].joined_by_sst_since(sst_from) && c.nodes[1].datadir_listing() == before,
        "g-1's datadir was discarded on an expired request"
    );

    // The happy path: the operator discards g-1's foreign data; it rejoins by SST.
    let out = c.cli(&["resync", "g-1"]);
    ensure!(
        c,
        out.status.success(),
        "resync of the refused g-1 failed: {}",
        common::stderr(&out)
    );
    c.check("g-1 rejoined", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    ensure!(
        c,
        c.nodes[1].joined_by_sst_since(sst_from),
        "resync rejoins by SST"
    );
    assert_every_row_everywhere(&c, &want, &uuid);
}

/// `resync` keeps a diverged datadir by default: `--keep --discard` is bad input (exit 2,
/// nothing written); a kept dir on another filesystem is refused with the fix named and
/// nothing moved; then the node moves its datadir to `galera-kept/<uuid>_<seqno>_<time>`
/// beside the datadir, rejoins by SST with every row of the cluster, `status` shows what was
/// discarded and where it is kept, and the kept copy starts standalone holding its own rows.
#[test]
fn resync_keeps_the_diverged_datadir_by_default() {
    let mut c = steady_cluster(209, 3);
    c.write_rows(0, 1, 20);
    let want = rows(&[(1, 20)]);
    let uuid = cluster_uuid(&c);
    assert_eq!(c.nodes[1].sigterm(STOP_TIMEOUT), Some(0));
    let foreign = give_foreign_history(210, &c.nodes[1]);
    // First with a kept dir on another filesystem (tmpfs), when this machine has one.
    let shm = Path::new("/dev/shm");
    let other_fs = {
        use std::os::unix::fs::MetadataExt;
        let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
        dev(shm).is_some() && dev(shm) != dev(&c.nodes[1].dir)
    };
    let elsewhere = shm.join(format!("galera-kept-{}-{}", c.name, std::process::id()));
    if other_fs {
        c.nodes[1].extra_args = vec!["--kept-dir".into(), elsewhere.display().to_string()];
    }
    let sst_from = c.nodes[1].error_log_len();
    c.start(1);
    c.check("g-1 refused", || {
        c.wait_status("g-1 refused", DECISION_TIMEOUT, |s| {
            refusal(s, "g-1").is_some()
        })
    });
    let before = c.nodes[1].datadir_listing();
    let position = member(&c.status(), "g-1")
        .and_then(|m| m["reported"].as_str().map(str::to_string))
        .unwrap_or_default();
    ensure!(
        c,
        position.starts_with(&format!("{foreign}:")),
        "g-1 reports {position:?}, not its foreign history {foreign}"
    );

    // Bad input: exit 2 naming the conflict, nothing written.
    let out = c.cli(&["resync", "g-1", "--keep", "--discard"]);
    ensure!(
        c,
        out.status.code() == Some(2) && common::stderr(&out).contains("--discard"),
        "resync --keep --discard must exit 2 naming the conflict (got {:?}): {}",
        out.status.code(),
        common::stderr(&out)
    );
    ensure!(
        c,
        etcd_keys(&c, &key(&c, "resync/")).is_empty(),
        "bad input wrote {}",
        etcd_keys(&c, &key(&c, "resync/"))
    );

    let out = c.cli(&["resync", "g-1"]);
    ensure!(
        c,
        out.status.success() && common::stdout(&out).contains("aside"),
        "resync g-1 failed or does not say it keeps: {} {}",
        common::stdout(&out),
        common::stderr(&out)
    );
    if other_fs {
        c.check("the kept dir on another filesystem is refused", || {
            c.wait_status("refusal naming the filesystem", DECISION_TIMEOUT, |s| {
                refusal(s, "g-1").is_some_and(|r| r.contains("another filesystem"))
            })
        });
        let r = refusal(&c.status(), "g-1").unwrap_or_default();
        ensure!(
            c,
            r.contains("--discard") && r.contains("--kept-dir"),
            "the refusal names no fix: {r}"
        );
        ensure!(
            c,
            c.nodes[1].datadir_listing() == before && !elsewhere.exists(),
            "nothing may change when the datadir cannot be kept"
        );
        ensure!(
            c,
            !etcd_keys(&c, &key(&c, "resync/")).is_empty(),
            "the request stays while it cannot be obeyed"
        );
        // The kept dir fixed: the request, still valid, is obeyed at the restart.
        assert_eq!(c.nodes[1].sigterm(STOP_TIMEOUT), Some(0));
        c.nodes[1].extra_args.clear();
        c.start(1);
    }
    c.check("g-1 rejoined", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    ensure!(
        c,
        c.nodes[1].joined_by_sst_since(sst_from),
        "resync rejoins by SST"
    );
    assert_every_row_everywhere(&c, &want, &uuid);

    // The kept copy: one directory named <uuid>_<seqno>_<UTC time>, beside the datadir.
    let kept_root = c.nodes[1].dir.join("galera-kept");
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(&kept_root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    ensure!(
        c,
        kept.len() == 1,
        "kept copies in {}: {kept:?}",
        kept_root.display()
    );
    let path = kept[0].clone();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{}_", position.replacen(':', "_", 1));
    ensure!(
        c,
        name.starts_with(&prefix) && name.ends_with('Z') && name.len() == prefix.len() + 16,
        "kept copy named {name}, want {prefix}<YYYYMMDDTHHMMSSZ>"
    );
    ensure!(
        c,
        path.join("galera-sidecar.kept.json").exists() && path.join("grastate.dat").exists(),
        "the kept copy lacks its record or grastate.dat"
    );

    // etcd and `status` say what was discarded and where it is kept.
    let rec: serde_json::Value =
        serde_json::from_str(&etcd_value(&c, &key(&c, "resynced/g-1"))).unwrap_or_default();
    ensure!(
        c,
        rec["kept"] == path.display().to_string()
            && rec["position"] == position
            && rec["first_seqno"] == 0,
        "P/resynced/g-1 = {rec}"
    );
    let s = c.status();
    ensure!(
        c,
        s["resynced"]["g-1"]["kept"] == path.display().to_string()
            && s["flags"].to_string().contains("g-1's diverged datadir"),
        "status does not show the kept copy: {s}"
    );
    let table = common::stdout(&c.cli(&["status", "--no-live"]));
    ensure!(
        c,
        table.contains("resynced   g-1") && table.contains(&path.display().to_string()),
        "the status table does not show the kept copy:\n{table}"
    );

    // The kept copy is a datadir: a standalone server on it holds the diverged rows.
    let got = standalone_rows(&c.nodes[1], &path, &c.root.path().join("kept-g-1"));
    ensure!(
        c,
        got == rows(&[(1000, 5)]),
        "the kept copy holds {got:?}, not the foreign history's rows"
    );
}

/// A running entrypoint started by hand (not through `TestNode`), killed with its process
/// group on drop.
struct Entrypoint(std::process::Child);

impl Drop for Entrypoint {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.0.wait();
    }
}

/// A volume of the old layout — the datadir at the volume's root, as when the volume was
/// mounted at the datadir — is moved into the datadir subdirectory at the first start (one
/// log line, renames only), and the node rejoins by IST with its own data and every row.
#[test]
fn old_volume_layout_is_migrated_and_rejoins_by_ist() {
    use std::os::unix::process::CommandExt;
    let mut c = steady_cluster(211, 3);
    c.write_rows(0, 1, 20);
    assert_eq!(c.nodes[2].sigterm(STOP_TIMEOUT), Some(0));
    c.write_rows(0, 21, 10);
    let want = rows(&[(1, 30)]);
    let uuid = cluster_uuid(&c);
    // The old layout: g-2's datadir files directly at the volume's root, beside lost+found.
    let vol = c.root.path().join("vol-g-2");
    std::fs::create_dir_all(vol.join("lost+found")).expect("volume");
    common::run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", c.nodes[2].datadir().display()))
            .arg(&vol),
        "cp -a the datadir to the volume root",
    );
    common::run_ok(
        Command::new("chown").args(["-R", "mysql:mysql"]).arg(&vol),
        "chown the volume",
    );
    std::fs::remove_dir_all(c.nodes[2].datadir()).expect("remove the old datadir");
    let datadir = vol.join("mysql-data");
    let ist_from = c.nodes[2].error_log_len();
    let log_from = c.nodes[2].log().len();
    let n = &c.nodes[2];
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.sidecar_log())
        .expect("sidecar log");
    let mut cmd = Command::new(common::bin());
    cmd.args(["--etcd-endpoints", &c.endpoint(), "--cluster-name", &c.name])
        .args(["--node-name", &n.name, "--node-address", &n.ip])
        .arg("galera")
        .arg("--defaults-file")
        .arg(n.defaults_file())
        .arg("--datadir")
        .arg(&datadir)
        .arg("--state-dir")
        .arg(n.state_dir())
        .arg("--mysql-socket")
        .arg(n.socket())
        .args([
            "--cluster-size",
            "3",
            "--lease-ttl",
            "4s",
            "--drain-timeout",
            "5s",
        ])
        .env("GALERA_ROOT_PASSWORD", common::galera::ROOT_PASSWORD)
        .env("GALERA_MONITOR_USER", common::galera::MONITOR_USER)
        .env("GALERA_MONITOR_PASSWORD", common::galera::MONITOR_PASSWORD)
        .env("GALERA_LOG", "info")
        .env_remove("GALERA_ETCD_ENDPOINTS")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .process_group(0);
    common::die_with_parent(&mut cmd);
    let mut ep = Entrypoint(cmd.spawn().expect("start galera-sidecar galera"));
    c.check("g-2 rejoined", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    let said = c.nodes[2].log().get(log_from..).unwrap_or("").to_string();
    ensure!(
        c,
        said.contains("volume layout: moved"),
        "no migration log line:\n{said}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&vol)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    left.sort();
    ensure!(
        c,
        left == ["lost+found", "mysql-data"],
        "the volume root holds {left:?}"
    );
    ensure!(
        c,
        datadir.join("grastate.dat").exists() && datadir.join("init.ok").exists(),
        "the datadir files are not in {}",
        datadir.display()
    );
    ensure!(
        c,
        c.nodes[2].joined_by_ist_since(ist_from),
        "the migrated datadir must rejoin by IST (its own data), not SST"
    );
    assert_every_row_everywhere(&c, &want, &uuid);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ep.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let start = Instant::now();
    while start.elapsed() < STOP_TIMEOUT && matches!(ep.0.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `P/uuid` overwritten with another history's uuid while cluster A runs; a node holding
/// THAT history starts: the joiner must compare with what the running nodes actually run
/// (their census), not only with `P/uuid` — it is refused, never overwritten by SST.
#[test]
fn join_checks_the_running_clusters_actual_uuid() {
    let mut c = steady_cluster(205, 3);
    c.write_rows(0, 1, 20);
    let want = rows(&[(1, 20)]);
    let uuid = cluster_uuid(&c);
    assert_eq!(c.nodes[2].sigterm(STOP_TIMEOUT), Some(0));
    let foreign = give_foreign_history(206, &c.nodes[2]);
    c.etcd.etcdctl(&["put", &key(&c, "uuid"), &foreign]);
    let before = c.nodes[2].datadir_listing();
    let sst_from = c.nodes[2].error_log_len();
    c.start(2);
    c.check("g-2 decided", || {
        c.wait_status("g-2 refused or registered", DECISION_TIMEOUT, |s| {
            refusal(s, "g-2").is_some() || registered(s, "g-2")
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    let s = c.status();
    ensure!(
        c,
        refusal(&s, "g-2").is_some()
            && !registered(&s, "g-2")
            && !c.nodes[2].joined_by_sst_since(sst_from),
        "g-2 holds history {foreign} (= P/uuid) but the running nodes run {uuid}: it must be \
         refused, not joined by SST. status: {s}"
    );
    ensure!(
        c,
        c.nodes[2].datadir_listing() == before,
        "g-2's datadir changed while refused"
    );
    let r = refusal(&s, "g-2").unwrap_or_default();
    ensure!(
        c,
        r.contains(&uuid) && r.contains(&foreign),
        "the refusal must name the running history {uuid} and g-2's {foreign}: {r:?}"
    );
    // The running nodes publish what they actually run.
    c.check("g-0's census shows the running cluster", || {
        common::wait_until("P/census/g-0 running", Duration::from_secs(20), || {
            let v: serde_json::Value =
                serde_json::from_str(&etcd_value(&c, &key(&c, "census/g-0")))
                    .unwrap_or(serde_json::Value::Null);
            v["running"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("{uuid}:")))
        })
    });
    for i in [0, 1] {
        let got = rows_via(common::galera::root_client(&c.nodes[i].socket()));
        ensure!(
            c,
            got.as_deref() == Ok(&want[..]),
            "{} lost rows",
            c.nodes[i].name
        );
    }
    // The operator puts P/uuid right and discards g-2's foreign data.
    c.etcd.etcdctl(&["put", &key(&c, "uuid"), &uuid]);
    let out = c.cli(&["resync", "g-2"]);
    ensure!(
        c,
        out.status.success(),
        "resync g-2: {}",
        common::stderr(&out)
    );
    c.check("g-2 rejoined", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    ensure!(
        c,
        c.nodes[2].joined_by_sst_since(sst_from),
        "resync rejoins by SST"
    );
    assert_every_row_everywhere(&c, &want, &uuid);
}

/// A live mariadbd with this pid (not a zombie, not another program)?
fn mariadbd_alive(pid: i32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    comm.trim() == "mariadbd" && !stat.contains(") Z ")
}

/// etcd frozen (SIGSTOP) for 6 s right after the recovery winner recorded its bootstrap: the
/// winner's mariadbd keeps running (same pid throughout), it registers once etcd is back,
/// the cluster reaches STEADY, every row everywhere.
#[test]
fn etcd_blip_after_bootstrap_synced_keeps_mariadbd() {
    let mut c = steady_cluster(207, 3);
    c.write_rows(0, 1, 30);
    let want = rows(&[(1, 30)]);
    let uuid = cluster_uuid(&c);
    c.kill_all();
    let offsets = c.log_offsets();
    c.start_all();
    let recorded = |c: &Cluster| {
        c.nodes.iter().zip(&offsets).position(|(n, o)| {
            n.log()
                .get(*o..)
                .unwrap_or("")
                .contains("bootstrap recorded")
        })
    };
    let start = Instant::now();
    let w = loop {
        if let Some(w) = recorded(&c) {
            break w;
        }
        ensure!(
            c,
            start.elapsed() < STEADY_TIMEOUT,
            "no bootstrap recorded within {STEADY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let etcd_pid = nix::unistd::Pid::from_raw(c.etcd.pid().expect("etcd runs"));
    nix::sys::signal::kill(etcd_pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP etcd");
    let winner = c.nodes[w].name.clone();
    // During the blip: the winner's entrypoint lives and its mariadbd starts and stays.
    let mut pid: Option<i32> = None;
    let mut broken: Option<String> = None;
    let blip = Instant::now();
    while blip.elapsed() < Duration::from_secs(6) && broken.is_none() {
        if !c.nodes[w].running() {
            broken = Some(format!("{winner}'s entrypoint exited during the etcd blip"));
        }
        match (pid, c.nodes[w].mysqld_pid().filter(|p| mariadbd_alive(*p))) {
            (None, Some(p)) => pid = Some(p),
            (Some(p), now) if now != Some(p) => {
                broken = Some(format!(
                    "{winner}'s mariadbd {p} gone during the etcd blip (now {now:?})"
                ))
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    nix::sys::signal::kill(etcd_pid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT etcd");
    ensure!(c, broken.is_none(), "{}", broken.unwrap_or_default());
    let pid = pid.unwrap_or_else(|| {
        panic!(
            "{winner}'s mariadbd did not start within the 6 s blip\n{}",
            c.logs()
        )
    });
    // After it: the same mariadbd until STEADY. A loser whose entrypoint exited is restarted
    // as the kubelet would; the winner never is.
    let start = Instant::now();
    loop {
        ensure!(
            c,
            c.nodes[w].running() && c.nodes[w].mysqld_pid() == Some(pid) && mariadbd_alive(pid),
            "{winner}'s mariadbd {pid} (or its entrypoint) did not survive the etcd blip"
        );
        if c.state().as_deref() == Some("STEADY") && c.registered() == 3 {
            break;
        }
        ensure!(
            c,
            start.elapsed() < STEADY_TIMEOUT,
            "not STEADY within {STEADY_TIMEOUT:?} after the etcd blip: {}",
            c.status()
        );
        for i in (0..c.nodes.len()).filter(|i| *i != w) {
            if !c.nodes[i].running() {
                eprintln!(
                    "{} exited after the etcd blip; restarting it",
                    c.nodes[i].name
                );
                c.nodes[i].kill9();
                c.start(i);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    ensure!(
        c,
        c.bootstrappers_since(&offsets) == vec![winner.clone()],
        "bootstrapped: {:?}",
        c.bootstrappers_since(&offsets)
    );
    ensure!(
        c,
        c.nodes[w].mysqld_pid() == Some(pid) && mariadbd_alive(pid),
        "{winner}'s mariadbd restarted"
    );
    ensure!(c, cluster_uuid(&c) == uuid, "uuid changed");
    assert_every_row_everywhere(&c, &want, &uuid);
}

/// A forced recovery from behind, then a second full outage. g-0 is forced at seqno 10 while
/// g-1 and g-2 hold 20 (the runbook allows it: the loss is printed); the forced cluster
/// commits 5 more, so g-0 and the others hold two branches of ONE uuid whose seqnos overlap
/// (15 against 20). After the outage nothing compares those seqnos: the election blocks on
/// two branches, `status` shows both, every datadir keeps its rows. The operator then keeps
/// the old branch by forcing g-1: g-2 joins it, g-0 is refused — never overwritten.
#[test]
fn forced_recovery_from_behind_then_outage_keeps_both_branches() {
    let mut c = steady_cluster(208, 3);
    c.write_rows(0, 1, 10);
    let uuid = cluster_uuid(&c);
    c.nodes[0].kill9();
    c.check("g-0 evicted", || c.wait_until_registered(2));
    c.write_rows(1, 11, 10);
    // The leader's commit high-water mark catches up with the last commit (written every
    // 5 s while it moves): a force-bootstrap of g-0 then says what it loses although g-1
    // and g-2 will be down and report nothing.
    let last: i64 = c.nodes[1]
        .wsrep("last_committed")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("g-1's last committed seqno\n{}", c.logs()));
    c.check("the high-water mark reaches the last commit", || {
        c.wait_status("hwm current", DECISION_TIMEOUT, |s| {
            s["hwm"]["seqno"].as_i64() == Some(last)
        })
    });
    c.kill_all();
    // Every registration gone (the killed mariadbd no longer answer) before g-0 starts: a
    // start racing the kill would join a dying cluster.
    c.check("nobody registered", || c.wait_until_registered(0));
    c.start(0);
    c.check("g-0 queued", || {
        c.wait_status("g-0 queued", DECISION_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["queued"] == true)
        })
    });
    let g0: i64 = c.status()["members"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["name"] == "g-0"))
        .and_then(|r| r["position"].as_str())
        .and_then(|p| p.rsplit(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("g-0's position in status\n{}", c.logs()));
    let by_mark = format!("choosing g-0 loses at least {} transaction(s)", last - g0);
    let flags = c.status()["flags"].to_string();
    ensure!(
        c,
        flags.contains(
            "recovery waits for members not queued: g-1, g-2; by the commit high-water mark"
        ) && flags.contains(&by_mark),
        "status while the recovery waits ({by_mark}): {flags}"
    );
    let out = c.cli(&["force-bootstrap", "g-0"]);
    let said = common::stdout(&out);
    ensure!(
        c,
        out.status.success(),
        "force-bootstrap g-0: {}",
        common::stderr(&out)
    );
    ensure!(
        c,
        said.contains("g-1: not reported") && said.contains("loses no reported transaction"),
        "the loss report (g-1 and g-2 are down: nothing of theirs is reported): {said}"
    );
    // ... but the mark knows: exactly the transactions g-1 committed past g-0.
    ensure!(
        c,
        said.contains("by the commit high-water mark") && said.contains(&by_mark),
        "the mark's loss estimate ({by_mark}, mark {last}, g-0 at {g0}): {said}"
    );
    c.check("g-0 bootstraps (after g-1 and g-2 stayed silent)", || {
        c.wait_until_registered(1)
    });
    ensure!(
        c,
        c.nodes[0].log().contains("g-1,g-2 show(s) nothing in etcd"),
        "the forced bootstrap did not wait for the silent members"
    );
    ensure!(
        c,
        !etcd_keys(&c, &key(&c, "forks/")).is_empty(),
        "no fork recorded in etcd"
    );
    ensure!(
        c,
        c.nodes[0]
            .datadir()
            .join("galera-sidecar.forks.log")
            .exists(),
        "g-0's datadir does not list the forced recovery"
    );
    c.write_rows(0, 100, 5);
    c.kill_all();
    c.check("nobody registered", || c.wait_until_registered(0));
    // The second outage: g-0 first (its forced recovery is over), then the others.
    c.start(0);
    c.check("g-0 queued again", || {
        c.wait_status("g-0 queued", DECISION_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["queued"] == true)
        })
    });
    let offsets = c.log_offsets();
    c.start(1);
    c.start(2);
    c.check("two branches shown, nobody chosen", || {
        c.wait_status("all queued, two branches flagged", DECISION_TIMEOUT, |s| {
            ["g-0", "g-1", "g-2"]
                .iter()
                .all(|n| member(s, n).is_some_and(|m| m["queued"] == true))
                && s["flags"].to_string().contains("through forced recovery")
                && s["flags"].to_string().contains("without forced recovery")
        })
    });
    c.check("the election says why", || {
        common::wait_until("the blocked election", DECISION_TIMEOUT, || {
            c.nodes[1].log().contains("hold two branches of cluster")
        })
    });
    let s = c.status();
    ensure!(
        c,
        ["g-0", "g-1", "g-2"].iter().all(|n| !registered(&s, n)),
        "someone was chosen: {s}"
    );
    ensure!(
        c,
        c.bootstrappers_since(&offsets).is_empty(),
        "bootstrapped: {:?}",
        c.bootstrappers_since(&offsets)
    );
    let scratch = c.root.path().join("scratch");
    let forced = offline_rows(&c.nodes[0], &scratch);
    ensure!(
        c,
        forced == rows(&[(1, 10), (100, 5)]),
        "g-0's branch: {forced:?}"
    );
    let old = offline_rows(&c.nodes[1], &scratch);
    ensure!(c, old == rows(&[(1, 20)]), "g-1's branch: {old:?}");
    // The operator keeps the old branch.
    let out = c.cli(&["force-bootstrap", "g-1"]);
    let said = common::stdout(&out);
    ensure!(
        c,
        out.status.success(),
        "force-bootstrap g-1: {}",
        common::stderr(&out)
    );
    ensure!(
        c,
        said.contains("loses at least") && said.contains("(held by g-0)"),
        "the loss counts g-0's commits past the split, not a seqno difference: {said}"
    );
    c.check("g-1 and g-2 recovered, g-0 refused", || {
        c.wait_status("g-0 refused as another branch", STEADY_TIMEOUT, |s| {
            refusal(s, "g-0").is_some_and(|r| r.contains("two branches"))
                && registered(s, "g-1")
                && registered(s, "g-2")
        })
    });
    let s = c.status();
    let r = refusal(&s, "g-0").unwrap_or_default();
    ensure!(c, !r.contains("resync"), "the refusal advises resync: {r}");
    ensure!(c, cluster_uuid(&c) == uuid, "uuid changed");
    for i in [1, 2] {
        ensure!(
            c,
            c.count_rows(i) == Some(20),
            "g-{i} holds {:?} rows",
            c.count_rows(i)
        );
    }
    let kept = offline_rows(&c.nodes[0], &scratch.join("after"));
    ensure!(
        c,
        kept == rows(&[(1, 10), (100, 5)]),
        "g-0's branch was touched: {kept:?}"
    );
}
