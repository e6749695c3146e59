//! The typed values of the keys under the prefix: the cluster state, registered and queued
//! nodes, the bootstrap and recovery records, census entries, forks and the commit high-water
//! mark, the operator's requests (force-bootstrap, switchover, pause, resync), the lock and the
//! leader. How a snapshot reads them from raw key-values is in `mod.rs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::position::Position;

/// The cluster states of the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClusterState {
    Building,
    Steady,
    Recovery,
}

impl ClusterState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClusterState::Building => "BUILDING",
            ClusterState::Steady => "STEADY",
            ClusterState::Recovery => "RECOVERY",
        }
    }
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClusterState {
    type Err = String;
    /// Case-insensitive; surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "BUILDING" => Ok(ClusterState::Building),
            "STEADY" => Ok(ClusterState::Steady),
            "RECOVERY" => Ok(ClusterState::Recovery),
            _ => Err(format!(
                "`{}` is not a cluster state (BUILDING, STEADY or RECOVERY)",
                s.trim()
            )),
        }
    }
}

/// `P/state` as found: a known state, or a value the entrypoint must refuse to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StateValue {
    Known(ClusterState),
    Invalid(String),
}

/// A registered node (`nodes/<name>`): Synced or Donor right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeEntry {
    pub address: String,
    pub lease: i64,
}

/// A node queued for recovery: `queue/`, `seqno/` and `position/` of one name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct QueueEntry {
    pub queued_at: Option<i64>,
    pub seqno: Option<i64>,
    pub position: Option<Position>,
}

/// `P/bootstrap`: who bootstraps, from which position, when. Written before `--wsrep-new-cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapRecord {
    pub node: String,
    pub position: Position,
    pub at: i64,
    /// `new-cluster`, `recovery` or `force-bootstrap`.
    pub reason: String,
}

/// `P/recovery`: the elected winner of a recovery and its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRecord {
    pub winner: String,
    pub position: Position,
    pub decided_by: String,
    pub at: i64,
    /// Why this winner (e.g. "highest seqno 42", "force-bootstrap").
    pub reason: String,
    /// The operator's request this winner answers, when it was forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<ForceRequest>,
    /// When the winner began its bootstrap (written in the same fenced txn as `P/bootstrap`,
    /// so that the record itself shows its bootstrap happened even if `P/bootstrap` is lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrapped_at: Option<i64>,
}

/// `P/census/<name>`: what a live entrypoint reports about itself, under its lease, for its
/// whole life. The evidence that decides whether a datadir holds data: a missing key proves
/// nothing, a fresh one counts only when it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusEntry {
    /// The datadir's last known position (recovered at start, the live one while Synced).
    pub position: Position,
    pub address: String,
    /// When this was written (unix time).
    pub at: i64,
    /// While mariadbd runs and answers: the cluster's actual state uuid and last committed
    /// seqno as it reports them (`wsrep_cluster_state_uuid`, `wsrep_last_committed`). In a
    /// Primary Component when the node is also registered (`nodes/`); non-Primary otherwise.
    #[serde(default)]
    pub running: Option<Position>,
    /// The forced recoveries this datadir's history went through (its `galera-sidecar.forks.log`
    /// file): which branch of its uuid it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forks: Vec<Fork>,
    /// While mariadbd runs: the lowest seqno still in its gcache (`wsrep_local_cached_downto`),
    /// i.e. a joiner of the same uuid at seqno `s` can get an IST from it when this is
    /// `<= s + 1` (`restart_gate`). `None` when unknown or the gcache is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_downto: Option<i64>,
    /// While mariadbd runs: how many of its own clients' transactions it committed while it
    /// was not the leader (`wsrep_local_commits` growth, since mariadbd started; see
    /// `galera::read_only`). Above zero, a client bypasses haproxy's write port.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stray_writes: u64,
    /// The entrypoint's mariadbd version (`mariadbd --version`, read once at start, e.g.
    /// `10.11.19-MariaDB-0+deb12u1`): `status` flags a cluster of mixed versions, and a
    /// joiner compares its own with the leader's (`galera::upgrade::join_refusal`). `None`
    /// from an entrypoint that does not publish it, or could not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `P/hwm`: the commit high-water mark — the last committed position the leader saw, written
/// every few seconds while it changes. Permanent (it must outlive the leader): a recovery or
/// a force-bootstrap from below it loses at least the difference. `forks`: the ids of the
/// forced recoveries the leader's datadir went through (its branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub uuid: String,
    pub seqno: i64,
    /// When it was written (unix time), and by which node.
    pub at: i64,
    pub by: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forks: Vec<String>,
}

