//! The switchover rule (pure): what the node a `switchover` request names does about it.
//!
//! The operator's command writes `P/switchover` = {to, the leader it was made against, expiry}
//! under a lease. The named node, on its next steady pass, either takes leadership over in
//! one transaction — `P/leader` rewritten with its own address and lease, fenced on the
//! leader entry the request was made against, and the request deleted — or writes why it
//! refuses. There is no moment without a leader key and no election: nobody else can win.
//! The old leader sees the key name another node and stops acting as leader; every haproxy
//! moves as on any leader change (new connections to the new leader, sessions on the old
//! one ended once they are a second old).

use crate::etcd::snapshot::ClusterSnapshot;

use super::rules::Eligibility;

/// What the target of a switchover request does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// No request for this node, or not yet decidable (local status unknown this pass).
    Nothing,
    /// Take leadership over: the sentence says from whom and why.
    Take(String),
    /// Refuse, and say why in the request (the waiting command prints it).
    Refuse(String),
}

/// Decide about `P/switchover` for node `me` at `my_address`, given its leadership
/// eligibility now. `now`: unix seconds.
pub fn handover(
    snap: &ClusterSnapshot,
    me: &str,
    my_address: &str,
    eligibility: &Eligibility,
    now: i64,
) -> Handover {
    let Some(req) = &snap.switchover else {
        return Handover::Nothing;
    };
    if req.to != me || req.refused.is_some() || req.expires_at <= now {
        return Handover::Nothing;
    }
    let Some(leader) = &snap.leader else {
        return Handover::Refuse(format!(
            "the leader {} gave up leadership before the switchover: an ordinary election \
             follows; nothing moved",
            req.from
        ));
    };
    if leader.address == my_address {
        return Handover::Refuse(format!("{me} is already the leader"));
    }
    if leader.mod_revision != req.leader_revision {
        return Handover::Refuse(format!(
            "the leader changed since the request (was {}, now {}): run switchover again",
            req.from, leader.address
        ));
    }
    if let Some(p) = &snap.pause {
        if !req.during_pause {
            return Handover::Refuse(format!(
                "the cluster is paused by {} until {} ({}): resume first, or pass --during-pause",
                p.by, p.until, p.reason
            ));
        }
    }
    match eligibility {
        Eligibility::Eligible => Handover::Take(format!(
            "switchover requested by the operator: taking leadership over from {}",
            leader.address
        )),
        Eligibility::Not(why) => Handover::Refuse(format!("{me} is not eligible: {why}")),
        Eligibility::Unknown(_) => Handover::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::{LeaderEntry, Pause, SwitchoverRequest};

    fn snap() -> ClusterSnapshot {
        ClusterSnapshot {
            leader: Some(LeaderEntry {
                address: "10.0.0.1".into(),
                lease: 7,
                create_revision: 3,
                mod_revision: 5,
            }),
            switchover: Some(SwitchoverRequest {
                to: "n2".into(),
                from: "10.0.0.1".into(),
                leader_revision: 5,
                issued_at: 100,
                expires_at: 130,
                during_pause: false,
                refused: None,
                lease: 9,
                mod_revision: 6,
            }),
            ..Default::default()
        }
    }

    fn pause() -> Pause {
        Pause {
            reason: "disk work".into(),
            by: "ops@host".into(),
            since: 90,
            until: 1000,
            lease: 11,
        }
    }

    #[test]
    fn handover_table() {
        let ok = Eligibility::Eligible;
        type Edit = fn(&mut ClusterSnapshot);
        let cases: Vec<(&str, Edit, Eligibility, &str)> = vec![
            ("eligible target takes over", |_| {}, ok.clone(), "take"),
            ("no request", |s| s.switchover = None, ok.clone(), "nothing"),
            (
                "request for another node",
                |s| s.switchover.as_mut().unwrap().to = "n3".into(),
                ok.clone(),
                "nothing",
            ),
            (
                "already refused",
                |s| s.switchover.as_mut().unwrap().refused = Some("x".into()),
                ok.clone(),
                "nothing",
            ),
            (
                "expired",
                |s| s.switchover.as_mut().unwrap().expires_at = 110,
                ok.clone(),
                "nothing",
            ),
            (
                "leader gone",
                |s| s.leader = None,
                ok.clone(),
                "refuse:gave up leadership",
            ),
            (
                "leader changed since the request",
                |s| s.leader.as_mut().unwrap().mod_revision = 8,
                ok.clone(),
                "refuse:the leader changed",
            ),
            (
                "target already leads",
                |s| s.leader.as_mut().unwrap().address = "10.0.0.2".into(),
                ok.clone(),
                "refuse:already the leader",
            ),
            (
                "paused",
                |s| s.pause = Some(pause()),
                ok.clone(),
                "refuse:paused by ops@host",
            ),
            (
                "paused, moved on purpose",
                |s| {
                    s.pause = Some(pause());
                    s.switchover.as_mut().unwrap().during_pause = true;
                },
                ok.clone(),
                "take",
            ),
            (
                "target is a donor",
                |_| {},
                Eligibility::Not("donor (Donor/Desynced)".into()),
                "refuse:not eligible: donor",
            ),
            (
                "target's status unknown this pass",
                |_| {},
                Eligibility::Unknown("query failed once".into()),
                "nothing",
            ),
        ];
        for (name, edit, elig, want) in cases {
            let mut s = snap();
            edit(&mut s);
            let got = handover(&s, "n2", "10.0.0.2", &elig, 110);
            match (want.split_once(':'), &got) {
                (None, Handover::Take(_)) if want == "take" => {}
                (None, Handover::Nothing) if want == "nothing" => {}
                (Some(("refuse", text)), Handover::Refuse(why)) => {
                    assert!(why.contains(text), "{name}: {why:?} lacks {text:?}")
                }
                _ => panic!("{name}: want {want}, got {got:?}"),
            }
        }
    }
}
