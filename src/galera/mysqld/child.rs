//! A child started through the reaper ([`ChildProc`]): its exit status (delivered by the
//! reaper only), signals, and its clean stop (SIGTERM, then SIGKILL after a grace period).

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::oneshot;
use tracing::{info, warn};

/// Exit status as a shell reports it: the code, or 128 + the signal number.
pub type ExitCode = i32;

/// A child started through the [`Reaper`](super::Reaper).
pub struct ChildProc {
    pub pid: i32,
    pub name: String,
    pub(super) exit: Option<oneshot::Receiver<ExitCode>>,
    pub(super) code: Option<ExitCode>,
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
