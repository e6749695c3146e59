//! Bootstrap under the membership lock: a new cluster, or the elected recovery winner.
//! `P/bootstrap` is written before `--wsrep-new-cluster`, in a transaction fenced on the lock,
//! `nodes/` empty and the belief the decision rested on; once Synced, the uuid and the
//! registration are recorded.

use super::*;
use crate::etcd::startup::BootstrapBelief;
use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use tracing::{info, warn};

use crate::etcd::snapshot::{BootstrapRecord, Fork, RecoveryRecord};
use crate::etcd::{lock, unix_now, ClusterState};
use crate::galera::datadir::{self};
use crate::galera::mysqld::ChildProc;
use crate::galera::node::Node;
use crate::galera::plan::Plan;
use crate::galera::safety::{Action, Verdict};
use crate::position::Position;
use crate::state_file::Phase;

/// Bootstrap (a new cluster, or the elected recovery winner) under the lock; `P/bootstrap`
/// is created before `--wsrep-new-cluster`, in a txn fenced on the lock and on `nodes/` empty.
pub(super) async fn bootstrap(
    node: &mut Node,
    position: &Position,
    rec: Option<RecoveryRecord>,
) -> anyhow::Result<Option<ChildProc>> {
    let Some(guard) = take_lock(node).await? else {
        return Ok(None);
    };
    let result = bootstrap_locked(node, position, rec, &guard).await;
    if let Err(e) = lock::release(&node.etcd, &guard).await {
        warn!("releasing the lock failed ({e}); it expires with the lease");
    }
    result
}

