//! Test harness shared by the real-component tests: starts real servers (etcd here; Galera
//! nodes and haproxy in their own modules) on loopback in temp dirs, and always stops them —
//! on drop, so also when a test panics — and, through PR_SET_PDEATHSIG, when the test process
//! itself dies.

#![allow(dead_code)]

pub mod capture;
pub mod etcd;
pub mod faults;
pub mod galera;
pub mod haproxy;
pub mod kubelet;
pub mod mariadb;
pub mod mycnf;
pub mod nft;
pub mod plain_mariadb;
pub mod procscan;
pub mod writers;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The galera-sidecar binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_galera-sidecar"))
}

/// Make a command's child die with the test process (SIGKILL when its parent thread exits).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        })
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Run the binary with `args` against `endpoint`, returning its output.
pub fn cli(endpoint: &str, cluster: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args([
            "--etcd-endpoints",
            endpoint,
            "--cluster-name",
            cluster,
            "--etcd-timeout",
            "3s",
        ])
        .args(args)
        .env_remove("GALERA_ETCD_ENDPOINTS")
        .output()
        .expect("run galera-sidecar")
}

/// Run a test prerequisite (`what` names it in the panic) that must succeed; panics with its
/// stderr when it does not.
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", stderr(&out));
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Poll `f` every 100 ms until it returns true or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Async version of [`wait_until`].
pub async fn wait_until_async<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Show the crate's logs in test output (`GALERA_TEST_LOG=debug cargo test ...`); off by default.
pub fn init_test_logging() {
    if let Ok(level) = std::env::var("GALERA_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_test_writer()
            .try_init();
    }
}

/// Run the binary with exactly `args` (no default endpoint/cluster/timeout) and extra `envs`,
/// with every `GALERA_*` variable of the test's own environment removed.
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GALERA_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run galera-sidecar")
}
