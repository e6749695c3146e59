//! The [`Reaper`]: the single task that waits for every child (`waitpid(-1)`) and hands
//! each exit status to whoever waits for that pid; spawning through it, and running a helper
//! command to completion with its output captured.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::child::{ChildProc, ExitCode};

#[derive(Default)]
pub(super) struct Table {
    pub(super) waiters: HashMap<i32, oneshot::Sender<ExitCode>>,
    pub(super) exited: HashMap<i32, ExitCode>,
}

/// The pipes a started child was given (`Stdio::piped()`), taken before the reaper owns it.
pub struct Pipes {
    pub stdin: Option<std::process::ChildStdin>,
    pub stdout: Option<std::process::ChildStdout>,
    pub stderr: Option<std::process::ChildStderr>,
}

/// The single reaper of every child.
#[derive(Clone)]
pub struct Reaper {
    pub(super) table: Arc<Mutex<Table>>,
}

pub(super) fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
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

    /// The one way a child is started: spawn `cmd`, take the pipes it was given, and register
    /// it with the reaper, so its exit status comes only through the returned handle. The
    /// table is held while spawning, so the reaper cannot reap the child before it is
    /// registered; an exit recorded for the same pid can only be an orphan's whose pid was
    /// reused, and is dropped.
    pub fn launch(&self, name: &str, cmd: &mut Command) -> std::io::Result<(ChildProc, Pipes)> {
        let mut t = lock(&self.table);
        let mut child = cmd.spawn()?;
        let pid = child.id() as i32;
        let pipes = Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        // Dropping std's Child neither waits nor kills: the reaper owns the status.
        drop(child);
        t.exited.remove(&pid);
        let (tx, rx) = oneshot::channel();
        t.waiters.insert(pid, tx);
        Ok((
            ChildProc {
                pid,
                name: name.to_string(),
                exit: Some(rx),
                code: None,
            },
            pipes,
        ))
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
        let (
            mut child,
            Pipes {
                stdin,
                stdout,
                stderr,
            },
        ) = self
            .launch(name, &mut cmd)
            .map_err(|e| anyhow::anyhow!("cannot run {name} ({:?}): {e}", cmd.get_program()))?;
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

/// The last `n` non-empty lines of a helper's stdout and stderr, oldest first, joined by
/// ` | `: what its failure line quotes.
pub fn output_tail(out: &str, err: &str, n: usize) -> String {
    let text = format!("{out}\n{err}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tail_tests {
    use super::*;

    #[test]
    fn output_tail_table() {
        assert_eq!(output_tail("a\n\nb\n", "c\n  \n", 2), "b | c");
        assert_eq!(output_tail("a\nb", "", 5), "a | b");
        assert_eq!(output_tail("", "", 3), "");
    }
}
