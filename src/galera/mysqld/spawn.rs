//! Starting mariadbd through the reaper: its stderr forwarded to ours, and its progress
//! marks read from that stream and from its log file.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::watch;
use tracing::info;

use super::args::MysqldArgs;
use super::child::ChildProc;
use super::log_mark::{advance, LogMark};
use super::reaper::Reaper;

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
    let (child, pipes) = reaper
        .launch("mariadbd", &mut cmd)
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", mysqld.display()))?;
    let stderr = pipes.stderr;
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
