//! The operator's surface: `status` (table or JSON), `set-state`, and the one-shot commands
//! `force-bootstrap`, `resync` and `remove-member`.
//!
//! The report and its disagreement flags are pure functions of a [`ClusterSnapshot`] (plus,
//! when reachable, each node's live wsrep status); the commands are thin etcd writes, each a
//! transaction that checks the belief it acts on (built in [`crate::etcd::requests`]).
//!
//! - `report`: the report's rows and fields, built from a snapshot;
//! - `flags`: the disagreements and problems the report flags;
//! - `render`: the table for people;
//! - `live`: the `status` command itself, asking each node for its live wsrep state;
//! - `set_state`, `force_bootstrap`, `resync`, `remove_member`: the commands that write.

use std::collections::BTreeSet;

use crate::etcd::ClusterSnapshot;
use crate::galera::safety;
use crate::position::Position;

mod flags;
mod force_bootstrap;
mod live;
mod remove_member;
mod render;
mod report;
mod resync;
mod set_state;

#[cfg(test)]
mod fixtures;

pub use flags::{flags, resynced_range};
pub use force_bootstrap::force_bootstrap;
pub use live::{main, query_live, LiveOpts};
pub use remove_member::remove_member;
pub use render::render_table;
pub use report::{
    force_bootstrap_ignored, report, report_at, report_with_live, LiveResult, LiveState, MemberRow,
    StatusReport,
};
pub use resync::resync;
pub use set_state::set_state;

/// The position a node reports: its queue entry, else its census entry.
fn reported_position(snap: &ClusterSnapshot, name: &str) -> Option<Position> {
    safety::reported_positions(snap)
        .get(name)
        .map(|p| (*p).clone())
}

/// Every position the nodes report, one line each (for the operator commands' output).
fn positions_listing(snap: &ClusterSnapshot) -> String {
    let reported = safety::reported_positions(snap);
    let mut names: BTreeSet<&str> = snap.members.keys().map(String::as_str).collect();
    names.extend(reported.keys().copied());
    names
        .into_iter()
        .map(|n| match reported.get(n) {
            Some(p) => format!("  {n}: {p}"),
            None => format!("  {n}: not reported (its entrypoint is not running)"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
