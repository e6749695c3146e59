//! The recovery queue: publish this datadir's position, wait for the election, record the
//! winner (fenced), and hand the winner over to the bootstrap.

use super::*;
use crate::etcd::startup::Replacing;

use tracing::info;

use crate::etcd::snapshot::RecoveryRecord;
use crate::etcd::{unix_now, ClusterState};
use crate::galera::node::Node;
use crate::galera::recovery::{ahead_of_winner, elect, Election};
use crate::galera::safety::{self, Action, Verdict};
use crate::position::Position;
use crate::state_file::Phase;

pub(super) enum QueueOutcome {
    Bootstrap(RecoveryRecord),
    Refused(String),
    Again,
}

/// RECOVERY with nobody registered: queue our position (one txn), then wait — without the
/// lock — for the election; the first node to see the full set records the winner.
pub(super) async fn queue(node: &mut Node, position: &Position) -> anyhow::Result<QueueOutcome> {
    let me = node.cfg.name.clone();
    let k = node.etcd.keys.clone();
    let mut queued_lease = 0;
    let mut said = crate::logging::Throttle::new(crate::galera::bounds::SAY_EVERY);
    loop {
        if node.stopping() {
            return Ok(QueueOutcome::Again);
        }
        node.renew_lease_if_lost().await?;
        if queued_lease != node.lease.id() {
            node.etcd
                .enqueue(&me, position, unix_now(), node.lease.id())
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
                let mut force_revision = None;
                if let Some(req) = &forced {
                    // Consume exactly the request obeyed (not one issued meanwhile).
                    let kv = node.etcd.get(&k.force_bootstrap()).await?;
                    force_revision = Some(kv.map(|kv| kv.mod_revision).unwrap_or(0));
                    info!("obeying the operator's force-bootstrap of {}", req.node);
                }
                let replacing = match (&snap.recovery, replaces_record) {
                    (Some(old), true) => {
                        // Replace exactly the record and the bootstrap record the election
                        // saw (a winner that bootstrapped meanwhile keeps its recovery).
                        info!(
                            "replacing the recovery record naming {} ({}): {}",
                            old.winner,
                            old.reason,
                            crate::galera::recovery::stale_record(&snap, old, now)
                                .unwrap_or_else(|| "forced by the operator".into())
                        );
                        Replacing::Record {
                            bootstrap: snap.bootstrap.is_some(),
                        }
                    }
                    _ => Replacing::Nothing,
                };
                // Fenced also on no pause begun meanwhile.
                let won = node
                    .etcd
                    .record_winner(&rec, snap.revision, replacing, force_revision)
                    .await?;
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
        node.pause(crate::galera::bounds::PASS).await;
    }
}
