//! `galera-sidecar haproxy`: keep haproxy pointed at the etcd leader.
//!
//! The loop: a watch on the cluster's prefix (resilient: reconnects, re-reads) feeds the values
//! of `P/leader` and `P/members/` ([`EtcdView`], sent only when they change); [`decide`] (pure)
//! turns them and the running config into keep / refuse / apply — the leader as the normal
//! server, the other members as `backup` servers in name order
//! ([`backups`](super::render::backups)); an apply renders, validates with `haproxy -c`,
//! replaces the config file, reloads through the
//! master CLI (listening sockets are handed over: no refused connection), persists the config
//! as the last good one, and — when the leader changed — ends the sessions old workers still
//! hold on the old leader, so no client keeps writing to it. `hard-stop-after` in the config
//! bounds any old worker that is left.
//!
//! **Ending the old leader's sessions without failing a new connection.** On a reload the
//! old worker stops accepting before the new worker starts (the master keeps the listening
//! sockets meanwhile), so after the reload every session an old worker holds was accepted
//! before the move. Some of them are new connections accepted a moment before it, still in
//! their handshake or first statement: ending them at once fails a client that did nothing
//! wrong. So a session is ended only once it is at least [`OLD_SESSION_GRACE`] old: right
//! after the reload those already that old (pinned ones: pools) and those whose connection to
//! the old leader already failed (a crashed leader), [`OLD_SESSION_GRACE`] after the reload
//! all the others ([`to_end`] decides, pure). Each `shutdown session` is checked against a new
//! `show sess` and retried (bounded), so a command the master could not pass on does not
//! leave a writer on the old leader. After every reload the leader's server in the new worker
//! gets a passed check's health unless its first check already failed (`full_health`):
//! haproxy starts it at the edge, where one slow check answer would close every new
//! connection for seconds.
//!
//! At start the first etcd read decides the config; when etcd is away (bounded wait) or has no
//! leader, the persisted last good config is used, so a restart with etcd down still routes.
//! No leader later (key deleted, lease expired) → the config is kept: the last leader may well
//! be healthy, and haproxy's health check guards it. SIGTERM/SIGINT → haproxy soft stop
//! (bounded), exit 0. haproxy dying → exit 1 naming it.
//!
//! The parts:
//! - [`view`]: the etcd view (`P/leader`, `P/members/`), how a watch event updates it, the
//!   watch task;
//! - [`decision`]: keep / refuse / apply ([`decide`]), and the configs to start with (pure);
//! - [`config`]: the template's source, the render options, installing a config;
//! - [`follower`]: the bookkeeping between reloads (apply, persist, the pending cut);
//! - [`health`]: the leader's health in a new worker;
//! - [`sessions`]: ending the old leader's sessions after a move.

mod config;
mod decision;
mod follower;
mod health;
mod sessions;
mod view;

use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

pub use decision::{decide, start_candidates, Decision, StartCandidate};
pub use health::health_targets;
pub use sessions::{
    end_old_sessions, parse_age, parse_show_sess, to_end, Session, Sweep, OLD_SESSION_GRACE,
};
pub use view::{update_view, EtcdView};

use super::process::Haproxy;
use super::render::{render, Backup, Leader};
use super::state::{read_last_good, write_last_good, Paths, Status};
use crate::cli::{ConfigError, GlobalOpts, HaproxyOpts};
use crate::etcd::unix_now;
use config::{install_config, render_options, template_source};
use follower::Follower;
use view::etcd_task;

fn prepare_dirs(opts: &HaproxyOpts) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    if !opts.run_dir.exists() {
        std::fs::create_dir_all(&opts.run_dir)
            .and_then(|_| {
                std::fs::set_permissions(&opts.run_dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| {
                ConfigError::new(
                    "--run-dir",
                    format!("cannot create {}: {e}", opts.run_dir.display()),
                )
            })?;
    }
    if let Some(parent) = opts.haproxy_config.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|e| {
                ConfigError::new(
                    "--haproxy-config",
                    format!("cannot create {}: {e}", parent.display()),
                )
            })?;
        }
    }
    Ok(())
}

