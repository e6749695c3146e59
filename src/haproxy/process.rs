//! The haproxy child: master-worker mode (`-W -S <master socket>`), config validation
//! (`haproxy -c`), reloads through the master CLI, commands to one worker (`@!<pid>`), and
//! the graceful stop (SIGUSR1 soft-stop, bounded, then SIGTERM/SIGKILL).
//!
//! haproxy's own messages go to our stderr (the container log). No `pidfile`, no `-p`: the
//! master is our child, we know its pid.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tracing::{info, warn};

/// Timeout of one socket command.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(3);

/// Run `haproxy -c -f <config>`: `Ok(())` when valid, else haproxy's complaint.
pub async fn check_config(bin: &Path, config: &Path) -> Result<(), String> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(bin)
            .arg("-c")
            .arg("-f")
            .arg(config)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("`{} -c` did not finish within 30s", bin.display()))?
    .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| l.contains("ALERT") || l.contains("rror"))
        .collect();
    let detail = if lines.is_empty() {
        text.trim().replace('\n', " | ")
    } else {
        lines.join(" | ")
    };
    Err(format!(
        "haproxy -c rejected {} ({}): {detail}",
        config.display(),
        out.status
    ))
}

/// Send one command to a haproxy CLI socket and read the whole answer.
pub async fn socket_command(sock: &Path, cmd: &str) -> anyhow::Result<String> {
    let fut = async {
        let mut s = UnixStream::connect(sock)
            .await
            .with_context(|| format!("connect {}", sock.display()))?;
        s.write_all(format!("{cmd}\n").as_bytes()).await?;
        // Half-close: the master CLI answers a one-shot command once it sees the end of input.
        s.shutdown().await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        anyhow::Ok(out)
    };
    tokio::time::timeout(SOCKET_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("{}: `{cmd}` timed out", sock.display()))?
}

/// One line of the master's `show proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub kind: String,
    /// For the master: reloads done; for a worker: how many reloads ago it was started
    /// (0 = the current worker).
    pub reloads: u32,
}

/// Parse `show proc` (haproxy 2.6 layout: `pid type reloads uptime version`).
pub fn parse_show_proc(text: &str) -> Vec<Proc> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let pid = it.next()?.parse().ok()?;
            let kind = it.next()?.to_string();
            let reloads = it.next()?.parse().ok()?;
            Some(Proc { pid, kind, reloads })
        })
        .collect()
}

/// The running haproxy master.
pub struct Haproxy {
    child: Child,
    pub pid: u32,
    pub bin: PathBuf,
    pub config: PathBuf,
    pub master_socket: PathBuf,
}

impl Haproxy {
    /// Start `haproxy -W -S <master socket>,mode,600 -f <config>` and wait until its master
    /// CLI answers with a worker (bounded).
    pub async fn start(bin: &Path, config: &Path, master_socket: &Path) -> anyhow::Result<Self> {
        let _ = std::fs::remove_file(master_socket);
        let mut cmd = Command::new(bin);
        cmd.arg("-W")
            .arg("-S")
            .arg(format!("{},mode,600", master_socket.display()))
            .arg("-f")
            .arg(config)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        // haproxy must not outlive us: SIGTERM (hard stop) when our thread goes away.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.as_std_mut().pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("haproxy exited at once"))?;
        let mut h = Haproxy {
            child,
            pid,
            bin: bin.to_path_buf(),
            config: config.to_path_buf(),
            master_socket: master_socket.to_path_buf(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = h.child.try_wait()? {
                bail!("haproxy exited during start ({st}); see its messages above");
            }
            if let Ok(w) = h.current_worker().await {
                info!(
                    "haproxy started: master pid {pid}, worker pid {w}, config {}",
                    config.display()
                );
                return Ok(h);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "haproxy (pid {pid}) did not open its master socket {} within 20s",
                    master_socket.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `show proc` on the master.
    pub async fn procs(&self) -> anyhow::Result<Vec<Proc>> {
        Ok(parse_show_proc(
            &socket_command(&self.master_socket, "show proc").await?,
        ))
    }

    /// The pid of the current worker.
    pub async fn current_worker(&self) -> anyhow::Result<u32> {
        self.procs()
            .await?
            .iter()
            .find(|p| p.kind == "worker" && p.reloads == 0)
            .map(|p| p.pid)
            .ok_or_else(|| anyhow!("no current worker in show proc"))
    }

    /// A runtime API command to one worker, through the master CLI.
    pub async fn worker_command(&self, pid: u32, cmd: &str) -> anyhow::Result<String> {
        socket_command(&self.master_socket, &format!("@!{pid} {cmd}")).await
    }

    /// Reload (the master re-executes itself with the config file; listening sockets are
    /// passed to the new worker, so no connection is refused). Waits until a new worker runs;
    /// returns its pid.
    pub async fn reload(&mut self) -> anyhow::Result<u32> {
        let before = self
            .current_worker()
            .await
            .context("before the reload: cannot read the current worker")?;
        // The master closes the connection without an answer in 2.6; a read error is fine.
        let _ = socket_command(&self.master_socket, "reload").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait()? {
                bail!("haproxy exited during a reload ({st}); see its messages above");
            }
            if let Ok(w) = self.current_worker().await {
                if w != before {
                    return Ok(w);
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("haproxy reload: no new worker within 20s (worker still {before})");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The master's exit status if it has exited (it is our child).
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// Graceful stop: SIGUSR1 (soft stop: stop listening, let sessions finish), at most
    /// `timeout`, then SIGTERM (hard stop), then SIGKILL.
    pub async fn stop(&mut self, timeout: Duration) {
        if let Ok(Some(st)) = self.child.try_wait() {
            info!("haproxy had already exited ({st})");
            return;
        }
        let pid = Pid::from_raw(self.pid as i32);
        info!(
            "stopping haproxy (pid {}): soft stop, at most {timeout:?}",
            self.pid
        );
        let _ = kill(pid, Signal::SIGUSR1);
        if let Ok(Ok(st)) = tokio::time::timeout(timeout, self.child.wait()).await {
            info!("haproxy stopped ({st})");
            return;
        }
        warn!("haproxy still has sessions after {timeout:?}: hard stop");
        let _ = kill(pid, Signal::SIGTERM);
        if let Ok(Ok(st)) = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            info!("haproxy stopped ({st})");
            return;
        }
        warn!("haproxy did not stop on SIGTERM: SIGKILL");
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_proc_parses_master_and_workers() {
        let text = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
                    26558           master          1 [failed: 0]   0d00h00m05s     2.6.12-1+deb12u4\n\
                    # workers\n\
                    26676           worker          0               0d00h00m00s     2.6.12-1+deb12u4\n\
                    26561           worker          1               0d00h00m05s     2.6.12-1+deb12u4\n\
                    # programs\n\n";
        let p = parse_show_proc(text);
        assert_eq!(
            p,
            vec![
                Proc {
                    pid: 26558,
                    kind: "master".into(),
                    reloads: 1
                },
                Proc {
                    pid: 26676,
                    kind: "worker".into(),
                    reloads: 0
                },
                Proc {
                    pid: 26561,
                    kind: "worker".into(),
                    reloads: 1
                },
            ]
        );
    }
}
