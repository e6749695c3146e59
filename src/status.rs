//! The operator's surface: `status` (table or JSON), `set-state`, and the one-shot commands
//! `force-bootstrap`, `resync` and `remove-member`.
//!
//! The report and its disagreement flags are pure functions of a [`ClusterSnapshot`] (plus,
//! when reachable, each node's live wsrep status); the commands are thin etcd writes, each a
//! transaction that checks the belief it acts on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::etcd::snapshot::{
    BootstrapRecord, ForceRequest, RecoveryRecord, ResyncRequest, StateValue,
};
use crate::etcd::{absent, delete_op, present, put_op, ClusterSnapshot, ClusterState, Etcd};
use crate::galera::safety::{self, History};
use crate::position::Position;

/// One member (or registered/queued node) as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRow {
    pub name: String,
    pub address: Option<String>,
    pub member: bool,
    pub registered: bool,
    pub leader: bool,
    pub queued: bool,
    pub seqno: Option<i64>,
    pub position: Option<String>,
    pub refused: Option<String>,
    pub resync_requested: bool,
    /// Why the pending resync request is not obeyed (expired, unbound, position moved).
    pub resync_ignored: Option<String>,
    /// The datadir position the node's entrypoint reports (census), while it runs.
    pub reported: Option<String>,
    /// Live wsrep state, when the node answered (filled by the caller).
    pub live: Option<LiveState>,
    /// Why there is no live state: the node did not answer, or it was not asked.
    pub live_error: Option<String>,
}

/// A node's live wsrep state as seen from `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveState {
    /// `wsrep_local_state_comment`: Synced, Donor/Desynced, Joined, Joining, Initialized…
    pub local_state: String,
    /// `wsrep_cluster_status`: Primary, non-Primary, Disconnected.
    pub cluster_status: String,
    pub cluster_size: Option<u64>,
    pub cluster_state_uuid: String,
    pub last_committed: Option<i64>,
    /// `wsrep_ready`.
    pub ready: bool,
    /// `wsrep_evs_state`: OPERATIONAL when the group communication works.
    pub evs_state: String,
}

impl LiveState {
    /// The parts of a wsrep status `status` shows (pure).
    pub fn from_wsrep(s: &crate::mysql::WsrepStatus) -> LiveState {
        LiveState {
            local_state: s.local_state_comment().to_string(),
            cluster_status: s.cluster_status().to_string(),
            cluster_size: s.cluster_size(),
            cluster_state_uuid: s.cluster_state_uuid().to_string(),
            last_committed: s.last_committed(),
            ready: s.ready(),
            evs_state: s.evs_state().to_string(),
        }
    }

    fn synced(&self) -> bool {
        self.local_state == "Synced"
    }

    fn donor(&self) -> bool {
        self.local_state.starts_with("Donor")
    }

    fn primary(&self) -> bool {
        self.cluster_status == "Primary"
    }
}

/// What `status` learnt by asking one node over SQL.
pub type LiveResult = Result<LiveState, String>;

/// Everything `status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub cluster: String,
    pub revision: i64,
    pub state: Option<String>,
    pub uuid: Option<String>,
    pub leader: Option<String>,
    pub leader_name: Option<String>,
    pub lock_holder: Option<String>,
    pub bootstrap: Option<BootstrapRecord>,
    pub recovery: Option<RecoveryRecord>,
    pub force_bootstrap: Option<ForceRequest>,
    /// Why the pending force-bootstrap request is not obeyed (expired, unbound, position moved,
    /// a fresh/unknown/foreign datadir without --accept-data-loss).
    pub force_bootstrap_ignored: Option<String>,
    /// The histories (uuid, highest seqno, holders) the nodes report; two or more means two
    /// clusters' data exist side by side.
    pub histories: Vec<History>,
    /// The commit high-water mark the leader last wrote.
    pub hwm: Option<crate::etcd::snapshot::Mark>,
    /// The maintenance pause in force (`pause`), if any.
    pub pause: Option<crate::etcd::snapshot::Pause>,
    /// A pending `switchover` request.
    pub switchover: Option<crate::etcd::snapshot::SwitchoverRequest>,
    /// What each node's last resync discarded, and where the copy is kept (`P/resynced/`).
    pub resynced: BTreeMap<String, crate::etcd::snapshot::ResyncedRecord>,
    pub members: Vec<MemberRow>,
    /// Why no node's live state was asked for (e.g. no monitor user configured).
    pub live_skipped: Option<String>,
    /// Disagreements and problems, one sentence each.
    pub flags: Vec<String>,
}

/// Build the report from a snapshot and each node's live answer, by node name (pure). Nodes
/// missing from `live` were not asked.
pub fn report_with_live(
    cluster: &str,
    snap: &ClusterSnapshot,
    live: &BTreeMap<String, LiveResult>,
) -> StatusReport {
    let now = crate::etcd::unix_now();
    let mut r = report_at(cluster, snap, now);
    for m in &mut r.members {
        match live.get(&m.name) {
            Some(Ok(l)) => m.live = Some(l.clone()),
            Some(Err(e)) => m.live_error = Some(e.clone()),
            None => {}
        }
    }
    r.flags = flags(snap, &r.members, now);
    r
}

/// Build the report from a snapshot, now.
pub fn report(cluster: &str, snap: &ClusterSnapshot) -> StatusReport {
    report_at(cluster, snap, crate::etcd::unix_now())
}

/// The position a node reports: its queue entry, else its census entry.
fn reported_position(snap: &ClusterSnapshot, name: &str) -> Option<Position> {
    safety::reported_positions(snap)
        .get(name)
        .map(|p| (*p).clone())
}

/// Why the pending force-bootstrap request is not obeyed, if it is not (pure).
pub fn force_bootstrap_ignored(snap: &ClusterSnapshot, now: i64) -> Option<String> {
    let req = snap.force_bootstrap.as_ref()?;
    let current = reported_position(snap, &req.node);
    let cluster = safety::cluster_uuid(snap);
    safety::force_request_problem(req, current.as_ref(), cluster.as_deref(), now)
}

