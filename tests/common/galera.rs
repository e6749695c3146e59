//! Real MariaDB Galera nodes, each run by `galera-sidecar galera`, on loopback addresses
//! `127.0.<subnet>.2..` (same ports on each address). Every node runs in its own process
//! group, killed whole on drop (sidecar, mariadbd, SST helpers).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use galera_sidecar::etcd::snapshot::StateValue;
use galera_sidecar::etcd::{ClusterSnapshot, ClusterState, Etcd};

use super::etcd::EtcdServer;
use super::{bin, wait_until};

/// The `mariadb` client as root over the server's unix socket; callers add the rest.
pub fn root_client(socket: &Path) -> Command {
    let mut c = Command::new("mariadb");
    c.arg("--protocol=socket")
        .arg(format!("--socket={}", socket.display()))
        .arg("-uroot");
    c
}

/// Run a `mariadb` client command: its output (trimmed), or the client's error message.
pub fn client_result(client: &mut Command) -> Result<String, String> {
    let out = client
        .output()
        .map_err(|e| format!("cannot run mariadb: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The my.cnf of a test node (small memory, rsync SST, fast failure detection): the template
/// with the values scripts/playground and scripts/bench use too; with `tls_dir`, the `[sst]`
/// section that encrypts state transfers with its certificates.
pub fn mycnf(dir: &Path, ip: &str, tls_dir: Option<&Path>) -> String {
    super::mycnf::server(dir, ip, 3306, &dir.join("tmp"))
        .galera(
            "test",
            ";evs.suspect_timeout=PT5S;evs.inactive_timeout=PT8S",
        )
        .set(
            "TITLE",
            "a galera-sidecar test node (tests/common/galera.rs)",
        )
        .set("FLUSH_LOG_AT_TRX_COMMIT", "1")
        .set("MAX_CONNECTIONS", "50")
        .set(
            "TLS_DIR",
            tls_dir.map(|d| d.display().to_string()).unwrap_or_default(),
        )
        .render()
}

pub const MONITOR_USER: &str = "monitor";
pub const MONITOR_PASSWORD: &str = "monitor-pw";
pub const ROOT_PASSWORD: &str = "root-pw";

pub struct TestNode {
    pub name: String,
    pub ip: String,
    pub dir: PathBuf,
    child: Option<Child>,
    pub cluster_size: usize,
    pub lease_ttl: String,
    pub extra_args: Vec<String>,
    /// Extra environment for the entrypoint (and so for mariadbd and its SST scripts).
    /// `GALERA_MONITOR_PASSWORD_FILE` here replaces the default `GALERA_MONITOR_PASSWORD`.
    pub env: Vec<(String, String)>,
    /// Lines appended to the `[mysqld]` section of the node's my.cnf.
    pub mycnf_extra: String,
    /// The certificates' directory: the my.cnf's `[sst]` section names its files (the
    /// entrypoint gets `--galera-tls-dir` through `extra_args`).
    pub tls_dir: Option<PathBuf>,
}

impl TestNode {
    pub fn datadir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }
    pub fn sidecar_log(&self) -> PathBuf {
        self.dir.join("sidecar.log")
    }
    pub fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }
    pub fn defaults_file(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }

    /// Write the my.cnf for the node's current address.
    pub fn write_config(&self) {
        // Each node its own tmpdir: a starting mariadbd deletes every `#sql*` file in its tmpdir.
        let tmp = self.dir.join("tmp");
        let _ = std::fs::create_dir_all(&tmp);
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777));
        std::fs::write(
            self.defaults_file(),
            format!(
                "{}{}",
                mycnf(&self.dir, &self.ip, self.tls_dir.as_deref()),
                self.mycnf_extra
            ),
        )
        .expect("write my.cnf");
    }

    /// Start `galera-sidecar galera` for this node.
    pub fn start(&mut self, etcd: &str, cluster: &str) {
        assert!(self.child.is_none(), "{} already started", self.name);
        self.write_config();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.sidecar_log())
            .expect("sidecar log");
        let err = log.try_clone().expect("clone log");
        let mut cmd = Command::new(bin());
        cmd.args(["--etcd-endpoints", etcd, "--cluster-name", cluster])
            .args(["--node-name", &self.name, "--node-address", &self.ip])
            .arg("galera")
            .arg("--defaults-file")
            .arg(self.defaults_file())
            .arg("--datadir")
            .arg(self.datadir())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--mysql-socket")
            .arg(self.socket())
            .args(["--cluster-size", &self.cluster_size.to_string()])
            .args(["--lease-ttl", &self.lease_ttl])
            .args(["--drain-timeout", "5s"])
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("GALERA_ROOT_PASSWORD", ROOT_PASSWORD)
            .env("GALERA_MONITOR_USER", MONITOR_USER)
            .env("GALERA_LOG", "info")
            .env_remove("GALERA_ETCD_ENDPOINTS")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0);
        if !self
            .env
            .iter()
            .any(|(k, _)| k == "GALERA_MONITOR_PASSWORD_FILE")
        {
            cmd.env("GALERA_MONITOR_PASSWORD", MONITOR_PASSWORD);
        }
        super::die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start galera-sidecar galera"));
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// kill -9 the whole node (entrypoint, mariadbd, helpers).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pgid = c.id() as i32;
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
        self.kill_stray_mysqld();
    }

    fn kill_stray_mysqld(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("mysqld.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                // Gone (or a zombie): its file locks on the datadir are released.
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(10) {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    if stat.is_empty() || stat.contains(") Z ") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        // Wait until the port is free (mariadbd gone).
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10)
            && std::net::TcpStream::connect((self.ip.as_str(), 4567)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM the entrypoint and wait for it to exit; returns its exit code.
    pub fn sigterm(&mut self, timeout: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if start.elapsed() > timeout {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(c.id() as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = c.wait();
                panic!(
                    "{} did not stop within {timeout:?} after SIGTERM",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait for the entrypoint to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(st))) => {
                    self.child = None;
                    return st.code();
                }
                None => return None,
                _ => {}
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Run SQL as root over the socket; `None` when the server does not answer.
    pub fn sql(&self, query: &str) -> Option<String> {
        self.sql_result(query).ok()
    }

    /// Run SQL as root over the socket: its output, or the client's error message.
    pub fn sql_result(&self, query: &str) -> Result<String, String> {
        let mut client = root_client(&self.socket());
        client_result(client.args(["-N", "-B", "--connect-timeout=2", "-e", query]))
    }

    /// A wsrep status variable (name without `wsrep_`).
    pub fn wsrep(&self, var: &str) -> Option<String> {
        self.sql(&format!("SHOW GLOBAL STATUS LIKE 'wsrep_{var}'"))
            .and_then(|s| s.split('\t').nth(1).map(str::to_string))
    }

    pub fn synced(&self) -> bool {
        self.wsrep("local_state_comment").as_deref() == Some("Synced")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.sidecar_log()).unwrap_or_default()
    }

    pub fn mysqld_log(&self) -> String {
        std::fs::read_to_string(self.error_log()).unwrap_or_default()
    }

    pub fn grastate(&self) -> String {
        std::fs::read_to_string(self.datadir().join("grastate.dat")).unwrap_or_default()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An etcd and N nodes under one temp dir.
pub struct Cluster {
    pub etcd: EtcdServer,
    pub name: String,
    pub nodes: Vec<TestNode>,
    pub root: tempfile::TempDir,
    pub subnet: u8,
}

impl Cluster {
    /// N nodes named `g-0..` at 127.0.<subnet>.2.., not started.
    pub fn new(subnet: u8, n: usize) -> Cluster {
        let root = tempfile::Builder::new()
            .prefix("galera-test")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let etcd = EtcdServer::start();
        let mut c = Cluster {
            etcd,
            name: format!("t{subnet}"),
            nodes: vec![],
            root,
            subnet,
        };
        for i in 0..n {
            c.add_node(i, 3);
        }
        c
    }

    pub fn add_node(&mut self, i: usize, cluster_size: usize) {
        let dir = self.root.path().join(format!("g-{i}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let _ = nix::unistd::chown(
            &dir,
            nix::unistd::User::from_name("mysql")
                .ok()
                .flatten()
                .map(|u| u.uid),
            nix::unistd::Group::from_name("mysql")
                .ok()
                .flatten()
                .map(|g| g.gid),
        );
        self.nodes.push(TestNode {
            name: format!("g-{i}"),
            ip: format!("127.0.{}.{}", self.subnet, i + 2),
            dir,
            child: None,
            cluster_size,
            lease_ttl: "4s".into(),
            extra_args: vec![],
            env: vec![],
            mycnf_extra: String::new(),
            tls_dir: None,
        });
    }

    pub fn endpoint(&self) -> String {
        self.etcd.endpoint()
    }

    pub fn start(&mut self, i: usize) {
        let (ep, name) = (self.endpoint(), self.name.clone());
        self.nodes[i].start(&ep, &name);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Run the CLI against this cluster's etcd.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        super::cli(&self.endpoint(), &self.name, args)
    }

    /// `status --json` parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The cluster's keys in etcd, read with the library (one snapshot: the state and the
    /// registrations it shows agree); `None` while etcd does not answer.
    pub fn snapshot(&self) -> Option<ClusterSnapshot> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let etcd = Etcd::connect(&self.etcd.config(), &self.name).await.ok()?;
            etcd.snapshot().await.ok()
        })
    }

    pub fn state(&self) -> Option<String> {
        match self.snapshot()?.state? {
            StateValue::Known(s) => Some(s.as_str().to_string()),
            StateValue::Invalid(v) => Some(v),
        }
    }

    /// Nodes registered (`nodes/`), as `status` counts them.
    pub fn registered(&self) -> usize {
        self.snapshot().map(|s| s.nodes.len()).unwrap_or(0)
    }

    /// STEADY with `n` nodes registered, each of them serving now (its mariadbd answers
    /// Synced or Donor): a registration left by a killed process (its lease not yet expired)
    /// does not count.
    pub fn steady_now(&self, n: usize) -> bool {
        self.snapshot().is_some_and(|s| {
            s.known_state() == Some(ClusterState::Steady)
                && s.nodes.len() == n
                && s.nodes.keys().all(|name| {
                    self.nodes
                        .iter()
                        .find(|t| t.name == *name)
                        .is_some_and(|t| {
                            matches!(
                                t.wsrep("local_state_comment").as_deref(),
                                Some("Synced" | "Donor/Desynced")
                            )
                        })
                })
        })
    }

    /// Wait until STEADY with `n` nodes registered and serving ([`Cluster::steady_now`]).
    pub fn wait_steady(&self, n: usize, timeout: Duration) {
        wait_until(
            &format!("STEADY with {n} registered nodes"),
            timeout,
            || self.steady_now(n),
        );
    }

    /// All logs, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push_str(&format!(
                "==== {} sidecar ====\n{}\n",
                n.name,
                tail(&n.log(), 60)
            ));
            s.push_str(&format!(
                "==== {} mariadbd error log ====\n{}\n",
                n.name,
                tail(&n.mysqld_log(), 25)
            ));
        }
        s
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl TestNode {
    /// Length of the mariadbd error log now (to look only at what follows).
    pub fn error_log_len(&self) -> usize {
        self.mysqld_log().len()
    }

    /// The mariadbd error log after `offset`.
    pub fn error_log_since(&self, offset: usize) -> String {
        let log = self.mysqld_log();
        log.get(offset..).unwrap_or("").to_string()
    }

    /// Did the start logged after `offset` receive an IST (and no SST)?
    pub fn joined_by_ist_since(&self, offset: usize) -> bool {
        let l = self.error_log_since(offset);
        l.contains("IST received") && !Self::sst_in(&l)
    }

    /// Did the start logged after `offset` receive a full SST?
    pub fn joined_by_sst_since(&self, offset: usize) -> bool {
        Self::sst_in(&self.error_log_since(offset))
    }

    /// A joiner's log of a full state transfer. The SST script runs before an IST too (it
    /// then says "rsync IST completed on joiner" and MariaDB still logs "SST received"); only
    /// a real transfer says "rsync SST completed on joiner".
    fn sst_in(log: &str) -> bool {
        log.contains("SST completed on joiner")
    }

    /// The mariadbd pid from its pid file.
    pub fn mysqld_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("mysqld.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Send a signal to the entrypoint only.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    /// Names and sizes of every file under the datadir (to prove nothing was touched).
    pub fn datadir_listing(&self) -> Vec<(String, u64)> {
        fn walk(base: &Path, p: &Path, out: &mut Vec<(String, u64)>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        walk(base, &path, out);
                    } else {
                        let rel = path
                            .strip_prefix(base)
                            .unwrap_or(&path)
                            .display()
                            .to_string();
                        out.push((rel, e.metadata().map(|m| m.len()).unwrap_or(0)));
                    }
                }
            }
        }
        let mut out = vec![];
        walk(&self.datadir(), &self.datadir(), &mut out);
        out.sort();
        out
    }
}

