//! The entrypoint's sequence: observe → decide → act, one log sentence per decision.
//!
//! prepare the datadir → recover the position → loop { snapshot, probe, `plan::decide`, act }
//! until mariadbd runs, then hand over to [`super::steady`]. Acting on a cluster-changing plan
//! (join, bootstrap) happens under the lock, after re-deciding on a snapshot read under it.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use etcd_client::{Compare, CompareOp, Txn};
use tracing::{info, warn};

use super::datadir::{self, DatadirKind};
use super::mysqld::{spawn_mysqld, ChildProc, LogMark, MysqldArgs};
use super::node::Node;
use super::plan::{decide, Observation, Plan};
use super::recovery::{ahead_of_winner, elect, Election};
use crate::checker::state_file::Phase;
use crate::etcd::snapshot::{BootstrapRecord, RecoveryRecord, StateValue};
use crate::etcd::{absent, delete_op, lock, put_op, unix_now, ClusterSnapshot, ClusterState};
use crate::position::Position;

/// How the sequence ended before the running phase.
pub enum Started {
    /// mariadbd runs; the steady loop takes over.
    Running(ChildProc),
    /// Shutdown was requested before mariadbd ran.
    Stopped,
}

/// Does anything answer on `addr:port` within `timeout`?
pub async fn answers(addr: &str, port: u16, timeout: Duration) -> bool {
    let target = if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await,
        Ok(Ok(_))
    )
}

/// Registered nodes (other than us) answering on their Galera port.
async fn probe_registered(node: &Node, snap: &ClusterSnapshot) -> BTreeSet<String> {
    let port = node.cfg.opts.galera_port;
    let checks = snap
        .nodes
        .iter()
        .filter(|(n, _)| **n != node.cfg.name)
        .map(|(n, e)| async move {
            answers(&e.address, port, Duration::from_secs(1))
                .await
                .then(|| n.clone())
        });
    futures_join(checks).await.into_iter().flatten().collect()
}

/// `--peers` members answering on their Galera port (other than ourselves).
async fn probe_peers(node: &Node) -> Vec<String> {
    let port = node.cfg.opts.galera_port;
    let me = node.cfg.address.clone();
    let checks = node
        .cfg
        .opts
        .peers
        .iter()
        .filter(|p| **p != me)
        .map(|p| async move {
            answers(p, port, Duration::from_secs(1))
                .await
                .then(|| p.clone())
        });
    futures_join(checks).await.into_iter().flatten().collect()
}

async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futs).await
}

/// Prepare the datadir and return the local position (SPEC §3.1–3.2).
pub async fn prepare(node: &mut Node) -> anyhow::Result<Option<Position>> {
    let dd = node.cfg.opts.datadir.clone();
    node.state
        .phase(Phase::Preparing, "classifying the datadir");
    let kind = datadir::classify(&dd).map_err(anyhow::Error::msg)?;
    match kind {
        DatadirKind::Fresh | DatadirKind::InterruptedSst => {
            info!(
                "datadir {} is {}: initialising it",
                dd.display(),
                if kind == DatadirKind::Fresh {
                    "fresh"
                } else {
                    "an interrupted SST (partial copy)"
                }
            );
            node.cfg
                .bins
                .initialise(&node.reaper, &node.cfg.users.sql())
                .await?;
            return Ok(Some(Position::Fresh));
        }
        DatadirKind::HasData { .. } => {}
    }
    node.state
        .phase(Phase::RecoveringPosition, "mariadbd --wsrep-recover");
    info!(
        "datadir {} holds data: recovering its position (mariadbd --wsrep-recover)",
        dd.display()
    );
    let (pos, how) = node.cfg.bins.recover_position(&node.reaper).await?;
    info!("local position {pos} ({how})");
    Ok(Some(pos))
}

/// A datadir with data but no `init.ok`: valid only if its uuid is the cluster's.
/// Returns a refusal reason when it is not (the datadir is never wiped for this).
pub fn check_unmarked_datadir(snap: &ClusterSnapshot, pos: &Position, me: &str) -> Option<String> {
    match (&snap.uuid, pos) {
        (Some(u), Position::Known { uuid, .. }) if uuid == u => None,
        (None, _) => None,
        (Some(u), p) => Some(format!(
            "the datadir has data but no init.ok, and its position {p} is not of cluster {u}: \
             it was not initialised by galera-sidecar for this cluster. Inspect it; \
             `galera-sidecar resync {me}` discards it and rejoins by SST"
        )),
    }
}

