//! Quorum loss healed in place: make this running, non-Primary node Primary with Galera's
//! `pc.bootstrap=YES` instead of restarting anything, when [`super::rules::non_primary_plan`]
//! says it holds the most advanced position of every member and none is Primary.
//!
//! Fenced like a bootstrap: under the membership lock, on a snapshot read under it, the plan is
//! re-taken, then `P/bootstrap` (reason `heal-in-place`) is written in a transaction that
//! requires the lock, `nodes/` empty, no other bootstrap record, and the census and queue
//! unchanged since that snapshot. Only then is the provider option set. The record is deleted
//! once this node is registered (the running loop does it).

use std::time::Duration;

use tracing::{info, warn};

use super::node::Node;
use super::rules::{non_primary_plan, non_primary_under_pause, NonPrimaryPlan};
use crate::etcd::snapshot::BootstrapRecord;
use crate::etcd::{absent, lock, put_op, unchanged_since, unix_now};
use crate::position::Position;

/// The reason recorded in `P/bootstrap` for a heal in place.
pub const HEAL_IN_PLACE: &str = "heal-in-place";

/// Try to heal in place; `Ok(true)` when `pc.bootstrap=YES` was set.
pub async fn heal_in_place(
    node: &mut Node,
    non_primary_for: Duration,
    grace: Duration,
) -> anyhow::Result<bool> {
    let Some(password) = node.cfg.users.root_password.clone() else {
        warn!("would heal in place (pc.bootstrap=YES) but no root password is configured (GALERA_ROOT_PASSWORD): staying non-Primary");
        return Ok(false);
    };
    let guard = match lock::acquire(
        &node.etcd,
        &node.cfg.name,
        node.lease.id(),
        Duration::from_secs(10),
    )
    .await
    {
        Ok(g) => g,
        Err(lock::LockError::TimedOut { holder, .. }) => {
            info!("heal in place: the lock is held by {holder}; re-deciding");
            return Ok(false);
        }
        Err(lock::LockError::Etcd(e)) => return Err(e.into()),
    };
    let result = healed_locked(node, &guard, &password, non_primary_for, grace).await;
    if let Err(e) = lock::release(&node.etcd, &guard).await {
        warn!("releasing the lock failed ({e}); it expires with the lease");
    }
    result
}

async fn healed_locked(
    node: &mut Node,
    guard: &lock::LockGuard,
    password: &str,
    non_primary_for: Duration,
    grace: Duration,
) -> anyhow::Result<bool> {
    let me = node.cfg.name.clone();
    let k = node.etcd.keys.clone();
    let status =
        crate::mysql::wsrep_status(&node.cfg.endpoint, &node.cfg.creds, Duration::from_secs(2))
            .await?;
    let snap = node.etcd.snapshot().await?;
    // Only a node that was in a Primary Component since it started is ever told to heal.
    let now = unix_now();
    let paused = crate::pause::active(&snap, now).map(|p| crate::pause::sentence(p, now));
    let plan = non_primary_plan(
        &me,
        &status,
        true,
        &snap,
        node.cfg.opts.cluster_size,
        non_primary_for,
        grace,
    )
    .map(|p| non_primary_under_pause(p, paused.as_deref()));
    let why = match plan {
        Some(NonPrimaryPlan::HealInPlace(why)) => why,
        other => {
            info!("heal in place: under the lock the decision changed ({other:?})");
            return Ok(false);
        }
    };
    let position = Position::known(
        status.cluster_state_uuid(),
        status.last_committed().unwrap_or(-1),
    );
    let record = BootstrapRecord {
        node: me.clone(),
        position: position.clone(),
        at: unix_now(),
        reason: HEAL_IN_PLACE.into(),
    };
    let cond = vec![
        node.etcd.no_nodes(),
        absent(&k.bootstrap()),
        unchanged_since(&k.census_prefix(), snap.revision),
        unchanged_since(&k.queue_prefix(), snap.revision),
        unchanged_since(&k.pause(), snap.revision),
    ];
    let ops = vec![put_op(
        &k.bootstrap(),
        &serde_json::to_string(&record)?,
        None,
    )];
    if !node.etcd.guarded(guard, cond, ops).await? {
        info!("heal in place: the fenced record was not written (lock lost, a node registered, or positions changed); re-deciding");
        return Ok(false);
    }
    warn!("healing in place: {why}; SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'");
    let root = crate::mysql::Credentials {
        user: Some("root".into()),
        password: Some(password.to_string()),
    };
    crate::mysql::execute(
        &node.cfg.endpoint,
        &root,
        "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'",
        Duration::from_secs(5),
    )
    .await?;
    node.state.decision("heal-in-place");
    info!("healed in place: {me} is the Primary Component again at {position}; the other members re-merge");
    Ok(true)
}
