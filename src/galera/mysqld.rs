//! Child processes of the entrypoint: one reaper for all of them, mariadbd's command line
//! (pure), its start, its log markers, and its clean stop.
//!
//! As PID 1 the entrypoint also inherits orphans (SST scripts' children). One task reaps
//! every exit with `waitpid(-1)` and dispatches the status to whoever waits for that pid;
//! nothing else ever waits (tokio's child wait is not used), so no status is stolen.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn};

/// Exit status as a shell reports it: the code, or 128 + the signal number.
pub type ExitCode = i32;

#[derive(Default)]
struct Table {
    waiters: HashMap<i32, oneshot::Sender<ExitCode>>,
    exited: HashMap<i32, ExitCode>,
}

/// The single reaper of every child.
#[derive(Clone)]
pub struct Reaper {
    table: Arc<Mutex<Table>>,
}

/// A child started through the [`Reaper`].
pub struct ChildProc {
    pub pid: i32,
    pub name: String,
    exit: Option<oneshot::Receiver<ExitCode>>,
    code: Option<ExitCode>,
}

fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl Reaper {
    /// Start the reaping task (on SIGCHLD, and every second as a safety net).
    pub fn start() -> std::io::Result<Reaper> {
        let r = Reaper {
            table: Arc::new(Mutex::new(Table::default())),
        };
        let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                me.reap_all();
            }
        });
        Ok(r)
    }

    fn reap_all(&self) {
        loop {
            let (pid, code) = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let mut t = lock(&self.table);
            match t.waiters.remove(&pid) {
                Some(tx) => {
                    let _ = tx.send(code);
                }
                None => {
                    debug!("reaped orphan pid {pid} (exit {code})");
                    t.exited.insert(pid, code);
                    if t.exited.len() > 1024 {
                        t.exited.clear();
                    }
                }
            }
        }
    }

    /// Spawn `cmd`; its exit status comes only through the returned handle.
    pub fn spawn(&self, name: &str, cmd: &mut Command) -> std::io::Result<ChildProc> {
        // Hold the table while spawning so the reaper cannot dispatch before we register.
        let mut t = lock(&self.table);
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        // Dropping std's Child neither waits nor kills: the reaper owns the status.
        drop(child);
        let (tx, rx) = oneshot::channel();
        if let Some(code) = t.exited.remove(&pid) {
            let _ = tx.send(code);
        } else {
            t.waiters.insert(pid, tx);
        }
        Ok(ChildProc {
            pid,
            name: name.to_string(),
            exit: Some(rx),
            code: None,
        })
    }

    /// Run `cmd` to completion within `timeout`, capturing stdout and stderr. Stdin gets
    /// `input` (e.g. SQL with passwords — never argv).
    pub async fn output(
        &self,
        name: &str,
        mut cmd: Command,
        input: Option<Vec<u8>>,
        timeout: Duration,
    ) -> anyhow::Result<(ExitCode, String, String)> {
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let (mut child, stdin, stdout, stderr) = {
            let mut t = lock(&self.table);
            let mut c = cmd
                .spawn()
                .map_err(|e| anyhow::anyhow!("cannot run {name} ({:?}): {e}", cmd.get_program()))?;
            let pid = c.id() as i32;
            let (stdin, stdout, stderr) = (c.stdin.take(), c.stdout.take(), c.stderr.take());
            drop(c);
            let (tx, rx) = oneshot::channel();
            t.waiters.insert(pid, tx);
            (
                ChildProc {
                    pid,
                    name: name.to_string(),
                    exit: Some(rx),
                    code: None,
                },
                stdin,
                stdout,
                stderr,
            )
        };
        if let (Some(mut w), Some(data)) = (stdin, input) {
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = w.write_all(&data);
            });
        }
        let read = |p: Option<Box<dyn Read + Send>>| {
            tokio::task::spawn_blocking(move || {
                let mut s = Vec::new();
                if let Some(mut p) = p {
                    let _ = p.read_to_end(&mut s);
                }
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let out = read(stdout.map(|p| Box::new(p) as Box<dyn Read + Send>));
        let err = read(stderr.map(|p| Box::new(p) as Box<dyn Read + Send>));
        let start = tokio::time::Instant::now();
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(c) => break c,
                Err(_) if start.elapsed() >= timeout => {
                    child.signal(Signal::SIGKILL);
                    let _ = child.wait().await;
                    anyhow::bail!("{name} did not finish within {timeout:?}; killed");
                }
                Err(_) => info!(
                    "still waiting for {name} (pid {}, {:.0?})",
                    child.pid,
                    start.elapsed()
                ),
            }
        };
        // A grandchild that inherited a pipe must not keep us waiting once the child is gone.
        let grace = Duration::from_secs(5);
        let out = tokio::time::timeout(grace, out)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let err = tokio::time::timeout(grace, err)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Ok((code, out, err))
    }
}

