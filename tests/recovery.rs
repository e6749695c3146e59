//! Recovery after a full outage, end to end: real etcd, real Galera nodes run by the
//! entrypoint. The most advanced node bootstraps, every committed row survives, every
//! bootstrap is fenced. Subnets 127.0.40–59.x would collide with the checker's; this file
//! uses 127.0.130–159.x.

mod common;

use std::time::Duration;

use common::galera::Cluster;
use common::haproxy::{listen_addr, Sidecar};

const STEADY_TIMEOUT: Duration = Duration::from_secs(180);

fn steady_cluster(subnet: u8, n: usize) -> Cluster {
    let mut c = Cluster::new(subnet, n);
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(n, STEADY_TIMEOUT));
    c
}

/// Write; kill -9 g-0; write more; kill -9 the others; restart all at once (after `pause`).
/// The highest-seqno node bootstraps (g-1: tied with g-2, smallest name), no row is lost.
fn staggered_outage(subnet: u8, pause: Duration) {
    let mut c = steady_cluster(subnet, 3);
    c.write_rows(0, 1, 50);
    c.nodes[0].kill9();
    c.check("g-0 evicted", || c.wait_until_registered(2));
    c.write_rows(1, 51, 50);
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    std::thread::sleep(pause);
    let offsets = c.log_offsets();
    c.start_all();
    c.check("recovered", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    assert_eq!(
        c.bootstrappers_since(&offsets),
        vec!["g-1".to_string()],
        "{}",
        c.logs()
    );
    c.assert_rows_everywhere(100);
    let s = c.status();
    assert!(
        s["recovery"].is_null() && s["bootstrap"].is_null(),
        "records cleared at STEADY: {s}"
    );
}

#[test]
fn staggered_outage_restart_within_ttl() {
    staggered_outage(130, Duration::from_millis(500));
}

#[test]
fn staggered_outage_restart_after_ttl() {
    staggered_outage(131, Duration::from_secs(8));
}

fn member<'a>(s: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    s["members"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["name"] == name))
}

