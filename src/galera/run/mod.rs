//! The entrypoint's startup sequence: observe → decide → act, one log sentence per decision.
//!
//! prepare the datadir → recover the position → loop { snapshot, probe, `plan::decide`, act }
//! until mariadbd runs, then hand over to the running loop (`galera::steady`). Acting on a
//! cluster-changing plan (join, bootstrap) happens under the lock, after re-deciding on a
//! snapshot read under it. By phase:
//!
//! - [`prepare`]: classify the datadir, recover its position, the unmarked-datadir check;
//! - [`probes`]: who answers on its Galera port (evidence for the decisions);
//! - [`refused`]: a refused node waits for the operator's resync, and obeys it;
//! - [`queue`]: the recovery queue and the election;
//! - [`join`]: join a running cluster under the lock;
//! - [`bootstrap`]: bootstrap a new cluster or the recovery under the lock, fenced.
//! - this file: the loop, the dispatch of a plan, the shared steps (decide, gate, census,
//!   lock, mariadbd's command line).

mod bootstrap;
mod join;
mod prepare;
mod probes;
mod queue;
mod refused;

pub use prepare::{check_unmarked_datadir, prepare};
pub use probes::{answers, port_probe};

use self::bootstrap::bootstrap;
use self::join::join;
use self::probes::{probe_members, probe_peers, probe_registered};
use self::queue::{queue, QueueOutcome};
use self::refused::refused;

use std::collections::BTreeSet;

use tracing::{info, warn};

use crate::etcd::snapshot::{Fork, StateValue};
use crate::etcd::{lock, unix_now, ClusterSnapshot};
use crate::galera::datadir::{self};
use crate::galera::mysqld::{spawn_mysqld, ChildProc, LogMark, MysqldArgs};
use crate::galera::node::Node;
use crate::galera::plan::{decide, Observation, Plan};
use crate::galera::safety::{self, Action, Verdict};
use crate::position::Position;
use crate::state_file::Phase;

/// How the sequence ended before the running phase.
pub enum Started {
    /// mariadbd runs; the steady loop takes over.
    Running(ChildProc),
    /// Shutdown was requested before mariadbd ran.
    Stopped,
}

