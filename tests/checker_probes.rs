//! The probes against a real etcd and a real one-node MariaDB Galera (127.0.40.2), run as the
//! kubelet runs them (exec, with period/timeout/failureThreshold) and over HTTP
//! (`checker serve`), asserting both give the same verdicts. The state file the entrypoint
//! will write is written here by the test.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::etcd::EtcdServer;
use common::kubelet::{Kubelet, ProbeSpec};
use common::mariadb::MariaDb;
use common::{bin, die_with_parent, free_port, wait_until};
use galera_sidecar::etcd::unix_now;
use galera_sidecar::state_file::{EtcdView, Phase, StateFile};

const IP: &str = "127.0.40.2";
const CLUSTER: &str = "chk";
const MONITOR: &str = "monitor";
const MONITOR_PW: &str = "mon-pw-1";
const OTHER_UUID: &str = "11111111-2222-3333-4444-555555555555";

struct Serve {
    child: Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    etcd: EtcdServer,
    db: MariaDb,
    state_dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn args(&self, probe: &str) -> Vec<String> {
        [
            "--etcd-endpoints",
            &self.etcd.endpoint(),
            "--cluster-name",
            CLUSTER,
            "checker",
            probe,
            "--state-dir",
            &self.state_dir.path().display().to_string(),
            "--defaults-file",
            &self.db.cnf().display().to_string(),
            "--timeout",
            "2s",
            "--liveness-failures",
            "3",
            "--state-max-age",
            "30s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn command(&self, probe: &str, password: &str) -> Command {
        let mut c = Command::new(bin());
        c.args(self.args(probe))
            .env_remove("GALERA_ETCD_ENDPOINTS")
            .env_remove("GALERA_MONITOR_PASSWORD_FILE")
            .env_remove("GALERA_MONITOR_USER_FILE")
            .env("GALERA_MONITOR_USER", MONITOR)
            .env("GALERA_MONITOR_PASSWORD", password);
        c
    }

    /// Run an exec probe: (passed, its one line).
    fn exec_pw(&self, probe: &str, password: &str) -> (bool, String) {
        let out = self
            .command(probe, password)
            .output()
            .expect("run the probe");
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(line.lines().count(), 1, "one line: {line:?}");
        let code = out.status.code().expect("exit code");
        assert!(code == 0 || code == 1, "exit 0/1, got {code}: {line}");
        (code == 0, line)
    }

    fn exec(&self, probe: &str) -> (bool, String) {
        self.exec_pw(probe, MONITOR_PW)
    }

    fn serve(&self, password: &str) -> Serve {
        let port = free_port();
        let mut args = self.args("serve");
        args.extend(["--listen".into(), format!("{IP}:{port}")]);
        let mut c = Command::new(bin());
        c.args(args)
            .env_remove("GALERA_ETCD_ENDPOINTS")
            .env("GALERA_MONITOR_USER", MONITOR)
            .env("GALERA_MONITOR_PASSWORD", password)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut c);
        let s = Serve {
            child: c.spawn().expect("start checker serve"),
            port,
        };
        wait_until("checker serve listening", Duration::from_secs(10), || {
            TcpStream::connect((IP, port)).is_ok()
        });
        s
    }

    fn write_state(&self, phase: Phase, uuid: Option<&str>, view_age: i64) {
        let now = unix_now();
        StateFile {
            node_name: "g-0".into(),
            phase,
            mysqld_pid: Some(self.db.pid()),
            mysqld_started_at: Some(now - 60),
            etcd: EtcdView {
                state: Some("STEADY".into()),
                uuid: uuid.map(String::from),
                read_at: now - view_age,
                paused_until: None,
            },
            leader: true,
            updated_at: now,
            ..Default::default()
        }
        .write(self.state_dir.path())
        .expect("write the state file");
    }

    fn put(&self, key: impl Fn(&galera_sidecar::etcd::Keys) -> String, value: &str) {
        self.rt.block_on(async {
            let etcd = self.etcd.client(CLUSTER).await;
            etcd.put(&key(&etcd.keys), value, None)
                .await
                .expect("etcd put");
        });
    }
}

