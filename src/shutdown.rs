//! One shutdown path for every long-running service (`galera`, `checker serve`, `haproxy`):
//! SIGTERM or SIGINT cancels one [`CancellationToken`]; every loop of the service selects on
//! it and stops cleanly (the entrypoint drains and stops mariadbd, haproxy is stopped, the
//! HTTP server finishes its requests). The handlers are installed first, so a signal that
//! arrives while the service is still starting is not lost.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Install the SIGTERM/SIGINT handlers and return the token they cancel.
pub fn on_terminate() -> std::io::Result<CancellationToken> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = int.recv() => info!("SIGINT received"),
        }
        cancel.cancel();
    });
    Ok(token)
}