/// `P/forks/<id>`, and an entry of a datadir's `galera-sidecar.forks.log`: the operator's forced
/// recovery `id` continued cluster `uuid` from `seqno`. From then on the uuid has two
/// branches: a datadir of that uuid past `seqno` holds the forced cluster's commits only if
/// its history went through this fork (it lists it), else the commits of the history the
/// force left behind. Seqnos of two branches are not comparable past the fork.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fork {
    pub id: String,
    pub uuid: String,
    pub seqno: i64,
}

/// `P/force-bootstrap`: the operator's request that `node` bootstraps the current or next
/// recovery, bound to the position it was issued against, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForceRequest {
    pub node: String,
    /// The node's position when the request was issued; `None` when it was not known (then
    /// only `accept_data_loss` makes the request valid).
    #[serde(default)]
    pub position: Option<Position>,
    #[serde(default)]
    pub issued_at: i64,
    /// Unix time after which the request is ignored (0: written without an expiry).
    #[serde(default)]
    pub expires_at: i64,
    /// The operator accepted that a fresh, unknown or foreign datadir starts the cluster.
    #[serde(default)]
    pub accept_data_loss: bool,
}

/// `P/switchover`: the operator's request that `to` takes leadership over from the leader
/// the request was made against (`leader_revision`, the mod_revision of `P/leader` then).
/// The key lives under a lease as long as the command waits; the target hands leadership
/// over to itself, or writes why it refuses into `refused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchoverRequest {
    pub to: String,
    /// The leader's address when the request was made.
    pub from: String,
    pub leader_revision: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The operator moves the leader during a maintenance pause on purpose.
    #[serde(default)]
    pub during_pause: bool,
    /// Why the target refused, once it did.
    #[serde(default)]
    pub refused: Option<String>,
    /// The key's lease and mod_revision (not stored in the value).
    #[serde(skip)]
    pub lease: i64,
    #[serde(skip)]
    pub mod_revision: i64,
}

/// `P/pause`: a maintenance pause of the automatic cluster decisions, lease-bound (it ends by
/// itself at `until`), with who set it and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: String,
    pub by: String,
    pub since: i64,
    pub until: i64,
    /// The key's lease (not stored in the value).
    #[serde(skip)]
    pub lease: i64,
}

/// `P/resync/<name>`: the operator's request that a refused node discards its datadir, bound
/// to the position it was refused with, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncRequest {
    /// The refused node's position when the request was issued (`None`: not bound, ignored).
    #[serde(default)]
    pub position: Option<Position>,
    #[serde(default)]
    pub issued_at: i64,
    /// Unix time after which the request is ignored (0: written without an expiry).
    #[serde(default)]
    pub expires_at: i64,
    /// `resync --discard`: delete the datadir. Absent (an older request) or false: keep it
    /// aside on its volume (the safe default, docs/operations.md §6).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discard: bool,
}

/// `P/resynced/<name>`: what the last resync of a node discarded, and where the copy is kept
/// (permanent, until the operator deletes the kept copy and this key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncedRecord {
    /// The discarded datadir's position (its history's uuid and last seqno).
    pub position: Position,
    /// The first seqno of that history the running cluster does not hold, when the numbers
    /// say (0: another history, all of it).
    #[serde(default)]
    pub first_seqno: Option<i64>,
    /// The running cluster's position the node compared with, when published.
    #[serde(default)]
    pub cluster: Option<Position>,
    /// The kept copy's path on the node's volume; `None`: deleted (`--discard`).
    #[serde(default)]
    pub kept: Option<String>,
    /// When (unix time).
    pub at: i64,
    /// Why the node had been refused.
    #[serde(default)]
    pub reason: String,
}

impl RecoveryRecord {
    /// This record's identity (winner and decision time), as a datadir's recovery marker
    /// stores it.
    pub fn id(&self) -> String {
        format!("{}@{}", self.winner, self.at)
    }
}

/// `P/lock`: the holder's name and the revision that created the key (the fencing token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockEntry {
    pub holder: String,
    pub lease: i64,
    pub create_revision: i64,
}

/// `P/leader`: the leader's address under its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderEntry {
    pub address: String,
    pub lease: i64,
    pub create_revision: i64,
    /// Changes with every write of the key, including a switchover's hand-over in place
    /// (which keeps create_revision): what a write made as this leader is fenced on.
    #[serde(default)]
    pub mod_revision: i64,
}

impl LeaderEntry {
    /// Condition: `P/leader` (at `key`) is still exactly this entry — not deleted, not
    /// re-created, not handed over to another node since it was read.
    pub fn unchanged(&self, key: &str) -> etcd_client::Compare {
        etcd_client::Compare::mod_revision(
            key.to_string(),
            etcd_client::CompareOp::Equal,
            self.mod_revision,
        )
    }
}
