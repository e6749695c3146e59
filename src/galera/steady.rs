//! The running node: the steady loop (registration, members, STEADY, uuid/state restore,
//! leadership, lease repair, the probes' state file) and the drain on SIGTERM.
//!
//! Never stops mariadbd because etcd is unreachable: Galera has its own quorum. etcd errors
//! are logged (rate-limited) and the loop goes on; keys are repaired when etcd returns.

use std::time::Duration;

use etcd_client::{Compare, CompareOp, Txn};
use tracing::{info, warn};

use super::handover::{handover, Handover};
use super::mysqld::ChildProc;
use super::node::Node;
use super::non_primary::{
    non_primary_plan, non_primary_under_pause, NonPrimaryPlan, CONFIRMED_DOWN_GRACE,
};
use super::read_only::{read_only_change, Followers};
use super::rules::{
    eligibility, forks_due, leader_action, mark_due, moot_force, preferred_successor,
    recovery_mark_due, should_register, steady_due, LeaderAction, CAMPAIGN_DEFER,
    MARK_INTERVAL_SECS,
};
use crate::checker::state_file::Phase;
use crate::etcd::snapshot::{CensusEntry, StateValue};
use crate::etcd::watch::{watch, WatchEvent};
use crate::etcd::{delete_op, ClusterSnapshot, ClusterState, EtcdError};
use crate::mysql::WsrepStatus;
use crate::position::Position;

/// How long a running node stays non-Primary, with no Primary Component anywhere, before the
/// sidecar acts (heal in place, or leave for the recovery; see `non_primary::non_primary_plan`;
/// a heal beside members confirmed down waits `CONFIRMED_DOWN_GRACE` only).
const NON_PRIMARY_GRACE: Duration = Duration::from_secs(30);
/// Exit code after leaving for recovery (the kubelet restarts the container, which queues).
const LEFT_FOR_RECOVERY: u8 = 75;