/// The decision loop: returns when mariadbd runs (or on shutdown).
pub async fn start(
    node: &mut Node,
    mut position: Position,
    needs_check: bool,
) -> anyhow::Result<Started> {
    let mut last_sentence = String::new();
    let mut last_log = tokio::time::Instant::now();
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
    loop {
        if node.stopping() {
            return Ok(Started::Stopped);
        }
        node.renew_lease_if_lost().await?;
        let snap = node.snapshot().await?;
        let plan = match refusal.take() {
            Some(reason) => Plan::Refuse { reason },
            None => {
                let reachable = probe_registered(node, &snap).await;
                let peers =
                    if snap.nodes.is_empty() && snap.uuid.is_none() && snap.members.is_empty() {
                        probe_peers(node).await
                    } else {
                        vec![]
                    };
                let joined = node.recovery_mark();
                decide(&Observation {
                    snap: &snap,
                    me: &node.cfg.name,
                    position: &position,
                    reachable: &reachable,
                    peers_answering: &peers,
                    joined_recovery: joined.as_deref(),
                })
            }
        };
        let sentence = plan.sentence();
        if sentence != last_sentence || last_log.elapsed() >= Duration::from_secs(10) {
            info!("{sentence}");
            node.state.decision(plan.kind());
            last_sentence = sentence;
            last_log = tokio::time::Instant::now();
        }
        match plan {
            Plan::Fail { reason } => anyhow::bail!(reason),
            Plan::Wait { reason } | Plan::WaitForRegistered { reason } => {
                node.state.phase(Phase::WaitingLock, reason);
                node.pause(Duration::from_secs(1)).await;
            }
            Plan::Refuse { reason } => {
                if refused(node, &reason).await? {
                    position = Position::Fresh;
                }
            }
            Plan::EnterRecovery { reason } => {
                let expected = match &snap.state {
                    Some(StateValue::Known(s)) => Some(s.as_str().to_string()),
                    Some(StateValue::Invalid(v)) => Some(v.clone()),
                    None => None,
                };
                let done = node
                    .etcd
                    .cas_state(
                        expected.as_deref(),
                        ClusterState::Recovery,
                        vec![node.etcd.no_nodes()],
                        vec![],
                    )
                    .await?;
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
            Plan::Queue { .. } => match queue(node, &position).await? {
                QueueOutcome::Bootstrap(rec) => {
                    if let Some(child) = bootstrap(node, &position, Some(rec)).await? {
                        return Ok(Started::Running(child));
                    }
                }
                QueueOutcome::Refused(reason) => refusal = Some(reason),
                QueueOutcome::Again => {}
            },
            Plan::NewCluster { .. } => {
                if let Some(child) = bootstrap(node, &position, None).await? {
                    return Ok(Started::Running(child));
                }
            }
            Plan::Join { .. } => {
                if let Some(child) = join(node, &position).await? {
                    return Ok(Started::Running(child));
                }
            }
        }
    }
}

/// Refused: publish why, wait in-process for `resync <me>`; on it, discard the datadir and
/// re-initialise (returns true). Returns false when shutting down.
async fn refused(node: &mut Node, reason: &str) -> anyhow::Result<bool> {
    let me = node.cfg.name.clone();
    warn!("refusing to start: {reason}");
    node.state.phase(Phase::Refused, reason);
    let mut last_log = tokio::time::Instant::now();
    loop {
        node.renew_lease_if_lost().await?;
        let snap = node.snapshot().await?;
        if snap.refused.get(&me).map(String::as_str) != Some(reason) {
            node.etcd
                .put(&node.etcd.keys.refused(&me), reason, Some(node.lease.id()))
                .await?;
        }
        if snap.resync.contains(&me) {
            warn!("resync requested by the operator: discarding the datadir of {me} and rejoining by SST");
            // Consume the request and the refusal together.
            let k = node.etcd.keys.clone();
            node.etcd
                .txn(
                    Txn::new()
                        .and_then(vec![delete_op(&k.resync(&me)), delete_op(&k.refused(&me))]),
                )
                .await?;
            node.state
                .phase(Phase::Preparing, "resync: re-initialising the datadir");
            node.cfg
                .bins
                .initialise(&node.reaper, &node.cfg.users.sql())
                .await?;
            return Ok(true);
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            warn!("still refusing: {reason}");
            last_log = tokio::time::Instant::now();
        }
        if node.pause(Duration::from_secs(2)).await {
            return Ok(false);
        }
    }
}

enum QueueOutcome {
    Bootstrap(RecoveryRecord),
    Refused(String),
    Again,
}

/// RECOVERY with nobody registered: queue our position (one txn), then wait — without the
/// lock — for the election; the first node to see the full set records the winner.
async fn queue(node: &mut Node, position: &Position) -> anyhow::Result<QueueOutcome> {
    let me = node.cfg.name.clone();
    let k = node.etcd.keys.clone();
    let mut queued_lease = 0;
    let mut last_log = tokio::time::Instant::now() - Duration::from_secs(60);
    let mut last_sentence = String::new();
    loop {
        if node.stopping() {
            return Ok(QueueOutcome::Again);
        }
        node.renew_lease_if_lost().await?;
        if queued_lease != node.lease.id() {
            let seqno = position.seqno().unwrap_or(-1);
            node.etcd
                .put_all(
                    &[
                        (k.queue(&me), unix_now().to_string()),
                        (k.seqno(&me), seqno.to_string()),
                        (k.position(&me), position.to_string()),
                    ],
                    Some(node.lease.id()),
                )
                .await?;
            queued_lease = node.lease.id();
            info!("queued for recovery at position {position}");
            node.state
                .phase(Phase::Queued, format!("queued at {position}"));
        }
        let snap = node.snapshot().await?;
        if snap.nodes.keys().any(|n| *n != me) || snap.known_state() != Some(ClusterState::Recovery)
        {
            return Ok(QueueOutcome::Again);
        }
        if !snap.queue.contains_key(&me) {
            queued_lease = 0;
            continue;
        }
        let sentence = match elect(&snap, node.cfg.opts.cluster_size) {
            Election::Waiting { present, missing } => format!(
                "recovery waits: present [{}], missing [{}]",
                present.join(","),
                missing.join(",")
            ),
            Election::Blocked { reason } => format!("recovery blocked: {reason}"),
            Election::Winner {
                name,
                position: wp,
                reason,
                replaces_record,
            } => {
                let rec = RecoveryRecord {
                    winner: name.clone(),
                    position: wp,
                    decided_by: me.clone(),
                    at: unix_now(),
                    reason: reason.clone(),
                };
                let value = serde_json::to_string(&rec)?;
                let mut ops = vec![put_op(&k.recovery(), &value, None)];
                if snap.force_bootstrap.as_deref() == Some(name.as_str()) {
                    ops.push(delete_op(&k.force_bootstrap()));
                }
                let cond = match (&snap.recovery, replaces_record) {
                    (Some(_), true) => {
                        let kv = node.etcd.get(&k.recovery()).await?;
                        let rev = kv.map(|kv| kv.mod_revision).unwrap_or(0);
                        vec![
                            Compare::mod_revision(k.recovery(), CompareOp::Equal, rev),
                            absent(&k.bootstrap()),
                        ]
                    }
                    _ => vec![absent(&k.recovery())],
                };
                let won = node
                    .etcd
                    .txn(Txn::new().when(cond).and_then(ops))
                    .await?
                    .succeeded;
                if won {
                    info!("recovery decided: {name} bootstraps ({reason})");
                }
                continue;
            }
            Election::Recorded(rec) => {
                if rec.winner == me {
                    return Ok(QueueOutcome::Bootstrap(rec));
                }
                let joined = node.recovery_mark();
                if let Some(ahead) = ahead_of_winner(&rec, &me, position, joined.as_deref()) {
                    return Ok(QueueOutcome::Refused(format!(
                        "this node is {ahead} transaction(s) ahead of {} which bootstraps the recovery at {}; \
                         joining would discard them by SST. Keep them, or discard them with `galera-sidecar resync {me}`",
                        rec.winner, rec.position
                    )));
                }
                format!(
                    "recovery: waiting for {} to bootstrap ({})",
                    rec.winner, rec.reason
                )
            }
        };
        if sentence != last_sentence || last_log.elapsed() >= Duration::from_secs(5) {
            info!("{sentence}");
            node.state.phase(Phase::Queued, sentence.clone());
            last_sentence = sentence;
            last_log = tokio::time::Instant::now();
        }
        node.pause(Duration::from_secs(1)).await;
    }
}

/// After an unclean stop, give peers time to evict our previous incarnation (once).
async fn wait_for_eviction(node: &mut Node) -> anyhow::Result<()> {
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
    let inactive = super::mysqld::evs_inactive_timeout(&opts);
    let wait = super::mysqld::eviction_wait(Some(last_alive), unix_now(), inactive);
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

/// Acquire the lock (bounded, logged), or None on shutdown / timeout.
async fn take_lock(node: &mut Node) -> anyhow::Result<Option<lock::LockGuard>> {
    node.state
        .phase(Phase::WaitingLock, "waiting for the membership lock");
    let fut = lock::acquire(
        &node.etcd,
        &node.cfg.name,
        node.lease.id(),
        Duration::from_secs(600),
    );
    let mut rx = node.shutdown.clone();
    tokio::select! {
        r = fut => match r {
            Ok(g) => Ok(Some(g)),
            Err(lock::LockError::TimedOut { waited, holder }) => {
                warn!("lock still held by {holder} after {waited:.0?}; re-deciding");
                Ok(None)
            }
            Err(lock::LockError::Etcd(e)) => Err(e.into()),
        },
        _ = rx.changed() => Ok(None),
    }
}

async fn mysqld_args(
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
        provider_options: super::mysqld::merge_provider_options(configured.as_deref()),
    })
}

