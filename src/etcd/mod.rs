//! THE shared state module: every read and write of the cluster's coordination state in etcd.
//!
//! - [`keys`]: the key layout under `/galera/<cluster>/`;
//! - [`snapshot`]: the typed, pure view of the prefix at one revision;
//! - `config.rs`: how to reach etcd ([`EtcdConfig`]: endpoints, timeout, TLS, user/password);
//! - `error.rs`: [`EtcdError`], etcd's failures classified (transient or not), with hints;
//! - `client.rs`: the connection ([`Etcd`]), timeouts, retries of transient errors, reads,
//!   puts, deletes and leases granted for operators' records;
//! - `txn.rs`: the transactions (compare-and-set of `state`, create-if-absent, multi-put,
//!   lock-guarded writes) and the conditions and operations they are built from ([`absent`],
//!   [`put_op`], [`unchanged_since`], …);
//! - [`lease`]: leases kept alive in the background, with lost-lease detection;
//! - [`lock`]: the membership lock (`P/lock`) and its fencing token;
//! - [`watch`]: a watch that survives reconnects, compaction and a replaced etcd;
//! - [`store`], [`startup`], [`requests`]: the writes as domain operations, each with its
//!   fence (the running loop's, the startup sequence's, the operator commands');
//! - this file: the index, its re-exports, and [`unix_now`].
//!
//! Every call has a timeout. Only transient errors (unreachable, timeout, leader lost) are
//! retried; a failed compare or a missing key is an answer, not an error.

pub mod keys;
pub mod lease;
pub mod lock;
pub mod requests;
pub mod snapshot;
pub mod startup;
pub mod store;
pub mod watch;

mod client;
mod config;
mod error;
mod txn;

pub use client::Etcd;
pub use config::EtcdConfig;
pub use error::EtcdError;
pub use keys::Keys;
pub use lease::Lease;
pub use lock::LockGuard;
pub use snapshot::{ClusterSnapshot, ClusterState, RawKv};
pub use txn::{
    absent, delete_op, prefix_empty, prefix_end, present, put_op, unchanged_since, TxnOutcome,
};

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