/// Run until mariadbd exits or shutdown is requested; returns the exit code for the process.
pub async fn run(node: &mut Node, mut child: ChildProc) -> anyhow::Result<u8> {
    node.state.phase(Phase::Running, "mariadbd running");
    // One watch on the whole prefix drives the loop: the snapshot is re-read only when
    // something changed (or every MAX_VIEW_AGE as a safety net) — no polling of etcd.
    let prefix = node.etcd.keys.prefix().to_string();
    let mut events = watch(node.etcd.clone(), prefix.clone(), true);
    let mut view = View::default();
    let mut last_etcd_error = tokio::time::Instant::now() - Duration::from_secs(60);
    let mut sql_failures = 0u32;
    let mut was_synced = false;
    let mut last_status: Option<WsrepStatus> = None;
    // What woke this pass (logged with a campaign, so a failover says whether the watch or
    // the periodic check drove it).
    let mut woken_by = "start";
    let mut primary_at = tokio::time::Instant::now();
    // In a Primary Component at least once since this loop began (a join that never reached
    // one is left, not kept).
    let mut ever_primary = false;
    let mut recovery_mark = node.recovery_mark();
    let mut non_primary_said = crate::logging::Throttle::new(Duration::from_secs(30));
    let mut monitor = super::monitor::MonitorSession::default();
    // Stray writes counted, and the read_only this loop set (`--read-only-followers`).
    let mut followers = Followers::default();
    log_status_path(node);
    loop {
        if let Some(code) = child.try_code() {
            warn!("mariadbd exited with status {code}; deregistering and exiting with it");
            cleanup(node).await;
            return Ok(exit_byte(code));
        }
        if node.stopping() {
            return drain_and_stop(node, &mut child).await;
        }
        // Local status (bounded), as the monitor user of the Secret (re-applied when rotated).
        let status = match monitor.status(node, Duration::from_secs(2)).await {
            Ok(s) => {
                sql_failures = 0;
                Some(s)
            }
            Err(e) => {
                sql_failures += 1;
                if sql_failures == 3 {
                    warn!("local wsrep status unavailable 3 times in a row: {e}");
                }
                None
            }
        };
        if let Some(s) = &status {
            if s.is_synced() && !was_synced {
                was_synced = true;
                let owner = super::datadir::user_ids(&node.cfg.opts.mysql_user);
                if let Err(e) = super::datadir::write_init_ok(&node.cfg.opts.datadir, owner) {
                    warn!("cannot rewrite init.ok: {e}");
                }
            }
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
            last_status = Some(s.clone());
            if s.is_primary() {
                primary_at = tokio::time::Instant::now();
                ever_primary = true;
            }
        }
        if let Some(s) = status
            .as_ref()
            .filter(|s| !s.is_primary() && primary_at.elapsed() >= CONFIRMED_DOWN_GRACE)
        {
            let elapsed = primary_at.elapsed();
            let plan = match node.etcd.snapshot().await {
                Ok(snap) => {
                    let now = crate::etcd::unix_now();
                    let paused =
                        crate::pause::active(&snap, now).map(|p| crate::pause::sentence(p, now));
                    let probes = super::heal::probe_gone(node, &snap).await;
                    non_primary_plan(
                        &node.cfg.name,
                        s,
                        ever_primary,
                        &snap,
                        node.cfg.opts.cluster_size,
                        &probes,
                        elapsed,
                        NON_PRIMARY_GRACE,
                    )
                    .map(|p| non_primary_under_pause(p, paused.as_deref()))
                }
                Err(_) => None,
            };
            match plan {
                Some(NonPrimaryPlan::Leave(why)) => {
                    warn!("leaving to take part in recovery: {why}; stopping mariadbd cleanly");
                    node.state
                        .phase(Phase::Stopping, format!("leaving for recovery: {why}"));
                    let code = child.stop(node.cfg.opts.stop_timeout).await;
                    // The datadir stopped changing now: the next run compares published cluster positions
                    // with this time (the state file's).
                    node.state.phase(
                        Phase::Stopping,
                        format!("mariadbd stopped with status {code}"),
                    );
                    info!("mariadbd stopped with status {code}");
                    cleanup(node).await;
                    return Ok(LEFT_FOR_RECOVERY);
                }
                Some(NonPrimaryPlan::HealInPlace(_)) => {
                    match super::heal::heal_in_place(node, elapsed, NON_PRIMARY_GRACE).await {
                        Ok(true) => view.dirty = true,
                        Ok(false) => {}
                        Err(e) => warn!("heal in place failed: {e:#}; re-deciding"),
                    }
                }
                Some(NonPrimaryPlan::Stay(why)) if non_primary_said.due(&why) => {
                    info!(
                        "staying non-Primary ({}s), mariadbd keeps running: {why}",
                        elapsed.as_secs()
                    );
                }
                Some(NonPrimaryPlan::Stay(_)) => {}
                None => {}
            }
        }
        match tick(
            node,
            &mut view,
            status.as_ref(),
            sql_failures,
            woken_by,
            &mut followers,
        )
        .await
        {
            Ok(()) => {}
            Err(e) => {
                node.state.etcd_error();
                if last_etcd_error.elapsed() >= Duration::from_secs(10) {
                    warn!("etcd: {e}; mariadbd keeps running, retrying");
                    last_etcd_error = tokio::time::Instant::now();
                }
            }
        }
        if let (Some(s), Some(snap)) = (&status, &view.snap) {
            if let Some(id) = recovery_mark_due(s, snap, recovery_mark.as_deref()) {
                let owner = super::datadir::user_ids(&node.cfg.opts.mysql_user);
                match super::datadir::write_recovery_joined(&node.cfg.opts.datadir, &id, owner) {
                    Ok(()) => {
                        info!(
                            "marked the datadir as joined to the cluster recovered under {id}: \
                             a restart before STEADY rejoins instead of being refused as ahead"
                        );
                        recovery_mark = Some(id);
                    }
                    Err(e) => warn!("cannot write the recovery mark: {e}"),
                }
            }
            if !snap.forks.is_empty() || snap.census.values().any(|c| !c.forks.is_empty()) {
                let missing = forks_due(s, snap, &node.cfg.name, &node.forks());
                if !missing.is_empty() {
                    if let Err(e) = node.add_forks(&missing) {
                        warn!("cannot record the cluster's forced recoveries in the datadir: {e}");
                    }
                }
            }
        }
        node.state.current.leader = node.state.current.leader && last_status.is_some();
        if status.is_some() {
            let leader = node.state.current.leader;
            let _ = apply_read_only(node, &mut followers, leader).await;
        }
        node.state.write();
        // Next tick: 1 s, or at once when the leader key is deleted (campaign).
        let mut rx = node.shutdown.clone();
        woken_by = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => "the periodic check",
            _ = rx.changed() => "shutdown",
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

/// Say once how this loop (and the probes, which resolve it the same way) reach mariadbd.
fn log_status_path(node: &Node) {
    let extra_max = node
        .cfg
        .opts
        .mysql
        .defaults_file
        .as_ref()
        .and_then(|f| crate::mycnf::MyCnf::read(f).ok())
        .and_then(|c| c.extra_max_connections());
    let monitor = node.cfg.creds.user.is_some();
    match status_path_note(&node.cfg.endpoint, monitor, extra_max) {
        (true, line) => warn!("{line}"),
        (false, line) => info!("{line}"),
    }
}

/// The connections a node's own clients may hold on the reserved port at once: this loop (and
/// a heal's or a re-application's root statement after it), the exec readiness and liveness
/// probes, `checker serve`.
pub const RESERVED_NEEDED: u32 = 4;

/// The line about the status path, and whether it is a warning (pure).
pub fn status_path_note(
    endpoint: &crate::mysql::Endpoint,
    monitor_user: bool,
    extra_max_connections: Option<u32>,
) -> (bool, String) {
    use crate::mysql::Endpoint;
    match endpoint {
        Endpoint::Reserved { .. } if !monitor_user => (
            true,
            format!(
                "no monitor user: status queries log in as root over {} (unix_socket), not over \
                 the reserved port {endpoint}; set GALERA_MONITOR_USER/_PASSWORD",
                endpoint.route(&Default::default())
            ),
        ),
        Endpoint::Reserved { .. } => {
            // MariaDB's default extra_max_connections is 1.
            let n = extra_max_connections.unwrap_or(1);
            if n < RESERVED_NEEDED {
                (
                    true,
                    format!(
                        "status queries and probes use the reserved port {endpoint}, but \
                         extra_max_connections = {n} is less than the {RESERVED_NEEDED} they may \
                         hold at once: set extra_max_connections = 10 in the my.cnf"
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "status queries and probes use the reserved port {endpoint} \
                         (extra_max_connections = {n}): clients filling max_connections do not \
                         lock them out"
                    ),
                )
            }
        }
        other => (
            false,
            format!(
                "status queries use {other}; no reserved port (extra_port in the my.cnf): \
                 clients filling max_connections make this node look unavailable \
                 (docs/probes.md)"
            ),
        ),
    }
}

/// How often a running node re-publishes its census entry (the cluster's position it sees):
/// a joiner that was down waits at most about this long for a position newer than its own.
/// 12 writes a minute per node.
pub const CENSUS_REFRESH: Duration = Duration::from_secs(5);

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

/// A snapshot re-read only when the watch saw a change, or when it is older than this.
const MAX_VIEW_AGE: Duration = Duration::from_secs(10);

/// The running loop's view of etcd.
#[derive(Default)]
struct View {
    snap: Option<ClusterSnapshot>,
    dirty: bool,
    read_at: Option<tokio::time::Instant>,
    /// Since when this loop has seen no leader key.
    vacant_since: Option<tokio::time::Instant>,
    /// The address the leader key last held.
    last_leader: Option<String>,
}

impl View {
    async fn current(&mut self, node: &mut Node) -> Result<ClusterSnapshot, EtcdError> {
        let stale = self.read_at.is_none_or(|t| t.elapsed() >= MAX_VIEW_AGE);
        match &self.snap {
            Some(s) if !self.dirty && !stale => Ok(s.clone()),
            _ => {
                // Cleared before the read: a change arriving during it marks it dirty again.
                self.dirty = false;
                let s = node
                    .etcd
                    .snapshot()
                    .await
                    .inspect_err(|_| self.dirty = true)?;
                node.state.view(&s);
                self.snap = Some(s.clone());
                self.read_at = Some(tokio::time::Instant::now());
                Ok(s)
            }
        }
    }
}

/// One pass of the steady rules.
async fn tick(
    node: &mut Node,
    view: &mut View,
    status: Option<&WsrepStatus>,
    sql_failures: u32,
    woken_by: &str,
    followers: &mut Followers,
) -> Result<(), EtcdError> {
    if node.renew_lease_if_lost().await? {
        node.state.current.leader = false;
        view.dirty = true;
    }
    let snap = view.current(node).await?;
    let me = node.cfg.name.clone();
    let k = node.etcd.keys.clone();

    // The census: this node's position, and while it serves a Primary Component the cluster's
    // actual uuid and last committed seqno — what joiners compare their datadir with.
    let mut census = census_now(node, status);
    census.stray_writes = followers.stray_writes;
    // Registration: only while Synced or Donor (and Primary), with the census in the same txn.
    match status {
        Some(s) if should_register(s) => node.register(&snap, Some(census.clone())).await?,
        Some(s) => {
            node.deregister(
                &snap,
                &format!("{} / {}", s.local_state_comment(), s.cluster_status()),
            )
            .await?
        }
        None if sql_failures >= 3 => node.deregister(&snap, "local server not answering").await?,
        None => {}
    }
    if node.census_due(Some(&snap), &census, Some(CENSUS_REFRESH)) {
        node.publish_census(census).await?;
    }
    // The rules below use the same snapshot: what registration changed comes back through
    // the watch and is acted on at the next pass.

    // Restore uuid / state lost with etcd's data, from the running cluster (create-if-absent).
    if let Some(s) = status.filter(|s| s.is_synced() && s.is_primary()) {
        if snap.uuid.is_none()
            && !s.cluster_state_uuid().is_empty()
            && node
                .etcd
                .create_if_absent(&k.uuid(), s.cluster_state_uuid(), None)
                .await?
        {
            {
                info!(
                    "restored P/uuid = {} from the running cluster",
                    s.cluster_state_uuid()
                );
            }
        }
    }

    // A heal in place is over once this node is registered: its fenced record goes.
    if snap.nodes.contains_key(&me)
        && snap
            .bootstrap
            .as_ref()
            .is_some_and(|b| b.node == me && b.reason == super::heal::HEAL_IN_PLACE)
    {
        if let Some(kv) = node.etcd.get(&k.bootstrap()).await? {
            let txn = Txn::new()
                .when(vec![Compare::mod_revision(
                    k.bootstrap(),
                    CompareOp::Equal,
                    kv.mod_revision,
                )])
                .and_then(vec![delete_op(&k.bootstrap())]);
            if node.etcd.txn(txn).await?.succeeded {
                info!("healed in place and registered: the heal-in-place record is removed");
            }
        }
    }

    // A forced recovery still pending while this node serves a Primary Component is moot.
    if let Some(m) = status.and_then(|s| moot_force(s, &snap, &me)) {
        let mut when = vec![];
        let mut ops = vec![];
        for (wanted, key) in [(m.request, k.force_bootstrap()), (m.record, k.recovery())] {
            if !wanted {
                continue;
            }
            if let Some(kv) = node.etcd.get(&key).await? {
                when.push(Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    kv.mod_revision,
                ));
                ops.push(delete_op(&key));
            }
        }
        if !ops.is_empty()
            && node
                .etcd
                .txn(Txn::new().when(when).and_then(ops))
                .await?
                .succeeded
        {
            node.state.decision("force-moot");
            warn!("{}", m.why);
        }
    }

    // STEADY when every member is registered.
    if let Some(why) = steady_due(&snap, &me, node.cfg.opts.cluster_size) {
        let expected = match &snap.state {
            Some(StateValue::Known(s)) => Some(s.as_str().to_string()),
            _ => None,
        };
        let ops = vec![delete_op(&k.bootstrap()), delete_op(&k.recovery())];
        if node
            .etcd
            .cas_state(
                expected.as_deref(),
                ClusterState::Steady,
                vec![node.etcd.no_queue()],
                ops,
            )
            .await?
        {
            info!(
                "state {} -> STEADY: {why}",
                expected.as_deref().unwrap_or("unset")
            );
        }
    }

    // Leadership.
    let lease = node.lease.id();
    let mine = snap
        .leader
        .as_ref()
        .is_some_and(|l| l.lease == lease && l.address == node.cfg.address);
    let elig = eligibility(status, sql_failures, snap.uuid.as_deref());
    let now = crate::etcd::unix_now();
    match handover(&snap, &me, &node.cfg.address, &elig, now) {
        Handover::Nothing => {}
        Handover::Take(why) => {
            // Writable before haproxy can route here (put back at the end of the pass if
            // the take-over fails); not taken over while still read-only.
            if !apply_read_only(node, followers, true).await {
                info!(
                    "switchover: read_only could not be turned off; trying again at the next pass"
                );
            } else if take_over(node, &snap).await? {
                node.state.decision("switchover");
                info!("became leader ({}): {why}", node.cfg.address);
                node.state.current.leader = true;
                return Ok(());
            } else {
                info!("switchover: the leader or the request changed meanwhile; re-deciding");
            }
        }
        Handover::Refuse(why) => {
            if refuse_switchover(node, &snap, &why).await? {
                warn!("switchover to {me} refused: {why}");
            }
        }
    }
    match &snap.leader {
        None => {
            view.vacant_since
                .get_or_insert_with(tokio::time::Instant::now);
        }
        Some(l) => {
            view.vacant_since = None;
            view.last_leader = Some(l.address.clone());
        }
    }
    let vacant_for = view.vacant_since.map(|t| t.elapsed()).unwrap_or_default();
    match leader_action(&snap, mine, &elig) {
        LeaderAction::Campaign if vacant_for < CAMPAIGN_DEFER => {
            if let Some(first) = preferred_successor(&snap, &me, view.last_leader.as_deref()) {
                let note = format!(
                    "not campaigning yet: {first} is the first registered member (haproxy's \
                     first backup); campaigning if it has not won within {CAMPAIGN_DEFER:?}"
                );
                if node.notes.due(&note) {
                    info!("{note}");
                }
            } else {
                campaign(node, woken_by, followers).await?;
            }
        }
        LeaderAction::Campaign => campaign(node, woken_by, followers).await?,
        LeaderAction::Resign(why) => match crate::pause::active(&snap, now) {
            // Paused: the leader stays (haproxy's health checks still route around a sick
            // one to its backup servers); a SIGTERM still hands over.
            Some(p) => {
                let note = format!("not giving up leadership although {why}: cluster paused");
                if node.notes.due(&note) {
                    info!("{note} ({})", crate::pause::sentence(p, now));
                }
                node.state.current.leader = mine;
            }
            None => resign(node, &snap, &why).await?,
        },
        LeaderAction::Keep => node.state.current.leader = mine,
    }

    // The commit high-water mark, written by the leader (fenced on its leadership, never
    // over a mark written since this snapshot).
    if let (Some(s), Some(l)) = (status, snap.leader.as_ref()) {
        let now = crate::etcd::unix_now();
        // The datadir's forks file is read only by the leader (the only writer of the mark).
        let forks = if mine { node.forks() } else { vec![] };
        if let Some(m) = mark_due(s, &snap, &me, mine, &forks, now) {
            let first = snap
                .hwm
                .as_ref()
                .is_none_or(|h| h.uuid != m.uuid || h.forks != m.forks);
            let value = serde_json::to_string(&m).unwrap_or_default();
            let txn = Txn::new()
                .when(vec![
                    l.unchanged(&k.leader()),
                    crate::etcd::unchanged_since(&k.hwm(), snap.revision),
                ])
                .and_then(vec![crate::etcd::put_op(&k.hwm(), &value, None)]);
            if node.etcd.txn(txn).await?.succeeded && first {
                info!(
                    "commit high-water mark {}:{} recorded (then every {MARK_INTERVAL_SECS} s while it moves)",
                    m.uuid, m.seqno
                );
            }
        }
    }
    Ok(())
}

/// Campaign: create `P/leader` with this node's address under its lease, if absent.
async fn campaign(
    node: &mut Node,
    woken_by: &str,
    followers: &mut Followers,
) -> Result<(), EtcdError> {
    // Writable before haproxy can route here (put back at the end of the pass if it loses);
    // a node still read-only does not campaign (another can, or this one at the next pass).
    if !apply_read_only(node, followers, true).await {
        return Ok(());
    }
    let key = node.etcd.keys.leader();
    if node
        .etcd
        .create_if_absent(&key, &node.cfg.address, Some(node.lease.id()))
        .await?
    {
        node.state.decision("become-leader");
        info!(
            "became leader ({}): eligible and no leader; campaign woken by {woken_by}",
            node.cfg.address
        );
        node.state.current.leader = true;
    } else {
        info!("campaign lost: another node became leader first (woken by {woken_by})");
    }
    Ok(())
}

/// `--read-only-followers`: `SET GLOBAL read_only` as root when what this loop last set
/// differs from what `leader` asks for (`read_only::read_only_change`); one line per change.
/// A failure (no root password, a statement that waited too long behind running
/// transactions) is logged, throttled, and tried again at the next pass. Returns false only
/// when a `SET` was needed and failed (the node may then be read-only against what `leader`
/// asks); without a root password nothing is ever set, so the node stays writable: true.
async fn apply_read_only(node: &mut Node, followers: &mut Followers, leader: bool) -> bool {
    let Some(want) = read_only_change(node.cfg.opts.read_only_followers, leader, followers.set)
    else {
        return true;
    };
    let Some(password) = node.cfg.users.root_password.clone() else {
        let note = "--read-only-followers needs the root password (GALERA_ROOT_PASSWORD): \
                    read_only left as it is";
        if node.notes.due(note) {
            warn!("{note}");
        }
        return true;
    };
    let root = crate::mysql::Credentials {
        user: Some("root".into()),
        password: Some(password),
    };
    let (value, why) = if want {
        ("ON", "not the leader")
    } else {
        ("OFF", "the leader (or about to be)")
    };
    let sql = format!("SET GLOBAL read_only={value}");
    match crate::mysql::execute(&node.cfg.endpoint, &root, &sql, Duration::from_secs(2)).await {
        Ok(()) => {
            followers.set = Some(want);
            info!("read_only={value}: this node is {why} (--read-only-followers)");
            true
        }
        Err(e) => {
            followers.set = None;
            let note = format!("cannot set read_only={value}: {e}");
            if node.notes.due(&note) {
                warn!("{note}; trying again at the next pass");
            }
            false
        }
    }
}

/// The switchover's hand-over, one transaction: if `P/leader` and `P/switchover` are still
/// what the snapshot holds, `P/leader` becomes this node's address under its lease and the
/// request goes. `false` when either changed meanwhile.
async fn take_over(node: &mut Node, snap: &ClusterSnapshot) -> Result<bool, EtcdError> {
    let (Some(l), Some(req)) = (&snap.leader, &snap.switchover) else {
        return Ok(false);
    };
    let k = node.etcd.keys.clone();
    let txn = Txn::new()
        .when(vec![
            l.unchanged(&k.leader()),
            Compare::mod_revision(k.switchover(), CompareOp::Equal, req.mod_revision),
        ])
        .and_then(vec![
            crate::etcd::put_op(&k.leader(), &node.cfg.address, Some(node.lease.id())),
            delete_op(&k.switchover()),
        ]);
    Ok(node.etcd.txn(txn).await?.succeeded)
}

/// Write why this node refuses the switchover into the request (same lease, fenced on it).
async fn refuse_switchover(
    node: &mut Node,
    snap: &ClusterSnapshot,
    why: &str,
) -> Result<bool, EtcdError> {
    let Some(req) = &snap.switchover else {
        return Ok(false);
    };
    let key = node.etcd.keys.switchover();
    let mut refused = req.clone();
    refused.refused = Some(why.to_string());
    let value = serde_json::to_string(&refused).unwrap_or_default();
    let lease = (req.lease != 0).then_some(req.lease);
    let txn = Txn::new()
        .when(vec![Compare::mod_revision(
            key.clone(),
            CompareOp::Equal,
            req.mod_revision,
        )])
        .and_then(vec![crate::etcd::put_op(&key, &value, lease)]);
    Ok(node.etcd.txn(txn).await?.succeeded)
}

/// Delete `P/leader` if it is still the entry we read (not handed over meanwhile).
async fn resign(node: &mut Node, snap: &ClusterSnapshot, why: &str) -> Result<(), EtcdError> {
    let Some(l) = &snap.leader else { return Ok(()) };
    let k = node.etcd.keys.leader();
    let txn = Txn::new()
        .when(vec![l.unchanged(&k)])
        .and_then(vec![delete_op(&k)]);
    if node.etcd.txn(txn).await?.succeeded {
        info!("gave up leadership: {why}");
    }
    node.state.current.leader = false;
    Ok(())
}

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
async fn drain_and_stop(node: &mut Node, child: &mut ChildProc) -> anyhow::Result<u8> {
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
                if let Err(e) = resign(node, &snap, "stopping (SIGTERM)").await {
                    warn!("giving up leadership failed ({e}); the key goes with the lease");
                }
                wait_for_handover(node, leader_wait, window).await;
            }
        }
        Err(e) => warn!(
            "stopping: etcd unavailable ({e}); cannot hand leadership over, stopping mariadbd (our keys expire with the lease)"
        ),
    }
    let code = child.stop(node.cfg.opts.stop_timeout).await;
    // The datadir stopped changing now: the next run compares published cluster positions
    // with this time (the state file's).
    node.state.phase(
        Phase::Stopping,
        format!("mariadbd stopped with status {code}"),
    );
    info!("mariadbd stopped with status {code}");
    cleanup(node).await;
    Ok(if code == 0 { 0 } else { exit_byte(code) })
}

