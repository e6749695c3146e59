//! A recorded decision (`P/recovery`): whether it still stands (its bootstrap ended, or its
//! forced request expired), whether a bootstrap is under way, and whether a node is ahead of
//! its winner.

use crate::etcd::snapshot::{ClusterSnapshot, RecoveryRecord};
use crate::position::Position;

/// Why a recorded decision no longer stands, or `None` when everyone must obey it:
/// - its winner began the bootstrap and has since queued again: that bootstrap ended (a second
///   outage before STEADY), and the nodes that joined it may have committed past the record's
///   position — re-elect on the positions reported now. The bootstrap shows in the record
///   itself (`bootstrapped_at`, written with `P/bootstrap`), or in `P/bootstrap`: either key
///   alone may be lost;
/// - it was forced and the request expired before anyone bootstrapped.
pub fn stale_record(snap: &ClusterSnapshot, r: &RecoveryRecord, now: i64) -> Option<String> {
    let booted_at = r.bootstrapped_at.or_else(|| {
        snap.bootstrap
            .as_ref()
            .filter(|b| b.node == r.winner)
            .map(|b| b.at)
    });
    if let (Some(at), Some(q)) = (booted_at, snap.queue.get(&r.winner)) {
        if q.queued_at.is_some_and(|t| t > at) {
            return Some(format!(
                "{} bootstrapped at {at} and queued again at {}: the recovery it led ended before STEADY",
                r.winner,
                q.queued_at.unwrap_or_default()
            ));
        }
    }
    if let Some(f) = &r.forced {
        if booted_at.is_none() && f.expires_at <= now {
            return Some(format!(
                "the forced recovery of {} expired before it bootstrapped",
                r.winner
            ));
        }
    }
    None
}

/// Is a bootstrap under way: begun (`P/bootstrap`, or the record's `bootstrapped_at`: either
/// key alone may be lost) by a node that has not queued again since? An operator's request
/// must not replace a recovery whose winner bootstraps; one whose bootstrap ended (a second
/// outage) it may.
pub(super) fn bootstrap_under_way(snap: &ClusterSnapshot) -> bool {
    let queued_since = |node: &str, at: i64| {
        snap.queue
            .get(node)
            .is_some_and(|q| q.queued_at.is_some_and(|t| t > at))
    };
    let by_key = snap
        .bootstrap
        .as_ref()
        .is_some_and(|b| !queued_since(&b.node, b.at));
    let by_record = snap.recovery.as_ref().is_some_and(|r| {
        r.bootstrapped_at
            .is_some_and(|at| !queued_since(&r.winner, at))
    });
    by_key || by_record
}

/// Is `name` ahead of the recorded winner (same cluster, higher seqno)? Joining would
/// discard its newer commits by SST: such a node is refused until the operator's `resync`.
/// `joined`: the recovery record this datadir already joined (its marker file), if any.
pub fn ahead_of_winner(
    record: &RecoveryRecord,
    me: &str,
    mine: &Position,
    joined: Option<&str>,
) -> Option<i64> {
    // The winner itself is never "ahead" of its own record: after it bootstrapped, the
    // recovered cluster commits more, and its seqno grows with it. Nor is a node that joined
    // the recovered cluster and restarted before STEADY: its newer commits are the cluster's.
    if record.winner == me || joined == Some(record.id().as_str()) {
        return None;
    }
    match (mine, &record.position) {
        (
            Position::Known { uuid, seqno },
            Position::Known {
                uuid: wu,
                seqno: ws,
            },
        ) if uuid == wu && seqno > ws => Some(seqno - ws),
        _ => None,
    }
}