/// Run the sidecar until SIGTERM (exit 0) or haproxy's death (error).
pub async fn run(global: &GlobalOpts, opts: &HaproxyOpts) -> anyhow::Result<u8> {
    // Signals first: a SIGTERM during start must still stop haproxy cleanly.
    let shutdown = crate::shutdown::on_terminate()?;
    prepare_dirs(opts)?;
    let paths = Paths::new(&opts.run_dir);
    let render_opts = render_options(opts, &paths);
    // A template that cannot be read or rendered at all is a configuration error.
    template_source(opts)
        .and_then(|t| render(&t, None, &[], &render_opts))
        .map_err(|e| ConfigError::new("--template", e))?;

    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(etcd_task(
        global.etcd_config(),
        global.cluster_name.clone(),
        tx,
    ));
    let wait = global.etcd_timeout + Duration::from_secs(2);
    let first_view = match tokio::time::timeout(wait, rx.recv()).await {
        Ok(Some(v)) => Some(v),
        Ok(None) => bail!("the etcd watch task ended"),
        Err(_) => None,
    };
    let persisted = match read_last_good(&paths) {
        Ok(p) => p.map(|(meta, cfg)| (meta.leader, cfg)),
        Err(e) => {
            warn!("ignoring the persisted config: {e}");
            None
        }
    };
    let render_with =
        |l: Option<&Leader>, b: &[Backup]| render(&template_source(opts)?, l, b, &render_opts);
    let (candidates, problems) = start_candidates(
        first_view.as_ref(),
        persisted,
        opts.backend_port,
        render_with,
    );
    for p in &problems {
        warn!("at start: {p}");
    }
    let mut chosen = None;
    let mut errors = Vec::new();
    for c in candidates {
        match install_config(&opts.haproxy_bin, &opts.haproxy_config, &c.config).await {
            Ok(()) => {
                chosen = Some(c);
                break;
            }
            Err(e) => {
                error!("not starting with {}: {e}", c.source);
                errors.push(e);
            }
        }
    }
    let Some(start) = chosen else {
        bail!(
            "no config haproxy accepts, haproxy not started: {}",
            errors.join("; ")
        );
    };
    info!(
        "starting haproxy with {} ({} problems: {})",
        start.source,
        problems.len(),
        if problems.is_empty() {
            "none".to_string()
        } else {
            problems.join("; ")
        }
    );
    let haproxy = Haproxy::start(
        &opts.haproxy_bin,
        &opts.haproxy_config,
        &paths.master_socket,
    )
    .await
    .map_err(|e| anyhow!("{e:#}"))?;
    if start.leader.is_some() {
        if let Err(e) = write_last_good(&paths, &start.config, start.leader.as_ref()) {
            warn!("cannot persist the last good config: {e}");
        }
    }
    let mut f = Follower {
        opts: opts.clone(),
        status: Status {
            pid: std::process::id(),
            haproxy_pid: Some(haproxy.pid),
            reloads: 0,
            routed: start.leader.clone(),
            routed_backups: start.backups.clone(),
            etcd_seen: first_view.is_some(),
            etcd_leader: first_view.as_ref().and_then(|v| v.leader.clone()),
            etcd_seen_at: first_view.is_some().then(unix_now),
            last_error: None,
            updated_at: 0,
        },
        paths,
        render_opts,
        haproxy,
        running_cfg: start.config,
        pending_cut: None,
    };
    f.save_status();

    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        // Far away when no cut is pending (the branch is then disabled anyway).
        let cut_at = f.pending_cut.as_ref().map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            |c| c.at,
        );
        tokio::select! {
            _ = tokio::time::sleep_until(cut_at), if f.pending_cut.is_some() => {
                f.finish_cut().await;
            }
            v = rx.recv() => match v {
                Some(view) => f.on_view(view).await,
                None => bail!("the etcd watch task ended"),
            },
            _ = shutdown.cancelled() => {
                info!("stopping haproxy");
                f.haproxy.stop(opts.stop_timeout).await;
                return Ok(0);
            }
            _ = tick.tick() => {
                if let Some(st) = f.haproxy.try_wait()? {
                    let msg = format!(
                        "haproxy (master pid {}) exited unexpectedly ({st}); see its messages above. \
                         No SQL is routed now; exiting so the container is restarted",
                        f.haproxy.pid
                    );
                    f.status.haproxy_pid = None;
                    f.status.last_error = Some(msg.clone());
                    f.save_status();
                    bail!(msg);
                }
            }
        }
    }
}

/// Test fixtures shared by the follow loop's parts.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeMap;

    /// `members/` as the snapshot holds it: name → address.
    pub fn members(m: &[(&str, &str)]) -> BTreeMap<String, String> {
        m.iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect()
    }
}