impl ChildProc {
    /// Wait for the exit status (idempotent and cancel-safe: the receiver stays in place).
    pub async fn wait(&mut self) -> ExitCode {
        if let Some(c) = self.code {
            return c;
        }
        let code = match self.exit.as_mut() {
            Some(rx) => rx.await.unwrap_or(-1),
            None => -1,
        };
        self.code = Some(code);
        self.exit = None;
        code
    }

    /// The exit status if it already exited.
    pub fn try_code(&mut self) -> Option<ExitCode> {
        if self.code.is_none() {
            if let Some(rx) = self.exit.as_mut() {
                if let Ok(c) = rx.try_recv() {
                    self.code = Some(c);
                    self.exit = None;
                }
            }
        }
        self.code
    }

    pub fn signal(&self, sig: Signal) {
        if self.code.is_none() {
            let _ = kill(Pid::from_raw(self.pid), sig);
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status.
    pub async fn stop(&mut self, grace: Duration) -> ExitCode {
        if let Some(c) = self.try_code() {
            return c;
        }
        info!("stopping {} (pid {}) with SIGTERM", self.name, self.pid);
        self.signal(Signal::SIGTERM);
        let start = tokio::time::Instant::now();
        loop {
            tokio::select! {
                c = self.wait() => return c,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    if start.elapsed() >= grace {
                        warn!("{} did not stop within {grace:?}; SIGKILL", self.name);
                        self.signal(Signal::SIGKILL);
                        return self.wait().await;
                    }
                    info!("waiting for {} to stop ({:.0?})", self.name, start.elapsed());
                }
            }
        }
    }
}

/// What mariadbd is started with (docs/design.md §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqldArgs {
    pub defaults_file: Option<PathBuf>,
    pub datadir: PathBuf,
    pub user: String,
    pub node_name: String,
    pub node_address: String,
    /// Peer addresses (`host` or `host:port`); empty with `new_cluster`.
    pub peers: Vec<String>,
    pub galera_port: u16,
    pub new_cluster: bool,
    pub start_position: Option<String>,
    pub donors: Vec<String>,
    pub provider_options: String,
}

/// Host with the Galera port, bracketing IPv6.
fn with_port(addr: &str, port: u16) -> String {
    if addr.contains(']') || (addr.matches(':').count() == 1) {
        addr.to_string()
    } else if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

impl MysqldArgs {
    /// The argument list; `--defaults-file` first, as mariadbd requires.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![];
        if let Some(f) = &self.defaults_file {
            a.push(format!("--defaults-file={}", f.display()));
        }
        a.push(format!("--user={}", self.user));
        a.push(format!("--datadir={}", self.datadir.display()));
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|p| with_port(p, self.galera_port))
            .collect();
        a.push(format!(
            "--wsrep-cluster-address=gcomm://{}",
            peers.join(",")
        ));
        a.push(format!("--wsrep-node-name={}", self.node_name));
        a.push(format!("--wsrep-node-address={}", self.node_address));
        if let Some(p) = &self.start_position {
            a.push(format!("--wsrep-start-position={p}"));
        }
        if !self.donors.is_empty() {
            a.push(format!("--wsrep-sst-donor={},", self.donors.join(",")));
        }
        a.push(format!(
            "--wsrep-provider-options={}",
            self.provider_options
        ));
        if self.new_cluster {
            a.push("--wsrep-new-cluster".into());
        }
        a
    }
}

/// Add `pc.recovery=false` to the configured provider options unless they set it: a
/// command-line option replaces the my.cnf value whole, so the configured ones are kept.
pub fn merge_provider_options(configured: Option<&str>) -> String {
    let configured = configured.unwrap_or("").trim().trim_matches('"').trim();
    let has = configured
        .split(';')
        .any(|o| o.split('=').next().map(str::trim) == Some("pc.recovery"));
    match (configured.is_empty(), has) {
        (true, _) => "pc.recovery=false".into(),
        (false, true) => configured.into(),
        (false, false) => format!("{};pc.recovery=false", configured.trim_end_matches(';')),
    }
}

/// Parse `wsrep-provider-options  <value>` out of `mariadbd --verbose --help`.
pub fn provider_options_from_help(help: &str) -> Option<String> {
    help.lines().find_map(|l| {
        let rest = l.strip_prefix("wsrep-provider-options")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let v = rest.trim();
        (!v.is_empty() && v != "(No default value)").then(|| v.to_string())
    })
}

