//! `force-bootstrap NAME`: the operator's choice of the node that bootstraps a recovery, bound
//! to its reported position and expiring, refused when it would lose data it cannot see.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{positions_listing, reported_position};
use crate::etcd::requests;
use crate::etcd::snapshot::ForceRequest;
use crate::etcd::Etcd;
use crate::galera::safety;
use crate::position::Position;

/// `force-bootstrap NAME`: a request, bound to NAME's reported position and expiring, that
/// NAME bootstraps the current or next recovery. Refused (nothing written) for a fresh,
/// unknown or foreign datadir unless `accept_data_loss`; prints the known positions and what
/// the choice loses.
pub async fn force_bootstrap(
    etcd: &Etcd,
    name: &str,
    expires: Duration,
    accept_data_loss: bool,
) -> anyhow::Result<String> {
    crate::names::validate_node_name(name).map_err(|p| crate::cli::ConfigError::new("NAME", p))?;
    let snap = etcd.snapshot().await?;
    let position = reported_position(&snap, name);
    let known = snap.members.contains_key(name) || position.is_some();
    if !known {
        return Err(crate::cli::ConfigError::new(
            "NAME",
            format!(
                "{name} is neither a member of cluster {} nor a node reporting a position; known: {}",
                etcd.keys.prefix(),
                {
                    let mut k: BTreeSet<&str> = snap.members.keys().map(String::as_str).collect();
                    k.extend(safety::reported_positions(&snap).keys().copied());
                    if k.is_empty() {
                        "none".to_string()
                    } else {
                        k.into_iter().collect::<Vec<_>>().join(", ")
                    }
                }
            ),
        )
        .into());
    }
    if !snap.nodes.is_empty() {
        anyhow::bail!(
            "{} registered: a cluster runs, there is nothing to force. force-bootstrap binds to a \
             stopped node's position during a full outage",
            snap.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let running: Vec<&str> = snap
        .census
        .iter()
        .filter(|(n, c)| n.as_str() != name && c.running.is_some())
        .map(|(n, _)| n.as_str())
        .collect();
    if !running.is_empty() {
        anyhow::bail!(
            "the mariadbd of {} runs (outside any Primary Component): forcing {name} beside it \
             could make a second Primary Component; nothing written. Stop it first (or let the \
             cluster heal: docs/recovery.md)",
            running.join(", ")
        );
    }
    let now = crate::etcd::unix_now();
    let req = ForceRequest {
        node: name.to_string(),
        position: position.clone(),
        issued_at: now,
        expires_at: now + expires.as_secs().max(1) as i64,
        accept_data_loss,
    };
    let listing = positions_listing(&snap);
    let cluster = safety::cluster_uuid(&snap);
    let loss = match safety::transactions_lost(
        position.as_ref().unwrap_or(&Position::Unknown),
        crate::galera::branches::forks_of(&snap, name),
        &snap,
    ) {
        Some(l) => format!(
            "choosing {name} loses at least {} transaction(s) of {} (held by {})",
            l.count,
            l.uuid,
            l.holders.join(",")
        ),
        None => format!("choosing {name} loses no reported transaction"),
    } + &safety::unknown_positions_sentence(&snap, name)
        + &position
            .as_ref()
            .map(|p| {
                safety::mark_loss_sentence(
                    name,
                    p,
                    crate::galera::branches::forks_of(&snap, name),
                    &snap,
                )
            })
            .unwrap_or_default();
    let problem = match &position {
        None if !accept_data_loss => Some(format!(
            "{name} has not reported its position (start its entrypoint first, it reports before \
             anything else), or accept the loss of whatever it holds with --accept-data-loss"
        )),
        _ => safety::force_request_problem(&req, position.as_ref(), cluster.as_deref(), now),
    };
    if let Some(problem) = problem {
        anyhow::bail!(
            "force-bootstrap refused, nothing written: {problem}.\nKnown positions:\n{listing}\n{loss}"
        );
    }
    let written =
        requests::put_force_request(etcd, name, snap.revision, &serde_json::to_string(&req)?)
            .await?;
    if !written {
        anyhow::bail!(
            "{name}'s position changed or a node registered while the request was written; \
             nothing written: run `galera-sidecar status` and try again"
        );
    }
    Ok(format!(
        "force-bootstrap set: in the current or next recovery {name} bootstraps, bound to its position {} \
         and expiring at {} (in {}){}.\nKnown positions:\n{listing}\n{loss}; nodes ahead of it or \
         holding another history are refused, never overwritten",
        position
            .as_ref()
            .map(Position::to_string)
            .unwrap_or_else(|| "(not reported)".into()),
        req.expires_at,
        humantime::format_duration(expires),
        if accept_data_loss {
            ", data loss accepted"
        } else {
            ""
        }
    ))
}