/// `--drain-wait-ist`: before deregistering, wait (bounded by `bound`, its share of
/// `--drain-timeout`, then stop anyway)
/// until restarting this node would rejoin by IST and keep quorum (`restart_gate`), with this
/// node's live position; says what it waits for every few seconds.
async fn wait_for_ist(node: &mut Node, bound: Duration) {
    const SAY_EVERY: Duration = Duration::from_secs(5);
    let start = tokio::time::Instant::now();
    let me = node.cfg.name.clone();
    let mut said: Option<tokio::time::Instant> = None;
    loop {
        let live =
            crate::mysql::wsrep_status(&node.cfg.endpoint, &node.cfg.creds, Duration::from_secs(2))
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
                let addr = String::from_utf8_lossy(&kv.value).into_owned();
                if addr != node.cfg.address {
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
    let ops: Vec<_> = k.owned_by(&me).iter().map(|key| delete_op(key)).collect();
    let _ = node.etcd.txn(Txn::new().and_then(ops)).await;
    node.lease.revoke_now().await;
}

/// A child's status as our exit code: its code, 128+signal, or 1 when unknown.
fn exit_byte(code: i32) -> u8 {
    if (0..=255).contains(&code) {
        code as u8
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::Endpoint;

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

    #[test]
    fn status_path_note_table() {
        let sock = Endpoint::Socket("/run/mysqld/mysqld.sock".into());
        let reserved = Endpoint::Reserved {
            host: "127.0.0.1".into(),
            port: 33307,
            normal: Box::new(sock.clone()),
        };
        // (endpoint, monitor user, extra_max_connections) → (warning?, text)
        let cases = [
            (&sock, true, None, false, "no reserved port"),
            (
                &reserved,
                true,
                Some(10),
                false,
                "127.0.0.1:33307 (extra_port)",
            ),
            (&reserved, true, Some(4), false, "extra_max_connections = 4"),
            (
                &reserved,
                true,
                Some(3),
                true,
                "set extra_max_connections = 10",
            ),
            (
                &reserved,
                true,
                None,
                true,
                "extra_max_connections = 1 is less",
            ),
            (&reserved, false, Some(10), true, "no monitor user"),
        ];
        for (ep, monitor, max, warning, text) in cases {
            let (w, line) = status_path_note(ep, monitor, max);
            assert_eq!(w, warning, "{ep} {monitor} {max:?}: {line}");
            assert!(line.contains(text), "{line} lacks {text}");
        }
    }
}