impl Cluster {
    /// Create the test table and insert `n` rows through node `i`; returns the rows' ids.
    pub fn write_rows(&self, i: usize, from: u32, n: u32) {
        // Retried for a while: a donor of an rsync SST blocks writes until the copy ends.
        let node = &self.nodes[i];
        let values: Vec<String> = (from..from + n)
            .map(|id| format!("({id},'v{id}')"))
            .collect();
        let sql = format!(
            "CREATE DATABASE IF NOT EXISTS t; CREATE TABLE IF NOT EXISTS t.rows (id INT PRIMARY KEY, v VARCHAR(32)); \
             INSERT IGNORE INTO t.rows VALUES {}",
            values.join(",")
        );
        let start = Instant::now();
        while node.sql(&sql).is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                panic!("cannot write rows through {}:\n{}", node.name, self.logs());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Row count on node `i` (None when it does not answer).
    pub fn count_rows(&self, i: usize) -> Option<u64> {
        self.nodes[i]
            .sql("SELECT COUNT(*) FROM t.rows")
            .and_then(|s| s.parse().ok())
    }

    /// Wait until every node answers Synced with cluster size `n`.
    pub fn wait_all_synced(&self, n: usize, timeout: Duration) {
        wait_until(
            &format!("{n} nodes Synced with cluster size {n}"),
            timeout,
            || {
                self.nodes
                    .iter()
                    .filter(|x| {
                        x.synced() && x.wsrep("cluster_size").as_deref() == Some(&n.to_string())
                    })
                    .count()
                    == n
            },
        );
    }

    /// Run `f`; on panic, print every log first.
    pub fn check<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{what} failed; logs:\n{}", self.logs());
                std::panic::resume_unwind(e)
            }
        }
    }
}