/// Galera's `evs.inactive_timeout` from the provider options (ISO 8601, e.g. `PT15S`), or its
/// default of 15 s: how long peers may keep a dead member in their view.
pub fn evs_inactive_timeout(provider_options: &str) -> Duration {
    provider_options
        .split(';')
        .filter_map(|o| o.split_once('='))
        .find(|(k, _)| k.trim() == "evs.inactive_timeout")
        .and_then(|(_, v)| parse_iso_duration(v.trim()))
        .unwrap_or(Duration::from_secs(15))
}

/// `PT1M30S`, `PT8S`, `PT0.5S` → a duration (the forms Galera uses).
fn parse_iso_duration(v: &str) -> Option<Duration> {
    let rest = v.strip_prefix("PT")?;
    let (mut total, mut num) = (0f64, String::new());
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let n: f64 = num.parse().ok()?;
                total += n * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => return None,
        }
    }
    num.is_empty().then(|| Duration::from_secs_f64(total))
}

/// After an unclean stop (the previous run ended with mariadbd running), how much longer to wait before
/// rejoining under the same address, so peers have evicted the previous incarnation: a
/// rejoin inside that window can leave every node non-Primary. `last_alive` is when the
/// previous run last saw mariadbd up (None: unknown, wait the whole timeout).
pub fn eviction_wait(last_alive: Option<i64>, now: i64, inactive: Duration) -> Duration {
    let since = last_alive.map(|t| (now - t).max(0) as u64).unwrap_or(0);
    (inactive + Duration::from_secs(2)).saturating_sub(Duration::from_secs(since))
}

/// Progress of a starting mariadbd, read from its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogMark {
    Starting,
    /// Part of the Primary Component (state transfer requested or not needed).
    InPrimary,
    Synced,
}

/// What a log line tells about progress (pure).
pub fn log_mark(line: &str) -> Option<LogMark> {
    if line.contains("Synchronized with group, ready for connections")
        || line.contains("Server status change joined -> synced")
    {
        Some(LogMark::Synced)
    } else if line.contains("Server status change connected -> joiner")
        || line.contains("Server status change connected -> joined")
        || line.contains("Server status change initialized -> joined")
        || line.contains("Shifting JOINER -> JOINED")
    {
        Some(LogMark::InPrimary)
    } else {
        None
    }
}

/// Move the progress mark forward if `line` shows progress (never backwards).
fn advance(tx: &watch::Sender<LogMark>, line: &str) {
    if let Some(m) = log_mark(line) {
        tx.send_if_modified(|cur| {
            let newer = m > *cur;
            if newer {
                *cur = m;
            }
            newer
        });
    }
}

