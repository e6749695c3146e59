//! The galera entrypoint end to end: real etcd, three real Galera nodes on loopback, each run
//! by `galera-sidecar galera` (rsync SST). Subnets 127.0.10–39.x are this file's.

mod common;

use std::time::Duration;

use common::galera::Cluster;

const STEADY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

fn steady_cluster(subnet: u8) -> Cluster {
    let mut c = Cluster::new(subnet, 3);
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(3, STEADY_TIMEOUT));
    c
}

#[test]
fn bootstrap_three_empty_nodes() {
    let c = steady_cluster(10);
    let status = c.status();
    let uuid = status["uuid"].as_str().expect("uuid").to_string();
    for n in &c.nodes {
        assert_eq!(
            n.wsrep("cluster_state_uuid").as_deref(),
            Some(uuid.as_str()),
            "{}",
            n.name
        );
        assert_eq!(n.wsrep("cluster_size").as_deref(), Some("3"), "{}", n.name);
        assert!(
            n.datadir().join("init.ok").exists(),
            "{} has init.ok",
            n.name
        );
    }
    let members = status["members"].as_array().expect("members");
    assert_eq!(members.iter().filter(|m| m["member"] == true).count(), 3);
    assert_eq!(
        members.iter().filter(|m| m["registered"] == true).count(),
        3
    );
    let bootstraps: usize = c
        .nodes
        .iter()
        .map(|n| n.log().matches("--wsrep-new-cluster").count())
        .sum();
    assert_eq!(
        bootstraps,
        1,
        "exactly one --wsrep-new-cluster:\n{}",
        c.logs()
    );
    assert!(
        status["leader"].is_string(),
        "a leader is elected: {status}"
    );
    assert!(
        status["bootstrap"].is_null(),
        "bootstrap record cleared at STEADY"
    );
    // State file for the probes.
    let sf =
        std::fs::read_to_string(c.nodes[0].state_dir().join("state.json")).expect("state file");
    assert!(sf.contains("\"running\""), "{sf}");
}