pub(super) async fn bootstrap_locked(
    node: &mut Node,
    position: &Position,
    rec: Option<RecoveryRecord>,
    guard: &lock::LockGuard,
) -> anyhow::Result<Option<ChildProc>> {
    let me = node.cfg.name.clone();
    let _k = node.etcd.keys.clone();
    let snap = node.snapshot().await?;
    // Re-check the belief under the lock.
    let (reason, belief) = match &rec {
        None => {
            let peers = probe_peers(node).await;
            let plan = decide_on(node, &snap, position, &BTreeSet::new(), &peers);
            if !matches!(plan, Plan::NewCluster { .. }) {
                info!(
                    "under the lock the decision changed to: {}",
                    plan.sentence()
                );
                return Ok(None);
            }
            // The all-fresh census the gate saw must still hold when P/bootstrap is written:
            // no census or queue key changed since that snapshot, no member appeared.
            (
                "new-cluster".to_string(),
                BootstrapBelief::NewCluster {
                    state_absent: snap.state.is_none(),
                },
            )
        }
        Some(r) => {
            if snap.recovery.as_ref() != Some(r)
                || snap.known_state() != Some(ClusterState::Recovery)
            {
                info!("under the lock the recovery record changed; re-deciding");
                return Ok(None);
            }
            let action = if r.forced.is_some() {
                Action::ForcedBootstrap
            } else {
                Action::RecoveryBootstrap
            };
            // A member's mariadbd up although etcd lost sight of it (its entrypoint paused past
            // its lease, say): the Galera port answers. Bootstrapping beside it could make a
            // second Primary Component.
            let answering = probe_members(node, &snap).await;
            if !answering.is_empty() {
                warn!(
                    "not bootstrapping: the Galera port of {} answers although etcd does not show it running; re-deciding",
                    answering.join(",")
                );
                return Ok(None);
            }
            match gate(node, &snap, position, action) {
                Verdict::Allow(why) => info!("safety gate: bootstrap allowed: {why}"),
                Verdict::Wait(why) | Verdict::Refuse(why) => {
                    warn!("safety gate: not bootstrapping: {why}; re-deciding");
                    return Ok(None);
                }
            }
            // The positions the gate compared must still be the reported ones; the record
            // shows its own bootstrap.
            (
                if r.forced.is_some() {
                    "force-bootstrap".into()
                } else {
                    "recovery".into()
                },
                BootstrapBelief::Recovery {
                    bootstrapped: Box::new(RecoveryRecord {
                        bootstrapped_at: Some(unix_now()),
                        ..r.clone()
                    }),
                },
            )
        }
    };
    let record = BootstrapRecord {
        node: me.clone(),
        position: position.clone(),
        at: unix_now(),
        reason: reason.clone(),
    };
    // A maintenance pause freezes every bootstrap; the txn checks no pause began since.
    let now = unix_now();
    if let Some(p) = crate::pause::active(&snap, now) {
        info!(
            "not bootstrapping: cluster {}",
            crate::pause::sentence(p, now)
        );
        return Ok(None);
    }
    // create-if-absent, or replace our own earlier record (a retry of the same bootstrap).
    let retry_of = match &snap.bootstrap {
        Some(b) if b.node == me => Some(
            node.etcd
                .get(&node.etcd.keys.bootstrap())
                .await?
                .map(|kv| kv.mod_revision)
                .unwrap_or(0),
        ),
        Some(b) => {
            info!("{} is recorded as bootstrapping; not bootstrapping", b.node);
            return Ok(None);
        }
        None => None,
    };
    // A forced recovery continues the uuid from this position: datadirs that went past it
    // hold another branch from now on (recorded in etcd and in this datadir).
    let fork = rec
        .as_ref()
        .and_then(|r| crate::galera::branches::forced_fork(r, position));
    let written = node
        .etcd
        .record_bootstrap(
            guard,
            snap.revision,
            &belief,
            retry_of,
            &record,
            fork.as_ref(),
        )
        .await?;
    if !written {
        warn!("bootstrap record not written (lock lost, a node registered, or another bootstrap recorded); re-deciding");
        return Ok(None);
    }
    info!("bootstrap recorded: {me} bootstraps ({reason}) from {position}");
    if let Some(f) = &fork {
        node.add_forks(std::slice::from_ref(f))
            .context("recording the forced recovery in the datadir")?;
    }
    let owner = datadir::user_ids(&node.cfg.opts.mysql_user);
    datadir::set_safe_to_bootstrap(&node.cfg.opts.datadir, owner)
        .context("setting safe_to_bootstrap")?;
    node.state
        .phase(Phase::Joining, format!("bootstrapping ({reason})"));
    let args = mysqld_args(node, vec![], vec![], true, position).await?;
    let (mut child, _marks) = start_mysqld(node, &args)?;
    // Wait until Synced (bounded; a log line every 5 s), then record uuid, node, member.
    let start = tokio::time::Instant::now();
    let mut say = crate::logging::Every::after(crate::galera::bounds::SAY_EVERY);
    // As the Secret's monitor user, re-applied as root when it was rotated while every node
    // was down (the bootstrapped node is the first to see the new Secret).
    let mut monitor = crate::galera::monitor::MonitorSession::default();
    let status = loop {
        if let Some(code) = child.try_code() {
            anyhow::bail!("mariadbd exited with status {code} while bootstrapping");
        }
        match monitor
            .status(node, crate::galera::bounds::STATUS_QUERY)
            .await
        {
            Ok(s) if s.is_synced() && s.is_primary() => break s,
            Ok(s) if say.due() => {
                info!(
                    "bootstrap: waiting for Synced ({} / {})",
                    s.local_state_comment(),
                    s.cluster_status()
                );
            }
            Err(e) if say.due() => {
                info!("bootstrap: waiting for mariadbd to answer ({e})");
            }
            _ => {}
        }
        if start.elapsed() > crate::galera::bounds::BOOTSTRAP_SYNCED {
            let _ = child.stop(node.cfg.opts.stop_timeout).await;
            anyhow::bail!(
                "bootstrapped mariadbd not Synced after {:?}; stopped it",
                crate::galera::bounds::BOOTSTRAP_SYNCED
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let uuid = status.cluster_state_uuid().to_string();
    if let Err(e) = datadir::write_init_ok(&node.cfg.opts.datadir, owner) {
        warn!("cannot write init.ok: {e}");
    }
    // A forced recovery of a datadir whose position was unknown: the fork is where mariadbd
    // actually started, known only now (before any client can commit: nothing is registered).
    let late_fork = match (&fork, &rec) {
        (None, Some(r)) if !matches!(position, Position::Fresh) => {
            crate::galera::branches::forced_fork(
                r,
                &Position::known(&uuid, status.last_committed().unwrap_or(-1)),
            )
        }
        _ => None,
    };
    if let Some(f) = &late_fork {
        if let Err(e) = node.add_forks(std::slice::from_ref(f)) {
            // Without it this datadir would be taken for the branch it left: stop here.
            let _ = child.stop(node.cfg.opts.stop_timeout).await;
            anyhow::bail!(
                "recording the forced recovery in the datadir failed ({e:#}); stopped mariadbd"
            );
        }
    }
    // From here mariadbd serves a Primary Component: an etcd error must not stop it. Record the
    // bootstrap (retrying, a log line every 5 s); the running loop registers and restores
    // P/uuid by itself if this gives up.
    let replace_uuid = rec
        .as_ref()
        .and_then(|r| r.forced.as_ref())
        .is_some_and(|f| f.accept_data_loss);
    let census = node.census_entry(
        &Position::known(&uuid, status.last_committed().unwrap_or(-1)),
        Some(Position::known(
            &uuid,
            status.last_committed().unwrap_or(-1),
        )),
    );
    let start = tokio::time::Instant::now();
    let mut say = crate::logging::Every::now(crate::galera::bounds::SAY_EVERY);
    loop {
        match record_bootstrap(
            node,
            &uuid,
            replace_uuid,
            census.clone(),
            late_fork.as_ref(),
        )
        .await
        {
            Ok(()) => {
                info!("bootstrap of {me} complete: Synced, Primary, registered");
                break;
            }
            Err(e) => {
                if say.due() {
                    warn!("bootstrap of {me} is Synced but recording it in etcd failed ({e:#}); mariadbd keeps running, retrying");
                }
                if node.stopping() || child.try_code().is_some() {
                    break;
                }
                if start.elapsed() >= crate::galera::bounds::RECORD_BOOTSTRAP {
                    warn!("bootstrap of {me}: etcd still failing after {:.0?}; the running loop registers when it answers", start.elapsed());
                    break;
                }
                node.pause(crate::galera::bounds::PASS).await;
            }
        }
    }
    Ok(Some(child))
}

/// After a bootstrap is Synced: record the cluster uuid (create-if-absent; replacing the old
/// one only when the operator forced this node accepting data loss), then register.
pub(super) async fn record_bootstrap(
    node: &mut Node,
    uuid: &str,
    replace_uuid: bool,
    census: crate::etcd::snapshot::CensusEntry,
    fork: Option<&Fork>,
) -> anyhow::Result<()> {
    let k = node.etcd.keys.clone();
    // A pause (SIGSTOP, partition) may have cost us the lease meanwhile: the bootstrap itself
    // was fenced by P/bootstrap; from here on only writes of facts follow.
    if node.renew_lease_if_lost().await? {
        warn!("the lease was lost during the bootstrap; continuing with a new one");
    }
    let snap = node.etcd.snapshot().await?;
    match &snap.uuid {
        None => {
            if node.etcd.create_if_absent(&k.uuid(), uuid, None).await? {
                info!("cluster uuid {uuid} recorded");
            }
        }
        Some(u) if u == uuid => {}
        Some(u) if replace_uuid => {
            if node.etcd.replace_uuid(u, uuid).await? {
                warn!(
                    "cluster uuid {uuid} replaces {u}: the operator forced this bootstrap accepting data loss; \
                     nodes holding {u} are refused, never overwritten"
                );
            }
        }
        Some(u) => warn!("bootstrapped cluster uuid {uuid} differs from etcd's {u}"),
    }
    if let Some(f) = fork {
        node.etcd.put_fork(f).await?;
    }
    let snap = node.etcd.snapshot().await?;
    node.register(&snap, Some(census)).await?;
    Ok(())
}
