//! The `status` report: one row per member, registered or queued node, and the cluster's
//! records, built from a [`ClusterSnapshot`] (pure) and, when asked, each node's live state.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::flags::flags;
use super::reported_position;
use crate::etcd::snapshot::{BootstrapRecord, ForceRequest, RecoveryRecord, StateValue};
use crate::etcd::ClusterSnapshot;
use crate::galera::safety::{self, History};
use crate::position::Position;

/// One member (or registered/queued node) as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRow {
    pub name: String,
    pub address: Option<String>,
    pub member: bool,
    pub registered: bool,
    pub leader: bool,
    pub queued: bool,
    pub seqno: Option<i64>,
    pub position: Option<String>,
    pub refused: Option<String>,
    pub resync_requested: bool,
    /// Why the pending resync request is not obeyed (expired, unbound, position moved).
    pub resync_ignored: Option<String>,
    /// The datadir position the node's entrypoint reports (census), while it runs.
    pub reported: Option<String>,
    /// The mariadbd version the node's entrypoint reports (census), while it runs.
    pub version: Option<String>,
    /// Live wsrep state, when the node answered (filled by the caller).
    pub live: Option<LiveState>,
    /// Why there is no live state: the node did not answer, or it was not asked.
    pub live_error: Option<String>,
}

/// A node's live wsrep state as seen from `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveState {
    /// `wsrep_local_state_comment`: Synced, Donor/Desynced, Joined, Joining, Initialized…
    pub local_state: String,
    /// `wsrep_cluster_status`: Primary, non-Primary, Disconnected.
    pub cluster_status: String,
    pub cluster_size: Option<u64>,
    pub cluster_state_uuid: String,
    pub last_committed: Option<i64>,
    /// `wsrep_ready`.
    pub ready: bool,
    /// `wsrep_evs_state`: OPERATIONAL when the group communication works.
    pub evs_state: String,
}

impl LiveState {
    /// The parts of a wsrep status `status` shows (pure).
    pub fn from_wsrep(s: &crate::mysql::WsrepStatus) -> LiveState {
        LiveState {
            local_state: s.local_state_comment().to_string(),
            cluster_status: s.cluster_status().to_string(),
            cluster_size: s.cluster_size(),
            cluster_state_uuid: s.cluster_state_uuid().to_string(),
            last_committed: s.last_committed(),
            ready: s.ready(),
            evs_state: s.evs_state().to_string(),
        }
    }

    pub(super) fn synced(&self) -> bool {
        self.local_state == "Synced"
    }

    pub(super) fn donor(&self) -> bool {
        self.local_state.starts_with("Donor")
    }

    pub(super) fn primary(&self) -> bool {
        self.cluster_status == "Primary"
    }
}

/// What `status` learnt by asking one node over SQL.
pub type LiveResult = Result<LiveState, String>;

/// Everything `status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub cluster: String,
    pub revision: i64,
    pub state: Option<String>,
    pub uuid: Option<String>,
    pub leader: Option<String>,
    pub leader_name: Option<String>,
    pub lock_holder: Option<String>,
    pub bootstrap: Option<BootstrapRecord>,
    pub recovery: Option<RecoveryRecord>,
    pub force_bootstrap: Option<ForceRequest>,
    /// Why the pending force-bootstrap request is not obeyed (expired, unbound, position moved,
    /// a fresh/unknown/foreign datadir without --accept-data-loss).
    pub force_bootstrap_ignored: Option<String>,
    /// The histories (uuid, highest seqno, holders) the nodes report; two or more means two
    /// clusters' data exist side by side.
    pub histories: Vec<History>,
    /// The commit high-water mark the leader last wrote.
    pub hwm: Option<crate::etcd::snapshot::Mark>,
    /// The maintenance pause in force (`pause`), if any.
    pub pause: Option<crate::etcd::snapshot::Pause>,
    /// A pending `switchover` request.
    pub switchover: Option<crate::etcd::snapshot::SwitchoverRequest>,
    /// What each node's last resync discarded, and where the copy is kept (`P/resynced/`).
    pub resynced: BTreeMap<String, crate::etcd::snapshot::ResyncedRecord>,
    pub members: Vec<MemberRow>,
    /// Why no node's live state was asked for (e.g. no monitor user configured).
    pub live_skipped: Option<String>,
    /// Disagreements and problems, one sentence each.
    pub flags: Vec<String>,
}

