//! The probes against a real 3-node cluster run by the entrypoint, under the kubelet emulator
//! with the manifests' timings (k8s/statefulset.yaml, docs/probes.md): a uuid changed in etcd
//! makes every node not ready but none dead; a node cut off by nftables is not ready
//! (non-Primary) but alive; joiners in a slow SST, and a second joiner behind them, stay
//! alive the whole time; a node in `Joined` catching up a backlog is alive and not ready.
//! Subnet 127.0.16.x.

mod common;

use std::time::Duration;

use common::galera::Cluster;
use common::kubelet::{Kubelet, ProbeSpec};

const READINESS: ProbeSpec = ProbeSpec {
    period: Duration::from_secs(5),
    timeout: Duration::from_secs(5),
    failure_threshold: 1,
};
const LIVENESS: ProbeSpec = ProbeSpec {
    period: Duration::from_secs(10),
    timeout: Duration::from_secs(5),
    failure_threshold: 3,
};
const T: Duration = Duration::from_secs(120);

fn probe_once(c: &Cluster, i: usize, probe: &str) -> (bool, String) {
    let out = c.nodes[i]
        .probe_cmd(&c.endpoint(), &c.name, probe)
        .output()
        .expect("probe");
    (
        out.status.success(),
        common::stdout(&out).trim().to_string(),
    )
}

/// The liveness probe of node `i` under the kubelet emulator, in the background.
fn liveness_kubelet(c: &Cluster, i: usize) -> common::kubelet::Background {
    let probe = c.nodes[i].probe_cmd(&c.endpoint(), &c.name, "liveness");
    let args: Vec<_> = probe.get_args().map(|a| a.to_os_string()).collect();
    Kubelet::start(LIVENESS, move || {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(&args)
            .env("GALERA_MONITOR_USER", common::galera::MONITOR_USER)
            .env("GALERA_MONITOR_PASSWORD", common::galera::MONITOR_PASSWORD);
        cmd
    })
}

/// `FLUSH TABLES WITH READ LOCK` held on a node in a session of its own. Galera desyncs and
/// pauses the node (Donor/Desynced, no flow control) while the others go on committing; on
/// release the node resumes, is `Joined` while it applies the backlog, then `Synced`.
struct ReadLock(std::process::Child);