/// GET `path` from a `checker serve`: (status, body).
fn http(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect((IP, port)).expect("connect to checker serve");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {IP}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read the response");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {resp:?}"));
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    (status, body)
}

/// Exec and HTTP give the same verdicts, and the readiness line contains `text`.
fn agree(env: &Env, serve: &Serve, ready: bool, alive: bool, text: &str) {
    let (r, rline) = env.exec("readiness");
    let (l, lline) = env.exec("liveness");
    assert_eq!(r, ready, "exec readiness: {rline}");
    assert_eq!(l, alive, "exec liveness: {lline}");
    assert!(
        rline.contains(text),
        "exec readiness `{rline}` lacks `{text}`"
    );
    // Past the server's 500 ms cache.
    std::thread::sleep(Duration::from_millis(700));
    let (rs, rbody) = http(serve.port, "/readiness");
    let (ls, lbody) = http(serve.port, "/liveness");
    assert_eq!(rs, if ready { 200 } else { 503 }, "HTTP readiness: {rbody}");
    assert_eq!(ls, if alive { 200 } else { 503 }, "HTTP liveness: {lbody}");
    assert!(
        rbody.contains(text),
        "HTTP readiness `{rbody}` lacks `{text}`"
    );
    assert_eq!(
        rbody.split(':').next(),
        rline.split(':').next(),
        "same word: {rbody} / {rline}"
    );
}

fn kubelet_spec() -> ProbeSpec {
    ProbeSpec {
        period: Duration::from_millis(300),
        timeout: Duration::from_secs(3),
        failure_threshold: 1,
    }
}