/// kill -9 and restart → IST; new address → rejoins without a ghost; SIGTERM → keys gone at
/// once and grastate has its seqno, restart → IST; emptied datadir → SST; lost init.ok → IST.
#[test]
fn single_node_restarts() {
    let mut c = steady_cluster(11);
    c.write_rows(0, 1, 100);

    // 1. kill -9 one node (entrypoint and mariadbd), write more, restart → IST.
    c.nodes[1].kill9();
    c.check("eviction", || c.wait_until_registered(2));
    c.write_rows(0, 101, 50);
    let off = c.nodes[1].error_log_len();
    c.start(1);
    c.check("rejoin after kill -9", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("IST after kill -9", || {
        assert!(
            c.nodes[1].joined_by_ist_since(off),
            "{}",
            c.nodes[1].error_log_since(off)
        )
    });
    assert_eq!(c.count_rows(1), Some(150));

    // 2. Same name, new address → rejoins; the old address is gone from etcd.
    c.nodes[1].kill9();
    c.check("eviction", || c.wait_until_registered(2));
    let old_ip = c.nodes[1].ip.clone();
    c.nodes[1].ip = format!("127.0.{}.5", c.subnet);
    c.start(1);
    c.check("rejoin at a new address", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    let status = c.status();
    let text = status.to_string();
    assert!(text.contains(&c.nodes[1].ip), "{status}");
    assert!(
        !text.contains(&format!("\"{old_ip}\"")),
        "no ghost of {old_ip}: {status}"
    );
    c.check("cluster size 3", || c.wait_all_synced(3, STEADY_TIMEOUT));

    // 3. SIGTERM → keys vanish at once, grastate has a seqno; restart → IST.
    let code = c.nodes[2].sigterm(STOP_TIMEOUT);
    assert_eq!(code, Some(0), "clean exit:\n{}", c.nodes[2].log());
    let status = c.status();
    let g2 = status["members"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["name"] == "g-2").cloned());
    assert_eq!(
        g2.as_ref().map(|r| r["registered"].clone()),
        Some(serde_json::Value::Bool(false)),
        "{status}"
    );
    let gra = c.nodes[2].grastate();
    assert!(
        !gra.contains("seqno:   -1"),
        "grastate has its seqno after a clean stop:\n{gra}"
    );
    c.write_rows(0, 151, 10);
    let off = c.nodes[2].error_log_len();
    c.start(2);
    c.check("rejoin after SIGTERM", || c.wait_steady(3, STEADY_TIMEOUT));
    assert!(c.nodes[2].joined_by_ist_since(off), "IST after SIGTERM");

    // 4. A lost volume (datadir emptied) → SST.
    // The killed incarnation's keys live until its lease expires: wait for that, or
    // "3 registered" below would be the dead node's keys, not the restarted one's.
    c.nodes[2].kill9();
    c.check("eviction", || c.wait_until_registered(2));
    std::fs::remove_dir_all(c.nodes[2].datadir()).expect("empty the datadir");
    let off = c.nodes[2].error_log_len();
    c.start(2);
    c.check("rejoin after losing the datadir", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.check("cluster size 3 after SST", || {
        c.wait_all_synced(3, STEADY_TIMEOUT)
    });
    assert!(
        c.nodes[2].joined_by_sst_since(off),
        "SST after an emptied datadir"
    );
    assert_eq!(c.count_rows(2), Some(160));

    // 5. Data but no init.ok, same uuid → valid: IST, init.ok back.
    assert_eq!(c.nodes[0].sigterm(STOP_TIMEOUT), Some(0));
    std::fs::remove_file(c.nodes[0].datadir().join("init.ok")).expect("remove init.ok");
    c.write_rows(1, 161, 5);
    let off = c.nodes[0].error_log_len();
    c.start(0);
    c.check("rejoin without init.ok", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    assert!(c.nodes[0].joined_by_ist_since(off), "IST without init.ok");
    assert!(
        c.nodes[0].datadir().join("init.ok").exists(),
        "init.ok re-created"
    );
    assert_eq!(c.count_rows(0), Some(165));
}

/// A node with another cluster's history is refused (waits in-process, publishes why, datadir
/// untouched); `resync` makes it discard its data and rejoin by SST.
#[test]
fn split_brain_refused_then_resync() {
    let mut c = steady_cluster(12);
    c.write_rows(0, 1, 20);
    // Another cluster's datadir: a one-node cluster of its own.
    let mut other = Cluster::new(13, 0);
    other.add_node(0, 1);
    other.start(0);
    other.check("other cluster", || other.wait_steady(1, STEADY_TIMEOUT));
    other.write_rows(0, 1000, 5);
    assert_eq!(other.nodes[0].sigterm(STOP_TIMEOUT), Some(0));
    // g-2 gets the foreign history.
    assert_eq!(c.nodes[2].sigterm(STOP_TIMEOUT), Some(0));
    std::fs::remove_dir_all(c.nodes[2].datadir()).expect("rm");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(other.nodes[0].datadir())
        .arg(c.nodes[2].datadir())
        .status()
        .expect("cp");
    assert!(status.success());
    let before = c.nodes[2].datadir_listing();
    c.start(2);
    c.check("refusal published", || {
        common::wait_until("refused/g-2", Duration::from_secs(60), || {
            c.status()["members"]
                .as_array()
                .and_then(|m| m.iter().find(|r| r["name"] == "g-2").cloned())
                .is_some_and(|r| {
                    r["refused"]
                        .as_str()
                        .is_some_and(|s| s.contains("two histories"))
                })
        })
    });
    // It waits in-process (no crash loop) and its datadir is untouched.
    std::thread::sleep(Duration::from_secs(3));
    assert!(c.nodes[2].running(), "refused node waits in-process");
    assert_eq!(
        c.nodes[2].datadir_listing(),
        before,
        "datadir untouched while refused"
    );
    let text = common::stdout(&c.cli(&["status"]));
    assert!(
        text.contains("two histories side by side") && !text.contains("resync g-2"),
        "status shows both histories and does not advise discarding either:\n{text}"
    );
    // The operator accepts the loss of the foreign data.
    let out = c.cli(&["resync", "g-2"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let off = c.nodes[2].error_log_len();
    c.check("rejoin after resync", || c.wait_steady(3, STEADY_TIMEOUT));
    assert!(c.nodes[2].joined_by_sst_since(off), "resync rejoins by SST");
    assert_eq!(c.count_rows(2), Some(20));
    let s = c.status();
    assert!(
        s["members"]
            .to_string()
            .contains("\"resync_requested\":false"),
        "resync consumed: {s}"
    );
}

/// etcd stopped for 30 s while STEADY: mariadbd keeps running and serving, keys come back.
/// Then a lease lost by a live entrypoint (SIGSTOP past the TTL): it re-grants and
/// re-registers; mariadbd is not restarted.
#[test]
fn etcd_outage_and_lost_lease() {
    let mut c = steady_cluster(14);
    let pids: Vec<_> = c.nodes.iter().map(|n| n.mysqld_pid()).collect();
    c.etcd.stop();
    for round in 0..6 {
        std::thread::sleep(Duration::from_secs(5));
        c.write_rows(round % 3, 100 * round as u32 + 1, 3);
    }
    c.etcd.restart();
    c.check("keys back after the etcd outage", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    let after: Vec<_> = c.nodes.iter().map(|n| n.mysqld_pid()).collect();
    assert_eq!(pids, after, "no mariadbd restarted during the etcd outage");
    for i in 0..3 {
        assert_eq!(c.count_rows(i), Some(18));
    }
    // SIGSTOP g-1's entrypoint past its lease TTL (4 s).
    c.nodes[1].signal(nix::sys::signal::Signal::SIGSTOP);
    c.check("g-1's keys expire", || c.wait_until_registered(2));
    c.nodes[1].signal(nix::sys::signal::Signal::SIGCONT);
    c.check("g-1 re-registers", || c.wait_steady(3, STEADY_TIMEOUT));
    assert!(
        c.nodes[1].log().contains("lease lost"),
        "{}",
        c.nodes[1].log()
    );
    let after: Vec<_> = c.nodes.iter().map(|n| n.mysqld_pid()).collect();
    assert_eq!(pids, after, "no mariadbd restarted after the lease loss");
}

/// mariadbd killed under a running entrypoint: the entrypoint passes its status on (137) and
/// its keys vanish at once. SIGTERM while queued for recovery (mariadbd never started) still
/// cleans up at once.
#[test]
fn exit_status_and_early_sigterm() {
    let mut c = steady_cluster(15);
    let pid = c.nodes[2].mysqld_pid().expect("mariadbd pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let code = c.nodes[2].wait_exit(Duration::from_secs(30));
    assert_eq!(
        code,
        Some(137),
        "mariadbd's status passed on:\n{}",
        c.nodes[2].log()
    );
    // Its lease was revoked: no waiting for the TTL.
    assert_eq!(c.registered(), 2);
    // Restarted at once (as the kubelet does after a first crash), before the peers evicted
    // the dead incarnation: it waits for the eviction, then rejoins; nobody is left non-Primary.
    c.start(2);
    c.check("rejoin right after a crash", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.check("one Primary Component of 3", || {
        c.wait_all_synced(3, STEADY_TIMEOUT)
    });
    assert!(
        c.nodes[2]
            .log()
            .contains("to evict the previous incarnation"),
        "{}",
        c.nodes[2].log()
    );
    // Full outage, then only g-0 comes back: it queues and waits for the others.
    c.kill_all();
    c.start(0);
    c.check("g-0 queued", || {
        c.wait_status("g-0 queued", Duration::from_secs(60), |s| {
            s["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|r| r["name"] == "g-0" && r["queued"] == true))
        })
    });
    let t = std::time::Instant::now();
    assert_eq!(c.nodes[0].sigterm(Duration::from_secs(20)), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "prompt exit while queued"
    );
    let s = c.status();
    assert!(
        s["members"]
            .as_array()
            .is_some_and(|m| m.iter().all(|r| r["queued"] == false)),
        "queue keys gone at once: {s}"
    );
}