/// Build the report from a snapshot at unix time `now` (pure).
pub fn report_at(cluster: &str, snap: &ClusterSnapshot, now: i64) -> StatusReport {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(snap.census.keys().map(String::as_str));
    names.extend(snap.members.keys().map(String::as_str));
    names.extend(snap.nodes.keys().map(String::as_str));
    names.extend(snap.queue.keys().map(String::as_str));
    names.extend(snap.refused.keys().map(String::as_str));
    let leader_name = snap.leader_name().map(str::to_string);
    let members = names
        .into_iter()
        .map(|n| {
            let q = snap.queue.get(n);
            MemberRow {
                name: n.to_string(),
                address: snap
                    .nodes
                    .get(n)
                    .map(|e| e.address.clone())
                    .or_else(|| snap.members.get(n).cloned()),
                member: snap.members.contains_key(n),
                registered: snap.nodes.contains_key(n),
                leader: leader_name.as_deref() == Some(n),
                queued: q.is_some(),
                seqno: q.and_then(|q| q.seqno),
                position: q.and_then(|q| q.position.as_ref()).map(Position::to_string),
                refused: snap.refused.get(n).cloned(),
                resync_requested: snap.resync.contains_key(n),
                resync_ignored: snap.resync.get(n).and_then(|req| {
                    let current = reported_position(snap, n).unwrap_or(Position::Unknown);
                    safety::resync_request_problem(n, req, &current, now)
                }),
                reported: snap.census.get(n).map(|c| c.position.to_string()),
                live: None,
                live_error: None,
            }
        })
        .collect();
    let mut r = StatusReport {
        cluster: cluster.to_string(),
        revision: snap.revision,
        state: snap.state.as_ref().map(|s| match s {
            StateValue::Known(k) => k.to_string(),
            StateValue::Invalid(v) => v.clone(),
        }),
        uuid: snap.uuid.clone(),
        leader: snap.leader.as_ref().map(|l| l.address.clone()),
        leader_name,
        lock_holder: snap.lock.as_ref().map(|l| l.holder.clone()),
        bootstrap: snap.bootstrap.clone(),
        recovery: snap.recovery.clone(),
        force_bootstrap: snap.force_bootstrap.clone(),
        force_bootstrap_ignored: force_bootstrap_ignored(snap, now),
        histories: safety::histories(snap),
        hwm: snap.hwm.clone(),
        pause: crate::pause::active(snap, now).cloned(),
        switchover: snap.switchover.clone(),
        resynced: snap.resynced.clone(),
        members,
        live_skipped: None,
        flags: vec![],
    };
    r.flags = flags(snap, &r.members, now);
    r
}