fn start_mysqld(
    node: &mut Node,
    args: &MysqldArgs,
) -> anyhow::Result<(ChildProc, tokio::sync::watch::Receiver<LogMark>)> {
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

/// Join under the lock; returns the running mariadbd, or None to re-decide.
async fn join(node: &mut Node, position: &Position) -> anyhow::Result<Option<ChildProc>> {
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

async fn join_locked(
    node: &mut Node,
    position: &Position,
    guard: &lock::LockGuard,
) -> anyhow::Result<Option<ChildProc>> {
    // Re-decide on a snapshot read under the lock.
    let snap = node.snapshot().await?;
    let reachable = probe_registered(node, &snap).await;
    let joined = node.recovery_mark();
    let plan = decide(&Observation {
        snap: &snap,
        me: &node.cfg.name,
        position,
        reachable: &reachable,
        peers_answering: &[],
        joined_recovery: joined.as_deref(),
    });
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
    let addrs = peers.iter().map(|(_, a)| a.clone()).collect();
    let args = mysqld_args(node, addrs, donors, false, position).await?;
    let (mut child, mut marks) = start_mysqld(node, &args)?;
    // Hold the lock until the joiner is in the Primary Component or Synced — bounded.
    let hold = node.cfg.opts.lock_hold_timeout;
    let start = tokio::time::Instant::now();
    let mut last_log = start;
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
        if last_log.elapsed() >= Duration::from_secs(5) {
            info!(
                "waiting for the joiner to reach the Primary Component ({:.0?})",
                start.elapsed()
            );
            last_log = tokio::time::Instant::now();
        }
        tokio::select! {
            _ = marks.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    Ok(Some(child))
}

/// Bootstrap (a new cluster, or the elected recovery winner) under the lock; `P/bootstrap`
/// is created before `--wsrep-new-cluster`, in a txn fenced on the lock and on `nodes/` empty.
async fn bootstrap(
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

async fn bootstrap_locked(
    node: &mut Node,
    position: &Position,
    rec: Option<RecoveryRecord>,
    guard: &lock::LockGuard,
) -> anyhow::Result<Option<ChildProc>> {
    let me = node.cfg.name.clone();
    let k = node.etcd.keys.clone();
    let snap = node.snapshot().await?;
    // Re-check the belief under the lock.
    let (reason, state_cond, state_ops) = match &rec {
        None => {
            let peers = probe_peers(node).await;
            let joined = node.recovery_mark();
            let plan = decide(&Observation {
                snap: &snap,
                me: &me,
                position,
                reachable: &BTreeSet::new(),
                peers_answering: &peers,
                joined_recovery: joined.as_deref(),
            });
            if !matches!(plan, Plan::NewCluster { .. }) {
                info!(
                    "under the lock the decision changed to: {}",
                    plan.sentence()
                );
                return Ok(None);
            }
            let cond = match &snap.state {
                None => absent(&k.state()),
                Some(_) => {
                    Compare::value(k.state(), CompareOp::Equal, ClusterState::Building.as_str())
                }
            };
            (
                "new-cluster".to_string(),
                vec![cond, absent(&k.uuid())],
                vec![put_op(&k.state(), ClusterState::Building.as_str(), None)],
            )
        }
        Some(r) => {
            if snap.recovery.as_ref().map(|x| &x.winner) != Some(&r.winner)
                || snap.known_state() != Some(ClusterState::Recovery)
            {
                info!("under the lock the recovery record changed; re-deciding");
                return Ok(None);
            }
            (
                if r.reason.contains("force-bootstrap") {
                    "force-bootstrap".into()
                } else {
                    "recovery".into()
                },
                vec![Compare::value(
                    k.state(),
                    CompareOp::Equal,
                    ClusterState::Recovery.as_str(),
                )],
                vec![],
            )
        }
    };
    let record = BootstrapRecord {
        node: me.clone(),
        position: position.clone(),
        at: unix_now(),
        reason: reason.clone(),
    };
    let mut cond = vec![node.etcd.no_nodes()];
    cond.extend(state_cond);
    // create-if-absent, or replace our own earlier record (a retry of the same bootstrap).
    match &snap.bootstrap {
        Some(b) if b.node == me => {
            let rev = node
                .etcd
                .get(&k.bootstrap())
                .await?
                .map(|kv| kv.mod_revision)
                .unwrap_or(0);
            cond.push(Compare::mod_revision(k.bootstrap(), CompareOp::Equal, rev));
        }
        Some(b) => {
            info!("{} is recorded as bootstrapping; not bootstrapping", b.node);
            return Ok(None);
        }
        None => cond.push(absent(&k.bootstrap())),
    }
    let mut ops = vec![put_op(
        &k.bootstrap(),
        &serde_json::to_string(&record)?,
        None,
    )];
    ops.extend(state_ops);
    if !node.etcd.guarded(guard, cond, ops).await? {
        warn!("bootstrap record not written (lock lost, a node registered, or another bootstrap recorded); re-deciding");
        return Ok(None);
    }
    info!("bootstrap recorded: {me} bootstraps ({reason}) from {position}");
    let owner = datadir::user_ids(&node.cfg.opts.mysql_user);
    datadir::set_safe_to_bootstrap(&node.cfg.opts.datadir, owner)
        .context("setting safe_to_bootstrap")?;
    node.state
        .phase(Phase::Joining, format!("bootstrapping ({reason})"));
    let args = mysqld_args(node, vec![], vec![], true, position).await?;
    let (mut child, _marks) = start_mysqld(node, &args)?;
    // Wait until Synced (bounded; a log line every 5 s), then record uuid, node, member.
    let start = tokio::time::Instant::now();
    let mut last_log = start;
    let status = loop {
        if let Some(code) = child.try_code() {
            anyhow::bail!("mariadbd exited with status {code} while bootstrapping");
        }
        match crate::mysql::wsrep_status(
            &node.cfg.endpoint,
            &node.cfg.creds,
            Duration::from_secs(2),
        )
        .await
        {
            Ok(s) if s.is_synced() && s.is_primary() => break s,
            Ok(s) if last_log.elapsed() >= Duration::from_secs(5) => {
                info!(
                    "bootstrap: waiting for Synced ({} / {})",
                    s.local_state_comment(),
                    s.cluster_status()
                );
                last_log = tokio::time::Instant::now();
            }
            Err(e) if last_log.elapsed() >= Duration::from_secs(5) => {
                info!("bootstrap: waiting for mariadbd to answer ({e})");
                last_log = tokio::time::Instant::now();
            }
            _ => {}
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.stop(node.cfg.opts.stop_timeout).await;
            anyhow::bail!("bootstrapped mariadbd not Synced after 10 minutes; stopped it");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let uuid = status.cluster_state_uuid().to_string();
    // A pause (SIGSTOP, partition) may have cost us the lease meanwhile: the bootstrap itself
    // was fenced by P/bootstrap; from here on only create-if-absent writes of facts follow.
    if node.renew_lease_if_lost().await? {
        warn!("the lease was lost during the bootstrap; continuing with a new one");
    }
    let snap = node.snapshot().await?;
    match &snap.uuid {
        None => {
            if node.etcd.create_if_absent(&k.uuid(), &uuid, None).await? {
                info!("cluster uuid {uuid} recorded");
            }
        }
        Some(u) if *u == uuid => {}
        Some(u) => warn!("bootstrapped cluster uuid {uuid} differs from etcd's {u}"),
    }
    let snap = node.snapshot().await?;
    node.register(&snap).await?;
    datadir::write_init_ok(&node.cfg.opts.datadir, owner)?;
    info!("bootstrap of {me} complete: Synced, Primary, registered");
    Ok(Some(child))
}
