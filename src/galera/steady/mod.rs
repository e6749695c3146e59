//! The running node: one loop, observe → decide → act, once a second and at once when the
//! watch sees a change.
//!
//! - observe (this file): the local wsrep status, the etcd view (re-read only when the watch
//!   saw a change), the lease, the probes of gone members' ports while non-Primary, the
//!   datadir's marks and recorded version — into one [`decide::Observation`];
//! - [`decide`]: the pure decision, a [`decide::Plan`] of steps and a sentence;
//! - [`step`]: one step of a plan (its kind, words and sequencing);
//! - [`act`]: the executor, one fenced etcd operation or local write per step;
//! - [`drain`]: SIGTERM (hand leadership over, stop mariadbd cleanly);
//! - [`status_path`]: how the loop and the probes reach mariadbd, said once.
//!
//! The plan's sentence is logged when it changes (numbers aside: a count of seconds growing is
//! not a change) and every [`HEARTBEAT`] while it does not
//! ("no action: 127.0.0.2 leads, Synced/Primary, STEADY"). Never stops mariadbd because etcd
//! is unreachable: Galera has its own quorum. etcd errors are logged (rate-limited) and the
//! loop goes on; keys are repaired when etcd returns.

mod act;
pub mod decide;
#[cfg(test)]
mod decide_tests;
mod drain;
mod status_path;
pub mod step;

use std::time::Duration;

use tracing::{info, warn};

pub use drain::cleanup;
pub use status_path::{status_path_note, RESERVED_NEEDED};

use self::act::{After, Pass};
use self::decide::{decide, Observation};
use super::mariadb_upgrade::Runner;
use super::mysqld::ChildProc;
use super::node::Node;
use super::non_primary::CONFIRMED_DOWN_GRACE;
use super::read_only::Followers;
use crate::etcd::snapshot::CensusEntry;
use crate::etcd::watch::{watch, WatchEvent};
use crate::etcd::{ClusterSnapshot, EtcdError};
use crate::mysql::WsrepStatus;
use crate::position::Position;
use crate::state_file::Phase;

pub use crate::exit::LEFT_FOR_RECOVERY;

/// How often an unchanged plan sentence is said again.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// How often a running node re-publishes its census entry (the cluster's position it sees):
/// a joiner that was down waits at most about this long for a position newer than its own.
/// 12 writes a minute per node.
pub const CENSUS_REFRESH: Duration = Duration::from_secs(5);

/// A snapshot re-read only when the watch saw a change, or when it is older than this.
const MAX_VIEW_AGE: Duration = Duration::from_secs(10);

/// How often a pass that failed on etcd says so.
const ETCD_ERROR_EVERY: Duration = Duration::from_secs(10);

/// Run until mariadbd exits or shutdown is requested; returns the exit code for the process.
pub async fn run(node: &mut Node, mut child: ChildProc) -> anyhow::Result<u8> {
    node.state.phase(Phase::Running, "mariadbd running");
    // One watch on the whole prefix drives the loop: the snapshot is re-read only when
    // something changed (or every MAX_VIEW_AGE as a safety net) — no polling of etcd.
    let prefix = node.etcd.keys.prefix().to_string();
    let mut events = watch(node.etcd.clone(), prefix.clone(), true);
    let mut view = View {
        recovery_mark: node.recovery_mark(),
        ..View::default()
    };
    let mut local = Local::default();
    let mut said = crate::logging::Throttle::new(HEARTBEAT);
    let mut etcd_said = crate::logging::Throttle::new(ETCD_ERROR_EVERY);
    // What woke this pass (said with a campaign, so a failover says whether the watch or the
    // periodic check drove it).
    let mut woken_by = "start";
    status_path::log_status_path(node);
    loop {
        if let Some(code) = child.try_code() {
            warn!("mariadbd exited with status {code}; deregistering and exiting with it");
            cleanup(node).await;
            return Ok(drain::exit_byte(code));
        }
        if node.stopping() {
            return drain::drain_and_stop(node, &mut child).await;
        }
        let o = observe(node, &mut view, &mut local, woken_by).await;
        let plan = decide(&o);
        if said.due(&plan.key) {
            info!("{}", plan.sentence);
        }
        let mut pass = Pass {
            snap: o.snap.as_ref(),
            view: &mut view,
            followers: &mut local.followers,
            upgrade: &mut local.upgrade,
            woken_by,
            non_primary_for: o.non_primary_for,
            ever_status: local.ever_status,
            status_now: o.status.is_some(),
        };
        match act::execute(node, &plan, &mut pass).await {
            (After::Leave(why), _) => {
                leave(node, &mut child, &why).await;
                return Ok(LEFT_FOR_RECOVERY);
            }
            (After::Continue, Some(e)) => {
                node.state.etcd_error();
                view.dirty = true;
                if etcd_said.due("etcd") {
                    warn!("etcd: {e}; mariadbd keeps running, retrying");
                }
            }
            (After::Continue, None) => {}
        }
        if o.etcd_ok {
            view.failed = None;
        } else if let Some(e) = view.failed.take() {
            node.state.etcd_error();
            if etcd_said.due("etcd") {
                warn!("etcd: {e}; mariadbd keeps running, retrying");
            }
        }
        node.state.write();
        // Next pass: 1 s, or at once when a key changes (a deleted leader key: a campaign).
        let shutdown = node.shutdown.clone();
        woken_by = tokio::select! {
            _ = tokio::time::sleep(crate::galera::bounds::PASS) => "the periodic check",
            _ = shutdown.cancelled() => "shutdown",
            _ = child.wait() => "mariadbd's exit",
            ev = events.recv() => {
                let leader_key = node.etcd.keys.leader();
                let is_leader_delete = |e: &WatchEvent| matches!(e, WatchEvent::Delete { key, .. } if *key == leader_key);
                let mut deleted = ev.as_ref().is_some_and(is_leader_delete);
                while let Ok(more) = events.try_recv() {
                    deleted |= is_leader_delete(&more);
                }
                view.dirty = true;
                if ev.is_none() {
                    events = watch(node.etcd.clone(), prefix.clone(), true);
                }
                if deleted {
                    info!("P/leader deleted (watch); checking eligibility to campaign");
                    "the watch (P/leader deleted)"
                } else {
                    "the watch (a key changed)"
                }
            }
        };
    }
}