/// Spawn mariadbd, forwarding its stderr lines to ours and reading progress marks from
/// them and from `log_file` (when the my.cnf sends the log there).
pub fn spawn_mysqld(
    reaper: &Reaper,
    mysqld: &Path,
    args: &MysqldArgs,
    log_file: Option<PathBuf>,
) -> anyhow::Result<(ChildProc, watch::Receiver<LogMark>)> {
    let (tx, rx) = watch::channel(LogMark::Starting);
    let tx = Arc::new(tx);
    let offset = log_file
        .as_ref()
        .and_then(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .unwrap_or(0);
    let mut cmd = Command::new(mysqld);
    crate::secrets::scrub_env(&mut cmd);
    // As in a container, mariadbd must not outlive its entrypoint: if we die, it gets SIGTERM
    // (a clean stop). SAFETY: prctl is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
    cmd.args(args.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let (child, stderr) = {
        let mut t = lock(&reaper.table);
        let mut c = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", mysqld.display()))?;
        let pid = c.id() as i32;
        let stderr = c.stderr.take();
        drop(c);
        let (etx, erx) = oneshot::channel();
        t.waiters.insert(pid, etx);
        (
            ChildProc {
                pid,
                name: "mariadbd".into(),
                exit: Some(erx),
                code: None,
            },
            stderr,
        )
    };
    info!(
        "mariadbd started (pid {}): {}",
        child.pid,
        args.to_args().join(" ")
    );
    if let Some(err) = stderr {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let reader = std::io::BufReader::new(err);
            for line in reader.lines().map_while(Result::ok) {
                eprintln!("{line}");
                advance(&tx, &line);
            }
        });
    }
    if let Some(f) = log_file {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut pos = offset;
            let mut partial = String::new();
            loop {
                if tx.receiver_count() == 0 || *tx.borrow() == LogMark::Synced {
                    return;
                }
                if let Ok(mut file) = std::fs::File::open(&f) {
                    use std::io::Seek;
                    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                    if len < pos {
                        pos = 0;
                    }
                    if file.seek(std::io::SeekFrom::Start(pos)).is_ok() {
                        let mut buf = String::new();
                        if let Ok(n) = file.read_to_string(&mut buf) {
                            pos += n as u64;
                            partial.push_str(&buf);
                            while let Some(i) = partial.find('\n') {
                                let line: String = partial.drain(..=i).collect();
                                advance(&tx, &line);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    Ok((child, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_options_merge_table() {
        let cases = [
            (None, "pc.recovery=false"),
            (Some(""), "pc.recovery=false"),
            (Some("gcache.size=16M"), "gcache.size=16M;pc.recovery=false"),
            (
                Some("\"gcache.size=16M;\""),
                "gcache.size=16M;pc.recovery=false",
            ),
            (
                Some("gcache.size=16M; pc.recovery = true"),
                "gcache.size=16M; pc.recovery = true",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(merge_provider_options(input), want, "{input:?}");
        }
    }

    #[test]
    fn provider_options_from_verbose_help() {
        let help = "wsrep-provider  /usr/lib/galera/libgalera_smm.so\n\
                    wsrep-provider-options                                       gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567\n\
                    wsrep-recover  FALSE\n";
        assert_eq!(
            provider_options_from_help(help).as_deref(),
            Some("gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567")
        );
        assert_eq!(
            provider_options_from_help("wsrep-provider-options (No default value)\n"),
            None
        );
    }

    #[test]
    fn args_table() {
        let mut a = MysqldArgs {
            defaults_file: Some("/etc/my.cnf".into()),
            datadir: "/var/lib/mysql".into(),
            user: "mysql".into(),
            node_name: "g-1".into(),
            node_address: "10.0.0.2".into(),
            peers: vec!["10.0.0.1".into(), "10.0.0.3:4567".into()],
            galera_port: 4567,
            new_cluster: false,
            start_position: Some("u:5".into()),
            donors: vec!["g-2".into()],
            provider_options: "pc.recovery=false".into(),
        };
        let args = a.to_args();
        assert_eq!(args[0], "--defaults-file=/etc/my.cnf");
        assert!(args
            .contains(&"--wsrep-cluster-address=gcomm://10.0.0.1:4567,10.0.0.3:4567".to_string()));
        assert!(args.contains(&"--wsrep-sst-donor=g-2,".to_string()));
        assert!(args.contains(&"--wsrep-start-position=u:5".to_string()));
        assert!(!args.contains(&"--wsrep-new-cluster".to_string()));
        a.new_cluster = true;
        a.peers.clear();
        a.donors.clear();
        let args = a.to_args();
        assert!(args.contains(&"--wsrep-cluster-address=gcomm://".to_string()));
        assert!(args.contains(&"--wsrep-new-cluster".to_string()));
        assert!(!args.iter().any(|x| x.starts_with("--wsrep-sst-donor")));
    }

    #[test]
    fn eviction_wait_table() {
        assert_eq!(
            evs_inactive_timeout("gcache.size=16M;evs.inactive_timeout=PT8S"),
            Duration::from_secs(8)
        );
        assert_eq!(
            evs_inactive_timeout("evs.inactive_timeout = PT1M30S"),
            Duration::from_secs(90)
        );
        assert_eq!(
            evs_inactive_timeout("gcache.size=16M"),
            Duration::from_secs(15)
        );
        assert_eq!(
            evs_inactive_timeout("evs.inactive_timeout=garbage"),
            Duration::from_secs(15)
        );
        let t = Duration::from_secs(8);
        assert_eq!(eviction_wait(Some(100), 101, t), Duration::from_secs(9));
        assert_eq!(eviction_wait(Some(100), 200, t), Duration::ZERO);
        assert_eq!(eviction_wait(None, 200, t), Duration::from_secs(10));
        assert_eq!(
            eviction_wait(Some(300), 200, t),
            Duration::from_secs(10),
            "clock skew: full wait"
        );
    }

    #[test]
    fn log_marks() {
        assert_eq!(
            log_mark("[Note] WSREP: Server status change connected -> joiner"),
            Some(LogMark::InPrimary)
        );
        assert_eq!(
            log_mark("[Note] WSREP: Synchronized with group, ready for connections"),
            Some(LogMark::Synced)
        );
        assert_eq!(log_mark("[Note] InnoDB: started"), None);
    }
}
