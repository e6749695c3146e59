//! The haproxy sidecar under test (`galera-sidecar haproxy`, which runs a real haproxy), the one
//! way the tests start it ([`Sidecar::builder`]: the etcd and cluster it follows, its listen
//! address and directory, the few options the tests vary), and a tiny HTTP responder standing
//! in for a node's `checker serve` (GET /readiness → the status the test sets, optionally
//! slower than haproxy's `timeout check`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{bin, die_with_parent, free_port};

/// How late a slow answer comes: later than the template's `timeout check 2s`.
pub const SLOW_ANSWER: Duration = Duration::from_millis(2500);

/// `GET /readiness` answers with the status in `status` (200 or 503); the next `slow`
/// answers come [`SLOW_ANSWER`] late (a check that times out, as from a busy node).
pub struct CheckResponder {
    pub status: Arc<AtomicU16>,
    pub slow: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl CheckResponder {
    pub async fn start(addr: SocketAddr) -> CheckResponder {
        let status = Arc::new(AtomicU16::new(200));
        let slow = Arc::new(AtomicU32::new(0));
        let (s, sl) = (status.clone(), slow.clone());
        let app = axum::Router::new().route(
            "/readiness",
            axum::routing::get(move || {
                let (s, sl) = (s.clone(), sl.clone());
                async move {
                    let late = sl
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if late {
                        tokio::time::sleep(SLOW_ANSWER).await;
                    }
                    let code = s.load(Ordering::SeqCst);
                    let code = axum::http::StatusCode::from_u16(code)
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                    (
                        code,
                        if code.is_success() {
                            "ready\n"
                        } else {
                            "not ready: test\n"
                        },
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the check responder");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CheckResponder { status, slow, task }
    }

    pub fn set(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    /// The next `n` answers come [`SLOW_ANSWER`] late.
    pub fn slow_next(&self, n: u32) {
        self.slow.store(n, Ordering::SeqCst);
    }
}

impl Drop for CheckResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running `galera-sidecar haproxy`.
pub struct Sidecar {
    child: Option<Child>,
    pub run_dir: PathBuf,
    pub config: PathBuf,
    pub listen: SocketAddr,
    log: PathBuf,
    global_args: Vec<String>,
    args: Vec<String>,
}

/// `ip` with a free port: an address for a sidecar's `--listen`.
pub fn listen_addr(ip: &str) -> SocketAddr {
    format!("{ip}:{}", free_port())
        .parse()
        .expect("listen addr")
}

/// How to start a [`Sidecar`]; [`Sidecar::builder`] makes one, [`SidecarBuilder::start`]
/// starts it. Options not set are the binary's defaults.
pub struct SidecarBuilder {
    dir: PathBuf,
    listen: SocketAddr,
    global_args: Vec<String>,
    args: Vec<String>,
}

impl SidecarBuilder {
    /// `--etcd-timeout`.
    pub fn etcd_timeout(mut self, timeout: &str) -> Self {
        self.global_args
            .extend(["--etcd-timeout".to_string(), timeout.to_string()]);
        self
    }

    /// `--check-port`: the nodes' `checker serve` port haproxy checks.
    pub fn check_port(self, port: u16) -> Self {
        self.args(&["--check-port", &port.to_string()])
    }

    /// `--backend-port`: the nodes' SQL port.
    pub fn backend_port(self, port: u16) -> Self {
        self.args(&["--backend-port", &port.to_string()])
    }

    /// `--health-check mysql-check` (needs a password-less `'haproxy'@'%'` on the nodes).
    pub fn mysql_check(self) -> Self {
        self.args(&["--health-check", "mysql-check"])
    }

    /// More `haproxy` options, as given (after those set so far).
    pub fn args(mut self, extra: &[&str]) -> Self {
        self.args.extend(extra.iter().map(|a| a.to_string()));
        self
    }

    /// Start it (creating its directory); waits until it has started haproxy (its status file
    /// names its pid and haproxy's).
    pub fn start(self) -> Sidecar {
        std::fs::create_dir_all(&self.dir).expect("haproxy sidecar dir");
        let mut s = Sidecar {
            child: None,
            run_dir: self.dir.join("run"),
            config: self.dir.join("haproxy.cfg"),
            listen: self.listen,
            log: self.dir.join("sidecar.log"),
            global_args: self.global_args,
            args: self.args,
        };
        s.spawn();
        s
    }
}

impl Sidecar {
    /// A sidecar following `cluster` on the etcd at `endpoint`, listening on `listen`; `dir`
    /// holds its run dir (`run/`), its rendered config (`haproxy.cfg`) and its log.
    pub fn builder(
        dir: &Path,
        endpoint: &str,
        cluster: &str,
        listen: SocketAddr,
    ) -> SidecarBuilder {
        SidecarBuilder {
            dir: dir.to_path_buf(),
            listen,
            global_args: vec![
                "--etcd-endpoints".to_string(),
                endpoint.to_string(),
                "--cluster-name".to_string(),
                cluster.to_string(),
            ],
            args: Vec::new(),
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("sidecar log");
        let mut cmd = Command::new(bin());
        cmd.args(&self.global_args)
            .arg("haproxy")
            .args(&self.args)
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--run-dir")
            .arg(&self.run_dir)
            .arg("--haproxy-config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        for (k, _) in std::env::vars() {
            if k.starts_with("GALERA_") {
                cmd.env_remove(k);
            }
        }
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("start galera-sidecar haproxy");
        let pid = child.id();
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(st) = self.status() {
                if st["pid"] == pid && st["haproxy_pid"].is_u64() {
                    return;
                }
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("the sidecar exited ({st}); log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the sidecar did not start haproxy; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `status.json`, when present and complete.
    pub fn status(&self) -> Option<serde_json::Value> {
        let b = std::fs::read(self.run_dir.join("status.json")).ok()?;
        serde_json::from_slice(&b).ok()
    }

    /// The node haproxy routes to, by its status file (`routed.host`).
    pub fn routed_host(&self) -> Option<String> {
        self.status()
            .and_then(|st| st["routed"]["host"].as_str().map(str::to_string))
    }

    pub fn reloads(&self) -> u64 {
        self.status()
            .and_then(|s| s["reloads"].as_u64())
            .expect("status.json with reloads")
    }

    pub fn rendered(&self) -> String {
        std::fs::read_to_string(&self.config).expect("read the rendered config")
    }

    /// Run `galera-sidecar haproxy readiness` against this sidecar's run dir.
    pub fn readiness(&self) -> Output {
        Command::new(bin())
            .args(["haproxy", "readiness"])
            .args(&self.args)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .env_remove("GALERA_RUN_DIR")
            .output()
            .expect("run haproxy readiness")
    }

    /// SIGTERM and wait (bounded); returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Start it again with the same arguments and directories.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.stop();
    }
}
