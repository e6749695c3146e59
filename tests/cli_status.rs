//! The operator's commands end to end: the real binary against a real etcd — `status` (table and
//! `--json`), `set-state`, `force-bootstrap`, `resync`, `remove-member` — plus an unreachable
//! etcd and invalid configuration.

mod common;

use std::time::{Duration, Instant};

use common::etcd::EtcdServer;
use common::{cli, run, stderr, stdout};

const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";

/// The value of a key, read with the real etcdctl (`None` when absent).
fn etcdctl_get(server: &EtcdServer, key: &str) -> Option<String> {
    let out = server.etcdctl(&["get", "--print-value-only", key]);
    let v = String::from_utf8_lossy(&out.stdout).into_owned();
    (!v.is_empty()).then(|| v.trim_end_matches('\n').to_string())
}

fn put(server: &EtcdServer, key: &str, value: &str) {
    server.etcdctl(&["put", key, value]);
}

/// A STEADY cluster of three members, g-2 down and refused, g-1 holding the lock.
fn populate_steady(server: &EtcdServer, p: &str) {
    put(server, &format!("{p}state"), "STEADY");
    put(server, &format!("{p}uuid"), U);
    for (n, a) in [
        ("g-0", "127.0.0.2"),
        ("g-1", "127.0.0.3"),
        ("g-2", "127.0.0.4"),
    ] {
        put(server, &format!("{p}members/{n}"), a);
    }
    put(server, &format!("{p}nodes/g-0"), "127.0.0.2");
    put(server, &format!("{p}nodes/g-1"), "127.0.0.3");
    put(server, &format!("{p}leader"), "127.0.0.2");
    put(server, &format!("{p}lock"), "g-1");
    put(
        server,
        &format!("{p}bootstrap"),
        &format!(r#"{{"node":"g-0","position":"{U}:41","at":1700000000,"reason":"recovery"}}"#),
    );
    put(
        server,
        &format!("{p}refused/g-2"),
        "split brain: ran uuid X",
    );
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

fn flags(doc: &serde_json::Value) -> Vec<String> {
    doc["flags"]
        .as_array()
        .expect("flags is an array")
        .iter()
        .map(|f| f.as_str().expect("a flag is a string").to_string())
        .collect()
}

#[test]
fn status_json_and_table_end_to_end() {
    let server = EtcdServer::start();
    let ep = server.endpoint();
    let p = "/galera/prod/";
    populate_steady(&server, p);
    // Another cluster's keys (whose name extends ours) are not shown.
    put(&server, "/galera/prod2/nodes/x", "10.9.9.9");

    let o = cli(&ep, "prod", &["status", "--json"]);
    assert!(o.status.success(), "status --json failed: {}", stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["cluster"], "prod");
    assert!(doc["revision"].as_i64().expect("revision") > 0);
    assert_eq!(doc["state"], "STEADY");
    assert_eq!(doc["uuid"], U);
    assert_eq!(doc["leader"], "127.0.0.2");
    assert_eq!(doc["leader_name"], "g-0");
    assert_eq!(doc["lock_holder"], "g-1");
    assert_eq!(doc["bootstrap"]["node"], "g-0");
    assert_eq!(doc["bootstrap"]["position"], format!("{U}:41"));
    assert!(doc["recovery"].is_null());
    let members = doc["members"].as_array().expect("members");
    let names: Vec<&str> = members
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["g-0", "g-1", "g-2"]);
    let g0 = &members[0];
    assert_eq!(
        (
            &g0["address"],
            &g0["member"],
            &g0["registered"],
            &g0["leader"]
        ),
        (
            &"127.0.0.2".into(),
            &true.into(),
            &true.into(),
            &true.into()
        )
    );
    let g2 = &members[2];
    assert_eq!(g2["registered"], false);
    assert_eq!(g2["address"], "127.0.0.4");
    assert_eq!(g2["refused"], "split brain: ran uuid X");
    let f = flags(&doc);
    for want in [
        "member g-2 is not registered",
        "g-2 refuses to start: split brain",
    ] {
        assert!(f.iter().any(|x| x.contains(want)), "want {want:?} in {f:?}");
    }
    assert_eq!(f.len(), 2, "{f:?}");

    let o = cli(&ep, "prod", &["status"]);
    assert!(o.status.success(), "status failed: {}", stderr(&o));
    let t = stdout(&o);
    for want in [
        "state      STEADY",
        U,
        "g-0 (127.0.0.2)",
        "held by g-1",
        "bootstrap  g-0",
        "g-2",
        "flags:",
        "member g-2 is not registered",
    ] {
        assert!(t.contains(want), "{want:?} missing in\n{t}");
    }
    assert!(!t.contains("10.9.9.9"), "another cluster's key shown:\n{t}");

    // An empty cluster is a valid answer too.
    let o = cli(&ep, "empty", &["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc = json(&o);
    assert!(doc["state"].is_null() && doc["members"].as_array().expect("members").is_empty());
}

#[test]
fn status_survives_garbage_in_every_key_and_flags_it() {
    let server = EtcdServer::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let warned = rt.block_on(async {
        let etcd = server.client("junk").await;
        common::etcd::put_garbage(&etcd).await
    });
    // And what an operator typing into etcdctl may leave.
    put(&server, "/galera/junk/seqno/g-1", "forty-two");

    let o = cli(&server.endpoint(), "junk", &["status", "--json"]);
    assert!(
        o.status.success(),
        "status --json failed on garbage: {}",
        stderr(&o)
    );
    let doc = json(&o);
    let f = flags(&doc);
    for key in &warned {
        assert!(
            f.iter().any(|x| x.contains(key.as_str())),
            "no flag for {key}: {f:#?}"
        );
    }
    assert!(
        f.iter()
            .any(|x| x.contains("is not BUILDING, STEADY or RECOVERY")),
        "{f:#?}"
    );
    assert!(doc["uuid"].is_null() && doc["leader"].is_null());

    let o = cli(&server.endpoint(), "junk", &["status"]);
    assert!(
        o.status.success(),
        "status failed on garbage: {}",
        stderr(&o)
    );
    let t = stdout(&o);
    assert!(
        t.contains("flags:") && t.contains("/galera/junk/uuid"),
        "{t}"
    );
    assert!(
        !t.bytes().any(|b| b == 0x1b),
        "a value's terminal escape sequence reached the terminal:\n{t:?}"
    );
}

#[test]
fn status_fails_fast_and_clearly_when_etcd_is_unreachable() {
    // Nothing listens on the port.
    let port = common::free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    let o = run(
        &["--etcd-endpoints", &ep, "--etcd-timeout", "2s", "status"],
        &[],
    );
    let took = start.elapsed();
    assert!(
        !o.status.success(),
        "status succeeded without etcd: {}",
        stdout(&o)
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let e = stderr(&o);
    assert!(e.contains(&ep), "the message names the endpoint: {e}");
    assert!(e.contains("unreachable"), "{e}");
    assert!(
        stdout(&o).is_empty(),
        "nothing half-printed on stdout: {}",
        stdout(&o)
    );

    // Something accepts connections but never answers (a hung etcd): bounded by the timeout.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ep = format!("http://{}", hung.local_addr().expect("addr"));
    let start = Instant::now();
    let o = run(
        &[
            "--etcd-endpoints",
            &ep,
            "--etcd-timeout",
            "2s",
            "status",
            "--json",
        ],
        &[],
    );
    let took = start.elapsed();
    assert!(!o.status.success(), "status succeeded against a hung etcd");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let e = stderr(&o);
    assert!(e.contains(&ep), "the message names the endpoint: {e}");
    assert!(e.contains("timed out after 2s"), "{e}");
    drop(hung);
}

#[test]
fn set_state_end_to_end() {
    let server = EtcdServer::start();
    let ep = server.endpoint();
    let key = "/galera/c/state";
    let set = |args: &[&str]| cli(&ep, "c", &[&["set-state"], args].concat());

    let o = set(&["steady"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "(none) -> STEADY");
    assert_eq!(etcdctl_get(&server, key).as_deref(), Some("STEADY"));

    let o = set(&["Building"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "STEADY -> BUILDING");

    // Unknown state: exit 2, one line naming the problem, nothing written.
    let o = set(&["STEADYISH"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(
        e.contains("STEADYISH") && e.contains("BUILDING, STEADY or RECOVERY"),
        "{e}"
    );
    assert_eq!(etcdctl_get(&server, key).as_deref(), Some("BUILDING"));

    // RECOVERY while a node is registered: refused, unless --force.
    put(&server, "/galera/c/nodes/g-0", "127.0.0.2");
    let o = set(&["recovery"]);
    assert!(
        !o.status.success(),
        "RECOVERY accepted with a registered node"
    );
    let e = stderr(&o);
    assert!(
        e.contains("refusing RECOVERY") && e.contains("g-0") && e.contains("--force"),
        "{e}"
    );
    assert_eq!(etcdctl_get(&server, key).as_deref(), Some("BUILDING"));
    let o = set(&["RECOVERY", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "BUILDING -> RECOVERY");

    // With no node registered, RECOVERY needs no force.
    server.etcdctl(&["del", "/galera/c/nodes/g-0"]);
    set(&["steady"]);
    let o = set(&["recovery"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "STEADY -> RECOVERY");

    // A garbage value (hand-typed in etcdctl) is replaced, and shown as it was.
    put(&server, key, "steddy");
    let o = set(&["STEADY"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "steddy -> STEADY");
    assert_eq!(etcdctl_get(&server, key).as_deref(), Some("STEADY"));
}

#[test]
fn force_bootstrap_resync_and_remove_member_end_to_end() {
    let server = EtcdServer::start();
    let ep = server.endpoint();
    let p = "/galera/c/";
    populate_steady(&server, p);
    let go = |args: &[&str]| cli(&ep, "c", args);

    // force-bootstrap while nodes run: refused, nothing written.
    let o = go(&["force-bootstrap", "g-1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("a cluster runs"), "{}", stderr(&o));
    assert_eq!(etcdctl_get(&server, &format!("{p}force-bootstrap")), None);
    // A full outage: nobody registered; g-1 and g-2 report their datadirs (census), g-0 is
    // not running.
    server.etcdctl(&["del", "--prefix", &format!("{p}nodes/")]);
    put(
        &server,
        &format!("{p}census/g-1"),
        &format!(r#"{{"position":"{U}:41","address":"127.0.0.3","at":1700000000}}"#),
    );
    put(
        &server,
        &format!("{p}census/g-2"),
        r#"{"position":"00000000-0000-0000-0000-000000000000:-1","address":"127.0.0.4","at":1700000000}"#,
    );
    // Bad input: an unknown name, a bad name, garbage --expires — exit 2, nothing written.
    for (args, says) in [
        (&["force-bootstrap", "g-7"][..], "g-7 is neither a member"),
        (&["force-bootstrap", "bad/name"][..], "NAME"),
        (&["force-bootstrap", "g-1", "--expires", "soon"][..], "soon"),
        (&["resync", "g-2", "--expires", "-3"][..], "-3"),
    ] {
        let o = go(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // A fresh (empty) datadir or one that never reported: refused unless the loss is accepted.
    for name in ["g-2", "g-0"] {
        let o = go(&["force-bootstrap", name]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("nothing written") && e.contains("--accept-data-loss"),
            "{e}"
        );
        assert!(
            e.contains(&format!("g-1: {U}:41")),
            "lists the positions: {e}"
        );
        assert!(e.contains("loses at least 42 transaction(s)"), "{e}");
    }
    assert_eq!(etcdctl_get(&server, &format!("{p}force-bootstrap")), None);
    // The node with data: bound to its position, expiring.
    let o = go(&["force-bootstrap", "g-1", "--expires", "30m"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("g-1 bootstraps, bound to its position {U}:41"))
            && stdout(&o).contains("in 30m")
            && stdout(&o).contains("loses no reported transaction"),
        "{}",
        stdout(&o)
    );
    let doc = json(&go(&["status", "--json"]));
    assert_eq!(doc["force_bootstrap"]["node"], "g-1");
    assert_eq!(doc["force_bootstrap"]["position"], format!("{U}:41"));
    let ttl = doc["force_bootstrap"]["expires_at"].as_i64().unwrap_or(0)
        - doc["force_bootstrap"]["issued_at"].as_i64().unwrap_or(0);
    assert_eq!(ttl, 1800);
    assert!(doc["force_bootstrap_ignored"].is_null(), "{doc}");
    // Accepting the loss, the fresh node may be forced.
    let o = go(&["force-bootstrap", "g-2", "--accept-data-loss"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("data loss accepted"), "{}", stdout(&o));
    let doc = json(&go(&["status", "--json"]));
    assert_eq!(doc["force_bootstrap"]["accept_data_loss"], true);

    // resync: the refused g-2 gets a request bound to its position; a node that is not
    // refused gets an error and nothing is written.
    let o = go(&["resync", "g-2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Bound to that position"),
        "{}",
        stdout(&o)
    );
    let raw = etcdctl_get(&server, &format!("{p}resync/g-2")).unwrap_or_default();
    assert!(
        raw.contains("00000000-0000-0000-0000-000000000000:-1"),
        "{raw}"
    );
    let o = go(&["resync", "g-0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("g-0 is not refused right now"),
        "{}",
        stderr(&o)
    );
    assert_eq!(etcdctl_get(&server, &format!("{p}resync/g-0")), None);
    let doc = json(&go(&["status", "--json"]));
    let g2 = &doc["members"].as_array().expect("members")[2];
    assert_eq!(
        (g2["name"].as_str(), &g2["resync_requested"]),
        (Some("g-2"), &true.into())
    );
    // Back to a running cluster for remove-member.
    put(&server, &format!("{p}nodes/g-0"), "127.0.0.2");
    put(&server, &format!("{p}nodes/g-1"), "127.0.0.3");

    // remove-member: refused while registered unless --force; unknown → error; else removed.
    let o = go(&["remove-member", "g-0"]);
    assert!(!o.status.success(), "removed a registered member");
    assert!(
        stderr(&o).contains("registered") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert!(etcdctl_get(&server, &format!("{p}members/g-0")).is_some());
    let o = go(&["remove-member", "g-9"]);
    assert!(!o.status.success(), "removed an unknown member");
    let e = stderr(&o);
    assert!(
        e.contains("g-9 is not a member") && e.contains("g-0, g-1, g-2"),
        "{e}"
    );
    let o = go(&["remove-member", "g-2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("member g-2 removed"), "{}", stdout(&o));
    assert!(etcdctl_get(&server, &format!("{p}members/g-2")).is_none());
    let o = go(&["remove-member", "g-0", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(etcdctl_get(&server, &format!("{p}members/g-0")).is_none());
    // The node key is the node's own: remove-member never touches it.
    assert!(etcdctl_get(&server, &format!("{p}nodes/g-0")).is_some());
    let doc = json(&go(&["status", "--json"]));
    // g-0 is still shown (registered), g-2 too (refused), but only g-1 is a member.
    let rows: Vec<(&str, bool)> = doc["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().expect("name"),
                m["member"].as_bool().expect("member"),
            )
        })
        .collect();
    assert_eq!(rows, [("g-0", false), ("g-1", true), ("g-2", false)]);
}

#[test]
fn invalid_configuration_exits_2_with_one_line_naming_the_option() {
    // Nothing here needs an etcd: configuration is checked first.
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "bad endpoint",
            &["--etcd-endpoints", "http://x/y", "status"],
            &[],
            "--etcd-endpoints",
        ),
        (
            "bad endpoint from env",
            &["status"],
            &[("GALERA_ETCD_ENDPOINTS", "127.0.0.1:2379,not an endpoint")],
            "--etcd-endpoints",
        ),
        (
            "bad cluster name",
            &["--cluster-name", "a/b", "status"],
            &[],
            "--cluster-name",
        ),
        (
            "bad cluster name from env",
            &["set-state", "STEADY"],
            &[("GALERA_CLUSTER_NAME", "x y")],
            "--cluster-name",
        ),
        (
            "bad duration",
            &["--etcd-timeout", "soon", "status"],
            &[],
            "--etcd-timeout",
        ),
        (
            "bad duration from env",
            &["status"],
            &[("GALERA_ETCD_TIMEOUT", "soon")],
            "GALERA_ETCD_TIMEOUT",
        ),
        (
            "zero timeout",
            &["--etcd-timeout", "0s", "status"],
            &[],
            "--etcd-timeout",
        ),
        (
            "cert without key",
            &["--etcd-cert-file", "/etc/hostname", "status"],
            &[],
            "--etcd-cert-file",
        ),
    ];
    for (name, args, envs, option) in cases {
        let o = run(args, envs);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: exit code; stderr: {e}");
        let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: one line, got {lines:?}");
        assert!(
            lines[0].contains(option),
            "{name}: {option} not named in {:?}",
            lines[0]
        );
        assert!(stdout(&o).is_empty(), "{name}: stdout {:?}", stdout(&o));
    }
}

#[test]
fn commands_work_with_one_of_several_endpoints_down() {
    let server = EtcdServer::start();
    let eps = format!(
        "http://127.0.0.1:{},{}",
        common::free_port(),
        server.endpoint()
    );
    for i in 0..6 {
        let state = if i % 2 == 0 { "STEADY" } else { "BUILDING" };
        let o = cli(&eps, "c", &["set-state", state]);
        assert!(o.status.success(), "set-state #{i}: {}", stderr(&o));
        let o = cli(&eps, "c", &["status", "--json"]);
        assert!(o.status.success(), "status #{i}: {}", stderr(&o));
        assert_eq!(json(&o)["state"], state);
    }
}

/// `--log-format json`: every log line is one JSON object (for log pipelines).
#[test]
fn log_format_json_gives_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = std::process::Command::new(common::bin())
        .args([
            "--log-format",
            "json",
            "--etcd-endpoints",
            "http://127.0.0.1:1",
        ])
        .args([
            "--node-name",
            "g-json",
            "--node-address",
            "127.0.0.9",
            "galera",
        ])
        .arg("--datadir")
        .arg(dir.path().join("data"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("GALERA_ETCD_ENDPOINTS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start galera");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "some log lines: {text}");
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{l}");
    }
}
