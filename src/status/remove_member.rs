//! `remove-member NAME`: forget a member after a scale-down, so recoveries stop waiting for it.

use crate::etcd::requests;
use crate::etcd::Etcd;

/// `remove-member NAME`: forget a member after a scale-down. Refused while it is registered
/// (running) unless forced — the txn checks it, so a node registering meanwhile is not dropped.
pub async fn remove_member(etcd: &Etcd, name: &str, force: bool) -> anyhow::Result<String> {
    crate::names::validate_node_name(name).map_err(|p| crate::cli::ConfigError::new("NAME", p))?;
    let stopped_at = if force {
        None
    } else {
        // A member whose mariadbd runs outside any Primary Component (a partition) may hold
        // the newest commits: recoveries and heals must keep waiting for it.
        let snap = etcd.snapshot().await?;
        if let Some(running) = snap.census.get(name).and_then(|c| c.running.as_ref()) {
            anyhow::bail!(
                "the mariadbd of {name} runs ({running}, outside any Primary Component unless it \
                 is registered): it may hold the newest commits, and once removed nothing waits \
                 for it; nothing written. Stop it first (or use --force)"
            );
        }
        Some(snap.revision)
    };
    if requests::remove_member_if_unchanged(etcd, name, stopped_at).await? {
        return Ok(format!(
            "member {name} removed: recoveries no longer wait for it"
        ));
    }
    let snap = etcd.snapshot().await?;
    if !snap.members.contains_key(name) {
        anyhow::bail!(
            "{name} is not a member (members: {})",
            snap.members.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    anyhow::bail!("{name} is registered (running); stop it first, or use --force")
}