/// The disagreements docs/design.md §6 asks `status` to flag (pure).
pub fn flags(snap: &ClusterSnapshot, rows: &[MemberRow], now: i64) -> Vec<String> {
    let mut f: Vec<String> = snap.warnings.clone();
    if let Some(p) = crate::pause::active(snap, now) {
        f.push(format!(
            "cluster {}: no recovery election, bootstrap, heal in place or leader hand-over for \
             health happens until it ends",
            crate::pause::sentence(p, now)
        ));
    }
    let histories = safety::histories(snap);
    if histories.len() > 1 {
        f.push(format!(
            "two histories side by side: {}. Compare them before choosing which to keep \
             (docs/operations.md, \"Two histories\")",
            histories
                .iter()
                .map(|h| format!(
                    "{}{}",
                    h.describe(),
                    if h.running.is_empty() {
                        ""
                    } else {
                        " (running)"
                    }
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // Each running node counts the writes its own clients committed while it was not the
    // leader (`galera::read_only`); any at all means a client bypasses haproxy's write port.
    for (name, c) in snap.census.iter().filter(|(_, c)| c.stray_writes > 0) {
        f.push(format!(
            "{name} received {} local write(s) while not the leader (since its mariadbd \
             started): a client bypasses haproxy's write port (docs/operations.md §13, \
             GaleraStrayWrites)",
            c.stray_writes
        ));
    }
    if let Some(why) = force_bootstrap_ignored(snap, now) {
        f.push(why);
    } else if let Some(req) = &snap.force_bootstrap {
        let forks = crate::galera::branches::forks_of(snap, &req.node);
        let position = reported_position(snap, &req.node);
        let by_mark = position
            .as_ref()
            .map(|p| safety::mark_loss_sentence(&req.node, p, forks, snap))
            .unwrap_or_default();
        if let Some(l) = position
            .as_ref()
            .and_then(|p| safety::transactions_lost(p, forks, snap))
        {
            f.push(format!(
                "force-bootstrap of {} pending: choosing it loses at least {} transaction(s) of {} (held by {}){}{by_mark}",
                req.node,
                l.count,
                l.uuid,
                l.holders.join(","),
                safety::unknown_positions_sentence(snap, &req.node)
            ));
        } else if !by_mark.is_empty() {
            f.push(format!("force-bootstrap of {} pending{by_mark}", req.node));
        }
    }
    let state = snap.known_state();
    if let Some(StateValue::Invalid(v)) = &snap.state {
        f.push(format!(
            "state `{v}` is not BUILDING, STEADY or RECOVERY: entrypoints refuse to start; fix with `galera-sidecar set-state`"
        ));
    }
    if snap.state.is_none() && (!snap.nodes.is_empty() || !snap.members.is_empty()) {
        f.push("no state key while nodes/members exist (etcd lost its data?); running nodes restore it".into());
    }
    if snap.uuid.is_none() && !snap.nodes.is_empty() {
        f.push(
            "no uuid while nodes are registered (etcd lost its data?); running nodes restore it"
                .into(),
        );
    }
    if state == Some(ClusterState::Steady) {
        for (name, _) in snap
            .members
            .iter()
            .filter(|(n, _)| !snap.nodes.contains_key(*n))
        {
            f.push(format!(
                "member {name} is not registered (down, joining, or not Synced)"
            ));
        }
        if !snap.queue.is_empty() {
            f.push(
                "queue entries while STEADY (stale; they expire with their owners' leases)".into(),
            );
        }
    }
    if matches!(
        state,
        Some(ClusterState::Recovery) | Some(ClusterState::Building)
    ) && !snap.nodes.is_empty()
    {
        let missing: Vec<&str> = snap
            .members
            .keys()
            .filter(|m| !snap.nodes.contains_key(*m))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            f.push(format!(
                "state stays {} until every member registers; not registered: {} (start it, or `galera-sidecar remove-member NAME` if it is gone for good)",
                state.map(|s| s.as_str()).unwrap_or("-"),
                missing.join(", ")
            ));
        }
    }
    for name in snap.nodes.keys().filter(|n| !snap.members.contains_key(*n)) {
        f.push(format!("node {name} is registered but not a member"));
    }
    if let Some(l) = &snap.leader {
        if snap.node_named_by_address(&l.address).is_none() {
            f.push(format!(
                "leader {} is not a registered node (not eligible; it gives leadership up or its lease expires)",
                l.address
            ));
        }
    } else if !snap.nodes.is_empty() {
        f.push("no leader while nodes are registered: haproxy keeps its last config".into());
    }
    for r in rows {
        if let Some(why) = &r.refused {
            f.push(format!("{} refuses to start: {why}", r.name));
        }
        if let Some(why) = &r.resync_ignored {
            f.push(why.clone());
        }
        f.extend(live_flags(snap, r));
    }
    f.extend(cluster_size_flags(snap, rows));
    for (n, r) in &snap.resynced {
        if let Some(path) = &r.kept {
            f.push(format!(
                "{n}'s diverged datadir ({}) is kept at {path} on {n}'s volume, using its disk: \
                 compare it with the cluster, then delete it (docs/operations.md §6, \"Kept \
                 datadirs\")",
                resynced_range(r)
            ));
        }
    }
    f.extend(
        snap.nodes
            .keys()
            .filter_map(|n| crate::restart_gate::sst_flag(snap, n)),
    );
    if state == Some(ClusterState::Recovery) && snap.nodes.is_empty() {
        let expected: BTreeSet<&String> = snap.members.keys().collect();
        let queued: BTreeSet<&String> = snap.queue.keys().collect();
        let missing: Vec<&&String> = expected.difference(&queued).collect();
        if !missing.is_empty() {
            f.push(format!(
                "recovery waits for members not queued: {}{}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                safety::queued_mark_loss(snap)
            ));
        }
        for (n, q) in &snap.queue {
            if q.position == Some(Position::Unknown) {
                f.push(format!(
                    "{n} has an unknown position: no automatic recovery choice; see docs/operations.md (force-bootstrap)"
                ));
            }
        }
        if let Some(why) = crate::galera::recovery::blocked_by_mark(snap, now) {
            f.push(format!("recovery blocked: {why}"));
        }
    }
    f
}

/// What a resync discarded, in words (pure): `U:a..=b` when the numbers say which
/// transactions the cluster does not hold, else the datadir's position.
pub fn resynced_range(r: &crate::etcd::snapshot::ResyncedRecord) -> String {
    match (&r.position, r.first_seqno) {
        (Position::Known { uuid, seqno }, Some(0)) => {
            format!("history {uuid} through seqno {seqno}, none of it in the cluster's history")
        }
        (Position::Known { uuid, seqno }, Some(from)) if from <= *seqno => format!(
            "{uuid}:{from}..={seqno} ({} transaction(s) the cluster does not hold)",
            seqno - from + 1
        ),
        (p, _) => format!("a datadir at {p}"),
    }
}

/// Disagreements between one node's live wsrep state and etcd (pure).
fn live_flags(snap: &ClusterSnapshot, r: &MemberRow) -> Vec<String> {
    let mut f = vec![];
    let Some(live) = &r.live else {
        if let Some(e) = &r.live_error {
            if r.leader {
                f.push(format!(
                    "leader {} does not answer over SQL ({e}): not eligible; haproxy's health check fails it",
                    r.name
                ));
            } else if r.registered {
                f.push(format!(
                    "{} is registered but does not answer over SQL ({e})",
                    r.name
                ));
            }
        }
        return f;
    };
    if let Some(uuid) = &snap.uuid {
        if !live.cluster_state_uuid.is_empty() && &live.cluster_state_uuid != uuid {
            f.push(format!(
                "{} runs cluster uuid {} but etcd says {uuid} (split brain or a wrong etcd value; not ready, see docs/operations.md)",
                r.name, live.cluster_state_uuid
            ));
        }
    }
    if r.leader {
        let why = if live.donor() {
            Some(format!("donor ({})", live.local_state))
        } else if !live.synced() {
            Some(format!("not Synced ({})", live.local_state))
        } else if !live.primary() {
            Some(format!("not Primary ({})", live.cluster_status))
        } else if !live.ready {
            Some("wsrep_ready=OFF".to_string())
        } else {
            match &snap.uuid {
                Some(u) if *u != live.cluster_state_uuid => Some(format!(
                    "cluster uuid {} differs from etcd's {u}",
                    live.cluster_state_uuid
                )),
                _ => None,
            }
        };
        if let Some(why) = why {
            f.push(format!("leader {} is not eligible: {why}", r.name));
        }
    }
    if r.registered && !((live.synced() || live.donor()) && live.primary()) {
        f.push(format!(
            "{} is registered but {} / {} (a node stays registered only while Synced or Donor, in the Primary Component)",
            r.name, live.local_state, live.cluster_status
        ));
    }
    if !r.registered && live.synced() && live.primary() && r.member {
        f.push(format!(
            "{} is Synced and Primary but not registered (registering now, or its entrypoint lost etcd)",
            r.name
        ));
    }
    if !live.primary() && !r.registered {
        f.push(format!(
            "{} is {} (not in the Primary Component: partitioned or starting)",
            r.name, live.cluster_status
        ));
    }
    f
}

/// Nodes whose Galera view disagrees with the registrations in etcd (pure).
fn cluster_size_flags(snap: &ClusterSnapshot, rows: &[MemberRow]) -> Vec<String> {
    let registered = snap.nodes.len() as u64;
    rows.iter()
        .filter(|r| r.registered)
        .filter_map(|r| {
            let live = r.live.as_ref()?;
            let size = live.cluster_size?;
            (live.primary() && size != registered).then(|| {
                format!(
                    "{} sees wsrep_cluster_size {size} but {registered} node(s) are registered (a node joining or leaving, or a registration missing)",
                    r.name
                )
            })
        })
        .collect()
}

/// `s` with control characters (escape sequences, newlines) shown escaped.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Render the report as a table for people.
pub fn render_table(r: &StatusReport) -> String {
    let mut out = String::new();
    // One line per call; values from etcd are shown with control characters escaped, so a
    // stray escape sequence or newline in a value cannot repaint the operator's terminal or
    // forge table lines.
    macro_rules! say {
        ($($arg:tt)*) => {{
            out.push_str(&printable(&format!($($arg)*)));
            out.push('\n');
        }};
    }
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    say!("cluster    {} (etcd revision {})", r.cluster, r.revision);
    say!("state      {}", dash(&r.state));
    say!("uuid       {}", dash(&r.uuid));
    let leader = match (&r.leader, &r.leader_name) {
        (Some(a), Some(n)) => format!("{n} ({a})"),
        (Some(a), None) => a.clone(),
        _ => "-".into(),
    };
    say!("leader     {leader}");
    if let Some(p) = &r.pause {
        say!(
            "pause      by {} since {} until {}: {} (automatic recovery, bootstrap, heal and \
             leader hand-over for health are frozen; `galera-sidecar resume` ends it)",
            p.by,
            p.since,
            p.until,
            p.reason
        );
    }
    if let Some(sw) = &r.switchover {
        say!(
            "switchover to {} from {}, issued at {}, until {}{}",
            sw.to,
            sw.from,
            sw.issued_at,
            sw.expires_at,
            sw.refused
                .as_ref()
                .map(|w| format!(" — refused: {w}"))
                .unwrap_or_default()
        );
    }
    if let Some(m) = &r.hwm {
        say!(
            "hwm        {}:{} (commit high-water mark, written by {} at {})",
            m.uuid,
            m.seqno,
            m.by,
            m.at
        );
    }
    say!(
        "lock       {}",
        r.lock_holder
            .as_deref()
            .map(|h| format!("held by {h}"))
            .unwrap_or_else(|| "free".into())
    );
    if let Some(b) = &r.bootstrap {
        say!(
            "bootstrap  {} from {} ({}, at {})",
            b.node,
            b.position,
            b.reason,
            b.at
        );
    }
    if let Some(rc) = &r.recovery {
        say!(
            "recovery   winner {} at {} ({}; decided by {})",
            rc.winner,
            rc.position,
            rc.reason,
            rc.decided_by
        );
    }
    if let Some(fb) = &r.force_bootstrap {
        say!(
            "force-bootstrap {} bound to {}, issued at {}, expires at {}{}{}",
            fb.node,
            fb.position
                .as_ref()
                .map(Position::to_string)
                .unwrap_or_else(|| "no position".into()),
            fb.issued_at,
            fb.expires_at,
            if fb.accept_data_loss {
                ", data loss accepted"
            } else {
                ""
            },
            match &r.force_bootstrap_ignored {
                Some(_) => " (IGNORED, see flags)",
                None => "",
            }
        );
    }
    for (n, rs) in &r.resynced {
        say!(
            "resynced   {n} at {}: discarded {}; {}",
            rs.at,
            resynced_range(rs),
            rs.kept
                .as_ref()
                .map(|p| format!("kept at {p} on {n}'s volume"))
                .unwrap_or_else(|| "deleted (--discard)".into())
        );
    }
    for h in &r.histories {
        say!(
            "history    {} at seqno {} on {}{}",
            h.uuid,
            h.seqno,
            h.nodes.join(","),
            if h.running.is_empty() {
                String::new()
            } else {
                format!(" (running on {})", h.running.join(","))
            }
        );
    }
    out.push('\n');
    say!(
        "{:<16} {:<16} {:<7} {:<10} {:<6} {:<7} {:<44} LIVE",
        "NAME",
        "ADDRESS",
        "MEMBER",
        "REGISTERED",
        "LEADER",
        "QUEUED",
        "POSITION"
    );
    for m in &r.members {
        let live = match (&m.live, &m.live_error) {
            (Some(l), _) => format!(
                "{} {} size={} committed={}{}",
                l.local_state,
                l.cluster_status,
                l.cluster_size
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                l.last_committed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                if l.ready { "" } else { " not-ready" }
            ),
            (None, Some(e)) if e.contains("Connection refused") => {
                "no answer (connection refused)".to_string()
            }
            (None, Some(e)) => format!("no answer: {e}"),
            (None, None) => "-".into(),
        };
        let yn = |b: bool| if b { "yes" } else { "no" };
        say!(
            "{:<16} {:<16} {:<7} {:<10} {:<6} {:<7} {:<44} {}",
            m.name,
            dash(&m.address),
            yn(m.member),
            yn(m.registered),
            yn(m.leader),
            yn(m.queued),
            dash(&m.position.clone().or_else(|| m.reported.clone())),
            live
        );
    }
    if let Some(why) = &r.live_skipped {
        say!("(live state not shown: {why})");
    }
    if !r.flags.is_empty() {
        out.push('\n');
        say!("flags:");
        for f in &r.flags {
            say!("  ! {f}");
        }
    }
    out
}

/// `set-state`: validate, refuse RECOVERY while nodes are registered unless forced, CAS the
/// value (so a concurrent change is not overwritten silently), print old → new.
pub async fn set_state(etcd: &Etcd, value: &str, force: bool) -> anyhow::Result<String> {
    let new: ClusterState = value
        .parse()
        .map_err(|e: String| crate::cli::ConfigError::new("STATE", e))?;
    let key = etcd.keys.state();
    let current = etcd.get(&key).await?;
    let old = current
        .as_ref()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
    let mut when = vec![match &current {
        Some(kv) => etcd_client::Compare::mod_revision(
            key.clone(),
            etcd_client::CompareOp::Equal,
            kv.mod_revision,
        ),
        None => absent(&key),
    }];
    if new == ClusterState::Recovery && !force {
        when.push(etcd.no_nodes());
    }
    let txn = etcd_client::Txn::new()
        .when(when)
        .and_then(vec![put_op(&key, new.as_str(), None)]);
    if !etcd.txn(txn).await?.succeeded {
        let snap = etcd.snapshot().await?;
        if new == ClusterState::Recovery && !force && !snap.nodes.is_empty() {
            anyhow::bail!(
                "refusing RECOVERY: {} node(s) registered ({}); a running cluster does not need recovery. Use --force to set it anyway",
                snap.nodes.len(),
                snap.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        anyhow::bail!("state changed while setting it; run set-state again");
    }
    Ok(format!("{} -> {}", old.as_deref().unwrap_or("(none)"), new))
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

/// Condition: the keys carrying `name`'s reported position did not change since `revision`.
fn position_unchanged(etcd: &Etcd, name: &str, revision: i64) -> Vec<etcd_client::Compare> {
    let k = &etcd.keys;
    vec![
        crate::etcd::unchanged_since(&k.census(name), revision),
        crate::etcd::unchanged_since(&k.position(name), revision),
    ]
}

/// `force-bootstrap NAME`: a request, bound to NAME's reported position and expiring, that
/// NAME bootstraps the current or next recovery. Refused (nothing written) for a fresh,
/// unknown or foreign datadir unless `accept_data_loss`; prints the known positions and what
/// the choice loses.
pub async fn force_bootstrap(
    etcd: &Etcd,
    name: &str,
    expires: Duration,
    accept_data_loss: bool,
) -> anyhow::Result<String> {
    crate::names::validate_node_name(name).map_err(|p| crate::cli::ConfigError::new("NAME", p))?;
    let snap = etcd.snapshot().await?;
    let position = reported_position(&snap, name);
    let known = snap.members.contains_key(name) || position.is_some();
    if !known {
        return Err(crate::cli::ConfigError::new(
            "NAME",
            format!(
                "{name} is neither a member of cluster {} nor a node reporting a position; known: {}",
                etcd.keys.prefix(),
                {
                    let mut k: BTreeSet<&str> = snap.members.keys().map(String::as_str).collect();
                    k.extend(safety::reported_positions(&snap).keys().copied());
                    if k.is_empty() {
                        "none".to_string()
                    } else {
                        k.into_iter().collect::<Vec<_>>().join(", ")
                    }
                }
            ),
        )
        .into());
    }
    if !snap.nodes.is_empty() {
        anyhow::bail!(
            "{} registered: a cluster runs, there is nothing to force. force-bootstrap binds to a \
             stopped node's position during a full outage",
            snap.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let running: Vec<&str> = snap
        .census
        .iter()
        .filter(|(n, c)| n.as_str() != name && c.running.is_some())
        .map(|(n, _)| n.as_str())
        .collect();
    if !running.is_empty() {
        anyhow::bail!(
            "the mariadbd of {} runs (outside any Primary Component): forcing {name} beside it \
             could make a second Primary Component; nothing written. Stop it first (or let the \
             cluster heal: docs/recovery.md)",
            running.join(", ")
        );
    }
    let now = crate::etcd::unix_now();
    let req = ForceRequest {
        node: name.to_string(),
        position: position.clone(),
        issued_at: now,
        expires_at: now + expires.as_secs().max(1) as i64,
        accept_data_loss,
    };
    let listing = positions_listing(&snap);
    let cluster = safety::cluster_uuid(&snap);
    let loss = match safety::transactions_lost(
        position.as_ref().unwrap_or(&Position::Unknown),
        crate::galera::branches::forks_of(&snap, name),
        &snap,
    ) {
        Some(l) => format!(
            "choosing {name} loses at least {} transaction(s) of {} (held by {})",
            l.count,
            l.uuid,
            l.holders.join(",")
        ),
        None => format!("choosing {name} loses no reported transaction"),
    } + &safety::unknown_positions_sentence(&snap, name)
        + &position
            .as_ref()
            .map(|p| {
                safety::mark_loss_sentence(
                    name,
                    p,
                    crate::galera::branches::forks_of(&snap, name),
                    &snap,
                )
            })
            .unwrap_or_default();
    let problem = match &position {
        None if !accept_data_loss => Some(format!(
            "{name} has not reported its position (start its entrypoint first, it reports before \
             anything else), or accept the loss of whatever it holds with --accept-data-loss"
        )),
        _ => safety::force_request_problem(&req, position.as_ref(), cluster.as_deref(), now),
    };
    if let Some(problem) = problem {
        anyhow::bail!(
            "force-bootstrap refused, nothing written: {problem}.\nKnown positions:\n{listing}\n{loss}"
        );
    }
    let mut when = position_unchanged(etcd, name, snap.revision);
    when.push(etcd.no_nodes());
    let txn = etcd_client::Txn::new().when(when).and_then(vec![put_op(
        &etcd.keys.force_bootstrap(),
        &serde_json::to_string(&req)?,
        None,
    )]);
    if !etcd.txn(txn).await?.succeeded {
        anyhow::bail!(
            "{name}'s position changed or a node registered while the request was written; \
             nothing written: run `galera-sidecar status` and try again"
        );
    }
    Ok(format!(
        "force-bootstrap set: in the current or next recovery {name} bootstraps, bound to its position {} \
         and expiring at {} (in {}){}.\nKnown positions:\n{listing}\n{loss}; nodes ahead of it or \
         holding another history are refused, never overwritten",
        position
            .as_ref()
            .map(Position::to_string)
            .unwrap_or_else(|| "(not reported)".into()),
        req.expires_at,
        humantime::format_duration(expires),
        if accept_data_loss {
            ", data loss accepted"
        } else {
            ""
        }
    ))
}

/// `resync NAME [--discard]`: a node refused right now moves its datadir aside on its volume
/// (kept; `--discard`: deleted) and rejoins by SST. The request is bound to the position NAME
/// reports now and expires; nothing is written when NAME is not refused.
pub async fn resync(
    etcd: &Etcd,
    name: &str,
    expires: Duration,
    discard: bool,
) -> anyhow::Result<String> {
    crate::names::validate_node_name(name).map_err(|p| crate::cli::ConfigError::new("NAME", p))?;
    let snap = etcd.snapshot().await?;
    let Some(why) = snap.refused.get(name) else {
        anyhow::bail!(
            "{name} is not refused right now: nothing to resync, nothing written (a resync answers \
             a refusal; `galera-sidecar status` lists refused nodes)"
        );
    };
    let Some(position) = reported_position(&snap, name) else {
        anyhow::bail!("{name} is refused but reports no position; nothing written");
    };
    let now = crate::etcd::unix_now();
    let req = ResyncRequest {
        position: Some(position.clone()),
        issued_at: now,
        expires_at: now + expires.as_secs().max(1) as i64,
        discard,
    };
    let mut when = position_unchanged(etcd, name, snap.revision);
    when.push(present(&etcd.keys.refused(name)));
    let txn = etcd_client::Txn::new().when(when).and_then(vec![put_op(
        &etcd.keys.resync(name),
        &serde_json::to_string(&req)?,
        None,
    )]);
    if !etcd.txn(txn).await?.succeeded {
        anyhow::bail!("{name}'s position or refusal changed meanwhile; nothing written");
    }
    let discards = match &position {
        Position::Known { uuid, seqno } => {
            format!(
                "its datadir at {uuid}:{seqno} (history {uuid}, {} transaction(s))",
                seqno + 1
            )
        }
        p => format!("its datadir at {p}"),
    };
    let what = if discard {
        format!("it DELETES {discards} (--discard) and rejoins by SST")
    } else {
        format!(
            "it moves {discards} aside on its volume (its kept dir, <uuid>_<seqno>_<time>) and \
             rejoins by SST; it refuses, changing nothing, if the copy cannot stay on the \
             datadir's filesystem or the volume lacks room for the SST beside it. `status` shows \
             the kept copy; docs/operations.md §6 says how to delete it"
        )
    };
    Ok(format!(
        "resync requested for {name} (refused: {why}): {what}. \
         Bound to that position, expiring at {} (in {}).\nKnown positions:\n{}",
        req.expires_at,
        humantime::format_duration(expires),
        positions_listing(&snap)
    ))
}

/// `remove-member NAME`: forget a member after a scale-down. Refused while it is registered
/// (running) unless forced — the txn checks it, so a node registering meanwhile is not dropped.
pub async fn remove_member(etcd: &Etcd, name: &str, force: bool) -> anyhow::Result<String> {
    crate::names::validate_node_name(name).map_err(|p| crate::cli::ConfigError::new("NAME", p))?;
    let member = etcd.keys.member(name);
    let mut when = vec![present(&member)];
    if !force {
        when.push(absent(&etcd.keys.node(name)));
        // A member whose mariadbd runs outside any Primary Component (a partition) may hold
        // the newest commits: recoveries and heals must keep waiting for it.
        let snap = etcd.snapshot().await?;
        if let Some(running) = snap.census.get(name).and_then(|c| c.running.as_ref()) {
            anyhow::bail!(
                "the mariadbd of {name} runs ({running}, outside any Primary Component unless it \
                 is registered): it may hold the newest commits, and once removed nothing waits \
                 for it; nothing written. Stop it first (or use --force)"
            );
        }
        when.push(crate::etcd::unchanged_since(
            &etcd.keys.census(name),
            snap.revision,
        ));
    }
    let txn = etcd_client::Txn::new()
        .when(when)
        .and_then(vec![delete_op(&member)]);
    if etcd.txn(txn).await?.succeeded {
        return Ok(format!(
            "member {name} removed: recoveries no longer wait for it"
        ));
    }
    let snap = etcd.snapshot().await?;
    if !snap.members.contains_key(name) {
        anyhow::bail!(
            "{name} is not a member (members: {})",
            snap.members.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    anyhow::bail!("{name} is registered (running); stop it first, or use --force")
}

/// How `status` asks the nodes for their live state.
#[derive(Debug, Clone)]
pub struct LiveOpts {
    /// The members' SQL port.
    pub sql_port: u16,
    /// Bound of one node's connection and query.
    pub timeout: Duration,
    /// Do not ask the nodes.
    pub skip: bool,
}

/// Ask every node with an address for its wsrep status, concurrently, each bounded by
/// `timeout`. Keyed by node name; an `Err` says why the node did not answer.
pub async fn query_live(
    rows: &[MemberRow],
    creds: &crate::mysql::Credentials,
    port: u16,
    timeout: Duration,
) -> BTreeMap<String, LiveResult> {
    let asks = rows.iter().filter_map(|m| {
        let address = m.address.clone()?;
        let name = m.name.clone();
        let creds = creds.clone();
        Some(async move {
            let ep = crate::mysql::Endpoint::Tcp {
                host: address,
                port,
            };
            let r = crate::mysql::wsrep_status(&ep, &creds, timeout)
                .await
                .map(|s| LiveState::from_wsrep(&s))
                .map_err(|e| e.to_string());
            (name, r)
        })
    });
    futures::future::join_all(asks).await.into_iter().collect()
}

/// `status`: print the table or the JSON document.
pub async fn main(
    etcd: &Etcd,
    global: &crate::cli::GlobalOpts,
    live_opts: &LiveOpts,
    json: bool,
) -> anyhow::Result<u8> {
    let snap = etcd.snapshot().await?;
    let rows = report(&global.cluster_name, &snap).members;
    let creds = crate::mysql::Credentials::monitor_from_env()?;
    let (live, skipped) = if live_opts.skip {
        (BTreeMap::new(), Some("--no-live".to_string()))
    } else if creds.user.is_none() {
        (
            BTreeMap::new(),
            Some("GALERA_MONITOR_USER is not set; set it and GALERA_MONITOR_PASSWORD (or _FILE) to see each node's wsrep state".to_string()),
        )
    } else {
        (
            query_live(&rows, &creds, live_opts.sql_port, live_opts.timeout).await,
            None,
        )
    };
    let mut r = report_with_live(&global.cluster_name, &snap, &live);
    r.live_skipped = skipped;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render_table(&r));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::snapshot::{CensusEntry, LeaderEntry, NodeEntry, QueueEntry};

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";
    const V: &str = "11111111-2222-3333-4444-555555555555";

    fn base() -> ClusterSnapshot {
        let mut s = ClusterSnapshot {
            state: Some(StateValue::Known(ClusterState::Steady)),
            uuid: Some(U.into()),
            ..Default::default()
        };
        for (n, a) in [
            ("g-0", "10.0.0.1"),
            ("g-1", "10.0.0.2"),
            ("g-2", "10.0.0.3"),
        ] {
            s.members.insert(n.into(), a.into());
            s.nodes.insert(
                n.into(),
                NodeEntry {
                    address: a.into(),
                    lease: 1,
                },
            );
        }
        s.leader = Some(LeaderEntry {
            address: "10.0.0.1".into(),
            lease: 1,
            create_revision: 1,
            mod_revision: 1,
        });
        s
    }

    /// A census entry; `running`: the node serves this position's cluster.
    fn census(s: &mut ClusterSnapshot, n: &str, p: Position, running: bool) {
        s.census.insert(
            n.into(),
            CensusEntry {
                position: p.clone(),
                address: "10.0.0.9".into(),
                at: 1,
                running: running.then_some(p),
                forks: vec![],
                cached_downto: None,
                stray_writes: 0,
            },
        );
    }

    #[test]
    fn healthy_cluster_has_no_flags() {
        let r = report("c", &base());
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert_eq!(r.leader_name.as_deref(), Some("g-0"));
        assert_eq!(r.members.len(), 3);
        assert!(r.members[0].leader && r.members[0].registered && r.members[0].member);
    }

    #[test]
    fn flags_table() {
        type Mutate = fn(&mut ClusterSnapshot);
        let cases: &[(&str, Mutate, &str)] = &[
            (
                "member down",
                |s| {
                    s.nodes.remove("g-2");
                },
                "member g-2 is not registered",
            ),
            (
                "unknown state",
                |s| s.state = Some(StateValue::Invalid("FOO".into())),
                "`FOO` is not",
            ),
            (
                "leader not a node",
                |s| {
                    s.leader = Some(LeaderEntry {
                        address: "10.9.9.9".into(),
                        lease: 1,
                        create_revision: 1,
                        mod_revision: 1,
                    })
                },
                "not a registered node",
            ),
            ("no leader", |s| s.leader = None, "no leader"),
            (
                "stray writes on a non-leader",
                |s| {
                    census(s, "g-1", Position::known(U, 40), true);
                    if let Some(c) = s.census.get_mut("g-1") {
                        c.stray_writes = 3;
                    }
                },
                "g-1 received 3 local write(s) while not the leader (since its mariadbd \
                 started): a client bypasses haproxy's write port",
            ),
            (
                "refused",
                |s| {
                    s.refused.insert("g-2".into(), "split brain".into());
                },
                "g-2 refuses to start: split brain",
            ),
            (
                "two histories side by side",
                |s| {
                    s.nodes.remove("g-2");
                    census(s, "g-0", Position::known(U, 40), true);
                    census(s, "g-2", Position::known(V, 90), false);
                },
                "two histories side by side: 11111111-2222-3333-4444-555555555555 at seqno 90 on g-2; \
                 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002 at seqno 40 on g-0 (running)",
            ),
            (
                "a hand-written force-bootstrap is ignored",
                |s| {
                    s.force_bootstrap = Some(ForceRequest {
                        node: "g-1".into(),
                        position: None,
                        issued_at: 0,
                        expires_at: 0,
                        accept_data_loss: false,
                    });
                },
                "the force-bootstrap request for g-1 has no expiry and no binding",
            ),
            (
                "a force-bootstrap whose node moved is ignored",
                |s| {
                    census(s, "g-1", Position::known(U, 12), false);
                    s.force_bootstrap = Some(ForceRequest {
                        node: "g-1".into(),
                        position: Some(Position::known(U, 11)),
                        issued_at: 1,
                        expires_at: i64::MAX / 2,
                        accept_data_loss: false,
                    });
                },
                "was issued against position 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002:11, but g-1 now reports",
            ),
            (
                "a valid force-bootstrap says what it loses",
                |s| {
                    census(s, "g-0", Position::known(U, 20), false);
                    census(s, "g-1", Position::known(U, 12), false);
                    s.force_bootstrap = Some(ForceRequest {
                        node: "g-1".into(),
                        position: Some(Position::known(U, 12)),
                        issued_at: 1,
                        expires_at: i64::MAX / 2,
                        accept_data_loss: false,
                    });
                },
                "choosing it loses at least 8 transaction(s) of 6b3a1f0e-1c2d-11ef-9a7b-0242ac120002 (held by g-0)",
            ),
            (
                "an expired resync is ignored",
                |s| {
                    s.refused.insert("g-2".into(), "two histories".into());
                    census(s, "g-2", Position::known(V, 3), false);
                    s.resync.insert(
                        "g-2".into(),
                        ResyncRequest {
                            position: Some(Position::known(V, 3)),
                            issued_at: 1,
                            expires_at: 2,
                            discard: false,
                        },
                    );
                },
                "the resync request for g-2 expired",
            ),
            ("no uuid", |s| s.uuid = None, "no uuid"),
            (
                "stale queue",
                |s| {
                    s.queue.insert(
                        "g-1".into(),
                        QueueEntry {
                            queued_at: Some(1),
                            seqno: Some(1),
                            position: None,
                        },
                    );
                },
                "queue entries while STEADY",
            ),
            (
                "recovery not finished",
                |s| {
                    s.state = Some(StateValue::Known(ClusterState::Recovery));
                    s.nodes.remove("g-2");
                },
                "state stays RECOVERY until every member registers; not registered: g-2",
            ),
            (
                "not a member",
                |s| {
                    s.members.remove("g-1");
                },
                "registered but not a member",
            ),
            (
                "recovery missing",
                |s| {
                    s.state = Some(StateValue::Known(ClusterState::Recovery));
                    s.nodes.clear();
                    s.leader = None;
                    s.queue.insert(
                        "g-0".into(),
                        QueueEntry {
                            queued_at: Some(1),
                            seqno: Some(5),
                            position: Some(Position::Unknown),
                        },
                    );
                },
                "recovery waits for members not queued: g-1, g-2",
            ),
        ];
        for (name, mutate, want) in cases {
            let mut s = base();
            mutate(&mut s);
            let r = report("c", &s);
            assert!(
                r.flags.iter().any(|f| f.contains(want)),
                "{name}: want {want:?} in {:?}",
                r.flags
            );
        }
    }

    fn live(state: &str, status: &str, size: u64, uuid: &str) -> LiveResult {
        Ok(LiveState {
            local_state: state.into(),
            cluster_status: status.into(),
            cluster_size: Some(size),
            cluster_state_uuid: uuid.into(),
            last_committed: Some(7),
            ready: status == "Primary",
            evs_state: "OPERATIONAL".into(),
        })
    }

    fn all_synced() -> BTreeMap<String, LiveResult> {
        ["g-0", "g-1", "g-2"]
            .into_iter()
            .map(|n| (n.to_string(), live("Synced", "Primary", 3, U)))
            .collect()
    }

    #[test]
    fn healthy_live_cluster_has_no_flags() {
        let r = report_with_live("c", &base(), &all_synced());
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        assert!(r.members.iter().all(|m| m.live.is_some()));
        let t = render_table(&r);
        assert!(t.contains("Synced Primary size=3 committed=7"), "{t}");
    }

    #[test]
    fn live_flags_table() {
        type Mutate = fn(&mut ClusterSnapshot, &mut BTreeMap<String, LiveResult>);
        const V: &str = "11111111-1111-1111-1111-111111111111";
        let cases: &[(&str, Mutate, &str)] = &[
            (
                "uuid mismatch",
                |_, l| {
                    l.insert("g-1".into(), live("Synced", "Primary", 3, V));
                },
                "g-1 runs cluster uuid 11111111",
            ),
            (
                "leader is a donor",
                |_, l| {
                    l.insert("g-0".into(), live("Donor/Desynced", "Primary", 3, U));
                },
                "leader g-0 is not eligible: donor",
            ),
            (
                "leader not Synced",
                |_, l| {
                    l.insert("g-0".into(), live("Joined", "Primary", 3, U));
                },
                "leader g-0 is not eligible: not Synced (Joined)",
            ),
            (
                "leader non-Primary",
                |_, l| {
                    l.insert("g-0".into(), live("Synced", "non-Primary", 1, U));
                },
                "leader g-0 is not eligible: not Primary",
            ),
            (
                "leader unreachable",
                |_, l| {
                    l.insert("g-0".into(), Err("cannot connect to 10.0.0.1:33306".into()));
                },
                "leader g-0 does not answer over SQL",
            ),
            (
                "registered node unreachable",
                |_, l| {
                    l.insert("g-2".into(), Err("cannot connect".into()));
                },
                "g-2 is registered but does not answer",
            ),
            (
                "registered but Joined",
                |_, l| {
                    l.insert("g-2".into(), live("Joined", "Primary", 3, U));
                },
                "g-2 is registered but Joined / Primary",
            ),
            (
                "member missing, still answers partitioned",
                |s, l| {
                    s.nodes.remove("g-2");
                    l.insert("g-2".into(), live("Initialized", "non-Primary", 1, U));
                },
                "g-2 is non-Primary (not in the Primary Component",
            ),
            (
                "member missing and down",
                |s, l| {
                    s.nodes.remove("g-2");
                    l.insert("g-2".into(), Err("cannot connect".into()));
                },
                "member g-2 is not registered",
            ),
            (
                "cluster size disagrees",
                |s, l| {
                    s.nodes.remove("g-2");
                    l.insert("g-2".into(), Err("cannot connect".into()));
                },
                "g-0 sees wsrep_cluster_size 3 but 2 node(s) are registered",
            ),
            (
                "synced but not registered",
                |s, _| {
                    s.nodes.remove("g-1");
                },
                "g-1 is Synced and Primary but not registered",
            ),
        ];
        for (name, mutate, want) in cases {
            let mut s = base();
            let mut l = all_synced();
            mutate(&mut s, &mut l);
            let r = report_with_live("c", &s, &l);
            assert!(
                r.flags.iter().any(|f| f.contains(want)),
                "{name}: want {want:?} in {:?}",
                r.flags
            );
        }
    }

    #[test]
    fn unanswered_live_shows_why_and_skipped_is_said() {
        let mut l = all_synced();
        l.insert("g-2".into(), Err("cannot connect to 10.0.0.3:33306".into()));
        let mut r = report_with_live("c", &base(), &l);
        assert_eq!(
            r.members[2].live_error.as_deref(),
            Some("cannot connect to 10.0.0.3:33306")
        );
        assert!(r.members[2].live.is_none());
        r.live_skipped = Some("no monitor user".into());
        let t = render_table(&r);
        assert!(
            t.contains("no answer: cannot connect to 10.0.0.3:33306"),
            "{t}"
        );
        assert!(t.contains("live state not shown: no monitor user"), "{t}");
        let j = serde_json::to_value(&r).expect("json");
        assert_eq!(j["members"][0]["live"]["local_state"], "Synced");
        assert_eq!(
            j["members"][2]["live_error"],
            "cannot connect to 10.0.0.3:33306"
        );
    }

    #[test]
    fn table_mentions_everything() {
        let t = render_table(&report("c", &base()));
        for want in ["STEADY", U, "g-0 (10.0.0.1)", "g-2", "free"] {
            assert!(t.contains(want), "{want} missing in\n{t}");
        }
    }

    #[test]
    fn resynced_records_show_as_a_line_and_a_flag() {
        use crate::etcd::snapshot::ResyncedRecord;
        let rec = |first: Option<i64>, kept: Option<&str>| ResyncedRecord {
            position: Position::known(V, 9),
            first_seqno: first,
            cluster: None,
            kept: kept.map(str::to_string),
            at: 1_700_000_000,
            reason: "two histories".into(),
        };
        let cases = [
            (
                rec(Some(0), Some("/v/galera-kept/x")),
                format!("history {V} through seqno 9, none of it"),
                true,
            ),
            (
                rec(Some(7), Some("/v/k/y")),
                format!("{V}:7..=9 (3 transaction(s)"),
                true,
            ),
            (rec(None, None), format!("a datadir at {V}:9"), false),
        ];
        for (r, words, flagged) in cases {
            let mut s = base();
            s.resynced.insert("g-2".into(), r.clone());
            let rep = report("c", &s);
            let t = render_table(&rep);
            assert!(t.contains("resynced   g-2 at 1700000000"), "{t}");
            assert!(t.contains(&words), "{words} missing in\n{t}");
            match &r.kept {
                Some(p) => assert!(t.contains(&format!("kept at {p}")), "{t}"),
                None => assert!(t.contains("deleted (--discard)"), "{t}"),
            }
            let flag = rep
                .flags
                .iter()
                .any(|f| f.contains("g-2's diverged datadir"));
            assert_eq!(flag, flagged, "{:?}", rep.flags);
            let json = serde_json::to_value(&rep).expect("json");
            assert_eq!(json["resynced"]["g-2"]["at"], 1_700_000_000, "{json}");
        }
    }
}
