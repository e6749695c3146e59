//! Test fixtures shared by the `status` tests: a healthy three-node snapshot and live states.

use std::collections::BTreeMap;

use super::{LiveResult, LiveState};
use crate::etcd::snapshot::{CensusEntry, LeaderEntry, NodeEntry, StateValue};
use crate::etcd::{ClusterSnapshot, ClusterState};
use crate::position::Position;

pub(super) const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
pub(super) const V: &str = "11111111-2222-3333-4444-555555555555";

pub(super) fn base() -> ClusterSnapshot {
    let mut s = ClusterSnapshot {
        state: Some(StateValue::Known(ClusterState::Steady)),
        uuid: Some(U.into()),
        ..Default::default()
    };
    for (n, a) in [
        ("g-0", "10.0.0.1"),
        ("g-1", "10.0.0.2"),
        ("g-2", "10.0.0.3"),
    ] {
        s.members.insert(n.into(), a.into());
        s.nodes.insert(
            n.into(),
            NodeEntry {
                address: a.into(),
                lease: 1,
            },
        );
    }
    s.leader = Some(LeaderEntry {
        address: "10.0.0.1".into(),
        lease: 1,
        create_revision: 1,
        mod_revision: 1,
    });
    s
}

/// A census entry; `running`: the node serves this position's cluster.
pub(super) fn census(s: &mut ClusterSnapshot, n: &str, p: Position, running: bool) {
    s.census.insert(
        n.into(),
        CensusEntry {
            position: p.clone(),
            address: "10.0.0.9".into(),
            at: 1,
            running: running.then_some(p),
            forks: vec![],
            cached_downto: None,
            stray_writes: 0,
            version: None,
        },
    );
}

pub(super) fn live(state: &str, status: &str, size: u64, uuid: &str) -> LiveResult {
    Ok(LiveState {
        local_state: state.into(),
        cluster_status: status.into(),
        cluster_size: Some(size),
        cluster_state_uuid: uuid.into(),
        last_committed: Some(7),
        ready: status == "Primary",
        evs_state: "OPERATIONAL".into(),
    })
}

pub(super) fn all_synced() -> BTreeMap<String, LiveResult> {
    ["g-0", "g-1", "g-2"]
        .into_iter()
        .map(|n| (n.to_string(), live("Synced", "Primary", 3, U)))
        .collect()
}
