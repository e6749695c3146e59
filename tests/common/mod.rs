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
pub mod tls;
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

/// A TCP port that is free on every address now and that nothing else will take before the
/// caller's server binds it.
///
/// It is chosen below the kernel's ephemeral range (`ip_local_port_range`): a port the kernel
/// hands out for `bind(:0)` is also the pool it draws from for every outgoing connection, so a
/// released ephemeral port can become the local port of some client's connection (an etcd or
/// MySQL client of a test running in parallel) before etcd or haproxy binds it, and the server
/// then fails with "address already in use". Below that range only explicit binds compete, and
/// a process-wide counter keeps two threads of one test binary from picking the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = non_ephemeral_ports();
    let span = u32::from(high - low);
    // Start where another test binary (run before or after this one) is unlikely to be.
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + ((start + n) % span) as u16;
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port in {low}..{high}");
}

/// The port range `[low, high)` used by [`free_port`]: from 20000 up to the start of the
/// kernel's ephemeral range (at most 32768).
fn non_ephemeral_ports() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let high = ephemeral_start.min(32768);
    assert!(
        high > 21000,
        "ip_local_port_range starts at {high}: too low to keep test ports out of it"
    );
    (20000, high)
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

/// GET `path` (HTTP/1.0: no chunking); the body, or None when the request fails.
pub fn http_get(ip: &str, port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((ip, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// The value of an unlabelled sample `name` in an exposition.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
