//! `resync NAME`: a refused node moves its diverged datadir aside (or deletes it) and rejoins by
//! SST; the request is bound to the position it was refused with, and expires.

use std::time::Duration;

use super::{positions_listing, reported_position};
use crate::etcd::requests;
use crate::etcd::snapshot::ResyncRequest;
use crate::etcd::Etcd;
use crate::position::Position;

/// `resync NAME [--discard]`: a node refused right now moves its datadir aside on its volume
/// (kept; `--discard`: deleted) and rejoins by SST. The request is bound to the position NAME
/// reports now and expires; nothing is written when NAME is not refused.
pub async fn resync(
    etcd: &Etcd,
    name: &str,
    expires: Duration,
    discard: bool,
) -> anyhow::Result<String> {
    crate::names::validate_node_name(name).map_err(|p| crate::cli::ConfigError::new("NAME", p))?;
    let snap = etcd.snapshot().await?;
    let Some(why) = snap.refused.get(name) else {
        anyhow::bail!(
            "{name} is not refused right now: nothing to resync, nothing written (a resync answers \
             a refusal; `galera-sidecar status` lists refused nodes)"
        );
    };
    let Some(position) = reported_position(&snap, name) else {
        anyhow::bail!("{name} is refused but reports no position; nothing written");
    };
    let now = crate::etcd::unix_now();
    let req = ResyncRequest {
        position: Some(position.clone()),
        issued_at: now,
        expires_at: now + expires.as_secs().max(1) as i64,
        discard,
    };
    let written =
        requests::put_resync_request(etcd, name, snap.revision, &serde_json::to_string(&req)?)
            .await?;
    if !written {
        anyhow::bail!("{name}'s position or refusal changed meanwhile; nothing written");
    }
    let discards = match &position {
        Position::Known { uuid, seqno } => {
            format!(
                "its datadir at {uuid}:{seqno} (history {uuid}, {} transaction(s))",
                seqno + 1
            )
        }
        p => format!("its datadir at {p}"),
    };
    let what = if discard {
        format!("it DELETES {discards} (--discard) and rejoins by SST")
    } else {
        format!(
            "it moves {discards} aside on its volume (its kept dir, <uuid>_<seqno>_<time>) and \
             rejoins by SST; it refuses, changing nothing, if the copy cannot stay on the \
             datadir's filesystem or the volume lacks room for the SST beside it. `status` shows \
             the kept copy; docs/operations.md §6 says how to delete it"
        )
    };
    Ok(format!(
        "resync requested for {name} (refused: {why}): {what}. \
         Bound to that position, expiring at {} (in {}).\nKnown positions:\n{}",
        req.expires_at,
        humantime::format_duration(expires),
        positions_listing(&snap)
    ))
}