/// The decision loop: returns when mariadbd runs (or on shutdown).
pub async fn start(
    node: &mut Node,
    mut position: Position,
    needs_check: bool,
) -> anyhow::Result<Started> {
    let mut said = crate::logging::Throttle::new(crate::galera::bounds::DECISION_SAY_EVERY);
    let mut refusal: Option<String> = None;
    if needs_check {
        let snap = node.snapshot().await?;
        match check_unmarked_datadir(&snap, &position, &node.cfg.name) {
            None => {
                if snap.uuid.is_some() {
                    datadir::write_init_ok(
                        &node.cfg.opts.datadir,
                        datadir::user_ids(&node.cfg.opts.mysql_user),
                    )?;
                    info!(
                        "datadir without init.ok holds cluster {:?}: valid, init.ok re-created",
                        snap.uuid
                    );
                }
            }
            Some(r) => refusal = Some(r),
        }
    }
    let mut last_snap: Option<ClusterSnapshot> = None;
    loop {
        if node.stopping() {
            return Ok(Started::Stopped);
        }
        // One observe → decide → act pass. A write under a lease etcd no longer has (this
        // process was paused, or cut off, past its TTL) ends the pass, not the process: the
        // lease is renewed and the decision re-taken.
        let pass = async {
            node.renew_lease_if_lost().await?;
            report_census(node, last_snap.as_ref(), &position).await?;
            let snap = node.snapshot().await?;
            let plan = match &refusal {
                Some(reason) => Plan::Refuse {
                    reason: reason.clone(),
                },
                None => {
                    let reachable = probe_registered(node, &snap).await;
                    let peers = if snap.nodes.is_empty()
                        && snap.uuid.is_none()
                        && snap.members.is_empty()
                    {
                        probe_peers(node).await
                    } else {
                        vec![]
                    };
                    decide_on(node, &snap, &position, &reachable, &peers)
                }
            };
            last_snap = Some(snap.clone());
            let sentence = plan.sentence();
            node.state.decision(plan.kind());
            if said.due(&sentence) {
                info!("{sentence}");
            }
            act(node, plan, &snap, &mut position, &mut refusal).await
        };
        match pass.await {
            Ok(Some(started)) => return Ok(started),
            Ok(None) => {}
            Err(e) if lease_gone(&e) => {
                warn!(
                    "{e:#}: this process's lease expired (paused or cut off past its TTL); \
                     renewing it and re-deciding"
                );
                node.lease.mark_lost();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Is this error etcd refusing a write under a lease it no longer has?
pub(super) fn lease_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::etcd::EtcdError>()
            .is_some_and(|e| e.is_lease_not_found())
    })
}

/// Act on one plan; `Some` when mariadbd runs (or shutdown came). `refusal` holds a refusal
/// taken outside `decide` (an unmarked datadir, a node ahead of the recorded winner) until
/// the operator's resync answers it.
pub(super) async fn act(
    node: &mut Node,
    plan: Plan,
    snap: &ClusterSnapshot,
    position: &mut Position,
    refusal: &mut Option<String>,
) -> anyhow::Result<Option<Started>> {
    match plan {
        Plan::Fail { reason } => anyhow::bail!(reason),
        Plan::Wait { reason } | Plan::WaitForRegistered { reason } => {
            node.state.phase(Phase::WaitingLock, reason);
            node.pause(crate::galera::bounds::PASS).await;
        }
        Plan::Refuse { reason } => {
            if refused(node, &reason, position).await? {
                *position = Position::Fresh;
                node.position_since = unix_now();
            }
            // Answered by a resync, or shutting down.
            *refusal = None;
        }
        Plan::EnterRecovery { reason } => {
            let expected = match &snap.state {
                Some(StateValue::Known(s)) => Some(s.as_str().to_string()),
                Some(StateValue::Invalid(v)) => Some(v.clone()),
                None => None,
            };
            let done = node.etcd.enter_recovery(expected.as_deref()).await?;
            info!(
                "state {} -> RECOVERY {}: {reason}",
                expected.as_deref().unwrap_or("unset"),
                if done {
                    "set"
                } else {
                    "not set (changed meanwhile; re-reading)"
                }
            );
        }
        Plan::Queue { .. } => match queue(node, position).await? {
            QueueOutcome::Bootstrap(rec) => {
                if let Some(child) = bootstrap(node, position, Some(rec)).await? {
                    return Ok(Some(Started::Running(child)));
                }
            }
            QueueOutcome::Refused(reason) => *refusal = Some(reason),
            QueueOutcome::Again => {}
        },
        Plan::NewCluster { .. } => {
            if let Some(child) = bootstrap(node, position, None).await? {
                return Ok(Some(Started::Running(child)));
            }
        }
        Plan::Join { .. } => {
            if let Some(child) = join(node, position).await? {
                return Ok(Some(Started::Running(child)));
            }
        }
    }
    Ok(None)
}

/// This node's own facts that the pure decisions take besides etcd, read afresh from the
/// datadir (a resync wipes them with the data).
pub(super) struct Facts {
    joined: Option<String>,
    forks: Vec<Fork>,
}

pub(super) fn facts(node: &Node) -> Facts {
    Facts {
        joined: node.recovery_mark(),
        forks: node.forks(),
    }
}

pub(super) fn observation<'a>(
    node: &'a Node,
    facts: &'a Facts,
    snap: &'a ClusterSnapshot,
    position: &'a Position,
    reachable: &'a BTreeSet<String>,
    peers: &'a [String],
) -> Observation<'a> {
    Observation {
        snap,
        me: &node.cfg.name,
        position,
        reachable,
        peers_answering: peers,
        joined_recovery: facts.joined.as_deref(),
        forks: &facts.forks,
        local_since: node.position_since,
        now: unix_now(),
        cluster_size: node.cfg.opts.cluster_size,
        quiet_secs: safety::member_quiet_secs(node.cfg.lease_ttl()),
        version: node.version.as_deref(),
    }
}

/// The pure decision on `snap` with this node's facts.
pub(super) fn decide_on(
    node: &Node,
    snap: &ClusterSnapshot,
    position: &Position,
    reachable: &BTreeSet<String>,
    peers: &[String],
) -> Plan {
    let facts = facts(node);
    let now = unix_now();
    let paused = crate::pause::active(snap, now).map(|p| crate::pause::sentence(p, now));
    crate::galera::plan::under_pause(
        decide(&observation(node, &facts, snap, position, reachable, peers)),
        paused.as_deref(),
    )
}