#[test]
fn probes_against_real_galera_and_etcd() {
    let env = Env {
        etcd: EtcdServer::start(),
        db: MariaDb::bootstrap(IP, "max_connections=10"),
        state_dir: tempfile::tempdir().expect("tempdir"),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    };
    // The monitor user gets no privilege at all (USAGE): SHOW STATUS needs none.
    env.db.sql(&format!(
        "CREATE USER '{MONITOR}'@'%' IDENTIFIED BY '{MONITOR_PW}'; \
         CREATE USER 'filler'@'%' IDENTIFIED BY 'f'; GRANT SELECT ON *.* TO 'filler'@'%'"
    ));
    let grants = env.db.sql(&format!("SHOW GRANTS FOR '{MONITOR}'@'%'"));
    assert!(
        grants.starts_with("GRANT USAGE ON *.* TO `monitor`@`%`") && grants.lines().count() == 1,
        "{grants}"
    );
    let uuid = env.db.status("wsrep_cluster_state_uuid");
    env.put(|k| k.uuid(), &uuid);
    env.put(|k| k.state(), "STEADY");
    env.write_state(Phase::Running, Some(&uuid), 1);
    let serve = env.serve(MONITOR_PW);

    // Synced → ready and alive, exec and HTTP alike, under the kubelet without a restart.
    agree(
        &env,
        &serve,
        true,
        true,
        "ready: Synced, Primary, uuid = P/uuid",
    );
    for probe in ["readiness", "liveness"] {
        let mut k = Kubelet::new(kubelet_spec());
        k.run(4, || env.command(probe, MONITOR_PW));
        assert!(
            k.restarts.is_empty() && k.results.iter().all(|r| r.ok),
            "{probe}:\n{}",
            k.transcript()
        );
    }

    // Concurrent HTTP checks share observations.
    let threads: Vec<_> = (0..40)
        .map(|_| {
            let port = serve.port;
            std::thread::spawn(move || http(port, "/readiness").0)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 200);
    }
    let (st, metrics) = http(serve.port, "/metrics");
    assert_eq!(st, 200);
    for want in [
        "galera_state{state=\"STEADY\"} 1",
        "galera_phase{phase=\"running\"} 1",
        "galera_leader 1",
        "wsrep_local_state 4",
        "wsrep_cluster_size 1",
        "wsrep_last_committed ",
        "galera_uuid_mismatch 0",
        "galera_probe_verdicts_total{probe=\"readiness\",result=\"ready\",rule=\"ready\"}",
    ] {
        assert!(metrics.contains(want), "metrics lack `{want}`:\n{metrics}");
    }
    let observations: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("galera_checker_observations_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("observation counter");
    assert!(
        observations < 40,
        "41+ requests made {observations} observations: not shared"
    );

    // P/uuid changed in etcd (the state file's view is stale, so the probe reads etcd):
    // not ready, alive.
    env.put(|k| k.uuid(), OTHER_UUID);
    env.write_state(Phase::Running, Some(&uuid), 100);
    agree(
        &env,
        &serve,
        false,
        true,
        &format!("but P/uuid={OTHER_UUID}"),
    );
    let (_, l) = env.exec("liveness");
    assert!(l.contains("a restart would not fix it"), "{l}");
    let (_, metrics) = http(serve.port, "/metrics");
    assert!(metrics.contains("galera_uuid_mismatch 1"), "{metrics}");
    // The entrypoint's fresh view is trusted without reading etcd: its uuid decides.
    env.write_state(Phase::Running, Some(&uuid), 1);
    agree(&env, &serve, true, true, "uuid = P/uuid");

    // etcd stopped: the same verdicts, the reason gives the view's age.
    env.put(|k| k.uuid(), &uuid);
    let mut etcd = env.etcd;
    etcd.stop();
    let env = Env { etcd, ..env };
    env.write_state(Phase::Running, Some(&uuid), 100);
    agree(&env, &serve, true, true, "etcd view 1m 4");
    let (_, line) = env.exec("readiness");
    assert!(
        line.contains("s old, from the state file: etcd")
            && (line.contains("unreachable") || line.contains("timed out")),
        "{line}"
    );
    env.write_state(Phase::Running, Some(OTHER_UUID), 100);
    agree(&env, &serve, false, true, "etcd view 1m 4");
    // Under the kubelet's timeout, with etcd away.
    for probe in ["readiness", "liveness"] {
        env.write_state(Phase::Running, Some(&uuid), 100);
        let mut k = Kubelet::new(kubelet_spec());
        k.run(3, || env.command(probe, MONITOR_PW));
        assert!(
            k.restarts.is_empty(),
            "{probe} with etcd down:\n{}",
            k.transcript()
        );
    }
    // No state file and no etcd: alive, and the reason says what is missing.
    std::fs::remove_file(env.state_dir.path().join("state.json")).expect("rm state file");
    let (l, line) = env.exec("liveness");
    assert!(l && line.contains("no state file"), "{line}");
    let (r, line) = env.exec("readiness");
    assert!(r && line.contains("no etcd view"), "{line}");
    let mut etcd = env.etcd;
    etcd.restart();
    let env = Env { etcd, ..env };
    env.write_state(Phase::Running, Some(&uuid), 1);

    // Wrong monitor password: not ready, alive.
    let (r, rline) = env.exec_pw("readiness", "wrong");
    let (l, lline) = env.exec_pw("liveness", "wrong");
    assert!(!r && rline.contains("access denied"), "{rline}");
    assert!(l && lline.contains("access denied"), "{lline}");
    {
        let bad = env.serve("wrong");
        assert_eq!(http(bad.port, "/readiness").0, 503);
        assert_eq!(http(bad.port, "/liveness").0, 200);
    }

    // Desynced (what a donor shows): not ready naming it, alive.
    env.db.sql("SET GLOBAL wsrep_desync=ON");
    wait_until("Donor/Desynced", Duration::from_secs(10), || {
        env.db.status("wsrep_local_state_comment") == "Donor/Desynced"
    });
    agree(
        &env,
        &serve,
        false,
        true,
        "not ready: wsrep_local_state_comment=Donor/Desynced (want Synced)",
    );
    env.db.sql("SET GLOBAL wsrep_desync=OFF");
    wait_until("Synced again", Duration::from_secs(10), || {
        env.db.status("wsrep_local_state_comment") == "Synced"
    });
    agree(&env, &serve, true, true, "ready");

    // max_connections exhausted: not ready, alive. Fillers hold connections; more are started
    // until the monitor is refused (a filler refused itself just exits).
    let mut fillers = Children(vec![]);
    let mut last = String::new();
    let start = std::time::Instant::now();
    while !last.contains("too many connections") {
        assert!(
            start.elapsed() < Duration::from_secs(30) && fillers.0.len() < 40,
            "connections not exhausted with {} fillers: {last}",
            fillers.0.len()
        );
        let mut c = Command::new("mariadb");
        c.args(["--no-defaults", "-h", IP, "-P3306", "-ufiller", "-pf"])
            .args(["-e", "SELECT SLEEP(120)"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut c);
        fillers.0.push(c.spawn().expect("start a filler client"));
        std::thread::sleep(Duration::from_millis(150));
        last = env.exec("readiness").1;
    }
    agree(&env, &serve, false, true, "too many connections");
    let (_, l) = env.exec("liveness");
    assert!(l.contains("too many connections"), "{l}");
    fillers.kill_all();
    wait_until("connections free again", Duration::from_secs(20), || {
        env.exec("readiness").0
    });

    // Phases other than running, and an SST in progress: alive whatever the server does.
    let pid = env.db.pid();
    let mut env = env;
    env.db.kill9();
    assert!(
        Path::new(&env.db.pid_file()).exists(),
        "pid file left behind"
    );
    write_state_pid(&env, Phase::Joining, pid);
    let (l, line) = env.exec("liveness");
    assert!(l && line.contains("phase=joining"), "{line}");
    let (r, line) = env.exec("readiness");
    assert!(
        !r && line.contains("phase=joining (want running)"),
        "{line}"
    );
    write_state_pid(&env, Phase::Running, pid);
    let sst = env.db.datadir().join("sst_in_progress");
    std::fs::write(&sst, "").expect("sst_in_progress");
    let mut k = Kubelet::new(kubelet_spec());
    k.run(4, || env.command("liveness", MONITOR_PW));
    assert!(
        k.restarts.is_empty(),
        "alive during SST:\n{}",
        k.transcript()
    );
    std::fs::remove_file(&sst).expect("rm sst_in_progress");

    // mariadbd killed in phase running, pid file left: dead only at the 3rd failure.
    let mut k = Kubelet::new(kubelet_spec());
    k.run(4, || env.command("liveness", MONITOR_PW));
    let t = k.transcript();
    assert_eq!(
        k.restarts.first(),
        Some(&2),
        "first restart at the 3rd probe:\n{t}"
    );
    assert!(
        k.results[0].ok && k.results[0].line.contains("failure 1 of 3"),
        "{t}"
    );
    assert!(
        k.results[1].ok && k.results[1].line.contains("failure 2 of 3"),
        "{t}"
    );
    assert!(
        k.results[2].line.contains("3 consecutive failures")
            && k.results[2]
                .line
                .contains(&format!("mariadbd pid {pid} does not exist")),
        "{t}"
    );
    assert!(!k.results[3].ok, "still dead:\n{t}");
    let (r, line) = env.exec("readiness");
    assert!(!r && line.contains("cannot connect"), "{line}");
    // HTTP counts its own probes the same way.
    let mut codes = vec![];
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        codes.push(http(serve.port, "/liveness").0);
    }
    assert_eq!(codes, vec![200, 200, 503]);
}

fn write_state_pid(env: &Env, phase: Phase, pid: u32) {
    let now = unix_now();
    StateFile {
        node_name: "g-0".into(),
        phase,
        mysqld_pid: Some(pid),
        mysqld_started_at: Some(now - 60),
        etcd: EtcdView {
            state: Some("STEADY".into()),
            uuid: None,
            read_at: now,
            paused_until: None,
        },
        updated_at: now,
        ..Default::default()
    }
    .write(env.state_dir.path())
    .expect("write the state file");
}

/// Child processes killed on drop.
struct Children(Vec<Child>);

impl Children {
    fn kill_all(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.0.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.kill_all();
    }
}
