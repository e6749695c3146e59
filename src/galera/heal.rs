//! Quorum loss healed in place: make this running, non-Primary node Primary with Galera's
//! `pc.bootstrap=YES` instead of restarting anything, when [`super::non_primary::non_primary_plan`]
//! says it holds the most advanced position of every member that can report, none is
//! Primary, and any member that cannot report is confirmed down (lease expired, Galera port
//! refusing connections: [`probe_gone`]).
//!
//! Fenced like a bootstrap: under the membership lock, on a snapshot read and ports probed
//! under it, the plan is re-taken, then `P/bootstrap` (reason `heal-in-place`) is written in a
//! transaction that requires the lock, `nodes/` empty, no other bootstrap record, and the
//! census, queue, members and mark unchanged since that snapshot — a member that comes back
//! writes its census and fails it. With members down, the same transaction records the heal's
//! fork (`P/forks/<id>`), and the datadir lists it before the provider option is set. The
//! record is deleted once this node is registered (the running loop does it).

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{info, warn};

use super::node::Node;
use super::non_primary::{
    gone_members, heal_fork, non_primary_plan, non_primary_under_pause, NonPrimaryPlan, PortProbe,
};
use crate::etcd::snapshot::BootstrapRecord;
use crate::etcd::ClusterSnapshot;
use crate::etcd::{absent, delete_op, lock, put_op, unchanged_since, unix_now};
use crate::position::Position;

/// The reason recorded in `P/bootstrap` for a heal in place.
pub const HEAL_IN_PLACE: &str = "heal-in-place";

/// Probe the Galera port of every member whose entrypoint is gone (no census entry), at the
/// address `members/` records, concurrently, 1 s each. Empty when none is gone.
pub async fn probe_gone(node: &Node, snap: &ClusterSnapshot) -> BTreeMap<String, PortProbe> {
    let port = node.cfg.opts.galera_port;
    let checks = gone_members(snap, &node.cfg.name)
        .into_iter()
        .map(|(m, a)| async move {
            let seen = super::run::port_probe(a, port, Duration::from_secs(1)).await;
            (m.to_string(), seen)
        });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .collect()
}

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
    let probes = probe_gone(node, &snap).await;
    // Only a node that was in a Primary Component since it started is ever told to heal.
    let now = unix_now();
    let paused = crate::pause::active(&snap, now).map(|p| crate::pause::sentence(p, now));
    let plan = non_primary_plan(
        &me,
        &status,
        true,
        &snap,
        node.cfg.opts.cluster_size,
        &probes,
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
    let at = unix_now();
    let record = BootstrapRecord {
        node: me.clone(),
        position: position.clone(),
        at,
        reason: HEAL_IN_PLACE.into(),
    };
    let cond = vec![
        node.etcd.no_nodes(),
        absent(&k.bootstrap()),
        unchanged_since(&k.census_prefix(), snap.revision),
        unchanged_since(&k.queue_prefix(), snap.revision),
        unchanged_since(&k.members_prefix(), snap.revision),
        unchanged_since(&k.hwm(), snap.revision),
        unchanged_since(&k.pause(), snap.revision),
    ];
    let mut ops = vec![put_op(
        &k.bootstrap(),
        &serde_json::to_string(&record)?,
        None,
    )];
    // Members down may have gone past this position: from here on, a datadir past it that did
    // not go through this heal is another branch (refused when it returns, never overwritten).
    let fork = heal_fork(&me, at, &position, &snap);
    if let Some(f) = &fork {
        ops.push(put_op(&k.fork(&f.id), &serde_json::to_string(f)?, None));
    }
    if !node.etcd.guarded(guard, cond, ops).await? {
        info!("heal in place: the fenced record was not written (lock lost, a node registered, or positions changed); re-deciding");
        return Ok(false);
    }
    if let Some(f) = &fork {
        // Without it this datadir would be taken for the branch the members down may hold:
        // do not heal; take the record and the fork back (the loop decides again).
        if let Err(e) = node.add_forks(std::slice::from_ref(f)) {
            warn!(
                "heal in place: recording the fork {} in the datadir failed ({e:#}); not healing",
                f.id
            );
            let undo = vec![delete_op(&k.bootstrap()), delete_op(&k.fork(&f.id))];
            if let Err(e) = node.etcd.guarded(guard, vec![], undo).await {
                warn!("heal in place: taking the record back failed ({e}); delete P/bootstrap and P/forks/{} by hand", f.id);
            }
            return Ok(false);
        }
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
    info!("healed in place: {me} is the Primary Component again at {position}; the other members re-merge");
    Ok(true)
}
