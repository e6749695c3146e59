//! Bad input, end to end through the binary: garbage in every etcd key, a corrupt or
//! truncated grastate.dat, a datadir that is a file, missing binaries, an unreachable etcd,
//! invalid flags and environment values, taken ports, a missing my.cnf, missing or empty
//! password files. Each case asserts the exit code (or that the entrypoint keeps waiting), a
//! message naming the problem AND the fix, and that no datadir file was lost or changed.
//!
//! Loopback subnet 127.0.110.x is this file's.

mod common;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::etcd::raw_put;
use common::galera::{Cluster, TestNode};
use common::{bin, die_with_parent, free_port, run, stderr, stdout, wait_until};

const SUBNET: u8 = 110;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Every file under `dir` (relative path → size and content hash).
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, u64)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                walk(root, &p, out);
            } else if ft.is_file() {
                let bytes = std::fs::read(&p).expect("read a datadir file");
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string();
                out.insert(rel, (bytes.len() as u64, h.finish()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Files a storage engine rewrites whenever mariadbd opens the datadir (even the read-only
/// `--wsrep-recover` writes to the Aria and InnoDB logs): only their presence is checked.
fn engine_managed(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    [
        "aria_log",
        "ib_logfile",
        "ibdata",
        "ib_buffer_pool",
        "undo",
        "ibtmp",
        "ddl_recovery",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// No file of `before` is missing in `after`; every file no engine rewrites by itself is
/// unchanged (size and content hash).
fn assert_nothing_lost(case: &str, before: &BTreeMap<String, (u64, u64)>, dir: &Path) {
    let after = snapshot(dir);
    assert!(
        !before.is_empty(),
        "{case}: the snapshot of {dir:?} is empty"
    );
    let mut changed = vec![];
    for (f, v) in before {
        match after.get(f) {
            None => panic!("{case}: datadir file {f} was lost"),
            Some(a) if a != v && !engine_managed(f) => changed.push(f.clone()),
            Some(_) => {}
        }
    }
    assert!(
        changed.is_empty(),
        "{case}: datadir files changed: {changed:?}"
    );
}

/// (case, arguments, environment, texts the error must contain: the problem and the fix)
type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// Exit code 2, exactly one line on stderr, containing every needle.
fn assert_config_error(case: &str, out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{case}: want exit 2; stderr: {err}; stdout: {}",
        stdout(out)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{case}: want one line, got: {err}");
    for n in needles {
        assert!(err.contains(n), "{case}: `{n}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{case}: {err}");
}

/// Exit code `code`, and stderr names every needle (the problem and the fix); no panic.
fn assert_fails_naming(case: &str, out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{case}: {err}");
    for n in needles {
        assert!(err.contains(n), "{case}: `{n}` not in {err}");
    }
    assert!(!err.contains("panicked"), "{case}: {err}");
}

/// Arguments naming a node for the entrypoint (no hostname lookups).
fn node_args() -> Vec<String> {
    ["--node-name", "g-0", "--node-address", "127.0.110.2"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Run the binary with `args`, no inherited `GALERA_*` env, a 20 s bound.
fn run_bounded(args: &[String], envs: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, envs)
}

/// A datadir with a few files, to check the quick refusals touch nothing.
fn small_datadir(dir: &Path) -> PathBuf {
    let dd = dir.join("data");
    std::fs::create_dir_all(dd.join("mysql")).expect("mkdir");
    std::fs::write(dd.join("ibdata1"), vec![7u8; 4096]).expect("write");
    std::fs::write(dd.join("mysql/user.frm"), b"frm").expect("write");
    std::fs::write(dd.join("init.ok"), b"1\n").expect("write");
    std::fs::write(
        dd.join("grastate.dat"),
        "# GALERA saved state\nversion: 2.1\nuuid:    6b3a1f0e-1c2d-11ef-9a7b-0242ac120002\nseqno:   5\nsafe_to_bootstrap: 0\n",
    )
    .expect("write");
    dd
}

// ---------------------------------------------------------------------------------------
// Invalid flags and environment values (no server needed)
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_flags_and_env_values_exit_2_with_one_line_naming_the_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dd = small_datadir(dir.path());
    let before = snapshot(&dd);
    let dds = dd.display().to_string();
    let n = node_args();
    let with_node = |extra: &[&str]| -> Vec<String> {
        let mut v = n.clone();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // (case, args, env, needles: problem + fix)
    let cases: Vec<Case> = vec![
        (
            "duration flag",
            with_node(&["galera", "--datadir", &dds, "--lease-ttl", "soon"]),
            vec![],
            vec!["--lease-ttl", "soon", "use e.g. 2s"],
        ),
        (
            "duration from env",
            with_node(&["galera", "--datadir", &dds]),
            vec![("GALERA_LEASE_TTL", "forever")],
            vec!["forever", "GALERA_LEASE_TTL", "use e.g. 2s"],
        ),
        (
            "enum flag",
            vec!["--log-format".into(), "xml".into(), "status".into()],
            vec![],
            vec!["--log-format", "xml", "possible values: text, json"],
        ),
        (
            "enum from env",
            vec!["status".into()],
            vec![("GALERA_LOG_FORMAT", "yaml")],
            vec!["yaml", "GALERA_LOG_FORMAT", "possible values: text, json"],
        ),
        (
            "cluster size 0",
            with_node(&["galera", "--datadir", &dds, "--cluster-size", "0"]),
            vec![],
            vec!["--cluster-size", "must be at least 1"],
        ),
        (
            "cluster name with a slash",
            vec!["--cluster-name".into(), "a/b".into(), "status".into()],
            vec![],
            vec!["--cluster-name", "a/b", "letters, digits"],
        ),
        (
            "endpoint with a path",
            vec![
                "--etcd-endpoints".into(),
                "http://x/y".into(),
                "status".into(),
            ],
            vec![],
            vec!["--etcd-endpoints", "http://x/y", "use http://HOST:PORT"],
        ),
        (
            "node name from env",
            vec!["galera".into(), "--datadir".into(), dds.clone()],
            vec![
                ("GALERA_NODE_NAME", "bad name"),
                ("GALERA_NODE_ADDRESS", "127.0.110.2"),
            ],
            vec!["--node-name", "bad name", "letters, digits"],
        ),
        (
            "unknown flag",
            with_node(&["galera", "--datadri", &dds]),
            vec![],
            vec!["--datadri", "--datadir"],
        ),
        (
            "misspelt command",
            vec!["stauts".into()],
            vec![],
            vec!["stauts", "did you mean", "`status`"],
        ),
        (
            "lease ttl too short",
            with_node(&["galera", "--datadir", &dds, "--lease-ttl", "1s"]),
            vec![],
            vec!["--lease-ttl", "at least 2s"],
        ),
        (
            "cert without key",
            vec![
                "--etcd-cert-file".into(),
                dd.join("ibdata1").display().to_string(),
                "status".into(),
            ],
            vec![],
            vec!["--etcd-cert-file", "--etcd-key-file go together"],
        ),
        (
            "missing CA file",
            vec![
                "--etcd-ca-file".into(),
                "/nonexistent/ca.pem".into(),
                "status".into(),
            ],
            vec![],
            vec![
                "--etcd-ca-file",
                "/nonexistent/ca.pem",
                "not a readable file",
            ],
        ),
        (
            "checker timeout 0",
            vec![
                "checker".into(),
                "readiness".into(),
                "--timeout".into(),
                "0s".into(),
            ],
            vec![],
            vec!["--timeout", "must be at least"],
        ),
    ];
    for (case, args, env, needles) in &cases {
        let out = run_bounded(args, env);
        assert_config_error(case, &out, needles);
    }
    assert_nothing_lost("invalid flags", &before, &dd);
}

// ---------------------------------------------------------------------------------------
// Missing files and binaries: refused at start, exit 2, nothing touched
// ---------------------------------------------------------------------------------------

#[test]
fn missing_files_and_binaries_are_refused_before_anything_is_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dd = small_datadir(dir.path());
    let before = snapshot(&dd);
    let dds = dd.display().to_string();
    let empty = dir.path().join("empty-pw");
    std::fs::write(&empty, "\n").expect("write");
    let empty_s = empty.display().to_string();
    let a_file = dd.join("ibdata1").display().to_string();
    let under_file = dd.join("ibdata1/data").display().to_string();
    // etcd is never reached: every refusal comes before it (port 1 answers nothing).
    let galera = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--etcd-endpoints", "http://127.0.110.1:1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(node_args());
        v.push("galera".into());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<Case> = vec![
        (
            "missing my.cnf",
            galera(&["--datadir", &dds, "--defaults-file", "/nonexistent/my.cnf"]),
            vec![],
            vec![
                "--defaults-file",
                "/nonexistent/my.cnf",
                "does not exist",
                "mount the my.cnf",
            ],
        ),
        (
            "missing mariadbd",
            galera(&["--datadir", &dds, "--mysqld", "/nonexistent/mariadbd"]),
            vec![],
            vec![
                "--mysqld",
                "/nonexistent/mariadbd",
                "not an executable",
                "GALERA_MYSQLD",
            ],
        ),
        (
            "mariadbd not on PATH",
            galera(&["--datadir", &dds, "--mysqld", "no-such-mariadbd"]),
            vec![],
            vec!["--mysqld", "no-such-mariadbd", "on PATH", "install"],
        ),
        (
            "missing mariadb-install-db",
            galera(&["--datadir", &dds, "--install-db", "/nonexistent/install-db"]),
            vec![],
            vec![
                "--install-db",
                "/nonexistent/install-db",
                "GALERA_INSTALL_DB",
            ],
        ),
        (
            "datadir is a file",
            galera(&["--datadir", &a_file]),
            vec![],
            vec!["--datadir", &a_file, "is a file", "point --datadir"],
        ),
        (
            "datadir under a file",
            galera(&["--datadir", &under_file]),
            vec![],
            vec!["--datadir", &a_file, "is a file", "point --datadir"],
        ),
        (
            "root password file missing",
            galera(&["--datadir", &dds]),
            vec![("GALERA_ROOT_PASSWORD_FILE", "/nonexistent/pw")],
            vec![
                "GALERA_ROOT_PASSWORD_FILE=/nonexistent/pw",
                "cannot be read",
                "mount the secret",
            ],
        ),
        (
            "root password file empty",
            galera(&["--datadir", &dds]),
            vec![("GALERA_ROOT_PASSWORD_FILE", &empty_s)],
            vec![
                "GALERA_ROOT_PASSWORD_FILE",
                "is empty",
                "put the secret in it",
            ],
        ),
        (
            "root password twice",
            galera(&["--datadir", &dds]),
            vec![
                ("GALERA_ROOT_PASSWORD_FILE", &empty_s),
                ("GALERA_ROOT_PASSWORD", "x"),
            ],
            vec!["GALERA_ROOT_PASSWORD", "both", "set one"],
        ),
        (
            "monitor user without password",
            galera(&["--datadir", &dds]),
            vec![("GALERA_MONITOR_USER", "monitor")],
            vec!["GALERA_MONITOR_PASSWORD", "is required"],
        ),
        (
            "etcd password file empty",
            vec![
                "--etcd-endpoints".into(),
                "http://127.0.110.1:1".into(),
                "--etcd-username".into(),
                "root".into(),
                "--etcd-password-file".into(),
                empty_s.clone(),
                "status".into(),
            ],
            vec![],
            vec!["--etcd-password-file", "is empty", "put the password"],
        ),
        (
            "etcd password file missing",
            vec![
                "--etcd-username".into(),
                "root".into(),
                "--etcd-password-file".into(),
                "/nonexistent/etcd-pw".into(),
                "status".into(),
            ],
            vec![],
            vec!["--etcd-password-file", "/nonexistent/etcd-pw"],
        ),
        (
            "missing haproxy",
            vec![
                "haproxy".into(),
                "--haproxy-bin".into(),
                "/nonexistent/haproxy".into(),
                "--run-dir".into(),
                dir.path().join("hp").display().to_string(),
            ],
            vec![],
            vec![
                "--haproxy-bin",
                "/nonexistent/haproxy",
                "install haproxy",
                "GALERA_HAPROXY_BIN",
            ],
        ),
    ];
    for (case, args, env, needles) in &cases {
        let start = Instant::now();
        let out = run_bounded(args, env);
        assert_config_error(case, &out, needles);
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{case}: refused only after {:?} (should not wait for anything)",
            start.elapsed()
        );
        assert_nothing_lost(case, &before, &dd);
    }
    assert!(
        !dir.path().join("hp").join("haproxy.cfg").exists(),
        "missing haproxy: nothing rendered"
    );
}

// ---------------------------------------------------------------------------------------
// Ports already taken
// ---------------------------------------------------------------------------------------

#[test]
fn taken_ports_are_named_with_the_option_to_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.110.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    // haproxy on taken ports (etcd unreachable: it would start without a leader).
    let run_dir = dir.path().join("hp").display().to_string();
    let config = dir.path().join("hp/haproxy.cfg").display().to_string();
    let haproxy = |listen: &[&str]| {
        let mut args = vec![
            "--etcd-endpoints",
            "http://127.0.110.1:1",
            "--etcd-timeout",
            "1s",
            "haproxy",
        ];
        args.extend_from_slice(listen);
        args.extend(["--run-dir", &run_dir, "--haproxy-config", &config]);
        run(&args, &[])
    };
    // --listen on a taken port.
    let out = haproxy(&["--listen", &addr]);
    assert_fails_naming(
        "haproxy",
        &out,
        1,
        &[addr.as_str(), "already listens", "--listen / GALERA_LISTEN"],
    );
    // haproxy --read-listen on a taken port (the client port free).
    let free_addr = format!("127.0.110.1:{}", free_port());
    let out = haproxy(&["--listen", &free_addr, "--read-listen", &addr]);
    assert_fails_naming(
        "haproxy",
        &out,
        1,
        &[
            addr.as_str(),
            "already listens",
            "--read-listen / GALERA_READ_LISTEN",
        ],
    );
    // checker serve --listen on a taken port.
    let out = run(
        &[
            "checker",
            "serve",
            "--listen",
            &addr,
            "--state-dir",
            &dir.path().join("st").display().to_string(),
        ],
        &[],
    );
    assert_fails_naming(
        "checker serve",
        &out,
        1,
        &[addr.as_str(), "already listens", "GALERA_CHECKER_LISTEN"],
    );
    drop(taken);
}

// ---------------------------------------------------------------------------------------
// etcd unreachable at start
// ---------------------------------------------------------------------------------------

#[test]
fn etcd_unreachable_status_fails_naming_the_endpoint_and_the_entrypoint_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let endpoint = format!("http://127.0.110.1:{port}");
    // status: exit 1, names the endpoint and what to check.
    let out = run(
        &[
            "--etcd-endpoints",
            &endpoint,
            "--etcd-timeout",
            "2s",
            "status",
        ],
        &[],
    );
    assert_fails_naming(
        "status",
        &out,
        1,
        &[endpoint.as_str(), "unreachable", "--etcd-endpoints"],
    );
    // set-state too.
    let out = run(
        &[
            "--etcd-endpoints",
            &endpoint,
            "--etcd-timeout",
            "2s",
            "set-state",
            "STEADY",
        ],
        &[],
    );
    assert_fails_naming("set-state", &out, 1, &[endpoint.as_str()]);

    // The entrypoint keeps retrying with a log line, and stops cleanly on SIGTERM.
    let dd = small_datadir(dir.path());
    let before = snapshot(&dd);
    let log = dir.path().join("entrypoint.log");
    let logf = std::fs::File::create(&log).expect("log");
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GALERA_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--etcd-endpoints", &endpoint, "--etcd-timeout", "1s"])
        .args(node_args())
        .arg("galera")
        .arg("--datadir")
        .arg(&dd)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(logf.try_clone().expect("clone"))
        .stderr(logf);
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("start the entrypoint");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "a `waiting for etcd` log line",
        Duration::from_secs(20),
        || read().contains("waiting for etcd"),
    );
    // It keeps retrying: the line comes again (every 5 attempts), from the same process.
    wait_until(
        "a second `waiting for etcd` line",
        Duration::from_secs(30),
        || read().matches("waiting for etcd").count() >= 2,
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the entrypoint gave up while etcd was away:\n{}",
        read()
    );
    let l = read();
    assert!(l.contains(&endpoint), "log names the endpoint:\n{l}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("no exit within 15 s of SIGTERM:\n{}", read());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM:\n{}", read());
    assert!(
        read().contains("stopped before etcd answered"),
        "says why it stopped:\n{}",
        read()
    );
    assert_nothing_lost("etcd unreachable", &before, &dd);
}

// ---------------------------------------------------------------------------------------
// Garbage in every etcd key, and a corrupt grastate.dat, against a datadir with real data
// ---------------------------------------------------------------------------------------

/// A one-node cluster run to STEADY and stopped cleanly: a datadir with real data, init.ok,
/// and grastate.dat with the cluster's uuid and a seqno. Returns the cluster and `P/uuid`.
fn data_fixture(subnet: u8) -> (Cluster, String) {
    let mut c = Cluster::new(subnet, 0);
    c.add_node(0, 1);
    c.start(0);
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.wait_steady(1, Duration::from_secs(90))
    }))
    .is_err()
    {
        panic!("fixture not STEADY:\n{}", c.logs());
    }
    let uuid = c.status()["uuid"].as_str().expect("uuid").to_string();
    assert!(
        c.nodes[0].sql("CREATE DATABASE keepme").is_some(),
        "create a database"
    );
    assert_eq!(c.nodes[0].sigterm(Duration::from_secs(60)), Some(0));
    (c, uuid)
}

