//! The container entrypoint (`galera-sidecar galera`): prepare the datadir, recover the
//! position, decide (pure), act under the lock, run and supervise mariadbd as PID 1.
//!
//! - [`grastate`]: grastate.dat and `--wsrep-recover` output → position (pure);
//! - [`plan`]: the decision of docs/design.md §3.3 (pure);
//! - [`recovery`]: who bootstraps after a full outage (pure);
//! - [`safety`]: the gate every history-choosing action passes (pure);
//! - [`heal`]: quorum loss healed in place (`pc.bootstrap=YES`, fenced like a bootstrap);
//! - [`monitor`]: the monitor user kept in step with its (rotated) Secret while running;
//! - [`rules`]: registration, STEADY, leadership while running (pure);
//! - [`keep`]: a resync keeps the diverged datadir aside (or deletes it); the volume layout;
//! - [`upgrade`]: versions, when `mariadb-upgrade` is due, the mixed-version join rule (pure);
//!   [`mariadb_upgrade`]: running it once the node is Synced;
//! - [`datadir`]: classification, initialisation, users, grastate edits, `--wsrep-recover`;
//! - [`mysqld`]: the reaper, mariadbd's command line and start, clean stop;
//! - [`node`]: the shared context (config, etcd session, lease, state file);
//! - [`run`]: the sequence up to a running mariadbd; [`steady`]: the running loop and drain.

pub mod bounds;
pub mod branches;
pub mod datadir;
pub mod grastate;
pub mod handover;
pub mod heal;
pub mod keep;
pub mod mariadb_upgrade;
pub mod monitor;
pub mod mysqld;
pub mod node;
pub mod non_primary;
pub mod plan;
pub mod read_only;
pub mod recovery;
pub mod rules;
pub mod run;
pub mod safety;
pub mod steady;
pub mod tls;
pub mod tls_certs;
pub mod tls_reload;
pub mod upgrade;

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cli::{GaleraOpts, GlobalOpts};
use crate::etcd::{Etcd, Lease};
use crate::state_file::Phase;

/// Run the entrypoint. Returns the process exit code.
pub async fn main(global: &GlobalOpts, opts: &GaleraOpts) -> anyhow::Result<u8> {
    let cfg = node::Config::new(global, opts)?;
    info!(
        "galera-sidecar {} starting: node {} at {}, cluster {}, datadir {}",
        env!("CARGO_PKG_VERSION"),
        cfg.name,
        cfg.address,
        cfg.cluster_name,
        cfg.opts.datadir.display()
    );
    let reaper = mysqld::Reaper::start()?;
    let stop = crate::shutdown::on_terminate()?;
    let (fwd_tx, mut fwd_rx) = tokio::sync::mpsc::channel::<Signal>(8);
    spawn_signal_forwarders(fwd_tx)?;
    // What the previous run left for the probes says when mariadbd was last seen up.
    let previous_alive = match crate::state_file::StateFile::read(&cfg.opts.state_dir) {
        Ok(Some(prev))
            if matches!(
                prev.phase,
                Phase::Running | Phase::Joining | Phase::Stopping
            ) =>
        {
            Some(prev.updated_at)
        }
        _ => None,
    };
    let mut state = node::StateWriter::new(cfg.opts.state_dir.clone(), &cfg.name);
    state.phase(Phase::Preparing, "connecting to etcd");

    // etcd first: nothing can be decided without it. The client connects lazily, so an
    // unreachable etcd may show at the connect or at the lease grant. Keep trying (mariadbd is
    // not running yet, nothing is lost by waiting), with a log line, and stop on SIGTERM.
    let Some(etcd) =
        until_etcd_answers(&stop, || Etcd::connect(&cfg.etcd, &cfg.cluster_name)).await?
    else {
        state.phase(Phase::Stopping, "stopped before etcd answered");
        return Ok(0);
    };
    let Some(lease) = until_etcd_answers(&stop, || Lease::grant(&etcd, cfg.lease_ttl())).await?
    else {
        state.phase(Phase::Stopping, "stopped before etcd answered");
        return Ok(0);
    };
    let mut node = node::Node {
        cfg,
        etcd,
        lease,
        reaper,
        state,
        shutdown: stop,
        previous_alive,
        position_since: previous_alive.unwrap_or_else(crate::etcd::unix_now),
        census: None,
        notes: crate::logging::Notes::new(std::time::Duration::from_secs(30)),
        version: None,
        tls_loaded: None,
    };
    let result = sequence(&mut node, &mut fwd_rx).await;
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            error!("{e:#}");
            node.state.phase(Phase::Stopping, format!("error: {e}"));
            steady::cleanup(&mut node).await;
            Err(e)
        }
    }
}

/// Retry `f` while etcd is unreachable (a log line every 5 attempts); `None` on shutdown.
async fn until_etcd_answers<T, F, Fut>(
    stop: &CancellationToken,
    mut f: F,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::etcd::EtcdError>>,
{
    let since = tokio::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        match f().await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if e.is_transient() => {
                if attempt % 5 == 0 {
                    warn!(
                        "waiting for etcd (no answer for {:.0?}): {e}",
                        since.elapsed()
                    );
                }
                attempt += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => {}
                }
                if stop.is_cancelled() {
                    info!("stopped before etcd answered; nothing to clean up");
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn sequence(
    node: &mut node::Node,
    fwd: &mut tokio::sync::mpsc::Receiver<Signal>,
) -> anyhow::Result<u8> {
    node.clear_previous_life().await?;
    // Before anything reads the datadir: a volume of the old layout (mounted at the datadir
    // itself) has its datadir moved into the subdirectory the manifests now name.
    let kept_root = keep::kept_root(&node.cfg.opts.datadir, node.cfg.opts.kept_dir.as_deref())
        .map_err(anyhow::Error::msg)?;
    let owner = datadir::user_ids(&node.cfg.opts.mysql_user);
    if let Some(said) =
        keep::migrate_volume_layout(&node.cfg.opts.datadir, Some(&kept_root), owner)?
    {
        info!("{said}");
    }
    let kind = datadir::classify(&node.cfg.opts.datadir).map_err(anyhow::Error::msg)?;
    let needs_check = matches!(kind, datadir::DatadirKind::HasData { init_ok: false });
    let position = match run::prepare(node).await? {
        Some(p) => p,
        None => return Ok(0),
    };
    let child = match run::start(node, position, needs_check).await? {
        run::Started::Running(c) => c,
        run::Started::Stopped => {
            info!("stopped before mariadbd ran; cleaning up this node's keys");
            steady::cleanup(node).await;
            return Ok(0);
        }
    };
    // Forward signals other than SIGTERM/SIGINT to mariadbd.
    let pid = child.pid;
    let forward = async {
        while let Some(sig) = fwd.recv().await {
            info!("forwarding {sig} to mariadbd");
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    };
    tokio::select! {
        r = steady::run(node, child) => r,
        _ = forward => Ok(0),
    }
}

/// SIGHUP, SIGUSR1 and SIGUSR2 are mariadbd's: handed to `fwd` for it (SIGTERM and SIGINT
/// are the shutdown's, `crate::shutdown`).
fn spawn_signal_forwarders(fwd: tokio::sync::mpsc::Sender<Signal>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => { let _ = fwd.send(Signal::SIGHUP).await; }
                _ = usr1.recv() => { let _ = fwd.send(Signal::SIGUSR1).await; }
                _ = usr2.recv() => { let _ = fwd.send(Signal::SIGUSR2).await; }
            }
        }
    });
    Ok(())
}
