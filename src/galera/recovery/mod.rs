//! Who bootstraps after a full outage (pure, table-tested).
//!
//! The rules (docs/design.md §3.3, docs/recovery.md):
//! - a recorded decision (`P/recovery`) stands: everyone obeys it; it is replaced only by an
//!   operator's `force-bootstrap` before anyone bootstrapped;
//! - `P/force-bootstrap` names the winner whatever its seqno, once that node has queued;
//! - otherwise every member in `members/` must have queued (when no member is known:
//!   `--cluster-size` queued nodes agreeing on one uuid) — never a count of whoever showed up,
//!   so a restarted pod's ghost cannot stand in for a missing member;
//! - an unknown position, or a uuid other than the cluster's, blocks the automatic choice:
//!   that node may hold the newest commits, so the operator decides (`force-bootstrap`);
//! - the winner has the highest seqno; ties go to the smallest node name (a total order every
//!   node computes identically, so two tied nodes never both bootstrap).
//!
//! The parts:
//! - `record.rs`: whether a recorded decision still stands, and who is ahead of its winner;
//! - `elect.rs`: the election itself ([`elect`], [`Election`]);
//! - `high_water_mark.rs`: an election blocked by the commit high-water mark, and why;
//! - `tests.rs`: the election's table tests.

mod elect;
mod high_water_mark;
mod record;
#[cfg(test)]
mod tests;

pub use elect::{elect, Election};
pub use high_water_mark::blocked_by_mark;
pub use record::{ahead_of_winner, stale_record};