impl Cluster {
    /// Wait until exactly `n` nodes are registered in etcd.
    pub fn wait_until_registered(&self, n: usize) {
        wait_until(
            &format!("{n} registered nodes"),
            Duration::from_secs(60),
            || self.registered() == n,
        );
    }
}

impl Cluster {
    /// kill -9 every node.
    pub fn kill_all(&mut self) {
        for n in self.nodes.iter_mut() {
            n.kill9();
        }
    }

    /// Every node's row count equals `n`.
    pub fn assert_rows_everywhere(&self, n: u64) {
        for i in 0..self.nodes.len() {
            assert_eq!(
                self.count_rows(i),
                Some(n),
                "rows on {}",
                self.nodes[i].name
            );
        }
    }

    /// Names of the nodes whose logs recorded a bootstrap since `offsets` (sidecar log lengths).
    pub fn bootstrappers_since(&self, offsets: &[usize]) -> Vec<String> {
        self.nodes
            .iter()
            .zip(offsets)
            .filter(|(n, off)| {
                n.log()
                    .get(**off..)
                    .unwrap_or("")
                    .contains("--wsrep-new-cluster")
            })
            .map(|(n, _)| n.name.clone())
            .collect()
    }

    pub fn log_offsets(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n.log().len()).collect()
    }
}

