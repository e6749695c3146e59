//! `set-state`: set `P/state` by hand, compare-and-set against the value read.

use crate::etcd::requests;
use crate::etcd::{ClusterState, Etcd};

/// `set-state`: validate, refuse RECOVERY while nodes are registered unless forced, CAS the
/// value (so a concurrent change is not overwritten silently), print old → new.
pub async fn set_state(etcd: &Etcd, value: &str, force: bool) -> anyhow::Result<String> {
    let new: ClusterState = value
        .parse()
        .map_err(|e: String| crate::cli::ConfigError::new("STATE", e))?;
    let key = etcd.keys.state();
    let current = etcd.get(&key).await?;
    let old = current
        .as_ref()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
    let written = requests::put_state_if_unchanged(
        etcd,
        new,
        current.as_ref().map(|kv| kv.mod_revision),
        new == ClusterState::Recovery && !force,
    )
    .await?;
    if !written {
        let snap = etcd.snapshot().await?;
        if new == ClusterState::Recovery && !force && !snap.nodes.is_empty() {
            anyhow::bail!(
                "refusing RECOVERY: {} node(s) registered ({}); a running cluster does not need recovery. Use --force to set it anyway",
                snap.nodes.len(),
                snap.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        anyhow::bail!("state changed while setting it; run set-state again");
    }
    Ok(format!("{} -> {}", old.as_deref().unwrap_or("(none)"), new))
}
