//! `switchover [--to NAME]`: move leadership to a named node (or the best eligible one) with
//! the graceful move haproxy makes on every leader change.
//!
//! The command checks the target against etcd (a pure rule, [`choose`]), writes
//! `P/switchover` under a lease that lasts as long as it waits, and waits until `P/leader`
//! names the target, the target refuses (it checks its own live state: Synced, Primary, not a
//! donor, on the cluster's uuid) or the wait runs out. The target's side is
//! `galera::handover`.

use std::time::Duration;

use anyhow::bail;

use crate::cli::ConfigError;
use crate::etcd::snapshot::{ClusterSnapshot, SwitchoverRequest};
use crate::etcd::{requests, Etcd};

/// The node leadership moves to, and the leader it moves from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub address: String,
    /// The leader's name (its address when no registered node has it).
    pub from: String,
    pub from_address: String,
    pub leader_revision: i64,
}

/// The registered node whose address is `address`.
fn name_of(snap: &ClusterSnapshot, address: &str) -> Option<String> {
    snap.nodes
        .iter()
        .find(|(_, n)| n.address == address)
        .map(|(name, _)| name.clone())
}

/// Why `name` cannot take leadership according to etcd (its own live checks come later).
fn not_eligible(snap: &ClusterSnapshot, name: &str) -> Option<String> {
    if !snap.nodes.contains_key(name) {
        return Some(format!(
            "{name} is not registered: it is not Synced in the Primary Component (or not running)"
        ));
    }
    let running = snap.census.get(name).and_then(|c| c.running.as_ref());
    match (running.and_then(|p| p.uuid()), snap.uuid.as_deref()) {
        (Some(u), Some(cluster)) if u != cluster => Some(format!(
            "{name} runs history {u}, not the cluster's {cluster} (uuid mismatch)"
        )),
        _ => None,
    }
}

