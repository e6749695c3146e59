//! The operator's requests: whether a force-bootstrap or a resync request may be obeyed
//! (bound to a position, not expired), and the gate's ruling on a wipe (`resync`).

use super::{Evidence, Verdict};
use crate::etcd::snapshot::{ForceRequest, ResyncRequest};
use crate::position::Position;

/// Why a force-bootstrap request must not be obeyed, or `None` when it may. `current`: the
/// named node's position now (`None` while it has not reported one).
pub fn force_request_problem(
    req: &ForceRequest,
    current: Option<&Position>,
    cluster: Option<&str>,
    now: i64,
) -> Option<String> {
    if req.expires_at <= 0 {
        return Some(format!(
            "the force-bootstrap request for {} has no expiry and no binding (not written by \
             `galera-sidecar force-bootstrap`); ignored",
            req.node
        ));
    }
    if req.expires_at <= now {
        return Some(format!(
            "the force-bootstrap request for {} expired {}s ago; ignored",
            req.node,
            now - req.expires_at
        ));
    }
    if let (Some(bound), Some(cur)) = (&req.position, current) {
        if bound != cur {
            return Some(format!(
                "the force-bootstrap request for {} was issued against position {bound}, but {} now \
                 reports {cur}; ignored (issue it again if {} should still bootstrap)",
                req.node, req.node, req.node
            ));
        }
    }
    if req.accept_data_loss {
        return None;
    }
    if req.position.is_none() {
        return Some(format!(
            "the force-bootstrap request for {} is bound to no known position and does not accept \
             data loss; ignored",
            req.node
        ));
    }
    match current {
        Some(Position::Fresh) => Some(format!(
            "{} has a fresh (empty) datadir: bootstrapping it discards the whole cluster; \
             only with --accept-data-loss",
            req.node
        )),
        Some(Position::Unknown) | Some(Position::Known { seqno: -1, .. }) => Some(format!(
            "{}'s position is unknown; only with --accept-data-loss",
            req.node
        )),
        Some(Position::Known { uuid, .. }) if cluster.is_some_and(|c| c != uuid) => Some(format!(
            "{} holds cluster {uuid}, not the cluster's {}; only with --accept-data-loss",
            req.node,
            cluster.unwrap_or_default()
        )),
        _ => None,
    }
}

/// Why a resync request must not be obeyed, or `None` when it may.
pub fn resync_request_problem(
    name: &str,
    req: &ResyncRequest,
    current: &Position,
    now: i64,
) -> Option<String> {
    if req.expires_at <= 0 {
        return Some(format!(
            "the resync request for {name} has no expiry and no binding (not written by \
             `galera-sidecar resync`); ignored"
        ));
    }
    if req.expires_at <= now {
        return Some(format!(
            "the resync request for {name} expired {}s ago; ignored",
            now - req.expires_at
        ));
    }
    match &req.position {
        None => Some(format!(
            "the resync request for {name} is bound to no position; ignored"
        )),
        Some(p) if p != current => Some(format!(
            "the resync request for {name} was issued against position {p}, but its datadir now \
             holds {current}; ignored"
        )),
        Some(_) => None,
    }
}

pub(super) fn wipe(ev: &Evidence) -> Verdict {
    let Some(req) = ev.snap.resync.get(ev.me) else {
        return Verdict::Wait(format!("no resync of {} requested", ev.me));
    };
    if let Some(problem) = resync_request_problem(ev.me, req, ev.local, ev.now) {
        return Verdict::Refuse(problem);
    }
    Verdict::Allow(format!(
        "resync of {} at position {} requested by the operator (issued at {}, expires at {})",
        ev.me, ev.local, req.issued_at, req.expires_at
    ))
}