impl Cluster {
    /// Restart (like the kubelet would) any node whose entrypoint exited.
    pub fn restart_exited(&mut self) -> usize {
        let mut n = 0;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].running() {
                self.nodes[i].kill9();
                self.start(i);
                n += 1;
            }
        }
        n
    }

    /// Like `wait_steady`, restarting exited nodes meanwhile (a kubelet's restart policy).
    pub fn wait_steady_restarting(&mut self, n: usize, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.steady_now(n) {
                return;
            }
            self.restart_exited();
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "not STEADY with {n} nodes within {timeout:?}; logs:\n{}",
            self.logs()
        );
    }

    /// Wait until `pred` holds on `status --json`.
    pub fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) {
        wait_until(what, timeout, || pred(&self.status()));
    }
}

/// A `--mysqld` wrapper that injects one fault and otherwise runs the real mariadbd:
/// `fail_recover` makes `--wsrep-recover` fail as with unresolved prepared transactions;
/// `bootstrap_delay` sleeps before a `--wsrep-new-cluster` start.
pub fn mysqld_wrapper(dir: &Path, fail_recover: bool, bootstrap_delay: u32) -> PathBuf {
    let p = dir.join("mariadbd-wrapper");
    let script = format!(
        "#!/bin/sh\n\
         for a in \"$@\"; do\n\
           if [ \"$a\" = --wsrep-recover ] && [ {fail} = 1 ]; then\n\
             echo '[ERROR] Found 1 prepared transactions! It means that server was not shut down properly last time' >&2\n\
             exit 1\n\
           fi\n\
           if [ \"$a\" = --wsrep-new-cluster ] && [ {delay} -gt 0 ]; then sleep {delay}; fi\n\
         done\n\
         exec /usr/sbin/mariadbd \"$@\"\n",
        fail = if fail_recover { 1 } else { 0 },
        delay = bootstrap_delay
    );
    std::fs::write(&p, script).expect("wrapper");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

impl TestNode {
    /// A probe command against this node, as the pod's exec probe runs it.
    pub fn probe_cmd(&self, etcd: &str, cluster: &str, probe: &str) -> Command {
        let mut c = Command::new(bin());
        c.args([
            "--etcd-endpoints",
            etcd,
            "--cluster-name",
            cluster,
            "checker",
            probe,
        ])
        .arg("--state-dir")
        .arg(self.state_dir())
        .arg("--datadir")
        .arg(self.datadir())
        .arg("--mysql-socket")
        .arg(self.socket())
        .env("GALERA_MONITOR_USER", MONITOR_USER)
        .env("GALERA_MONITOR_PASSWORD", MONITOR_PASSWORD)
        .env_remove("GALERA_ETCD_ENDPOINTS");
        c
    }
}

/// A node's `checker serve`, killed on drop.
pub struct CheckerServe(Child);

impl Drop for CheckerServe {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Cluster {
    /// Start node `i`'s `checker serve` on `<its ip>:port` (the monitor user of the test
    /// cluster, its socket, datadir and my.cnf) and wait until it listens.
    pub fn checker_serve(&self, i: usize, port: u16) -> CheckerServe {
        let node = &self.nodes[i];
        let mut cmd = Command::new(bin());
        cmd.args([
            "--etcd-endpoints",
            &self.endpoint(),
            "--cluster-name",
            &self.name,
        ])
        .args(["checker", "serve", "--listen"])
        .arg(format!("{}:{port}", node.ip))
        .arg("--state-dir")
        .arg(node.state_dir())
        .arg("--datadir")
        .arg(node.datadir())
        .arg("--defaults-file")
        .arg(node.defaults_file())
        .arg("--mysql-socket")
        .arg(node.socket())
        .env("GALERA_MONITOR_USER", MONITOR_USER)
        .env("GALERA_MONITOR_PASSWORD", MONITOR_PASSWORD)
        .env_remove("GALERA_ETCD_ENDPOINTS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        super::die_with_parent(&mut cmd);
        let serve = CheckerServe(cmd.spawn().expect("start checker serve"));
        let ip = node.ip.clone();
        wait_until("checker serve listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect((ip.as_str(), port)).is_ok()
        });
        serve
    }
}