/// The safety gate's ruling on `action` for this node.
pub(super) fn gate(
    node: &Node,
    snap: &ClusterSnapshot,
    position: &Position,
    action: Action,
) -> Verdict {
    let facts = facts(node);
    let none = BTreeSet::new();
    safety::check(
        action,
        &observation(node, &facts, snap, position, &none, &[]).evidence(),
    )
}

/// Report this datadir's position in the census (when it changed or was lost). Every
/// decision below reads it back: a missing report proves nothing, a fresh one is evidence.
pub(super) async fn report_census(
    node: &mut Node,
    snap: Option<&ClusterSnapshot>,
    position: &Position,
) -> anyhow::Result<()> {
    let entry = node.census_entry(position, None);
    if node.census_due(snap, &entry, None) {
        node.publish_census(entry).await?;
        info!("census: reported this datadir at {position}");
    }
    Ok(())
}

/// Acquire the lock (bounded, logged), or None on shutdown / timeout.
pub(super) async fn take_lock(node: &mut Node) -> anyhow::Result<Option<lock::LockGuard>> {
    node.state
        .phase(Phase::WaitingLock, "waiting for the membership lock");
    let fut = lock::acquire(
        &node.etcd,
        &node.cfg.name,
        node.lease.id(),
        crate::galera::bounds::LOCK_WAIT,
    );
    let shutdown = node.shutdown.clone();
    tokio::select! {
        r = fut => match r {
            Ok(g) => Ok(Some(g)),
            Err(lock::LockError::TimedOut { waited, holder }) => {
                warn!("lock still held by {holder} after {waited:.0?}; re-deciding");
                Ok(None)
            }
            Err(lock::LockError::Etcd(e)) => Err(e.into()),
        },
        _ = shutdown.cancelled() => Ok(None),
    }
}

pub(super) async fn mysqld_args(
    node: &Node,
    peers: Vec<String>,
    donors: Vec<String>,
    new_cluster: bool,
    position: &Position,
) -> anyhow::Result<MysqldArgs> {
    let configured = node
        .cfg
        .bins
        .configured_provider_options(&node.reaper)
        .await?;
    let mut provider_options = crate::galera::mysqld::add_ipv6_addresses(
        &crate::galera::mysqld::merge_provider_options(configured.as_deref()),
        &node.cfg.address,
        node.cfg.opts.galera_port,
    );
    if let Some(dir) = &node.cfg.opts.galera_tls_dir {
        let files = crate::galera::tls::TlsFiles::in_dir(dir);
        provider_options = crate::galera::tls::with_tls(&provider_options, &files)
            .map_err(|p| crate::cli::ConfigError::new("--galera-tls-dir", p))?;
    }
    Ok(MysqldArgs {
        defaults_file: node.cfg.opts.mysql.defaults_file.clone(),
        datadir: node.cfg.opts.datadir.clone(),
        user: node.cfg.opts.mysql_user.clone(),
        node_name: node.cfg.name.clone(),
        node_address: node.cfg.address.clone(),
        peers,
        galera_port: node.cfg.opts.galera_port,
        new_cluster,
        start_position: position.start_position(),
        donors,
        provider_options,
    })
}

pub(super) fn start_mysqld(
    node: &mut Node,
    args: &MysqldArgs,
) -> anyhow::Result<(ChildProc, tokio::sync::watch::Receiver<LogMark>)> {
    if let Some(dir) = &node.cfg.opts.galera_tls_dir {
        // What mariadbd is about to load, read before it does: files swapped in between are
        // then reloaded by the running loop (a second load of the same files at worst), never
        // taken for loaded when they were not.
        use crate::galera::{tls::TlsFiles, tls_certs, tls_reload::OnDisk};
        node.tls_loaded = match OnDisk::read(&TlsFiles::in_dir(dir)) {
            Ok(d) => {
                let leaf = tls_certs::check_all(unix_now(), &d.cert, &d.key, &d.ca).ok();
                node.state.current.tls_expires_at = leaf.as_ref().map(|l| l.not_after);
                Some((d, leaf))
            }
            Err(e) => {
                warn!("{e}: renewed certificates will not be reloaded until mariadbd restarts");
                None
            }
        };
    }
    let (child, marks) = spawn_mysqld(
        &node.reaper,
        &node.cfg.opts.mysqld,
        args,
        node.cfg.log_file.clone(),
    )?;
    node.state.current.mysqld_pid = Some(child.pid as u32);
    node.state.current.mysqld_started_at = Some(unix_now());
    Ok((child, marks))
}
