//! Prepare the datadir: mariadbd's version, classify the datadir, initialise a fresh one,
//! recover a used one's position; and the check of a datadir with data but no init.ok.

use tracing::{info, warn};

use crate::etcd::ClusterSnapshot;
use crate::galera::datadir::{self, DatadirKind};
use crate::galera::node::Node;
use crate::position::Position;
use crate::state_file::Phase;

/// Prepare the datadir and return the local position (docs/design.md §3.1–3.2).
pub async fn prepare(node: &mut Node) -> anyhow::Result<Option<Position>> {
    let dd = node.cfg.opts.datadir.clone();
    node.version = match node.cfg.bins.version(&node.reaper).await {
        Ok(v) => {
            info!("mariadbd version {v}");
            Some(v)
        }
        Err(e) => {
            warn!(
                "{e:#}: the census publishes no version, and a join is not checked against \
                 the leader's version"
            );
            None
        }
    };
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
