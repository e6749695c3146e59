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
use super::non_primary::PortProbe;
use super::plan::{decide, Observation, Plan};
use super::recovery::{ahead_of_winner, elect, Election};
use super::safety::{self, Action, Verdict};
use crate::checker::state_file::Phase;
use crate::etcd::snapshot::{BootstrapRecord, Fork, RecoveryRecord, StateValue};
use crate::etcd::{
    absent, delete_op, lock, prefix_empty, put_op, unchanged_since, unix_now, ClusterSnapshot,
    ClusterState,
};
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
    port_probe(addr, port, timeout).await == PortProbe::Answers
}

/// What a TCP connection to `addr:port` finds within `timeout`: accepted, refused (nothing
/// listens: positive evidence), or nothing (a timeout or any other error: no evidence).
pub async fn port_probe(addr: &str, port: u16, timeout: Duration) -> PortProbe {
    let target = if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await {
        Ok(Ok(_)) => PortProbe::Answers,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => PortProbe::Refused,
        _ => PortProbe::Silent,
    }
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

/// Members (by their recorded and reported addresses) answering on their Galera port, other
/// than ourselves.
async fn probe_members(node: &Node, snap: &ClusterSnapshot) -> Vec<String> {
    let port = node.cfg.opts.galera_port;
    let me = node.cfg.name.clone();
    let mut targets: BTreeSet<(String, String)> = BTreeSet::new();
    for (n, a) in &snap.members {
        targets.insert((n.clone(), a.clone()));
    }
    for (n, c) in &snap.census {
        targets.insert((n.clone(), c.address.clone()));
    }
    let mine = node.cfg.address.clone();
    let checks = targets
        .into_iter()
        .filter(|(n, a)| *n != me && *a != mine)
        .map(|(n, a)| async move {
            answers(&a, port, Duration::from_secs(1))
                .await
                .then(|| format!("{n} ({a})"))
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

/// This node's own facts that the pure decisions take besides etcd, read afresh from the
/// datadir (a resync wipes them with the data).
struct Facts {
    joined: Option<String>,
    forks: Vec<Fork>,
}

fn facts(node: &Node) -> Facts {
    Facts {
        joined: node.recovery_mark(),
        forks: node.forks(),
    }
}

fn observation<'a>(
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
    }
}

/// The pure decision on `snap` with this node's facts.
fn decide_on(
    node: &Node,
    snap: &ClusterSnapshot,
    position: &Position,
    reachable: &BTreeSet<String>,
    peers: &[String],
) -> Plan {
    let facts = facts(node);
    let now = unix_now();
    let paused = crate::pause::active(snap, now).map(|p| crate::pause::sentence(p, now));
    super::plan::under_pause(
        decide(&observation(node, &facts, snap, position, reachable, peers)),
        paused.as_deref(),
    )
}

/// The safety gate's ruling on `action` for this node.
fn gate(node: &Node, snap: &ClusterSnapshot, position: &Position, action: Action) -> Verdict {
    let facts = facts(node);
    let none = BTreeSet::new();
    safety::check(
        action,
        &observation(node, &facts, snap, position, &none, &[]).evidence(),
    )
}

/// Report this datadir's position in the census (when it changed or was lost). Every
/// decision below reads it back: a missing report proves nothing, a fresh one is evidence.
async fn report_census(
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

/// Prepare the datadir and return the local position (docs/design.md §3.1–3.2).
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
    // Which branch of its uuid this datadir holds: without a readable forks file it could
    // be taken for the other one.
    datadir::forks(&dd).map_err(anyhow::Error::msg)?;
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
             it was not initialised by galera-sidecar for this cluster, and it may hold data \
             that exists nowhere else. {me} keeps it untouched; compare it with the cluster \
             before discarding either (docs/operations.md, \"Two histories\")"
        )),
    }
}