impl ReadLock {
    fn take(node: &common::galera::TestNode) -> ReadLock {
        use std::io::Write;
        let mut child = common::galera::root_client(&node.socket())
            .args(["-N", "-B"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start a mariadb session");
        child
            .stdin
            .as_mut()
            .expect("stdin")
            .write_all(b"FLUSH TABLES WITH READ LOCK;\n")
            .expect("send FTWRL");
        ReadLock(child)
    }

    fn release(mut self) {
        use std::io::Write;
        if let Some(mut stdin) = self.0.stdin.take() {
            stdin.write_all(b"UNLOCK TABLES;\n").expect("send UNLOCK");
        }
        let status = self.0.wait().expect("session ends");
        assert!(status.success(), "the FTWRL session failed: {status}");
    }
}

/// Node `i` (paused by FTWRL while node 0 commits a backlog of large updates, then released)
/// is `Joined` for a while: every liveness probe in that window says alive and names the
/// catch-up, readiness says not ready naming Joined. Probed in a tight loop, since the
/// window lasts seconds, while the kubelet's liveness runs in the background.
fn joined_catching_up(c: &Cluster, i: usize) {
    const ROWS: u32 = 100_000;
    const UPDATES: u32 = 10;
    let setup = format!(
        "USE t; CREATE TABLE IF NOT EXISTS big (id INT PRIMARY KEY, v INT NOT NULL); \
         INSERT INTO big SELECT seq, 0 FROM seq_1_to_{ROWS}"
    );
    if let Err(e) = c.nodes[0].sql_result(&setup) {
        panic!("create t.big: {e}");
    }
    c.check("t.big replicated", || {
        common::wait_until("t.big on every node", T, || {
            (0..3).all(|n| {
                c.nodes[n].sql("SELECT COUNT(*) FROM t.big").as_deref() == Some(&ROWS.to_string())
            })
        })
    });
    // A Joined node sends SYNC as soon as its receive queue is down to the flow-control
    // lower limit (gcs.fc_limit × gcs.fc_factor, ~28 write-sets by default with 3 nodes):
    // with the default a short backlog goes Desynced → Synced without a visible Joined.
    // Lowered on this node, it stays Joined until it has applied everything queued.
    set_provider_options(&c.nodes[i], "gcs.fc_limit=1;gcs.fc_factor=0");
    let lock = ReadLock::take(&c.nodes[i]);
    c.check("paused node desynced", || {
        common::wait_until(
            "Donor/Desynced under FTWRL",
            Duration::from_secs(30),
            || c.nodes[i].wsrep("local_state_comment").as_deref() == Some("Donor/Desynced"),
        )
    });
    let backlog = vec!["UPDATE t.big SET v = v + 1"; UPDATES as usize].join("; ");
    if let Err(e) = c.nodes[0].sql_result(&backlog) {
        panic!("commit the backlog: {e}");
    }
    let queued: u64 = c.nodes[i]
        .wsrep("local_recv_queue")
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    assert!(queued > 0, "the paused node queued the backlog");
    // Released, the node applies the queued backlog still Donor/Desynced and turns Joined
    // when it reaches its own JOIN message: what was committed after the release is what it
    // catches up while Joined. So node 0 keeps committing large updates meanwhile.
    let writer = UpdateLoop::start(&c.nodes[0]);
    lock.release();

    // Probe until the node is Synced again; the writer stops once enough probes saw Joined.
    let start = std::time::Instant::now();
    let mut writer = Some(writer);
    let mut live: Vec<(bool, String)> = vec![];
    let mut ready: Vec<(bool, String)> = vec![];
    while start.elapsed() < T * 2 {
        live.push(probe_once(c, i, "liveness"));
        ready.push(probe_once(c, i, "readiness"));
        if ready.last().is_some_and(|(ok, _)| *ok) {
            break;
        }
        let joined = live.iter().filter(|(_, l)| l.contains("Joined")).count();
        if joined >= 10 || start.elapsed() > T {
            if let Some(w) = writer.take() {
                println!("g-0 committed {} updates during the catch-up", w.stop());
            }
        }
    }
    if let Some(w) = writer.take() {
        println!("g-0 committed {} updates during the catch-up", w.stop());
    }
    let transcript = || {
        live.iter()
            .chain(ready.iter())
            .map(|(ok, l)| format!("{} {l}", if *ok { "ok  " } else { "FAIL" }))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        ready.last().is_some_and(|(ok, _)| *ok),
        "g-{i} ready again after catching up:\n{}",
        transcript()
    );
    let joined_live = live.iter().filter(|(_, l)| l.contains("Joined")).count();
    assert!(
        joined_live > 0,
        "a liveness probe ran while g-{i} was Joined ({queued} write-sets queued):\n{}",
        transcript()
    );
    assert!(
        live.iter().all(|(ok, _)| *ok),
        "g-{i} alive through the catch-up:\n{}",
        transcript()
    );
    assert!(
        live.iter()
            .filter(|(_, l)| l.contains("Joined"))
            .all(|(_, l)| l.contains("catching up")),
        "the liveness reason names the catch-up:\n{}",
        transcript()
    );
    assert!(
        ready
            .iter()
            .filter(|(_, l)| l.contains("Joined"))
            .all(|(ok, l)| !ok && l.contains("want Synced")),
        "a Joined node is not ready:\n{}",
        transcript()
    );
    println!(
        "g-{i}: {queued} write-sets queued; {} liveness probes, {joined_live} of them while \
         Joined, all alive; readiness in order:\n{}",
        live.len(),
        run_lengths(ready.iter().map(|(_, l)| l.split(" (").next().unwrap_or(l)))
    );
    set_provider_options(&c.nodes[i], "gcs.fc_limit=16;gcs.fc_factor=1.0");
    // The backlog really was applied.
    let sums = |n: usize| c.nodes[n].sql("SELECT MIN(v), MAX(v) FROM t.big");
    assert_eq!(sums(i), sums(0), "g-{i} applied every update g-0 committed");
}

fn set_provider_options(node: &common::galera::TestNode, opts: &str) {
    if let Err(e) = node.sql_result(&format!("SET GLOBAL wsrep_provider_options = '{opts}'")) {
        panic!("{}: set {opts}: {e}", node.name);
    }
}

/// `UPDATE t.big SET v = v + 1` committed on a node over and over, in the background.
struct UpdateLoop {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u32>,
}

impl UpdateLoop {
    fn start(node: &common::galera::TestNode) -> UpdateLoop {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let socket = node.socket();
        let thread = std::thread::spawn(move || {
            let mut done = 0;
            while !flag.load(Ordering::SeqCst) {
                let ok = common::galera::root_client(&socket)
                    .args(["-e", "UPDATE t.big SET v = v + 1"])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if ok {
                    done += 1;
                }
            }
            done
        });
        UpdateLoop { stop, thread }
    }

    /// Stop after the update in flight; how many committed.
    fn stop(self) -> u32 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().expect("update loop")
    }
}

/// `3 × a, 1 × b`: consecutive equal items counted, for a compact transcript.
fn run_lengths<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut runs: Vec<(usize, &str)> = vec![];
    for it in items {
        match runs.last_mut() {
            Some((n, last)) if *last == it => *n += 1,
            _ => runs.push((1, it)),
        }
    }
    runs.iter()
        .map(|(n, it)| format!("  {n} × {it}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn probes_tell_the_truth_in_a_cluster() {
    let mut c = Cluster::new(16, 3);
    c.start_all();
    c.check("steady", || c.wait_steady(3, T));
    c.write_rows(0, 1, 10);
    // Liveness of every node under the kubelet for the whole test: nobody may be restarted.
    let liveness: Vec<_> = (0..3).map(|i| liveness_kubelet(&c, i)).collect();
    for i in 0..3 {
        let (ok, line) = probe_once(&c, i, "readiness");
        assert!(ok, "g-{i} ready when Synced: {line}");
    }

    // 1. P/uuid changed in etcd: not ready on every node, alive on every node.
    let uuid = c.status()["uuid"].as_str().expect("uuid").to_string();
    let out = c.etcd.etcdctl(&[
        "put",
        &format!("/galera/{}/uuid", c.name),
        "11111111-2222-3333-4444-555555555555",
    ]);
    assert!(out.status.success());
    c.check("uuid mismatch → not ready everywhere", || {
        common::wait_until(
            "every node not ready for the uuid",
            Duration::from_secs(30),
            || {
                (0..3).all(|i| {
                    let (ok, line) = probe_once(&c, i, "readiness");
                    !ok && line.contains("uuid")
                })
            },
        )
    });
    for i in 0..3 {
        let (ok, line) = probe_once(&c, i, "liveness");
        assert!(ok, "g-{i} alive despite the uuid mismatch: {line}");
    }
    assert!(c
        .etcd
        .etcdctl(&["put", &format!("/galera/{}/uuid", c.name), &uuid])
        .status
        .success());
    c.check("ready again", || {
        common::wait_until("every node ready", Duration::from_secs(30), || {
            (0..3).all(|i| probe_once(&c, i, "readiness").0)
        })
    });

    // 2. g-2 cut off: not ready (non-Primary), alive.
    let others: Vec<String> = c.nodes[..2].iter().map(|n| n.ip.clone()).collect();
    let mut cut = common::nft::Partition::isolate("galera_checker16", &c.nodes[2].ip, &others);
    c.check("partitioned node not ready", || {
        common::wait_until(
            "g-2 not ready (non-Primary)",
            Duration::from_secs(40),
            || {
                let (ok, line) = probe_once(&c, 2, "readiness");
                !ok && (line.contains("Primary")
                    || line.contains("wsrep_ready")
                    || line.contains("Synced"))
            },
        )
    });
    let (ok, line) = probe_once(&c, 2, "liveness");
    assert!(ok, "partitioned node alive: {line}");
    cut.heal();
    c.check("healed", || c.wait_all_synced(3, T));

    // 3. g-1 in Joined, catching up a backlog: alive (and not ready).
    joined_catching_up(&c, 1);

    // 4. Two joiners: g-3 in a slow SST (rsync limited to 2 MB/s), g-4 behind it. Both alive.
    let bin_dir = c.root.path().join("slow-rsync");
    std::fs::create_dir_all(&bin_dir).expect("dir");
    let wrapper = bin_dir.join("rsync");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexec /usr/bin/rsync --bwlimit=2000 \"$@\"\n",
    )
    .expect("wrapper");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&wrapper).expect("meta").permissions(),
        0o755,
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for i in [3, 4] {
        c.add_node(i, 3);
        c.nodes[i].env = vec![("PATH".into(), path.clone())];
    }
    c.start(3);
    c.start(4);
    let joiners: Vec<_> = [3, 4].iter().map(|&i| liveness_kubelet(&c, i)).collect();
    // The slow transfer is really in progress for a while.
    c.check("a slow SST is in progress", || {
        common::wait_until(
            "sst_in_progress on a joiner",
            Duration::from_secs(60),
            || {
                [3, 4]
                    .iter()
                    .any(|&i| c.nodes[i].datadir().join("sst_in_progress").exists())
            },
        )
    });
    c.check("both joiners synced", || {
        c.wait_steady(5, Duration::from_secs(300))
    });
    let joiners: Vec<Kubelet> = joiners.into_iter().map(|k| k.stop()).collect();
    for (k, i) in joiners.iter().zip([3, 4]) {
        assert!(
            k.restarts.is_empty(),
            "joiner g-{i} would have been restarted:\n{}",
            k.transcript()
        );
        assert!(!k.results.is_empty());
    }
    let liveness: Vec<Kubelet> = liveness.into_iter().map(|k| k.stop()).collect();
    for (i, k) in liveness.iter().enumerate() {
        assert!(
            k.restarts.is_empty(),
            "g-{i} would have been restarted:\n{}",
            k.transcript()
        );
        assert!(k.results.len() >= 3, "g-{i} was probed: {}", k.transcript());
    }
    // Readiness under the kubelet now: every node ready.
    for i in 0..5 {
        let mut k = Kubelet::new(READINESS);
        k.run(1, || {
            c.nodes[i].probe_cmd(&c.endpoint(), &c.name, "readiness")
        });
        assert!(k.results[0].ok, "g-{i}: {}", k.transcript());
    }
}