/// Build the report from a snapshot and each node's live answer, by node name (pure). Nodes
/// missing from `live` were not asked.
pub fn report_with_live(
    cluster: &str,
    snap: &ClusterSnapshot,
    live: &BTreeMap<String, LiveResult>,
) -> StatusReport {
    let now = crate::etcd::unix_now();
    let mut r = report_at(cluster, snap, now);
    for m in &mut r.members {
        match live.get(&m.name) {
            Some(Ok(l)) => m.live = Some(l.clone()),
            Some(Err(e)) => m.live_error = Some(e.clone()),
            None => {}
        }
    }
    r.flags = flags(snap, &r.members, now);
    r
}

/// Build the report from a snapshot, now.
pub fn report(cluster: &str, snap: &ClusterSnapshot) -> StatusReport {
    report_at(cluster, snap, crate::etcd::unix_now())
}

/// Why the pending force-bootstrap request is not obeyed, if it is not (pure).
pub fn force_bootstrap_ignored(snap: &ClusterSnapshot, now: i64) -> Option<String> {
    let req = snap.force_bootstrap.as_ref()?;
    let current = reported_position(snap, &req.node);
    let cluster = safety::cluster_uuid(snap);
    safety::force_request_problem(req, current.as_ref(), cluster.as_deref(), now)
}

/// Build the report from a snapshot at unix time `now` (pure).
pub fn report_at(cluster: &str, snap: &ClusterSnapshot, now: i64) -> StatusReport {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(snap.census.keys().map(String::as_str));
    names.extend(snap.members.keys().map(String::as_str));
    names.extend(snap.nodes.keys().map(String::as_str));
    names.extend(snap.queue.keys().map(String::as_str));
    names.extend(snap.refused.keys().map(String::as_str));
    let leader_name = snap.leader_name().map(str::to_string);
    let members = names
        .into_iter()
        .map(|n| {
            let q = snap.queue.get(n);
            MemberRow {
                name: n.to_string(),
                address: snap
                    .nodes
                    .get(n)
                    .map(|e| e.address.clone())
                    .or_else(|| snap.members.get(n).cloned()),
                member: snap.members.contains_key(n),
                registered: snap.nodes.contains_key(n),
                leader: leader_name.as_deref() == Some(n),
                queued: q.is_some(),
                seqno: q.and_then(|q| q.seqno),
                position: q.and_then(|q| q.position.as_ref()).map(Position::to_string),
                refused: snap.refused.get(n).cloned(),
                resync_requested: snap.resync.contains_key(n),
                resync_ignored: snap.resync.get(n).and_then(|req| {
                    let current = reported_position(snap, n).unwrap_or(Position::Unknown);
                    safety::resync_request_problem(n, req, &current, now)
                }),
                reported: snap.census.get(n).map(|c| c.position.to_string()),
                version: snap.census.get(n).and_then(|c| c.version.clone()),
                live: None,
                live_error: None,
            }
        })
        .collect();
    let mut r = StatusReport {
        cluster: cluster.to_string(),
        revision: snap.revision,
        state: snap.state.as_ref().map(|s| match s {
            StateValue::Known(k) => k.to_string(),
            StateValue::Invalid(v) => v.clone(),
        }),
        uuid: snap.uuid.clone(),
        leader: snap.leader.as_ref().map(|l| l.address.clone()),
        leader_name,
        lock_holder: snap.lock.as_ref().map(|l| l.holder.clone()),
        bootstrap: snap.bootstrap.clone(),
        recovery: snap.recovery.clone(),
        force_bootstrap: snap.force_bootstrap.clone(),
        force_bootstrap_ignored: force_bootstrap_ignored(snap, now),
        histories: safety::histories(snap),
        hwm: snap.hwm.clone(),
        pause: crate::pause::active(snap, now).cloned(),
        switchover: snap.switchover.clone(),
        resynced: snap.resynced.clone(),
        members,
        live_skipped: None,
        flags: vec![],
    };
    r.flags = flags(snap, &r.members, now);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixtures::base;

    #[test]
    fn healthy_cluster_has_no_flags() {
        let r = report("c", &base());
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert_eq!(r.leader_name.as_deref(), Some("g-0"));
        assert_eq!(r.members.len(), 3);
        assert!(r.members[0].leader && r.members[0].registered && r.members[0].member);
    }
}