/// The decision loop: returns when mariadbd runs (or on shutdown).
pub async fn start(
    node: &mut Node,
    mut position: Position,
    needs_check: bool,
) -> anyhow::Result<Started> {
    let mut said = crate::logging::Throttle::new(Duration::from_secs(10));
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
            if said.due(&sentence) {
                info!("{sentence}");
                node.state.decision(plan.kind());
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
fn lease_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::etcd::EtcdError>()
            .is_some_and(|e| e.is_lease_not_found())
    })
}

/// Act on one plan; `Some` when mariadbd runs (or shutdown came). `refusal` holds a refusal
/// taken outside `decide` (an unmarked datadir, a node ahead of the recorded winner) until
/// the operator's resync answers it.
async fn act(
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
            node.pause(Duration::from_secs(1)).await;
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

/// Refused: publish why, wait in-process for a valid `resync <me>` (bound to this datadir's
/// position, not expired: the safety gate rules); on it, keep the datadir aside (or delete it
/// on `--discard`) and re-initialise (returns true). Returns false when shutting down.
async fn refused(node: &mut Node, reason: &str, position: &Position) -> anyhow::Result<bool> {
    let me = node.cfg.name.clone();
    warn!("refusing to start: {reason}");
    node.state.phase(Phase::Refused, reason);
    let mut last_log = tokio::time::Instant::now();
    let mut last_ignored = String::new();
    // The refusal as published: the reason, plus why a valid resync cannot keep the datadir.
    let mut published = reason.to_string();
    // A keep found not to fit is measured again (a walk of the whole datadir) at most every
    // 30 s while the same request stands; a new request (e.g. `--discard`) is acted on at once.
    let mut keep_checked: Option<(i64, tokio::time::Instant)> = None;
    loop {
        node.renew_lease_if_lost().await?;
        let snap = node.snapshot().await?;
        report_census(node, Some(&snap), position).await?;
        if snap.refused.get(&me) != Some(&published) {
            node.etcd
                .put(
                    &node.etcd.keys.refused(&me),
                    &published,
                    Some(node.lease.id()),
                )
                .await?;
        }
        match gate(node, &snap, position, Action::Wipe) {
            Verdict::Allow(why) => {
                let (discard, issued) = snap
                    .resync
                    .get(&me)
                    .map(|r| (r.discard, r.issued_at))
                    .unwrap_or_default();
                let recent = keep_checked.is_some_and(|(i, t)| {
                    i == issued && !discard && t.elapsed() < Duration::from_secs(30)
                });
                if !recent {
                    match resync_datadir(node, &snap, position, reason, discard, &why).await? {
                        None => return Ok(true),
                        Some(problem) => {
                            keep_checked = Some((issued, tokio::time::Instant::now()));
                            let p = format!("{reason}; a resync is requested, but {problem}");
                            if p != published {
                                warn!("{problem}; still refusing to start");
                                published = p;
                            }
                        }
                    }
                }
            }
            Verdict::Refuse(why) if why != last_ignored => {
                warn!("{why}; still refusing to start");
                last_ignored = why;
                published = reason.to_string();
            }
            Verdict::Refuse(_) | Verdict::Wait(_) => published = reason.to_string(),
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

/// Obey a valid resync request: keep the datadir aside (the default: one rename on its
/// filesystem, after the space and filesystem checks) or delete it (`--discard`); record what
/// was discarded in `P/resynced/<me>` in the transaction that consumes the request and the
/// refusal; re-initialise. `Some(problem)` when the datadir cannot be kept: nothing changed.
async fn resync_datadir(
    node: &mut Node,
    snap: &ClusterSnapshot,
    position: &Position,
    reason: &str,
    discard: bool,
    why: &str,
) -> anyhow::Result<Option<String>> {
    use super::keep;
    let me = node.cfg.name.clone();
    let dd = node.cfg.opts.datadir.clone();
    let now = unix_now();
    let cluster = keep::cluster_position(snap);
    let mut record = crate::etcd::snapshot::ResyncedRecord {
        position: position.clone(),
        first_seqno: keep::discarded_from(position, cluster.as_ref()),
        cluster,
        kept: None,
        at: now,
        reason: reason.to_string(),
    };
    let owner = datadir::user_ids(&node.cfg.opts.mysql_user);
    if discard {
        warn!(
            "deleting the datadir of {me} (resync --discard: {} is lost for good) and rejoining \
             by SST: {why}",
            crate::status::resynced_range(&record)
        );
    } else {
        let root =
            keep::kept_root(&dd, node.cfg.opts.kept_dir.as_deref()).map_err(anyhow::Error::msg)?;
        let target = root.join(keep::kept_name(position, now));
        let m = match keep::measure(&dd, &root, &target) {
            Ok(m) => m,
            Err(e) => {
                return Ok(Some(format!(
                    "cannot keep the datadir: {e:#}; nothing was moved; or `galera-sidecar \
                     resync {me} --discard` to delete it instead (docs/operations.md §6)"
                )))
            }
        };
        if let Some(problem) = keep::keep_problem(&m, &me, &dd, &target) {
            return Ok(Some(problem));
        }
        record.kept = Some(target.display().to_string());
        warn!(
            "keeping the datadir of {me} ({}, {} on disk, {} free) at {} and rejoining by SST: \
             {why}",
            crate::status::resynced_range(&record),
            keep::bytes(m.datadir_bytes),
            keep::bytes(m.free_bytes),
            target.display()
        );
        keep::move_aside(&dd, &root, &target, &serde_json::to_string(&record)?, owner)?;
    }
    // Consume the request and the refusal together, recording what was discarded.
    let k = node.etcd.keys.clone();
    node.etcd
        .txn(Txn::new().and_then(vec![
            delete_op(&k.resync(&me)),
            delete_op(&k.refused(&me)),
            put_op(&k.resynced(&me), &serde_json::to_string(&record)?, None),
        ]))
        .await?;
    node.state
        .phase(Phase::Preparing, "resync: re-initialising the datadir");
    node.cfg
        .bins
        .initialise(&node.reaper, &node.cfg.users.sql())
        .await?;
    Ok(None)
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
    let mut said = crate::logging::Throttle::new(Duration::from_secs(5));
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
        let now = unix_now();
        let ignored = snap.force_bootstrap.as_ref().and_then(|req| {
            let current = snap.queue.get(&req.node).and_then(|q| q.position.as_ref());
            let cluster = safety::cluster_uuid(&snap);
            safety::force_request_problem(req, current, cluster.as_deref(), now)
        });
        let paused = crate::pause::active(&snap, now).map(|p| crate::pause::sentence(p, now));
        let election = match &paused {
            // The election and the bootstrap it leads to wait for the pause to end.
            Some(p) => Election::Blocked {
                reason: format!(
                    "cluster {p}: no election and no bootstrap until it ends (`galera-sidecar resume`)"
                ),
            },
            None => elect(&snap, node.cfg.opts.cluster_size, now),
        };
        let sentence = match election {
            Election::Waiting { present, missing } => format!(
                "recovery waits: present [{}], missing [{}]{}",
                present.join(","),
                missing.join(","),
                safety::queued_mark_loss(&snap)
            ),
            Election::Blocked { reason } => format!("recovery blocked: {reason}"),
            Election::Winner {
                name,
                position: wp,
                reason,
                replaces_record,
                forced,
            } => {
                let rec = RecoveryRecord {
                    winner: name.clone(),
                    position: wp,
                    decided_by: me.clone(),
                    at: unix_now(),
                    reason: reason.clone(),
                    forced: forced.clone(),
                    bootstrapped_at: None,
                };
                let value = serde_json::to_string(&rec)?;
                let mut ops = vec![put_op(&k.recovery(), &value, None)];
                let mut cond = vec![];
                if let Some(req) = &forced {
                    // Consume exactly the request obeyed (not one issued meanwhile).
                    let kv = node.etcd.get(&k.force_bootstrap()).await?;
                    let rev = kv.map(|kv| kv.mod_revision).unwrap_or(0);
                    cond.push(Compare::mod_revision(
                        k.force_bootstrap(),
                        CompareOp::Equal,
                        rev,
                    ));
                    ops.push(delete_op(&k.force_bootstrap()));
                    info!("obeying the operator's force-bootstrap of {}", req.node);
                }
                match (&snap.recovery, replaces_record) {
                    (Some(old), true) => {
                        // Replace exactly the record and the bootstrap record the election
                        // saw: neither may have changed since its snapshot (a winner that
                        // bootstrapped meanwhile keeps its recovery).
                        cond.push(unchanged_since(&k.recovery(), snap.revision));
                        cond.push(unchanged_since(&k.bootstrap(), snap.revision));
                        if snap.bootstrap.is_some() {
                            ops.push(delete_op(&k.bootstrap()));
                        } else {
                            cond.push(absent(&k.bootstrap()));
                        }
                        info!(
                            "replacing the recovery record naming {} ({}): {}",
                            old.winner,
                            old.reason,
                            super::recovery::stale_record(&snap, old, now)
                                .unwrap_or_else(|| "forced by the operator".into())
                        );
                    }
                    _ => cond.push(absent(&k.recovery())),
                }
                // Not paused meanwhile.
                cond.push(unchanged_since(&k.pause(), snap.revision));
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
            Election::Recorded(rec) if rec.winner == me => {
                let action = if rec.forced.is_some() {
                    Action::ForcedBootstrap
                } else {
                    Action::RecoveryBootstrap
                };
                match gate(node, &snap, position, action) {
                    Verdict::Allow(_) => return Ok(QueueOutcome::Bootstrap(rec)),
                    Verdict::Wait(why) | Verdict::Refuse(why) => {
                        format!("recovery blocked: elected, but not bootstrapping: {why}")
                    }
                }
            }
            Election::Recorded(rec) => {
                let joined = node.recovery_mark();
                if let Some(ahead) = ahead_of_winner(&rec, &me, position, joined.as_deref()) {
                    return Ok(QueueOutcome::Refused(format!(
                        "this node is {ahead} transaction(s) ahead of {} which bootstraps the recovery at {} ({}); \
                         joining would discard them by SST. This node holds the newer commits: keep them \
                         (docs/operations.md, \"A node ahead of the recovered cluster\")",
                        rec.winner, rec.position, rec.reason
                    )));
                }
                format!(
                    "recovery: waiting for {} to bootstrap ({})",
                    rec.winner, rec.reason
                )
            }
        };
        let sentence = match ignored {
            Some(why) => format!("{sentence} ({why})"),
            None => sentence,
        };
        if said.due(&sentence) {
            info!("{sentence}");
            node.state.phase(Phase::Queued, sentence);
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
        let k = node.etcd.keys.clone();
        node.etcd
            .txn(Txn::new().and_then(vec![
                delete_op(&k.queue(&me)),
                delete_op(&k.seqno(&me)),
                delete_op(&k.position(&me)),
            ]))
            .await?;
        info!("left the recovery queue: joining changes this datadir's position");
    }
    // After the transfer this datadir holds the running cluster's branch of the history.
    let forks = super::branches::cluster_forks(&snap, &node.cfg.name);
    node.add_forks(&forks)
        .context("recording the cluster's forced recoveries in the datadir before joining")?;
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

/// After a bootstrap is Synced: record the cluster uuid (create-if-absent; replacing the old
/// one only when the operator forced this node accepting data loss), then register.
async fn record_bootstrap(
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
            let txn = Txn::new()
                .when(vec![Compare::value(k.uuid(), CompareOp::Equal, u.as_str())])
                .and_then(vec![put_op(&k.uuid(), uuid, None)]);
            if node.etcd.txn(txn).await?.succeeded {
                warn!(
                    "cluster uuid {uuid} replaces {u}: the operator forced this bootstrap accepting data loss; \
                     nodes holding {u} are refused, never overwritten"
                );
            }
        }
        Some(u) => warn!("bootstrapped cluster uuid {uuid} differs from etcd's {u}"),
    }
    if let Some(f) = fork {
        node.etcd
            .put(&k.fork(&f.id), &serde_json::to_string(f)?, None)
            .await?;
    }
    let snap = node.etcd.snapshot().await?;
    node.register(&snap, Some(census)).await?;
    Ok(())
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
            let plan = decide_on(node, &snap, position, &BTreeSet::new(), &peers);
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
            // The all-fresh census the gate saw must still hold when P/bootstrap is written:
            // no census or queue key changed since that snapshot, no member appeared.
            (
                "new-cluster".to_string(),
                vec![
                    cond,
                    absent(&k.uuid()),
                    unchanged_since(&k.census_prefix(), snap.revision),
                    unchanged_since(&k.queue_prefix(), snap.revision),
                    prefix_empty(&k.members_prefix()),
                ],
                vec![put_op(&k.state(), ClusterState::Building.as_str(), None)],
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
            // The positions the gate compared must still be the reported ones.
            (
                if r.forced.is_some() {
                    "force-bootstrap".into()
                } else {
                    "recovery".into()
                },
                vec![
                    Compare::value(k.state(), CompareOp::Equal, ClusterState::Recovery.as_str()),
                    unchanged_since(&k.census_prefix(), snap.revision),
                    unchanged_since(&k.queue_prefix(), snap.revision),
                    unchanged_since(&k.recovery(), snap.revision),
                ],
                // The record shows its own bootstrap: `P/bootstrap` alone may be lost, and a
                // record that outlives its bootstrap would be obeyed a second time.
                vec![put_op(
                    &k.recovery(),
                    &serde_json::to_string(&RecoveryRecord {
                        bootstrapped_at: Some(unix_now()),
                        ..r.clone()
                    })?,
                    None,
                )],
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
    let mut cond = vec![
        node.etcd.no_nodes(),
        unchanged_since(&k.pause(), snap.revision),
    ];
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
    // A forced recovery continues the uuid from this position: datadirs that went past it
    // hold another branch from now on (recorded in etcd and in this datadir).
    let fork = rec
        .as_ref()
        .and_then(|r| super::branches::forced_fork(r, position));
    if let Some(f) = &fork {
        ops.push(put_op(&k.fork(&f.id), &serde_json::to_string(f)?, None));
    }
    if !node.etcd.guarded(guard, cond, ops).await? {
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
    let mut last_log = start;
    // As the Secret's monitor user, re-applied as root when it was rotated while every node
    // was down (the bootstrapped node is the first to see the new Secret).
    let mut monitor = super::monitor::MonitorSession::default();
    let status = loop {
        if let Some(code) = child.try_code() {
            anyhow::bail!("mariadbd exited with status {code} while bootstrapping");
        }
        match monitor.status(node, Duration::from_secs(2)).await {
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
    if let Err(e) = datadir::write_init_ok(&node.cfg.opts.datadir, owner) {
        warn!("cannot write init.ok: {e}");
    }
    // A forced recovery of a datadir whose position was unknown: the fork is where mariadbd
    // actually started, known only now (before any client can commit: nothing is registered).
    let late_fork = match (&fork, &rec) {
        (None, Some(r)) if !matches!(position, Position::Fresh) => super::branches::forced_fork(
            r,
            &Position::known(&uuid, status.last_committed().unwrap_or(-1)),
        ),
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
    let mut last_log = start - Duration::from_secs(60);
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
                if last_log.elapsed() >= Duration::from_secs(5) {
                    warn!("bootstrap of {me} is Synced but recording it in etcd failed ({e:#}); mariadbd keeps running, retrying");
                    last_log = tokio::time::Instant::now();
                }
                if node.stopping() || child.try_code().is_some() {
                    break;
                }
                if start.elapsed() >= Duration::from_secs(120) {
                    warn!("bootstrap of {me}: etcd still failing after {:.0?}; the running loop registers when it answers", start.elapsed());
                    break;
                }
                node.pause(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(Some(child))
}