/// Check a switchover request against a snapshot (pure): the target — `to`, or else the first
/// eligible node in name order (the order haproxy keeps its backup servers in) — and the
/// leader it replaces. `Err` is the sentence to print; nothing is written then.
pub fn choose(
    snap: &ClusterSnapshot,
    to: Option<&str>,
    during_pause: bool,
) -> Result<Target, String> {
    let Some(leader) = &snap.leader else {
        return Err(
            "no leader: nothing to switch over from (an eligible node becomes leader by itself)"
                .into(),
        );
    };
    if let Some(p) = &snap.pause {
        if !during_pause {
            return Err(format!(
                "the cluster is paused by {} until {} ({}): resume first, or pass --during-pause \
                 to move the leader anyway",
                p.by, p.until, p.reason
            ));
        }
    }
    if let Some(r) = &snap.switchover {
        if r.refused.is_none() {
            return Err(format!(
                "a switchover to {} is already under way (until {}): wait for it",
                r.to, r.expires_at
            ));
        }
    }
    let from = name_of(snap, &leader.address).unwrap_or_else(|| leader.address.clone());
    let name = match to {
        Some(name) => {
            if !snap.members.contains_key(name) && !snap.nodes.contains_key(name) {
                let known: Vec<&str> = snap.members.keys().map(String::as_str).collect();
                return Err(format!(
                    "{name} is not a member of this cluster (members: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            if name == from {
                return Err(format!("{name} is already the leader: nothing to move"));
            }
            if let Some(why) = not_eligible(snap, name) {
                return Err(format!("{name} is not eligible: {why}"));
            }
            name.to_string()
        }
        None => {
            let mut why_not = Vec::new();
            let best =
                snap.nodes
                    .keys()
                    .filter(|n| **n != from)
                    .find(|n| match not_eligible(snap, n) {
                        Some(why) => {
                            why_not.push(why);
                            false
                        }
                        None => true,
                    });
            match best {
                Some(n) => n.clone(),
                None if why_not.is_empty() => {
                    return Err(format!(
                        "no other node is registered: {from} is the only eligible node"
                    ))
                }
                None => return Err(format!("no other node is eligible: {}", why_not.join("; "))),
            }
        }
    };
    let address = snap
        .nodes
        .get(&name)
        .map(|n| n.address.clone())
        .unwrap_or_default();
    Ok(Target {
        name,
        address,
        from,
        from_address: leader.address.clone(),
        leader_revision: leader.mod_revision,
    })
}

/// `switchover`: write the request, wait for the outcome (bounded by `timeout`), print it.
pub async fn switchover(
    etcd: &Etcd,
    to: Option<&str>,
    timeout: Duration,
    during_pause: bool,
) -> anyhow::Result<String> {
    if let Some(name) = to {
        crate::names::validate_node_name(name).map_err(|p| ConfigError::new("--to", p))?;
    }
    if timeout.is_zero() || timeout > Duration::from_secs(600) {
        return Err(ConfigError::new(
            "--timeout",
            format!(
                "{} is out of range: give 1s to 10m",
                humantime::format_duration(timeout)
            ),
        )
        .into());
    }
    let snap = etcd.snapshot().await?;
    let target = match choose(&snap, to, during_pause) {
        Ok(t) => t,
        Err(why) if to.is_some() && why.contains("not a member") => {
            return Err(ConfigError::new("--to", why).into())
        }
        Err(why) => bail!("switchover refused, nothing written: {why}"),
    };
    let now = crate::etcd::unix_now();
    let req = SwitchoverRequest {
        to: target.name.clone(),
        from: target.from_address.clone(),
        leader_revision: target.leader_revision,
        issued_at: now,
        expires_at: now + timeout.as_secs().max(1) as i64,
        during_pause,
        refused: None,
        lease: 0,
        mod_revision: 0,
    };
    // The request lives as long as this command waits (and a little longer, so the target
    // never reads a half-expired one): a command killed mid-wait leaves nothing behind.
    let lease = etcd.grant_lease(timeout + Duration::from_secs(2)).await?;
    let written =
        requests::put_switchover_request(etcd, &snap, &serde_json::to_string(&req)?, lease).await?;
    if !written {
        let _ = etcd.revoke_lease(lease).await;
        bail!("the leader or another switchover changed while the request was written; nothing moved: run switchover again");
    }
    let start = tokio::time::Instant::now();
    let outcome = wait_for(etcd, &target, timeout).await;
    // Whatever happened, the request goes with its lease now.
    let _ = etcd.revoke_lease(lease).await;
    match outcome? {
        Outcome::Moved => Ok(format!(
            "leader moved from {} ({}) to {} ({}) in {:.1?}: haproxy sends new connections to \
             {} and ends the sessions still open on {} once they are a second old",
            target.from,
            target.from_address,
            target.name,
            target.address,
            start.elapsed(),
            target.name,
            target.from
        )),
        Outcome::Refused(why) => bail!("switchover refused by {}: {why}", target.name),
        Outcome::Other(now) => {
            bail!("leadership moved elsewhere meanwhile ({now} leads now), not by this switchover")
        }
        Outcome::TimedOut => bail!(
            "{} did not take leadership over within {}: the request is withdrawn and {} stays \
             leader (is {}'s entrypoint running? `galera-sidecar status`)",
            target.name,
            humantime::format_duration(timeout),
            target.from,
            target.name
        ),
    }
}

enum Outcome {
    Moved,
    Refused(String),
    Other(String),
    TimedOut,
}

/// Poll etcd (every 200 ms, a line every 5 s) until the target leads, refuses, someone else
/// leads, or `timeout`.
async fn wait_for(etcd: &Etcd, target: &Target, timeout: Duration) -> anyhow::Result<Outcome> {
    let start = tokio::time::Instant::now();
    let mut said = start;
    loop {
        let snap = etcd.snapshot().await?;
        match &snap.leader {
            Some(l) if l.address == target.address => return Ok(Outcome::Moved),
            Some(l) if l.address != target.from_address => {
                return Ok(Outcome::Other(l.address.clone()))
            }
            _ => {}
        }
        if let Some(why) = snap.switchover.as_ref().and_then(|r| r.refused.clone()) {
            return Ok(Outcome::Refused(why));
        }
        if start.elapsed() >= timeout {
            return Ok(Outcome::TimedOut);
        }
        if said.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "waiting for {} to take leadership over ({:.0?} of {})",
                target.name,
                start.elapsed(),
                humantime::format_duration(timeout)
            );
            said = tokio::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::{CensusEntry, LeaderEntry, NodeEntry, Pause};
    use crate::position::Position;

    const U: &str = "6b1a0c2e-0000-4000-8000-000000000001";
    const V: &str = "6b1a0c2e-0000-4000-8000-000000000002";

    fn snap() -> ClusterSnapshot {
        let mut s = ClusterSnapshot {
            uuid: Some(U.into()),
            leader: Some(LeaderEntry {
                address: "10.0.0.1".into(),
                lease: 1,
                create_revision: 4,
                mod_revision: 9,
            }),
            ..Default::default()
        };
        for (i, n) in ["n1", "n2", "n3"].iter().enumerate() {
            let address = format!("10.0.0.{}", i + 1);
            s.members.insert(n.to_string(), address.clone());
            s.nodes.insert(
                n.to_string(),
                NodeEntry {
                    address: address.clone(),
                    lease: 1,
                },
            );
            s.census.insert(
                n.to_string(),
                CensusEntry {
                    position: Position::known(U, 10),
                    address,
                    at: 0,
                    running: Some(Position::known(U, 10)),
                    forks: vec![],
                    cached_downto: None,
                    stray_writes: 0,
                    version: None,
                },
            );
        }
        s
    }

    /// A pause set by `ops`.
    fn paused(s: &mut ClusterSnapshot) {
        s.pause = Some(Pause {
            reason: "r".into(),
            by: "ops".into(),
            since: 0,
            until: 9,
            lease: 0,
        })
    }

    #[test]
    fn choose_table() {
        type Edit = fn(&mut ClusterSnapshot);
        /// (case, --to, --during-pause, snapshot edit, chosen name or error text)
        type Case = (
            &'static str,
            Option<&'static str>,
            bool,
            Edit,
            Result<&'static str, &'static str>,
        );
        let cases: Vec<Case> = vec![
            ("named, eligible", Some("n3"), false, |_| {}, Ok("n3")),
            ("best: first in name order", None, false, |_| {}, Ok("n2")),
            (
                "best skips an unregistered node",
                None,
                false,
                |s| {
                    s.nodes.remove("n2");
                },
                Ok("n3"),
            ),
            (
                "to self",
                Some("n1"),
                false,
                |_| {},
                Err("already the leader"),
            ),
            (
                "unknown node",
                Some("n9"),
                false,
                |_| {},
                Err("not a member"),
            ),
            (
                "not registered",
                Some("n2"),
                false,
                |s| {
                    s.nodes.remove("n2");
                },
                Err("not registered"),
            ),
            (
                "uuid mismatch",
                Some("n2"),
                false,
                |s| s.census.get_mut("n2").unwrap().running = Some(Position::known(V, 3)),
                Err("uuid mismatch"),
            ),
            (
                "no leader",
                Some("n2"),
                false,
                |s| s.leader = None,
                Err("no leader"),
            ),
            (
                "only the leader registered",
                None,
                false,
                |s| {
                    s.nodes.remove("n2");
                    s.nodes.remove("n3");
                },
                Err("only eligible node"),
            ),
            ("paused", Some("n2"), false, paused, Err("paused by ops")),
            (
                "paused, moved on purpose",
                Some("n2"),
                true,
                paused,
                Ok("n2"),
            ),
            (
                "another switchover under way",
                Some("n2"),
                false,
                |s| {
                    s.switchover = Some(SwitchoverRequest {
                        to: "n3".into(),
                        from: "10.0.0.1".into(),
                        leader_revision: 9,
                        issued_at: 0,
                        expires_at: 30,
                        during_pause: false,
                        refused: None,
                        lease: 0,
                        mod_revision: 0,
                    })
                },
                Err("already under way"),
            ),
        ];
        for (name, to, during_pause, edit, want) in cases {
            let mut s = snap();
            edit(&mut s);
            let got = choose(&s, to, during_pause);
            match (&got, want) {
                (Ok(t), Ok(n)) => {
                    assert_eq!(t.name, n, "{name}");
                    assert_eq!(t.from, "n1", "{name}");
                    assert_eq!(t.leader_revision, 9, "{name}");
                }
                (Err(e), Err(text)) => assert!(e.contains(text), "{name}: {e:?} lacks {text:?}"),
                _ => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }
}
