//! Join a running cluster under the membership lock, after the previous incarnation is
//! evicted; the lock is held until the joiner is in the Primary Component (bounded).

use super::*;
use std::time::Duration;

use anyhow::Context as _;
use tracing::{info, warn};

use crate::etcd::{lock, unix_now};
use crate::galera::mysqld::{ChildProc, LogMark};
use crate::galera::node::Node;
use crate::galera::plan::Plan;
use crate::position::Position;
use crate::state_file::Phase;

/// After an unclean stop, give peers time to evict our previous incarnation (once).
pub(super) async fn wait_for_eviction(node: &mut Node) -> anyhow::Result<()> {
    // The previous run ended with mariadbd running or joining (a clean stop ends in phase
    // `stopping`): its mariadbd died uncleanly, and peers may still list it.
    let Some(last_alive) = node.previous_alive.take() else {
        return Ok(());
    };
    // A cluster bootstrapped after our death (a recovery) never saw that incarnation.
    let snap = node.snapshot().await?;
    if snap.bootstrap.as_ref().is_some_and(|b| b.at >= last_alive) {
        return Ok(());
    }
    let opts = node
        .cfg
        .bins
        .configured_provider_options(&node.reaper)
        .await?
        .unwrap_or_default();
    let inactive = crate::galera::mysqld::evs_inactive_timeout(&opts);
    let wait = crate::galera::mysqld::eviction_wait(Some(last_alive), unix_now(), inactive);
    if !wait.is_zero() {
        info!(
            "unclean stop {}s ago: waiting {wait:.0?} for peers to evict the previous incarnation \
             (evs.inactive_timeout {inactive:?}) before rejoining",
            (unix_now() - last_alive).max(0)
        );
        node.state.phase(
            Phase::WaitingLock,
            "waiting for peers to evict the previous incarnation",
        );
        node.pause(wait).await;
    }
    Ok(())
}

/// Join under the lock; returns the running mariadbd, or None to re-decide.
pub(super) async fn join(
    node: &mut Node,
    position: &Position,
) -> anyhow::Result<Option<ChildProc>> {
    wait_for_eviction(node).await?;
    let Some(guard) = take_lock(node).await? else {
        return Ok(None);
    };
    let result = join_locked(node, position, &guard).await;
    if let Err(e) = lock::release(&node.etcd, &guard).await {
        warn!("releasing the lock failed ({e}); it expires with the lease");
    }
    result
}

pub(super) async fn join_locked(
    node: &mut Node,
    position: &Position,
    guard: &lock::LockGuard,
) -> anyhow::Result<Option<ChildProc>> {
    // Re-decide on a snapshot read under the lock.
    let snap = node.snapshot().await?;
    let reachable = probe_registered(node, &snap).await;
    let plan = decide_on(node, &snap, position, &reachable, &[]);
    let Plan::Join {
        peers,
        donors,
        reason,
    } = plan
    else {
        info!(
            "under the lock the decision changed to: {}",
            plan.sentence()
        );
        return Ok(None);
    };
    info!(
        "joining {} under the lock: {reason}",
        peers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    node.state.phase(
        Phase::Joining,
        format!(
            "joining {}",
            peers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    // From here this datadir changes: a queue entry from before the join would stand for a
    // position it no longer has (an election must not count it).
    if snap.queue.contains_key(&node.cfg.name) {
        let me = node.cfg.name.clone();
        node.etcd.leave_queue(&me).await?;
        info!("left the recovery queue: joining changes this datadir's position");
    }
    // After the transfer this datadir holds the running cluster's branch of the history.
    let forks = crate::galera::branches::cluster_forks(&snap, &node.cfg.name);
    node.add_forks(&forks)
        .context("recording the cluster's forced recoveries in the datadir before joining")?;
    let addrs = peers.iter().map(|(_, a)| a.clone()).collect();
    let args = mysqld_args(node, addrs, donors, false, position).await?;
    let (mut child, mut marks) = start_mysqld(node, &args)?;
    // Hold the lock until the joiner is in the Primary Component or Synced — bounded.
    let hold = node.cfg.opts.lock_hold_timeout;
    let start = tokio::time::Instant::now();
    let mut say = crate::logging::Every::after(crate::galera::bounds::SAY_EVERY);
    loop {
        if *marks.borrow() >= LogMark::InPrimary {
            info!(
                "joiner is in the Primary Component after {:.1?}; releasing the lock",
                start.elapsed()
            );
            break;
        }
        if let Some(code) = child.try_code() {
            anyhow::bail!("mariadbd exited with status {code} while joining");
        }
        if !node
            .etcd
            .guarded(guard, vec![], vec![])
            .await
            .unwrap_or(true)
        {
            warn!("the lock was lost while joining (lease expired?); continuing without it");
            break;
        }
        if let Ok(s) =
            crate::mysql::wsrep_status(&node.cfg.endpoint, &node.cfg.creds, Duration::from_secs(1))
                .await
        {
            if s.is_primary() {
                info!(
                    "joiner reports Primary ({}); releasing the lock",
                    s.local_state_comment()
                );
                break;
            }
        }
        if start.elapsed() >= hold {
            warn!("joiner not in the Primary Component after {hold:?}; releasing the lock anyway (the join continues)");
            break;
        }
        if say.due() {
            info!(
                "waiting for the joiner to reach the Primary Component ({:.0?})",
                start.elapsed()
            );
        }
        tokio::select! {
            _ = marks.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    Ok(Some(child))
}