/// `set-state RECOVERY --force` with all nodes up: one restarted node rejoins without
/// blocking; then a full restart of all recovers with no row lost.
#[test]
fn operator_recovery_and_restarts() {
    let mut c = steady_cluster(132, 3);
    c.write_rows(0, 1, 30);
    let out = c.cli(&["set-state", "RECOVERY"]);
    assert!(!out.status.success(), "RECOVERY refused while nodes run");
    assert!(
        common::stderr(&out).contains("--force"),
        "{}",
        common::stderr(&out)
    );
    let out = c.cli(&["set-state", "RECOVERY", "--force"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    // One node restarted while the others run: it joins, nothing blocks.
    assert_eq!(c.nodes[2].sigterm(Duration::from_secs(60)), Some(0));
    c.start(2);
    c.check("one restarted node rejoins", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.write_rows(1, 31, 30);
    // All restarted (clean stops): recovered.
    c.cli(&["set-state", "RECOVERY", "--force"]);
    for i in 0..3 {
        assert_eq!(c.nodes[i].sigterm(Duration::from_secs(60)), Some(0));
    }
    c.start_all();
    c.check("recovered after a full restart", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    c.assert_rows_everywhere(60);
}

/// A loser restarted after the winner came up joins it; the winner killed after one loser
/// joined: the survivors recover (the winner restarted as a kubelet would), no row lost.
#[test]
fn loser_late_and_winner_killed() {
    let mut c = steady_cluster(133, 3);
    c.write_rows(0, 1, 40);
    c.kill_all();
    // The dead incarnations' keys must be gone, or they would pass for the new ones below.
    c.check("old registrations expired", || c.wait_until_registered(0));
    c.start(0);
    c.start(1);
    c.start(2);
    // As soon as the winner (g-0: all tied, smallest name) is registered, kill the loser g-2.
    c.check("winner up", || {
        c.wait_status("winner registered", STEADY_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["registered"] == true)
        })
    });
    c.nodes[2].kill9();
    c.write_rows(0, 41, 10);
    c.start(2);
    c.check("late loser joins", || c.wait_steady(3, STEADY_TIMEOUT));
    c.assert_rows_everywhere(50);

    // Outage again; this time kill the winner once one loser has joined it.
    c.kill_all();
    c.check("old registrations expired", || c.wait_until_registered(0));
    c.start_all();
    c.check("winner and one loser registered", || {
        c.wait_status("2 registered", STEADY_TIMEOUT, |s| {
            s["members"]
                .as_array()
                .is_some_and(|m| m.iter().filter(|r| r["registered"] == true).count() >= 2)
        })
    });
    c.write_rows(0, 51, 10);
    c.nodes[0].kill9();
    std::thread::sleep(Duration::from_secs(2));
    c.start(0);
    c.wait_steady_restarting(3, Duration::from_secs(240));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    c.assert_rows_everywhere(60);
}

/// A node whose position cannot be recovered blocks the automatic choice; status says why;
/// `force-bootstrap` of another node recovers the cluster (the key is consumed, the report
/// names the unknown datadir), the unknown one is refused — it may hold commits the forced
/// winner lacks — until the operator's `resync` discards it.
#[test]
fn unknown_position_needs_force_bootstrap_and_resync() {
    let mut c = steady_cluster(134, 3);
    c.write_rows(0, 1, 25);
    c.kill_all();
    // g-2's recovery fails (prepared transactions) and its grastate says seqno -1: unknown.
    let wrapper = common::galera::mysqld_wrapper(c.root.path(), true, 0);
    c.nodes[2].extra_args = vec!["--mysqld".into(), wrapper.display().to_string()];
    c.start_all();
    c.check("blocked and explained", || {
        c.wait_status("unknown position flagged", STEADY_TIMEOUT, |s| {
            s["flags"]
                .to_string()
                .contains("g-2 has an unknown position")
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.registered(),
        0,
        "no automatic choice while a position is unknown"
    );
    let out = c.cli(&["force-bootstrap", "g-0"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("g-2 reports an unknown position"),
        "the loss report names the unknown datadir: {}",
        common::stdout(&out)
    );
    // g-2 may hold commits g-0 lacks: it is refused, never overwritten, until the operator
    // decides (here: its data is not needed).
    c.check("g-0 and g-1 recovered, g-2 refused", || {
        c.wait_status("g-2 refused as unknown", STEADY_TIMEOUT, |s| {
            member(s, "g-2").is_some_and(|m| {
                m["refused"]
                    .as_str()
                    .is_some_and(|r| r.contains("position is unknown"))
            }) && ["g-0", "g-1"]
                .iter()
                .all(|n| member(s, n).is_some_and(|m| m["registered"] == true))
        })
    });
    let out = c.cli(&["resync", "g-2"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    c.check("recovered by force-bootstrap and resync", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.assert_rows_everywhere(25);
    assert!(
        c.status()["force_bootstrap"].is_null(),
        "force-bootstrap consumed"
    );
}

/// force-bootstrap of a node behind the others (the only one back, queued): it bootstraps
/// once the silent members had time to show themselves; the nodes ahead are refused — as
/// ahead, or as another branch once the forced cluster committed — never told to `resync`;
/// after the operator's `resync` they rejoin — one restarted before STEADY rejoins too (its
/// datadir's recovery mark); the key is consumed and a later outage elects normally.
#[test]
fn force_bootstrap_of_a_stale_node() {
    let mut c = steady_cluster(135, 3);
    c.write_rows(0, 1, 10);
    c.nodes[0].kill9();
    c.check("g-0 evicted", || c.wait_until_registered(2));
    c.write_rows(1, 11, 10);
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    // Only g-0 comes back: the recovery waits for g-1 and g-2; the operator forces g-0,
    // bound to the position it reports.
    c.start(0);
    c.check("g-0 queued", || {
        c.wait_status("g-0 queued", STEADY_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["queued"] == true)
        })
    });
    let out = c.cli(&["force-bootstrap", "g-0"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("bound to its position"),
        "{}",
        common::stdout(&out)
    );
    c.check("g-0 bootstraps", || c.wait_until_registered(1));
    c.start(1);
    c.start(2);
    c.check("the others are refused as ahead", || {
        c.wait_status("g-1 and g-2 refused", STEADY_TIMEOUT, |s| {
            ["g-1", "g-2"].iter().all(|n| {
                member(s, n).is_some_and(|m| {
                    m["refused"]
                        .as_str()
                        // "ahead of the winner", or — once the forced cluster committed
                        // past the forced position — "two branches": both keep the data.
                        .is_some_and(|r| {
                            (r.contains("ahead") || r.contains("two branches"))
                                && !r.contains("resync")
                        })
                })
            }) && member(s, "g-0").is_some_and(|m| m["registered"] == true)
        })
    });
    assert_eq!(c.count_rows(0), Some(10), "g-0's older data");
    assert!(
        c.status()["force_bootstrap"].is_null(),
        "force-bootstrap consumed"
    );
    // resync g-1 only: it joins the recovered cluster (SST) while g-2 stays refused, so the
    // cluster stays in RECOVERY; the recovered cluster then commits more.
    assert!(c.cli(&["resync", "g-1"]).status.success());
    c.check("g-1 joined the recovered cluster", || {
        c.wait_until_registered(2)
    });
    c.write_rows(0, 200, 5);
    let mark = c.nodes[1].datadir().join("galera-sidecar.recovery");
    c.check("g-1's datadir marked", || {
        common::wait_until("the recovery mark", Duration::from_secs(30), || {
            mark.exists()
        })
    });
    // g-1 is restarted before STEADY (SIGTERM: a kill -9 would cost g-0 its quorum of 2):
    // now past the recorded winner's position, it rejoins (its newer commits are the
    // recovered cluster's), not refused as "ahead".
    assert_eq!(c.nodes[1].sigterm(Duration::from_secs(60)), Some(0));
    c.check("g-1 deregistered", || c.wait_until_registered(1));
    let from = c.nodes[1].log().len();
    c.start(1);
    c.check("g-1 rejoined before STEADY", || c.wait_until_registered(2));
    let log = c.nodes[1].log()[from..].to_string();
    assert!(!log.contains("ahead of"), "g-1 refused as ahead:\n{log}");
    assert_eq!(
        c.state().as_deref(),
        Some("RECOVERY"),
        "still before STEADY"
    );
    assert_eq!(c.count_rows(1), Some(15));
    assert!(c.cli(&["resync", "g-2"]).status.success());
    c.check("resynced", || c.wait_steady(3, STEADY_TIMEOUT));
    c.assert_rows_everywhere(15);
    // A later outage elects normally (no forced winner left).
    c.write_rows(2, 100, 5);
    c.kill_all();
    c.start_all();
    c.check("normal election", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("rows after the normal election", || {
        c.assert_rows_everywhere(20)
    });
}

/// etcd wiped while the cluster runs: no new uuid, keys restored, readiness never drops.
/// etcd wiped while the cluster is down: recovered from the datadirs.
#[test]
fn etcd_wiped_running_and_down() {
    let mut c = steady_cluster(136, 3);
    c.write_rows(0, 1, 20);
    let uuid = c.status()["uuid"].as_str().expect("uuid").to_string();
    // A haproxy sidecar following the leader (mysql-check: a password-less 'haproxy'@'%').
    c.nodes[0]
        .sql("CREATE USER IF NOT EXISTS 'haproxy'@'%'")
        .expect("haproxy user");
    let hdir = c.root.path().join("haproxy");
    let listen = listen_addr(&format!("127.0.{}.1", c.subnet));
    let haproxy = Sidecar::builder(&hdir, &c.endpoint(), &c.name, listen)
        .backend_port(3306)
        .mysql_check()
        .start();
    c.etcd.wipe();
    let ready = |c: &Cluster| {
        c.nodes.iter().all(|n| {
            std::process::Command::new(common::bin())
                .args([
                    "--etcd-endpoints",
                    &c.endpoint(),
                    "--cluster-name",
                    &c.name,
                    "checker",
                    "readiness",
                ])
                .arg("--state-dir")
                .arg(n.state_dir())
                .arg("--mysql-socket")
                .arg(n.socket())
                .env("GALERA_MONITOR_USER", common::galera::MONITOR_USER)
                .env("GALERA_MONITOR_PASSWORD", common::galera::MONITOR_PASSWORD)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
    };
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        assert!(
            ready(&c),
            "readiness dropped after the etcd wipe:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    c.check("keys restored", || c.wait_steady(3, STEADY_TIMEOUT));
    assert_eq!(
        c.status()["uuid"].as_str(),
        Some(uuid.as_str()),
        "same uuid restored"
    );
    // haproxy's leader watch survived the wipe: it follows the re-elected leader.
    let leader = c.status()["leader"].as_str().map(str::to_string);
    c.check("haproxy follows the leader after the wipe", || {
        common::wait_until(
            "haproxy routes to the etcd leader",
            Duration::from_secs(30),
            || {
                let st = haproxy.status().unwrap_or_default();
                leader.is_some()
                    && st["etcd_leader"].as_str() == leader.as_deref()
                    && st["routed"]
                        .to_string()
                        .contains(leader.as_deref().unwrap_or("-"))
            },
        )
    });
    // Its health check marks the new server UP within a few checks.
    c.check("haproxy ready after the wipe", || {
        common::wait_until("haproxy readiness", Duration::from_secs(20), || {
            let out = haproxy.readiness();
            eprintln!("haproxy readiness: {}", common::stdout(&out).trim());
            out.status.success()
        })
    });
    // A fresh node facing an empty etcd while --peers answer does not bootstrap a second cluster.
    c.add_node(3, 3);
    let peers: Vec<String> = c.nodes[..3].iter().map(|n| n.ip.clone()).collect();
    c.nodes[3].extra_args = vec!["--peers".into(), peers.join(",")];
    let ep = c.endpoint();
    c.nodes[3].start(&ep, "elsewhere");
    c.check("no second cluster while peers answer", || {
        common::wait_until(
            "the fresh node waits for its peers",
            Duration::from_secs(60),
            || {
                c.nodes[3]
                    .log()
                    .contains("not bootstrapping a second cluster")
            },
        )
    });
    assert!(
        !c.nodes[3].log().contains("--wsrep-new-cluster"),
        "{}",
        c.nodes[3].log()
    );
    assert_eq!(c.nodes[3].sigterm(Duration::from_secs(30)), Some(0));
    c.nodes.truncate(3);
    // Down, then etcd wiped: the datadirs decide.
    c.write_rows(1, 21, 5);
    c.kill_all();
    c.etcd.wipe();
    c.start_all();
    c.check("recovered from the datadirs", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    assert_eq!(
        c.status()["uuid"].as_str(),
        Some(uuid.as_str()),
        "same cluster"
    );
    c.assert_rows_everywhere(25);
}

/// The winner SIGSTOPped mid-bootstrap past its lease TTL, then SIGCONT: exactly one
/// bootstrap, one uuid, one Primary Component.
#[test]
fn paused_bootstrapper_is_fenced() {
    let mut c = steady_cluster(137, 3);
    c.write_rows(0, 1, 15);
    let uuid = c.status()["uuid"].as_str().expect("uuid").to_string();
    c.kill_all();
    let wrapper = common::galera::mysqld_wrapper(c.root.path(), false, 6);
    c.nodes[0].extra_args = vec!["--mysqld".into(), wrapper.display().to_string()];
    let offsets = c.log_offsets();
    c.start_all();
    c.check("g-0 records its bootstrap", || {
        common::wait_until("bootstrap recorded", STEADY_TIMEOUT, || {
            c.nodes[0]
                .log()
                .get(offsets[0]..)
                .unwrap_or("")
                .contains("bootstrap recorded")
        })
    });
    c.nodes[0].signal(nix::sys::signal::Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(10));
    // Nobody else bootstrapped meanwhile (g-0 itself may or may not have started mariadbd).
    let during = c.bootstrappers_since(&offsets);
    assert!(during.iter().all(|n| n == "g-0"), "{during:?}");
    let lock = c.status()["lock_holder"].clone();
    assert!(
        lock != "g-0",
        "g-0's lock expired with its lease while paused: {lock}"
    );
    c.nodes[0].signal(nix::sys::signal::Signal::SIGCONT);
    c.wait_steady_restarting(3, STEADY_TIMEOUT);
    assert_eq!(
        c.bootstrappers_since(&offsets),
        vec!["g-0".to_string()],
        "{}",
        c.logs()
    );
    let new_clusters: usize = c
        .nodes
        .iter()
        .zip(&offsets)
        .map(|(n, o)| {
            n.log()
                .get(*o..)
                .unwrap_or("")
                .matches("--wsrep-new-cluster")
                .count()
        })
        .sum();
    assert_eq!(new_clusters, 1, "exactly one bootstrap:\n{}", c.logs());
    for n in &c.nodes {
        assert_eq!(
            n.wsrep("cluster_state_uuid").as_deref(),
            Some(uuid.as_str())
        );
        assert_eq!(
            n.wsrep("cluster_size").as_deref(),
            Some("3"),
            "one Primary Component"
        );
    }
    c.assert_rows_everywhere(15);
}

/// Scale 3 → 5, a full outage at 5 recovers all five; after scaling back to 3 and
/// `remove-member`, the next outage waits only for the 3.
#[test]
fn scale_out_outage_and_remove_member() {
    let mut c = steady_cluster(138, 3);
    c.write_rows(0, 1, 10);
    c.add_node(3, 3);
    c.add_node(4, 3);
    c.start(3);
    c.start(4);
    c.check("five members", || c.wait_steady(5, STEADY_TIMEOUT));
    c.write_rows(4, 11, 10);
    c.kill_all();
    c.start_all();
    c.check("all five recovered", || c.wait_steady(5, STEADY_TIMEOUT));
    c.assert_rows_everywhere(20);
    // Scale back to 3.
    for i in [3, 4] {
        assert_eq!(c.nodes[i].sigterm(Duration::from_secs(60)), Some(0));
    }
    for n in ["g-3", "g-4"] {
        let out = c.cli(&["remove-member", n]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    c.nodes.truncate(3);
    c.check("steady at 3", || c.wait_steady(3, STEADY_TIMEOUT));
    c.kill_all();
    c.start_all();
    c.check("recovered with 3 members", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    c.assert_rows_everywhere(20);
}

/// Five members. A recovery forced onto g-0 (g-3 and g-4 still down); g-1 and g-2 join it;
/// g-0 crashes and g-1 + g-2 (2 of 3) go on committing; then every node goes down again
/// before STEADY. The recovery record (g-0) no longer describes the data: it is re-elected,
/// g-1 (tied with g-2, smallest name) bootstraps, and no row is lost.
#[test]
fn second_outage_before_steady_re_elects_the_recovery() {
    let mut c = Cluster::new(139, 0);
    for i in 0..5 {
        c.add_node(i, 5);
    }
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(5, STEADY_TIMEOUT));
    c.write_rows(0, 1, 20);
    c.kill_all();
    for i in 0..3 {
        c.start(i);
    }
    c.check("g-0 queued", || {
        c.wait_status("g-0 queued", STEADY_TIMEOUT, |s| {
            member(s, "g-0").is_some_and(|m| m["queued"] == true)
        })
    });
    let out = c.cli(&["force-bootstrap", "g-0"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    c.check("g-0 bootstrapped, g-1 and g-2 joined", || {
        common::wait_until("3 registered", STEADY_TIMEOUT, || c.registered() == 3)
    });
    assert_eq!(
        c.state().as_deref(),
        Some("RECOVERY"),
        "g-3, g-4 still down"
    );
    c.nodes[0].kill9();
    c.check("g-0 evicted", || c.wait_until_registered(2));
    c.write_rows(1, 21, 30);
    c.kill_all();
    let offsets = c.log_offsets();
    c.start_all();
    c.check("recovered", || c.wait_steady(5, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(5, STEADY_TIMEOUT));
    assert_eq!(
        c.bootstrappers_since(&offsets),
        vec!["g-1".to_string()],
        "{}",
        c.logs()
    );
    assert!(
        c.logs()
            .contains("replacing the recovery record naming g-0"),
        "{}",
        c.logs()
    );
    c.assert_rows_everywhere(50);
}
