//! SIGTERM: the drain. With `--drain-wait-ist`, first wait until this node's restart would
//! rejoin by IST and keep quorum; deregister; a leader gives leadership up and waits for a
//! new leader and the switch window, so every haproxy has moved; then mariadbd stops cleanly
//! and the lease is revoked. One budget (`--drain-timeout`) bounds the waits.

use std::time::Duration;

use tracing::{info, warn};

use super::census_now;
use crate::galera::mysqld::ChildProc;
use crate::galera::node::Node;
use crate::state_file::Phase;

/// The least a leader's hand-over keeps of the drain budget beside `--drain-switch-window`:
/// time for the others to elect a new leader after the resign (they campaign at once on the
/// delete event; docs/leader.md measures tens of milliseconds).
const HANDOVER_LEADER_FLOOR: Duration = Duration::from_secs(1);

/// The part of the drain budget (`--drain-timeout`) kept for a leader's hand-over whatever the
/// `--drain-wait-ist` wait used: the floor for the election plus the switch window, at most
/// the whole budget.
fn handover_reserve(budget: Duration, window: Duration) -> Duration {
    (window + HANDOVER_LEADER_FLOOR).min(budget)
}

/// `--drain-wait-ist`: how long the IST wait may take — the budget less the hand-over's
/// reserve, so the whole drain stays within one `--drain-timeout`.
fn ist_wait_bound(budget: Duration, window: Duration) -> Duration {
    budget.saturating_sub(handover_reserve(budget, window))
}

/// A leader's hand-over after an IST wait that took `ist_used`: (the bound of the wait for a
/// new leader, the switch window). Together they are what is left of the budget, never less
/// than the reserve (an IST wait may overrun its bound by one etcd round trip); the window
/// gets its configured length when that fits, the leader wait the rest.
fn handover_bounds(budget: Duration, window: Duration, ist_used: Duration) -> (Duration, Duration) {
    let left = budget
        .saturating_sub(ist_used)
        .max(handover_reserve(budget, window));
    let window = window.min(left);
    (left - window, window)
}

/// SIGTERM: with `--drain-wait-ist`, first wait until this node's restart would rejoin by IST
/// and keep quorum; deregister and give up leadership; if we led, wait for a new leader and
/// then the switch window, so every haproxy has reloaded onto the new leader (and cut its
/// sessions here) before mariadbd goes; then stop mariadbd cleanly (grastate gets its seqno)
/// and revoke the lease. The IST wait and the hand-over share one budget, `--drain-timeout`
/// ([`ist_wait_bound`], [`handover_bounds`]); the clean stop has its own, `--stop-timeout`.
pub(super) async fn drain_and_stop(node: &mut Node, child: &mut ChildProc) -> anyhow::Result<u8> {
    node.state.phase(Phase::Stopping, "SIGTERM: draining");
    let budget = node.cfg.opts.drain_timeout;
    let window = node.cfg.opts.drain_switch_window;
    let started = tokio::time::Instant::now();
    if node.cfg.opts.drain_wait_ist {
        wait_for_ist(node, ist_wait_bound(budget, window)).await;
    }
    let (leader_wait, window) = handover_bounds(budget, window, started.elapsed());
    match node.etcd.snapshot().await {
        Ok(snap) => {
            let mine = snap
                .leader
                .as_ref()
                .is_some_and(|l| l.lease == node.lease.id());
            info!(
                "stopping: deregistering{}, then stopping mariadbd",
                if mine {
                    ", giving up leadership and waiting for haproxy to move"
                } else {
                    " (not the leader: nothing to hand over)"
                }
            );
            // Deregister first (we are no longer a member haproxy may use), then resign.
            if let Err(e) = node.deregister(&snap, "stopping").await {
                warn!("deregistering failed ({e}); the key goes with the lease");
            }
            if mine {
                let resigned = match &snap.leader {
                    Some(l) => node.etcd.resign(l).await,
                    None => Ok(false),
                };
                match resigned {
                    Ok(true) => info!("gave up leadership: stopping (SIGTERM)"),
                    Ok(false) => {}
                    Err(e) => {
                        warn!("giving up leadership failed ({e}); the key goes with the lease")
                    }
                }
                node.state.current.leader = false;
                wait_for_handover(node, leader_wait, window).await;
            }
        }
        Err(e) => warn!(
            "stopping: etcd unavailable ({e}); cannot hand leadership over, stopping mariadbd (our keys expire with the lease)"
        ),
    }
    let code = stop_and_clean_up(node, child).await;
    Ok(if code == 0 { 0 } else { exit_byte(code) })
}

/// Stop mariadbd cleanly (grastate gets its seqno), say so in the state file, delete this
/// node's keys and revoke its lease. Returns mariadbd's exit status.
pub(super) async fn stop_and_clean_up(node: &mut Node, child: &mut ChildProc) -> i32 {
    let code = child.stop(node.cfg.opts.stop_timeout).await;
    // The datadir stopped changing now: the next run compares published cluster positions
    // with this time (the state file's).
    node.state.phase(
        Phase::Stopping,
        format!("mariadbd stopped with status {code}"),
    );
    info!("mariadbd stopped with status {code}");
    cleanup(node).await;
    code
}