/// What the loop remembers about mariadbd between passes.
#[derive(Default)]
struct Local {
    sql_failures: u32,
    was_synced: bool,
    /// A status was read at least once since the loop began.
    ever_status: bool,
    /// When this node was last seen in a Primary Component (None: not yet).
    primary_at: Option<tokio::time::Instant>,
    /// In a Primary Component at least once since this loop began (a join that never reached
    /// one is left, not kept).
    ever_primary: bool,
    monitor: super::monitor::MonitorSession,
    /// Stray writes counted, and the read_only this loop set (`--read-only-followers`).
    followers: Followers,
    /// This loop's `mariadb-upgrade` runs.
    upgrade: Runner,
    /// Renewed `--galera-tls-dir` certificates, reloaded into mariadbd.
    tls: super::tls_reload::TlsWatch,
}

/// The loop's view of etcd and of the datadir's marks.
#[derive(Default)]
pub struct View {
    snap: Option<ClusterSnapshot>,
    dirty: bool,
    read_at: Option<tokio::time::Instant>,
    /// The error of this pass's read, when it failed.
    failed: Option<EtcdError>,
    /// Since when this loop has seen no leader key.
    vacant_since: Option<tokio::time::Instant>,
    /// The address the leader key last held.
    last_leader: Option<String>,
    /// The recovery record the datadir is marked as having joined.
    recovery_mark: Option<String>,
}

impl View {
    /// The snapshot: re-read when the watch saw a change, when it is `MAX_VIEW_AGE` old, or
    /// when `fresh` asks for it; `false` when that read failed (the last one is kept).
    async fn refresh(&mut self, node: &mut Node, fresh: bool) -> bool {
        let stale = self.read_at.is_none_or(|t| t.elapsed() >= MAX_VIEW_AGE);
        if self.snap.is_some() && !self.dirty && !stale && !fresh {
            return true;
        }
        // Cleared before the read: a change arriving during it marks it dirty again.
        self.dirty = false;
        match node.etcd.snapshot().await {
            Ok(s) => {
                node.state.view(&s);
                match &s.leader {
                    None => {
                        self.vacant_since
                            .get_or_insert_with(tokio::time::Instant::now);
                    }
                    Some(l) => {
                        self.vacant_since = None;
                        self.last_leader = Some(l.address.clone());
                    }
                }
                self.snap = Some(s);
                self.read_at = Some(tokio::time::Instant::now());
                true
            }
            Err(e) => {
                self.dirty = true;
                self.failed = Some(e);
                false
            }
        }
    }
}

