//! `status` against a real 3-node Galera cluster (each node run by `galera-sidecar galera`):
//! the live wsrep columns beside the etcd view, and the flags when a node dies.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::galera::{Cluster, MONITOR_PASSWORD, MONITOR_USER};
use common::{bin, stderr, stdout, wait_until};

/// `status` (with `extra` args) as the monitor user; the test nodes' SQL port is 3306.
fn status(c: &Cluster, extra: &[&str], with_creds: bool) -> Output {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GALERA_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--etcd-endpoints", &c.endpoint(), "--cluster-name", &c.name])
        .args(["status", "--sql-port", "3306", "--sql-timeout", "2s"])
        .args(extra);
    if with_creds {
        cmd.env("GALERA_MONITOR_USER", MONITOR_USER)
            .env("GALERA_MONITOR_PASSWORD", MONITOR_PASSWORD);
    }
    cmd.output().expect("run galera-sidecar status")
}

fn json(c: &Cluster) -> serde_json::Value {
    let o = status(c, &["--json"], true);
    assert!(o.status.success(), "status failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)))
}

fn member<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing in {doc}"))
}

fn flags(doc: &serde_json::Value) -> Vec<String> {
    doc["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().expect("flag is a string").to_string())
        .collect()
}

#[test]
fn status_shows_live_state_and_flags_a_dead_member() {
    let mut c = Cluster::new(100, 3);
    c.start_all();
    let steady = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.wait_steady(3, Duration::from_secs(120))
    }));
    if steady.is_err() {
        panic!("cluster did not assemble:\n{}", c.logs());
    }

    // Every member answers: Synced, Primary, size 3, the etcd uuid; no flags.
    wait_until(
        "all three live and no flags",
        Duration::from_secs(20),
        || {
            let d = json(&c);
            flags(&d).is_empty()
                && ["g-0", "g-1", "g-2"]
                    .iter()
                    .all(|n| member(&d, n)["live"]["cluster_size"] == 3)
        },
    );
    let d = json(&c);
    let uuid = d["uuid"].as_str().expect("uuid").to_string();
    for n in ["g-0", "g-1", "g-2"] {
        let live = &member(&d, n)["live"];
        assert_eq!(live["local_state"], "Synced", "{n}: {d}");
        assert_eq!(live["cluster_status"], "Primary", "{n}: {d}");
        assert_eq!(live["cluster_state_uuid"], uuid.as_str(), "{n}: {d}");
        assert_eq!(live["ready"], true, "{n}: {d}");
        assert!(live["last_committed"].as_i64().is_some(), "{n}: {d}");
        assert!(member(&d, n)["live_error"].is_null(), "{n}: {d}");
    }
    assert!(d["live_skipped"].is_null(), "{d}");

    // The table shows the same.
    let t = stdout(&status(&c, &[], true));
    assert_eq!(t.matches("Synced Primary size=3").count(), 3, "{t}");

    // Without monitor credentials the etcd view is still shown, and it says why live is not.
    let o = status(&c, &["--json"], false);
    let d2: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        d2["live_skipped"]
            .as_str()
            .is_some_and(|s| s.contains("GALERA_MONITOR_USER")),
        "{d2}"
    );
    assert!(member(&d2, "g-0")["live"].is_null(), "{d2}");

    // kill -9 g-2: at once it is registered but does not answer; once its lease expired,
    // "member g-2 is not registered"; the survivors see a cluster of 2.
    c.nodes[2].kill9();
    let d = json(&c);
    assert!(member(&d, "g-2")["live"].is_null(), "{d}");
    assert!(
        member(&d, "g-2")["live_error"].as_str().is_some(),
        "a dead node says why it has no live state: {d}"
    );
    wait_until(
        "g-2 flagged as a missing member, survivors at size 2",
        Duration::from_secs(30),
        || {
            let d = json(&c);
            flags(&d)
                .iter()
                .any(|f| f.contains("member g-2 is not registered"))
                && member(&d, "g-0")["live"]["cluster_size"] == 2
                && member(&d, "g-1")["live"]["cluster_size"] == 2
        },
    );
    let d = json(&c);
    assert_eq!(member(&d, "g-2")["registered"], false, "{d}");
    assert!(
        !flags(&d)
            .iter()
            .any(|f| f.contains("g-0") || f.contains("g-1")),
        "only g-2 is flagged: {:?}",
        flags(&d)
    );
    let t = stdout(&status(&c, &[], true));
    assert!(t.contains("no answer"), "{t}");
    assert!(t.contains("! member g-2 is not registered"), "{t}");
}
