//! `--read-only-followers` and stray writes, end to end: real etcd and three real Galera
//! nodes run by `galera-sidecar galera --read-only-followers` (127.0.160.x).
//!
//! An application user (no SUPER) is refused on every non-leader and writes on the leader;
//! `switchover --to` another node makes that node writable by the time the command returns
//! and the old leader read-only within a few seconds. Root still writes on a non-leader
//! (`read_only` does not stop it): those commits are stray writes, counted in the node's
//! census and flagged by `status`.

mod common;

use std::time::{Duration, Instant};

use common::galera::Cluster;
use common::{stdout, wait_until};

const STEADY_TIMEOUT: Duration = Duration::from_secs(120);
const APP_PASSWORD: &str = "app-pw";

/// Run `sql` as the application user over TCP on node `i`: its output or the error.
fn app_sql(c: &Cluster, i: usize, sql: &str) -> Result<String, String> {
    common::galera::client_result(
        std::process::Command::new("mariadb")
            .args(["--protocol=tcp", "-h", &c.nodes[i].ip, "-P", "3306"])
            .args(["-uapp", &format!("-p{APP_PASSWORD}")])
            .args(["-N", "-B", "--connect-timeout=2", "-e", sql]),
    )
}

fn app_insert(c: &Cluster, i: usize) -> Result<String, String> {
    app_sql(c, i, "INSERT INTO app.t (v) VALUES (1)")
}

fn read_only(c: &Cluster, i: usize) -> Option<String> {
    c.nodes[i].sql("SELECT @@global.read_only")
}

fn leader(c: &Cluster) -> usize {
    let name = c.status()["leader_name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    c.nodes
        .iter()
        .position(|n| n.name == name)
        .unwrap_or_else(|| panic!("no leader in status: {name:?}"))
}

fn flags(c: &Cluster) -> Vec<String> {
    c.status()["flags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until the leader is writable and every other node read-only.
fn wait_roles(c: &Cluster, l: usize, what: &str) {
    wait_until(what, Duration::from_secs(15), || {
        (0..3).all(|i| read_only(c, i).as_deref() == Some(if i == l { "0" } else { "1" }))
    });
}

#[test]
fn read_only_followers_across_a_switchover_and_stray_writes_flagged() {
    let mut c = Cluster::new(160, 3);
    for n in &mut c.nodes {
        n.extra_args = vec!["--read-only-followers".into()];
    }
    c.start_all();
    c.check("steady", || c.wait_steady(3, STEADY_TIMEOUT));
    let l = leader(&c);
    c.check("roles at start", || {
        wait_roles(&c, l, "read_only=OFF on the leader only")
    });
    c.nodes[l]
        .sql(&format!(
            "CREATE DATABASE IF NOT EXISTS app; \
             CREATE TABLE IF NOT EXISTS app.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT); \
             CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '{APP_PASSWORD}'; \
             GRANT ALL ON app.* TO 'app'@'%'"
        ))
        .expect("create the app user");
    let n = (l + 1) % 3;
    let other = (l + 2) % 3;
    c.check("writes before the switchover", || {
        wait_until(
            "the app user can write on the leader",
            Duration::from_secs(10),
            || app_insert(&c, l).is_ok(),
        );
        for i in [n, other] {
            let e = app_insert(&c, i).expect_err("a non-leader refuses the app user");
            assert!(e.contains("read-only"), "{}: {e}", c.nodes[i].name);
        }
    });

    // Switchover: the new leader is writable when the command returns. (The leader may have
    // been a follower while the cluster formed: only the lines from here on count.)
    let before_switch = c.nodes[l].log().len();
    let t0 = Instant::now();
    let out = c.cli(&["switchover", "--to", &c.nodes[n].name]);
    assert!(
        out.status.success(),
        "switchover failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.logs()
    );
    println!("{} ({:.2?})", stdout(&out).trim(), t0.elapsed());
    c.check("writes after the switchover", || {
        assert_eq!(leader(&c), n);
        app_insert(&c, n).expect("the new leader accepts the app user at once");
        wait_until(
            "the old leader turns read-only",
            Duration::from_secs(15),
            || app_insert(&c, l).is_err_and(|e| e.contains("read-only")),
        );
        println!(
            "old leader read-only {:.2?} after the switchover",
            t0.elapsed()
        );
        wait_roles(&c, n, "read_only=OFF on the new leader only");
        assert!(
            app_insert(&c, other).is_err(),
            "the third node stays read-only"
        );
    });
    // One log line per change: the old leader turned read-only once.
    let log = c.nodes[l].log();
    let turned = log
        .get(before_switch..)
        .unwrap_or(&log)
        .matches("read_only=ON: this node is not the leader")
        .count();
    assert_eq!(turned, 1, "{log}");
    assert!(
        flags(&c).iter().all(|f| !f.contains("local write")),
        "no stray writes yet: {:?}",
        flags(&c)
    );

    // Stray writes: root is not stopped by read_only; its commits on a non-leader are flagged.
    // Commits within LEADER_GRACE of a node's last leadership are forgiven (a demoted leader's
    // in-flight transactions), and any node may have led while the cluster formed (a donor
    // gives leadership up): write once that grace is over for every node.
    std::thread::sleep(galera_sidecar::galera::read_only::LEADER_GRACE + Duration::from_secs(1));
    c.nodes[other]
        .sql("INSERT INTO app.t (v) VALUES (2), (3); INSERT INTO app.t (v) VALUES (4)")
        .expect("root writes on a non-leader");
    let name = c.nodes[other].name.clone();
    c.check("stray writes flagged", || {
        wait_until(
            "status flags the stray writes",
            Duration::from_secs(15),
            || {
                flags(&c)
                    .iter()
                    .any(|f| f.starts_with(&format!("{name} received 2 local write(s)")))
            },
        );
    });
    // Setting read_only=ON takes the global read lock: on Galera that desyncs and pauses the
    // node's provider for a moment (docs/leader.md). Every node is Synced again.
    let pauses: Vec<usize> = c
        .nodes
        .iter()
        .map(|x| {
            x.mysqld_log()
                .matches("Desyncing and pausing the provider")
                .count()
        })
        .collect();
    println!("provider pauses per node: {pauses:?}");
    c.check("all Synced", || {
        c.wait_all_synced(3, Duration::from_secs(10))
    });
    let f = flags(&c);
    println!("flags: {f:?}");
    assert_eq!(
        f.iter().filter(|f| f.contains("local write")).count(),
        1,
        "only {name} wrote while not the leader: {f:?}"
    );
}
