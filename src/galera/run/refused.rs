//! A refused node: publish why, wait for the operator's resync (bound to this datadir's
//! position), and obey it — keep the datadir aside, or delete it on `--discard` — then
//! re-initialise.

use super::*;
use std::time::Duration;

use tracing::warn;

use crate::etcd::{unix_now, ClusterSnapshot};
use crate::galera::datadir::{self};
use crate::galera::node::Node;
use crate::galera::safety::{Action, Verdict};
use crate::position::Position;
use crate::state_file::Phase;

/// Refused: publish why, wait in-process for a valid `resync <me>` (bound to this datadir's
/// position, not expired: the safety gate rules); on it, keep the datadir aside (or delete it
/// on `--discard`) and re-initialise (returns true). Returns false when shutting down.
pub(super) async fn refused(
    node: &mut Node,
    reason: &str,
    position: &Position,
) -> anyhow::Result<bool> {
    let me = node.cfg.name.clone();
    warn!("refusing to start: {reason}");
    node.state.phase(Phase::Refused, reason);
    let mut say = crate::logging::Every::after(crate::galera::bounds::REFUSED_SAY_EVERY);
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
                .publish_refusal(&me, &published, node.lease.id())
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
                    i == issued
                        && !discard
                        && t.elapsed() < crate::galera::bounds::REFUSED_SAY_EVERY
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
        if say.due() {
            warn!("still refusing: {reason}");
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
pub(super) async fn resync_datadir(
    node: &mut Node,
    snap: &ClusterSnapshot,
    position: &Position,
    reason: &str,
    discard: bool,
    why: &str,
) -> anyhow::Result<Option<String>> {
    use crate::galera::keep;
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
    node.etcd.consume_resync(&me, &record).await?;
    node.state
        .phase(Phase::Preparing, "resync: re-initialising the datadir");
    node.cfg
        .bins
        .initialise(&node.reaper, &node.cfg.users.sql())
        .await?;
    Ok(None)
}