/// Observe: everything one pass decides on.
async fn observe(
    node: &mut Node,
    view: &mut View,
    local: &mut Local,
    woken_by: &str,
) -> Observation {
    // Local status (bounded), as the monitor user of the Secret (re-applied when rotated).
    let status = match local
        .monitor
        .status(node, crate::galera::bounds::STATUS_QUERY)
        .await
    {
        Ok(s) => {
            local.sql_failures = 0;
            Some(s)
        }
        Err(e) => {
            local.sql_failures += 1;
            if local.sql_failures == 3 {
                warn!("local wsrep status unavailable 3 times in a row: {e}");
            }
            None
        }
    };
    let first_synced = status.as_ref().is_some_and(|s| s.is_synced()) && !local.was_synced;
    let synced = status
        .as_ref()
        .is_some_and(|s| s.is_synced() && s.is_primary());
    let upgrade = local.upgrade.facts(node, synced);
    local.was_synced |= first_synced;
    if status.is_some() {
        local.tls.poll(node).await;
    }
    if let Some(s) = &status {
        local.ever_status = true;
        sample_stray_writes(node, &mut local.followers, s);
        if s.is_primary() {
            local.primary_at = Some(tokio::time::Instant::now());
            local.ever_primary = true;
        }
    }
    let since_primary = local
        .primary_at
        .get_or_insert_with(tokio::time::Instant::now);
    let non_primary_for = match &status {
        Some(s) if !s.is_primary() => since_primary.elapsed(),
        _ => Duration::ZERO,
    };
    // Non-Primary past the first grace: decide on a fresh view, with gone members probed.
    let deciding_non_primary = non_primary_for >= CONFIRMED_DOWN_GRACE;
    let mut etcd_ok = match node.renew_lease_if_lost().await {
        Ok(renewed) => {
            if renewed {
                node.state.current.leader = false;
                view.dirty = true;
            }
            true
        }
        Err(e) => {
            view.failed = Some(e);
            false
        }
    };
    etcd_ok = etcd_ok && view.refresh(node, deciding_non_primary).await;
    let probes = match (&view.snap, deciding_non_primary && etcd_ok) {
        (Some(snap), true) => super::heal::probe_gone(node, snap).await,
        _ => Default::default(),
    };
    let mut census = census_now(node, status.as_ref());
    census.stray_writes = local.followers.stray_writes;
    let census_due = node.census_due(view.snap.as_ref(), &census, Some(CENSUS_REFRESH));
    // The datadir's forks file, read only when a rule uses it: the leader's mark, or forks
    // recorded in etcd.
    let mine = view.snap.as_ref().is_some_and(|s| {
        s.leader
            .as_ref()
            .is_some_and(|l| l.lease == node.lease.id() && l.address == node.cfg.address)
    });
    let forks_recorded = view
        .snap
        .as_ref()
        .is_some_and(|s| !s.forks.is_empty() || s.census.values().any(|c| !c.forks.is_empty()));
    let forks = if mine || forks_recorded {
        node.forks()
    } else {
        vec![]
    };
    Observation {
        me: node.cfg.name.clone(),
        address: node.cfg.address.clone(),
        lease: node.lease.id(),
        cluster_size: node.cfg.opts.cluster_size,
        now: crate::etcd::unix_now(),
        status,
        sql_failures: local.sql_failures,
        snap: view.snap.clone(),
        etcd_ok,
        census,
        census_due,
        vacant_for: view.vacant_since.map(|t| t.elapsed()).unwrap_or_default(),
        last_leader: view.last_leader.clone(),
        forks,
        recovery_mark: view.recovery_mark.clone(),
        first_synced,
        non_primary_for,
        ever_primary: local.ever_primary,
        probes,
        woken_by: woken_by.to_string(),
        upgrade,
    }
}

/// Count local commits made while not the leader (a client bypassing haproxy's write port).
fn sample_stray_writes(node: &mut Node, followers: &mut Followers, s: &WsrepStatus) {
    let commits = s.get("local_commits").and_then(|v| v.trim().parse().ok());
    let stray = followers.sample(commits, node.state.current.leader);
    if stray > 0 {
        let note = format!(
            "{stray} local write(s) committed here while not the leader: a client \
             bypasses haproxy's write port (counted in the census; `status` flags it)"
        );
        if node.notes.due("stray writes") {
            warn!("{note} ({} since mariadbd started)", followers.stray_writes);
        }
    }
}

/// Leave for the recovery: stop mariadbd cleanly, deregister, revoke the lease.
async fn leave(node: &mut Node, child: &mut ChildProc, why: &str) {
    warn!("leaving to take part in recovery: {why}; stopping mariadbd cleanly");
    node.state
        .phase(Phase::Stopping, format!("leaving for recovery: {why}"));
    drain::stop_and_clean_up(node, child).await;
}

/// This node's census entry now: while mariadbd answers with a cluster uuid, its live
/// position (`wsrep_cluster_state_uuid:wsrep_last_committed`) as both the position and the
/// running cluster's (Primary or not: registration says which); else the last one reported.
fn census_now(node: &Node, status: Option<&WsrepStatus>) -> CensusEntry {
    let live = status
        .filter(|s| crate::position::is_uuid(s.cluster_state_uuid()))
        .filter(|s| s.cluster_state_uuid() != crate::position::ZERO_UUID)
        .map(|s| Position::known(s.cluster_state_uuid(), s.last_committed().unwrap_or(-1)));
    match live {
        Some(live) => {
            let mut entry = node.census_entry(&live, Some(live.clone()));
            // What a restarted peer of this uuid can still get by IST from here.
            entry.cached_downto = status.and_then(WsrepStatus::local_cached_downto);
            entry
        }
        None => match &node.census {
            Some((_, last)) => node.census_entry(&last.position, last.running.clone()),
            None => node.census_entry(&Position::Unknown, None),
        },
    }
}
