//! A real etcd (Debian's `etcd-server`) on a free loopback port in a temp dir.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use galera_sidecar::etcd::{Etcd, EtcdConfig};

use super::{die_with_parent, free_port};

pub struct EtcdServer {
    pub client_port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra arguments (e.g. TLS or auth settings) given at every start.
    pub extra_args: Vec<String>,
    pub scheme: &'static str,
    /// Bumped by [`EtcdServer::wipe`]: part of the initial cluster token, so a wiped etcd gets
    /// a new cluster id (the id is a hash of the members and the token, not random).
    generation: u32,
}

impl EtcdServer {
    /// Start a fresh single-member etcd and wait until it answers.
    pub fn start() -> EtcdServer {
        Self::start_with(vec![], "http")
    }

    pub fn start_with(extra_args: Vec<String>, scheme: &'static str) -> EtcdServer {
        let mut s = EtcdServer {
            client_port: free_port(),
            peer_port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
            extra_args,
            scheme,
            generation: 0,
        };
        s.spawn();
        s
    }

    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.client_port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let client = self.endpoint();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd log");
        let mut cmd = Command::new("etcd");
        cmd.args(["--name", "t", "--data-dir"])
            .arg(self.data_dir())
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("t={peer}")])
            .args([
                "--initial-cluster-token",
                &format!("galera-test-{}", self.generation),
            ])
            .args(["--log-level", "warn"])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log);
        die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start etcd (is etcd-server installed?)"));
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
                // Give the single member a moment to elect itself.
                std::thread::sleep(Duration::from_millis(300));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("etcd did not start; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// Stop (SIGKILL) the server, keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same ports with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stop, delete every byte of data, start again: a new etcd (new cluster id, revision 1).
    pub fn wipe(&mut self) {
        self.generation += 1;
        self.wipe_keep_identity();
    }

    /// Stop, delete every byte of data, start again with the same configuration: revision back
    /// to 1 but the SAME cluster id (what an etcd pod on an emptyDir does after a restart).
    pub fn wipe_keep_identity(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(self.data_dir());
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn config(&self) -> EtcdConfig {
        EtcdConfig {
            endpoints: vec![self.endpoint()],
            timeout: Duration::from_secs(3),
            ca_file: None,
            cert_file: None,
            key_file: None,
            username: None,
            password_file: None,
        }
    }

    /// A connected client for `cluster`.
    pub async fn client(&self, cluster: &str) -> Etcd {
        Etcd::connect(&self.config(), cluster)
            .await
            .expect("connect to the test etcd")
    }

    /// Run the real `etcdctl` (API v3) against this server, as an operator would.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        super::run_ok(
            Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &self.endpoint(), "--command-timeout", "5s"])
                .args(args),
            &format!("etcdctl {args:?} (is etcd-client installed?)"),
        )
    }

    /// The sum of the Prometheus samples on etcd's `/metrics` whose line starts with `prefix`
    /// (e.g. `grpc_server_handled_total{grpc_code="OK",grpc_method="Range"`): lets a test see
    /// what a client did on the server side. Counters start at 0 on every (re)start.
    pub fn metric(&self, prefix: &str) -> f64 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.client_port))
            .expect("connect to etcd's metrics");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("ask for metrics");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read metrics");
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Put raw bytes, bypassing every check of the crate (what `etcdctl put` or a bug would do).
pub async fn raw_put(etcd: &Etcd, key: &str, value: impl Into<Vec<u8>>) {
    etcd.raw()
        .put(key, value, None)
        .await
        .unwrap_or_else(|e| panic!("raw put {key}: {e}"));
}

/// A value that does not parse for every key of the layout, plus non-UTF-8 bytes and keys that
/// are not ours. Returns the keys whose value must produce a warning.
pub async fn put_garbage(etcd: &Etcd) -> Vec<String> {
    let k = &etcd.keys;
    let warned: Vec<(String, Vec<u8>)> = vec![
        (k.uuid(), b"not-a-uuid".to_vec()),
        (k.leader(), b"two words".to_vec()),
        (k.bootstrap(), b"{oops".to_vec()),
        (k.recovery(), b"[1,2]".to_vec()),
        (k.force_bootstrap(), b"bad/name".to_vec()),
        (k.node("g-0"), b"".to_vec()),
        (k.node("g-9"), vec![0xff, 0xfe, 0x00]),
        (k.queue("g-1"), b"yesterday".to_vec()),
        (k.seqno("g-1"), b"-7".to_vec()),
        (k.position("g-1"), b"xyz:1".to_vec()),
        (k.member("g-0"), b" ".to_vec()),
        (k.member("g-2"), b"10.0.0.3\n10.0.0.4".to_vec()),
        (k.lock(), vec![0xc3, 0x28]),
    ];
    // Values any string is valid for, or keys outside the layout: no warning, no crash.
    let silent: Vec<(String, Vec<u8>)> = vec![
        (k.state(), b"\x1b[31mSTEADY?".to_vec()),
        (
            k.refused("g-3"),
            "long reason \u{1F4A5} with \"quotes\"".as_bytes().to_vec(),
        ),
        (k.resync("g-3"), b"".to_vec()),
        (format!("{}nodes/", k.prefix()), b"x".to_vec()),
        (format!("{}nodes/a/b", k.prefix()), b"x".to_vec()),
        (format!("{}unknown-key", k.prefix()), b"x".to_vec()),
    ];
    for (key, v) in warned.iter().chain(silent.iter()) {
        raw_put(etcd, key, v.clone()).await;
    }
    warned.into_iter().map(|(k, _)| k).collect()
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl EtcdServer {
    /// The etcd process id, while it runs (e.g. to SIGSTOP/SIGCONT it: an etcd blip).
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
}
