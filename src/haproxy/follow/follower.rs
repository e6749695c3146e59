//! The follow loop's bookkeeping between reloads ([`Follower`]): what runs (config, routed
//! leader and backups, status file), applying a decision (install, reload, full health,
//! persist, end the old leader's sessions) and the last pass over those sessions after a move.

use tracing::{error, info, warn};

use super::config::{install_config, template_source};
use super::decision::{decide, describe, Decision};
use super::health::full_health;
use super::sessions::{end_old_sessions, OLD_SESSION_GRACE};
use super::view::EtcdView;
use crate::cli::HaproxyOpts;
use crate::etcd::unix_now;
use crate::files::write_atomic;
use crate::haproxy::process::Haproxy;
use crate::haproxy::render::{render, Backup, Leader, RenderOptions};
use crate::haproxy::state::{write_last_good, Paths, Status, FILE_MODE};

/// The last pass over the old leader's sessions after a move, due at `at`.
pub(super) struct PendingCut {
    /// The server every session may stay on (the leader moved to).
    keep: String,
    pub(super) at: tokio::time::Instant,
}

pub(super) struct Follower {
    pub(super) opts: HaproxyOpts,
    pub(super) paths: Paths,
    pub(super) render_opts: RenderOptions,
    pub(super) haproxy: Haproxy,
    pub(super) running_cfg: String,
    pub(super) status: Status,
    pub(super) pending_cut: Option<PendingCut>,
}

impl Follower {
    fn render(&self, leader: Option<&Leader>, backups: &[Backup]) -> Result<String, String> {
        render(
            &template_source(&self.opts)?,
            leader,
            backups,
            &self.render_opts,
        )
    }

    pub(super) fn save_status(&mut self) {
        self.status.updated_at = unix_now();
        if let Err(e) = self.status.write(&self.paths) {
            warn!("cannot write {}: {e}", self.paths.status.display());
        }
    }

    pub(super) async fn on_view(&mut self, view: EtcdView) {
        self.status.etcd_seen = true;
        self.status.etcd_leader = view.leader.clone();
        self.status.etcd_seen_at = Some(unix_now());
        let d = decide(
            &self.running_cfg,
            self.status.routed.as_ref(),
            &self.status.routed_backups,
            view.leader.as_deref(),
            &view.members,
            self.opts.backend_port,
            |l, b| self.render(Some(l), b),
        );
        match d {
            Decision::Keep(reason) => info!("{reason}"),
            Decision::Refuse(reason) => {
                error!("{reason}");
                self.status.last_error = Some(reason);
            }
            Decision::Apply {
                leader,
                backups,
                config,
                reason,
            } => {
                if let Err(e) = self.apply(leader, backups, config, &reason).await {
                    let msg = format!(
                        "{reason}, but not applied: {e}; haproxy keeps running the previous config ({})",
                        describe(self.status.routed.as_ref())
                    );
                    error!("{msg}");
                    self.status.last_error = Some(msg);
                }
            }
        }
        self.save_status();
    }

    async fn apply(
        &mut self,
        leader: Leader,
        backups: Vec<Backup>,
        config: String,
        reason: &str,
    ) -> Result<(), String> {
        install_config(&self.haproxy.bin, &self.opts.haproxy_config, &config).await?;
        let worker = match self.haproxy.reload().await {
            Ok(w) => w,
            Err(e) => {
                // Put the running config back so the file tells the truth.
                let _ = write_atomic(
                    &self.opts.haproxy_config,
                    self.running_cfg.as_bytes(),
                    FILE_MODE,
                );
                return Err(format!("{e:#}"));
            }
        };
        let reloaded_at = tokio::time::Instant::now();
        match full_health(&self.haproxy, worker, &leader).await {
            Ok((raised, down)) if down.is_empty() => info!(
                "new worker {worker}: {} starts with a passed check's health (down after `fall` \
                 failed checks in a row, not at its first one)",
                raised.join(", ")
            ),
            Ok((_, down)) => warn!(
                "new worker {worker}: the first health check of {} already failed: it stays \
                 down until `rise` checks pass",
                down.join(", ")
            ),
            Err(e) => warn!(
                "new worker {worker}: cannot give {} a passed check's health ({e}); one failed \
                 check in its first second marks it down",
                leader.address
            ),
        }
        let leader_changed =
            self.status.routed.as_ref().map(|r| r.server.as_str()) != Some(leader.server.as_str());
        self.running_cfg = config;
        self.status.routed = Some(leader.clone());
        self.status.routed_backups = backups;
        self.status.reloads += 1;
        self.status.last_error = None;
        info!(
            "haproxy reloaded (reload #{}, new worker {worker}): {reason}",
            self.status.reloads
        );
        if let Err(e) = write_last_good(&self.paths, &self.running_cfg, Some(&leader)) {
            warn!(
                "cannot persist the last good config in {}: {e}",
                self.paths.run_dir.display()
            );
        }
        if leader_changed {
            // Old workers accept no more connections: what they hold was accepted before the
            // move. Pinned sessions end now; young ones (maybe still in their handshake) get
            // the grace, then the last pass ends them too. That includes sessions an old
            // worker sent to a backup while it saw the old leader down — unless that backup
            // is the new leader: they stay.
            let at = reloaded_at + OLD_SESSION_GRACE;
            let sweep = end_old_sessions(
                &self.paths.master_socket,
                &leader.server,
                Some(OLD_SESSION_GRACE),
            )
            .await;
            info!(
                "moved to {}: {} session(s) on the old leader ended now, {} younger than {:?} \
                 end {:?} after the reload (connections accepted just before the move finish \
                 their handshake)",
                leader.address, sweep.ended, sweep.young, OLD_SESSION_GRACE, OLD_SESSION_GRACE
            );
            self.pending_cut = Some(PendingCut {
                keep: leader.server.clone(),
                at,
            });
        }
        Ok(())
    }

    /// The last pass after a move: end every session old workers still hold off the leader.
    pub(super) async fn finish_cut(&mut self) {
        let Some(cut) = self.pending_cut.take() else {
            return;
        };
        let sweep = end_old_sessions(&self.paths.master_socket, &cut.keep, None).await;
        info!(
            "{OLD_SESSION_GRACE:?} after the move to {}: {} more session(s) on an old leader \
             ended, {} could not be",
            cut.keep, sweep.ended, sweep.left
        );
    }
}
