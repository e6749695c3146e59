//! The safety gate: one pure function that every history-choosing action passes before it runs
//! (docs/recovery.md, "Safety invariants").
//!
//! A history-choosing action is one that decides which committed transactions survive: starting
//! a brand-new cluster (a new uuid), bootstrapping a recovery (automatic or forced), joining a
//! running cluster (which may overwrite this datadir by SST), and wiping a datadir (`resync`).
//! Each needs *positive evidence*: a missing etcd key proves nothing (etcd can lose its data),
//! and an operator's request counts only while it is bound to the position it was issued
//! against and has not expired.
//!
//! The invariants kept here:
//! - **one history**: no new uuid while any reported datadir holds data; a node joins only a
//!   running cluster whose *actual* uuid (published by its registered nodes) is its own;
//! - **no silent overwrite**: a datadir with a known position is overwritten only by a cluster
//!   of the same uuid and a history at least as long, or by a bound, unexpired operator request;
//! - **operator requests are bound and expire**.
//!
//! The parts:
//! - this file: the [`Action`]s, the [`Evidence`], the [`Verdict`] and [`check`];
//! - `bootstrap.rs`: the rulings on a new cluster, a recovery bootstrap and a forced one;
//! - `join.rs`: the ruling on joining the running cluster;
//! - `requests.rs`: the operator's force-bootstrap and resync requests, the ruling on a wipe;
//! - `histories.rs`: the reported positions and the histories they show;
//! - `loss.rs`: what a bootstrap loses (other datadirs, the commit high-water mark).

mod bootstrap;
mod histories;
mod join;
mod loss;
mod requests;
#[cfg(test)]
mod tests;

use crate::etcd::snapshot::{ClusterSnapshot, Fork};
use crate::position::Position;

pub use histories::{cluster_uuid, histories, histories_sentence, reported_positions, History};
pub use loss::{
    holds_mark, mark_loss, mark_loss_sentence, mark_words, queued_mark_loss, transactions_lost,
    unknown_positions, unknown_positions_sentence, Loss,
};
pub use requests::{force_request_problem, resync_request_problem};

use bootstrap::{forced_bootstrap, new_cluster, recovery_bootstrap};
use join::join;
use requests::wipe;

/// How long after a node's last sign of life a running cluster's published position must be,
/// to prove the cluster's history is at least as long as that node's (the state file's time
/// lags the last commit by up to a second; the publication's time is rounded to seconds).
pub const PUBLICATION_MARGIN_SECS: i64 = 3;

/// A joiner whose seqno is above the running cluster's published one is refused only once a
/// publication this long after its last run says so: a node that was still applying commits
/// while it stopped, or a publisher lagging in applying, looks "ahead" for a few seconds.
pub const AHEAD_CONFIRM_SECS: i64 = 15;

/// The actions the gate rules on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a brand-new cluster (a new uuid) from this fresh datadir.
    NewCluster,
    /// Bootstrap the recovery this node was elected for automatically.
    RecoveryBootstrap,
    /// Bootstrap the recovery the operator forced onto this node.
    ForcedBootstrap,
    /// Join the running cluster (IST, or SST over this datadir).
    Join,
    /// Discard this datadir and re-initialise it (`resync`).
    Wipe,
}

/// What the gate rules on: the etcd snapshot (census, registered nodes with their published
/// cluster positions, records, operator requests) and this node's own facts.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub snap: &'a ClusterSnapshot,
    pub me: &'a str,
    /// This datadir's position.
    pub local: &'a Position,
    /// When this datadir's position was last current (mariadbd last seen running, or this
    /// process's start): a running cluster's position published before that proves nothing.
    pub local_since: i64,
    /// The recovery record this datadir joined (its marker file), if any.
    pub joined_recovery: Option<&'a str>,
    /// The forced recoveries this datadir's history went through (its forks file).
    pub forks: &'a [Fork],
    pub now: i64,
    pub cluster_size: usize,
    /// How long after a forced recovery was recorded a member that shows nothing in etcd (no
    /// census, not queued) counts as stopped ([`member_quiet_secs`]).
    pub quiet_secs: i64,
}

/// How long a forced bootstrap waits, from the forced record, for members that show nothing
/// in etcd: a lease TTL (a census key written just before lives that long) plus two census
/// refreshes (a live entrypoint re-writes a missing census key within one). A member whose
/// mariadbd runs while etcd shows nothing of it (etcd lost its keys, its entrypoint was paused
/// past its lease) shows itself within that time if its entrypoint runs at all; one paused
/// for longer cannot be told from a stopped one (docs/recovery.md).
pub fn member_quiet_secs(lease_ttl: std::time::Duration) -> i64 {
    (lease_ttl + 2 * super::steady::CENSUS_REFRESH).as_secs() as i64
}

/// The gate's ruling, with the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow(String),
    /// The evidence is not complete yet; it may become an allow (or a refusal) later.
    Wait(String),
    /// The evidence says no; only the operator can change it.
    Refuse(String),
}

impl Verdict {
    pub fn sentence(&self) -> &str {
        match self {
            Verdict::Allow(s) | Verdict::Wait(s) | Verdict::Refuse(s) => s,
        }
    }
    pub fn allowed(&self) -> bool {
        matches!(self, Verdict::Allow(_))
    }
}

/// Rule on `action` given the evidence.
pub fn check(action: Action, ev: &Evidence) -> Verdict {
    match action {
        Action::NewCluster => new_cluster(ev),
        Action::RecoveryBootstrap => recovery_bootstrap(ev),
        Action::ForcedBootstrap => forced_bootstrap(ev),
        Action::Join => join(ev),
        Action::Wipe => wipe(ev),
    }
}