/// `/galera/<cluster>/...` key for a case's own cluster.
fn key(cluster: &str, rest: &str) -> String {
    format!("/galera/{cluster}/{rest}")
}

/// The entrypoint of `node` for `cluster` reaches phase `queued` and stays there (waiting for
/// a member that never comes) — it neither crashes nor acts on the garbage.
fn wait_queued(case: &str, node: &mut TestNode, log_from: usize) -> String {
    let state = node.state_dir().join("state.json");
    let start = Instant::now();
    loop {
        let phase = std::fs::read_to_string(&state)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["phase"].as_str().map(str::to_string));
        if phase.as_deref() == Some("queued") {
            break;
        }
        assert!(
            node.running(),
            "{case}: the entrypoint exited:\n{}",
            &node.log()[log_from..]
        );
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{case}: not queued within 40 s (phase {phase:?}):\n{}",
            &node.log()[log_from..]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still waiting a little later.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        node.running(),
        "{case}: exited:\n{}",
        &node.log()[log_from..]
    );
    node.log()[log_from..].to_string()
}

#[test]
fn garbage_in_every_etcd_key_and_a_corrupt_grastate_never_crash_nor_touch_the_datadir() {
    let (mut c, uuid) = data_fixture(SUBNET);
    let dd = c.nodes[0].datadir();
    let grastate = std::fs::read_to_string(dd.join("grastate.dat")).expect("grastate.dat");
    let seqno: i64 = grastate
        .lines()
        .find_map(|l| l.strip_prefix("seqno:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("seqno in grastate.dat");
    assert!(seqno > 0, "clean stop wrote a seqno: {grastate}");
    let before = snapshot(&dd);
    let ep = c.endpoint();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let etcd = rt.block_on(c.etcd.client("unused"));
    let put = |k: String, v: Vec<u8>| rt.block_on(raw_put(&etcd, &k, v));
    let expected_position = format!("{uuid}:{seqno}");

    // (case, key under the case's prefix, garbage, text the log must show)
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("uuid", "uuid", b"not-a-uuid".to_vec(), "is not a uuid"),
        ("leader", "leader", b"two words".to_vec(), "leader"),
        ("nodes/x", "nodes/g-9", b"".to_vec(), "nodes/g-9"),
        (
            "nodes/x non-UTF-8",
            "nodes/g-8",
            vec![0xff, 0xfe, 0],
            "nodes/g-8",
        ),
        (
            "queue/x",
            "queue/g-1",
            b"yesterday".to_vec(),
            "is not a unix time",
        ),
        ("seqno/x", "seqno/g-1", b"-7".to_vec(), "below -1"),
        (
            "position/x",
            "position/g-1",
            b"xyz:1".to_vec(),
            "position/g-1",
        ),
        (
            "members/x",
            "members/g-2",
            b"10.0.0.3\n10.0.0.4".to_vec(),
            "members/g-2",
        ),
        (
            "bootstrap",
            "bootstrap",
            b"{oops".to_vec(),
            "not a bootstrap record",
        ),
        (
            "recovery",
            "recovery",
            b"[1,2]".to_vec(),
            "not a recovery record",
        ),
        ("lock", "lock", vec![0xc3, 0x28], "lock"),
        (
            "force-bootstrap",
            "force-bootstrap",
            b"bad/name".to_vec(),
            "force-bootstrap",
        ),
        (
            "forks/x",
            "forks/g-2@17",
            b"{oops".to_vec(),
            "not a fork record",
        ),
    ];
    for (i, (case, k, garbage, shows)) in cases.iter().enumerate() {
        let cluster = format!("bad{i}");
        // A recovery waiting for g-1, which never comes: g-0 queues and waits.
        put(key(&cluster, "state"), b"RECOVERY".to_vec());
        put(key(&cluster, "uuid"), uuid.clone().into_bytes());
        put(key(&cluster, "members/g-0"), b"127.0.110.2".to_vec());
        put(key(&cluster, "members/g-1"), b"127.0.110.9".to_vec());
        put(key(&cluster, k), garbage.clone());
        let from = c.nodes[0].log().len();
        c.nodes[0].start(&ep, &cluster);
        let log = wait_queued(case, &mut c.nodes[0], from);
        assert!(
            log.contains("ignoring") && log.contains(shows),
            "{case}: no warning naming the bad value ({shows}):\n{log}"
        );
        assert!(!log.contains("panicked"), "{case}:\n{log}");
        // It published its real position, and bootstrapped nothing.
        let pos = c
            .etcd
            .etcdctl(&["get", "--print-value-only", &key(&cluster, "position/g-0")]);
        assert_eq!(
            String::from_utf8_lossy(&pos.stdout).trim(),
            expected_position,
            "{case}"
        );
        assert!(
            !log.contains("--wsrep-new-cluster"),
            "{case}: bootstrapped:\n{log}"
        );
        // The operator's tools and the probes cope.
        let st = common::cli(&ep, &cluster, &["status"]);
        assert_eq!(st.status.code(), Some(0), "{case}: status: {}", stderr(&st));
        let st = common::cli(&ep, &cluster, &["status", "--json"]);
        assert!(
            serde_json::from_slice::<serde_json::Value>(&st.stdout).is_ok(),
            "{case}: status --json is not JSON: {}",
            stdout(&st)
        );
        let sd = c.nodes[0].state_dir().display().to_string();
        for probe in ["readiness", "liveness"] {
            let out = common::cli(&ep, &cluster, &["checker", probe, "--state-dir", &sd]);
            let o = stdout(&out);
            assert_eq!(
                out.status.code(),
                Some(if probe == "readiness" { 1 } else { 0 }),
                "{case}: {probe}: {o} {}",
                stderr(&out)
            );
            assert_eq!(
                o.trim().lines().count(),
                1,
                "{case}: {probe}: one line: {o}"
            );
            assert!(!stderr(&out).contains("panicked"), "{case}: {probe}");
        }
        assert_eq!(
            c.nodes[0].sigterm(Duration::from_secs(30)),
            Some(0),
            "{case}: clean exit on SIGTERM:\n{}",
            &c.nodes[0].log()[from..]
        );
        assert_nothing_lost(case, &before, &dd);
    }

    // An unknown state: the entrypoint exits with an error naming the value and the fix,
    // before touching the datadir; status flags it; probes do not crash.
    let cluster = "badstate";
    put(key(cluster, "state"), b"SOMETHING".to_vec());
    put(key(cluster, "uuid"), uuid.clone().into_bytes());
    let from = c.nodes[0].log().len();
    c.nodes[0].start(&ep, cluster);
    let code = c.nodes[0].wait_exit(Duration::from_secs(40));
    let log = c.nodes[0].log()[from..].to_string();
    assert_eq!(code, Some(1), "unknown state: exit 1:\n{log}");
    for n in ["SOMETHING", "set-state", "untouched"] {
        assert!(log.contains(n), "unknown state: `{n}` not in:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
    assert_nothing_lost("unknown state", &before, &dd);
    let st = common::cli(&ep, cluster, &["status"]);
    assert_eq!(st.status.code(), Some(0), "status: {}", stderr(&st));
    let all = format!("{}{}", stdout(&st), stderr(&st));
    assert!(
        all.contains("SOMETHING"),
        "status shows the bad state: {all}"
    );
    let out = common::cli(&ep, cluster, &["set-state", "bogus"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "set-state bogus: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("bogus") && stderr(&out).contains("STEADY"),
        "set-state names the accepted values: {}",
        stderr(&out)
    );

    // A corrupt forks file (which branch of the history this datadir holds): the entrypoint
    // exits with an error naming the file and what to do, before touching anything else.
    let forks = dd.join("galera-sidecar.forks.log");
    std::fs::write(&forks, b"[{\"id\": 3").expect("write the forks file");
    let before_forks = snapshot(&dd);
    let cluster = "badforks";
    put(key(cluster, "state"), b"RECOVERY".to_vec());
    put(key(cluster, "uuid"), uuid.clone().into_bytes());
    let from = c.nodes[0].log().len();
    c.nodes[0].start(&ep, cluster);
    let code = c.nodes[0].wait_exit(Duration::from_secs(40));
    let log = c.nodes[0].log()[from..].to_string();
    assert_eq!(code, Some(1), "corrupt forks file: exit 1:\n{log}");
    for n in [
        "galera-sidecar.forks.log",
        "not a list of forks",
        "Restore it",
    ] {
        assert!(log.contains(n), "corrupt forks file: `{n}` not in:\n{log}");
    }
    assert_nothing_lost("corrupt forks file", &before_forks, &dd);
    std::fs::remove_file(&forks).expect("remove the forks file");

    // A corrupt, then a truncated grastate.dat: the position comes from InnoDB
    // (--wsrep-recover), a warning names the file, and the file is kept byte for byte.
    for (case, content) in [
        (
            "corrupt grastate.dat",
            "\u{0}\u{1}garbage\nuuid: nope\n".to_string(),
        ),
        (
            "truncated grastate.dat",
            grastate[..grastate.len() / 3].to_string(),
        ),
        ("empty grastate.dat", String::new()),
    ] {
        std::fs::write(dd.join("grastate.dat"), &content).expect("write grastate.dat");
        let before = snapshot(&dd);
        let cluster = format!("gra{}", content.len());
        put(key(&cluster, "state"), b"RECOVERY".to_vec());
        put(key(&cluster, "uuid"), uuid.clone().into_bytes());
        put(key(&cluster, "members/g-0"), b"127.0.110.2".to_vec());
        put(key(&cluster, "members/g-1"), b"127.0.110.9".to_vec());
        let from = c.nodes[0].log().len();
        c.nodes[0].start(&ep, &cluster);
        let log = wait_queued(case, &mut c.nodes[0], from);
        assert!(
            log.contains("grastate.dat") && log.contains("--wsrep-recover"),
            "{case}: no warning naming grastate.dat and where the position comes from:\n{log}"
        );
        let pos = c
            .etcd
            .etcdctl(&["get", "--print-value-only", &key(&cluster, "position/g-0")]);
        assert_eq!(
            String::from_utf8_lossy(&pos.stdout).trim(),
            expected_position,
            "{case}: the position comes from InnoDB"
        );
        assert_eq!(
            c.nodes[0].sigterm(Duration::from_secs(30)),
            Some(0),
            "{case}"
        );
        assert_nothing_lost(case, &before, &dd);
        assert_eq!(
            std::fs::read_to_string(dd.join("grastate.dat")).expect("read"),
            content,
            "{case}: kept byte for byte"
        );
    }
    drop(etcd);
}