/// `--drain-wait-ist`: before deregistering, wait (bounded by `bound`, its share of
/// `--drain-timeout`, then stop anyway)
/// until restarting this node would rejoin by IST and keep quorum (`restart_gate`), with this
/// node's live position; says what it waits for every few seconds.
async fn wait_for_ist(node: &mut Node, bound: Duration) {
    use crate::galera::bounds::SAY_EVERY;
    let start = tokio::time::Instant::now();
    let me = node.cfg.name.clone();
    let mut said: Option<tokio::time::Instant> = None;
    loop {
        let live = crate::mysql::wsrep_status(
            &node.cfg.endpoint,
            &node.cfg.creds,
            crate::galera::bounds::STATUS_QUERY,
        )
        .await
        .ok();
        let why = match node.etcd.snapshot().await {
            Ok(mut snap) => {
                if live.is_some() {
                    snap.census
                        .insert(me.clone(), census_now(node, live.as_ref()));
                }
                match crate::restart_gate::can_restart(&snap, &me) {
                    Ok(a) if a.drain_ok() => {
                        info!(
                            "drain: restart gate open after {:.1?} ({})",
                            start.elapsed(),
                            a.sentence()
                        );
                        return;
                    }
                    Ok(a) => a.drain_wait_reason(),
                    Err(e) => {
                        info!("drain: no restart gate to wait for ({e})");
                        return;
                    }
                }
            }
            Err(e) => format!("etcd unavailable ({e})"),
        };
        if start.elapsed() >= bound {
            warn!(
                "drain: waited {bound:?} (--drain-timeout less the leader hand-over's share) for \
                 this node's restart to be able to rejoin by IST; stopping anyway: {why}"
            );
            return;
        }
        if said.is_none_or(|t| t.elapsed() >= SAY_EVERY) {
            info!(
                "drain: waiting (up to {:?} more) before stopping, so the restart rejoins by IST \
                 and keeps quorum: {why}",
                bound.saturating_sub(start.elapsed())
            );
            said = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// After resigning: wait (bounded by `leader_wait`) until `P/leader` names another node, then
/// `window` for the haproxies to reload onto it. A leader wait that runs out is logged.
async fn wait_for_handover(node: &mut Node, leader_wait: Duration, window: Duration) {
    let start = tokio::time::Instant::now();
    let key = node.etcd.keys.leader();
    let mut last_error = None;
    let new_leader = loop {
        match node.etcd.get(&key).await {
            Ok(Some(kv)) => {
                let addr = String::from_utf8_lossy(&kv.value).trim().to_string();
                if !crate::net_addr::same_host(&addr, &node.cfg.address) {
                    break Some(addr);
                }
            }
            Ok(None) => {}
            Err(e) => last_error = Some(e.to_string()),
        }
        if start.elapsed() >= leader_wait {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    match new_leader {
        Some(addr) => {
            info!(
                "new leader {addr} elected {:.1?} after giving up leadership; waiting {window:?} for haproxy to switch",
                start.elapsed()
            );
            tokio::time::sleep(window).await;
        }
        None => warn!(
            "no new leader within {leader_wait:?}{}; stopping anyway (haproxy keeps this node's address until one is elected)",
            last_error
                .map(|e| format!(" (last etcd error: {e})"))
                .unwrap_or_default()
        ),
    }
}

/// Delete our keys and revoke the lease (its keys and the lock vanish with it).
pub async fn cleanup(node: &mut Node) {
    let me = node.cfg.name.clone();
    let k = node.etcd.keys.clone();
    let _ = node.etcd.delete_keys(&k.owned_by(&me)).await;
    node.lease.revoke_now().await;
}

/// A child's status as our exit code: its code, 128+signal, or 1 when unknown.
pub(super) fn exit_byte(code: i32) -> u8 {
    if (0..=255).contains(&code) {
        code as u8
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_budget_table() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // (budget, switch window, IST wait used) → (IST wait bound, leader wait, window)
        let cases = [
            // defaults: the IST wait gets 6 s, the hand-over at least 1 s + 3 s
            (s(10), s(3), s(0), s(6), s(7), s(3)),
            (s(10), s(3), s(2), s(6), s(5), s(3)),
            (s(10), s(3), s(6), s(6), s(1), s(3)),
            // an IST wait that overran its bound: the hand-over keeps its reserve
            (s(10), s(3), s(9), s(6), s(1), s(3)),
            (s(10), s(3), s(60), s(6), s(1), s(3)),
            // a long budget for --drain-wait-ist
            (s(60), s(3), s(56), s(56), s(1), s(3)),
            (s(60), s(3), s(30), s(56), s(27), s(3)),
            // no switch window
            (s(5), s(0), s(0), s(4), s(5), s(0)),
            (s(5), s(0), s(4), s(4), s(1), s(0)),
            // the window fills the budget (allowed): no IST wait, the window shrinks to it
            (s(5), s(5), s(0), s(0), s(0), s(5)),
            (s(5), s(5), s(3), s(0), s(0), s(5)),
            // budget below the reserve: everything to the hand-over
            (ms(2500), s(2), ms(100), s(0), ms(500), s(2)),
            (ms(500), ms(500), s(0), s(0), s(0), ms(500)),
            (s(0), s(0), s(0), s(0), s(0), s(0)),
        ];
        for (budget, window, used, ist, leader_wait, switch) in cases {
            let what = format!("budget {budget:?}, window {window:?}, IST wait used {used:?}");
            assert_eq!(ist_wait_bound(budget, window), ist, "{what}");
            assert_eq!(
                handover_bounds(budget, window, used),
                (leader_wait, switch),
                "{what}"
            );
            // One budget: an IST wait within its bound plus the hand-over fit in it.
            let (l, w) = handover_bounds(budget, window, ist);
            assert!(ist + l + w <= budget, "{what}: {ist:?} + {l:?} + {w:?}");
        }
    }
}
