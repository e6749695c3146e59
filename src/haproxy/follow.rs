//! `galera-sidecar haproxy`: keep haproxy pointed at the etcd leader.
//!
//! The loop: a watch on the cluster's prefix (resilient: reconnects, re-reads) feeds the values
//! of `P/leader` and `P/members/` ([`EtcdView`], sent only when they change); [`decide`] (pure)
//! turns them and the running config into keep / refuse / apply — the leader as the normal
//! server, the other members as `backup` servers in name order ([`backups`]); an
//! apply renders, validates with `haproxy -c`, replaces the config file, reloads through the
//! master CLI (listening sockets are handed over: no refused connection), persists the config
//! as the last good one, and — when the leader changed — ends the sessions old workers still
//! hold on the old leader, so no client keeps writing to it. `hard-stop-after` in the config
//! bounds any old worker that is left.
//!
//! **Ending the old leader's sessions without failing a new connection.** On a reload the
//! old worker stops accepting before the new worker starts (the master keeps the listening
//! sockets meanwhile), so after the reload every session an old worker holds was accepted
//! before the move. Some of them are new connections accepted a moment before it, still in
//! their handshake or first statement: ending them at once fails a client that did nothing
//! wrong. So a session is ended only once it is at least [`OLD_SESSION_GRACE`] old: right
//! after the reload those already that old (pinned ones: pools) and those whose connection to
//! the old leader already failed (a crashed leader), [`OLD_SESSION_GRACE`] after the reload
//! all the others ([`to_end`] decides, pure). Each `shutdown session` is checked against a new
//! `show sess` and retried (bounded), so a command the master could not pass on does not
//! leave a writer on the old leader. After every reload the leader's server in the new worker
//! gets a passed check's health unless its first check already failed (`full_health`):
//! haproxy starts it at the edge, where one slow check answer would close every new
//! connection for seconds.
//!
//! At start the first etcd read decides the config; when etcd is away (bounded wait) or has no
//! leader, the persisted last good config is used, so a restart with etcd down still routes.
//! No leader later (key deleted, lease expired) → the config is kept: the last leader may well
//! be healthy, and haproxy's health check guards it. SIGTERM/SIGINT → haproxy soft stop
//! (bounded), exit 0. haproxy dying → exit 1 naming it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::process::{check_config, parse_show_proc, socket_command, Haproxy};
use super::readiness::{parse_servers_state, ServerState};
use super::render::{
    backups, describe_backups, render, Backup, Leader, RenderOptions, BUILTIN_TEMPLATE,
};
use super::state::{read_last_good, write_last_good, Paths, Status, FILE_MODE};
use crate::cli::{ConfigError, GlobalOpts, HaproxyOpts};
use crate::etcd::keys::KeyRef;
use crate::etcd::watch::{watch, WatchEvent};
use crate::etcd::{unix_now, Etcd, EtcdConfig, Keys};
use crate::files::write_atomic;

/// What the sidecar reads from etcd: `P/leader` (None: absent) and `P/members/<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdView {
    pub leader: Option<String>,
    pub members: BTreeMap<String, String>,
}

/// What to do with a leader value from etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do; the reason is logged.
    Keep(String),
    /// Keep the running config and report this problem.
    Refuse(String),
    /// Validate and load this config.
    Apply {
        leader: Leader,
        backups: Vec<Backup>,
        config: String,
        reason: String,
    },
}

fn describe(l: Option<&Leader>) -> String {
    l.map(|l| l.address.clone())
        .unwrap_or_else(|| "no leader".into())
}

/// Decide what etcd's view (`leader` None: no `P/leader`) means for the running config (pure):
/// the leader as the normal server, the other members as backups in name order. `routed` and
/// `routed_backups`: what the running config names (for the reason only; the bytes decide).
pub fn decide(
    running_cfg: &str,
    routed: Option<&Leader>,
    routed_backups: &[Backup],
    leader: Option<&str>,
    members: &BTreeMap<String, String>,
    backend_port: u16,
    render: impl Fn(&Leader, &[Backup]) -> Result<String, String>,
) -> Decision {
    let Some(value) = leader else {
        return Decision::Keep(format!(
            "no leader in etcd: keeping the running config ({}; backups {})",
            describe(routed),
            describe_backups(routed_backups)
        ));
    };
    let leader = match Leader::parse(value, backend_port) {
        Ok(l) => l,
        Err(e) => {
            return Decision::Refuse(format!(
                "ignoring P/leader: {e}; keeping the running config ({})",
                describe(routed)
            ))
        }
    };
    let (backups, skipped) = backups(&leader, members, backend_port);
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (ignored: {})", skipped.join("; "))
    };
    let config = match render(&leader, &backups) {
        Ok(c) => c,
        Err(e) => {
            return Decision::Refuse(format!(
                "cannot render the config for leader {}: {e}; keeping the running config ({})",
                leader.address,
                describe(routed)
            ))
        }
    };
    let servers = format!("backups in order {}{skipped}", describe_backups(&backups));
    if config == running_cfg {
        return Decision::Keep(format!(
            "leader {}, {servers}: rendered config unchanged, no reload",
            leader.address
        ));
    }
    let same = |a: &Leader| a.host == leader.host && a.port == leader.port;
    let reason = match routed {
        Some(r) if same(r) && routed_backups != backups.as_slice() => {
            format!(
                "leader {} unchanged, backups changed from {} to {} (P/members changed)",
                leader.address,
                describe_backups(routed_backups),
                describe_backups(&backups)
            ) + &skipped
        }
        Some(r) if same(r) => format!(
            "leader {} unchanged but the rendered config differs (template or options); {servers}",
            leader.address
        ),
        other => {
            // The first backup already takes the traffic wherever the old leader is marked
            // down: making it the normal server moves nothing there.
            let was = match routed_backups.first() {
                Some(b) if b.host == leader.host && b.port == leader.port => {
                    " (it was the first backup: where the old leader is marked down haproxy \
                     already routes to it, no second move)"
                }
                _ => "",
            };
            format!(
                "leader changed from {} to {}{was}; {servers}",
                describe(other),
                leader.address
            )
        }
    };
    Decision::Apply {
        leader,
        backups,
        config,
        reason,
    }
}

/// A config haproxy may start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCandidate {
    pub leader: Option<Leader>,
    /// The backups it names (empty for the persisted config: not recorded; the bytes decide).
    pub backups: Vec<Backup>,
    pub config: String,
    /// Where it comes from, for the log.
    pub source: String,
}

/// The configs to try at start, best first (pure). `first_view`: `None` when etcd did not
/// answer in time, else what it holds. Returns the candidates and the problems met.
pub fn start_candidates(
    first_view: Option<&EtcdView>,
    persisted: Option<(Option<Leader>, String)>,
    backend_port: u16,
    render: impl Fn(Option<&Leader>, &[Backup]) -> Result<String, String>,
) -> (Vec<StartCandidate>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    match first_view.map(|v| (v.leader.as_deref(), &v.members)) {
        Some((Some(v), members)) => match Leader::parse(v, backend_port) {
            Ok(l) => {
                let (b, skipped) = backups(&l, members, backend_port);
                problems.extend(skipped.into_iter().map(|s| format!("ignoring {s}")));
                match render(Some(&l), &b) {
                    Ok(config) => out.push(StartCandidate {
                        source: format!(
                            "etcd leader {}, backups in order {}",
                            l.address,
                            describe_backups(&b)
                        ),
                        leader: Some(l),
                        backups: b,
                        config,
                    }),
                    Err(e) => problems.push(format!("cannot render for leader {}: {e}", l.address)),
                }
            }
            Err(e) => problems.push(format!("ignoring P/leader: {e}")),
        },
        Some((None, _)) => problems.push("etcd has no leader".into()),
        None => problems.push("etcd did not answer".into()),
    }
    if let Some((leader, config)) = persisted {
        out.push(StartCandidate {
            source: format!(
                "the persisted last good config ({})",
                describe(leader.as_ref())
            ),
            leader,
            backups: Vec::new(),
            config,
        });
    }
    match render(None, &[]) {
        Ok(config) => out.push(StartCandidate {
            leader: None,
            backups: Vec::new(),
            config,
            source: "a config without leader (connections refused until one is elected)".into(),
        }),
        Err(e) => problems.push(format!("cannot render the no-leader config: {e}")),
    }
    (out, problems)
}

/// The template's source: the built-in one, or `--template` read afresh (so an edited
/// template — e.g. a ConfigMap — is used from the next render on).
fn template_source(opts: &HaproxyOpts) -> Result<String, String> {
    match &opts.template {
        None => Ok(BUILTIN_TEMPLATE.to_string()),
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| format!("--template {}: {e}", p.display()))
        }
    }
}

fn render_options(opts: &HaproxyOpts, paths: &Paths) -> RenderOptions {
    RenderOptions {
        listen: opts.listen,
        health_check: opts.health_check,
        check_port: opts.check_port,
        backend_port: opts.backend_port,
        admin_socket: paths.admin_socket.display().to_string(),
        hard_stop_after: format!("{}ms", opts.hard_stop_after.as_millis()),
        stats_listen: opts.stats_listen,
        read_listen: opts.read_listen,
        template_name: opts
            .template
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the built-in template".into()),
    }
}

/// Where a config is written before `haproxy -c` accepts it.
fn candidate_path(config: &Path) -> PathBuf {
    let mut s = config.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

/// Write `config` next to `target`, validate it, and move it into place.
async fn install_config(bin: &Path, target: &Path, config: &str) -> Result<(), String> {
    let cand = candidate_path(target);
    write_atomic(&cand, config.as_bytes(), FILE_MODE)
        .map_err(|e| format!("cannot write {}: {e}", cand.display()))?;
    if let Err(e) = check_config(bin, &cand).await {
        let _ = std::fs::remove_file(&cand);
        return Err(e);
    }
    std::fs::rename(&cand, target)
        .map_err(|e| format!("cannot move {} into place: {e}", cand.display()))
}

/// How long a session an old worker holds on the old leader may live after a move: enough
/// for a connection accepted just before the move to finish its handshake and first
/// statements, and well inside the drained leader's `--drain-switch-window` (3 s by default),
/// so its sessions are ended by haproxy before it stops.
pub const OLD_SESSION_GRACE: Duration = Duration::from_secs(1);

/// `show sess` listings per old worker when ending its sessions: each but the last is
/// followed by a `shutdown session` for what is still to end; the last only checks.
const SHUTDOWN_ROUNDS: usize = 4;

/// One session of `show sess`: its id, where it goes and how old it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub backend: String,
    pub server: String,
    /// `age=` as haproxy prints it (whole seconds); `None` when unreadable.
    pub age: Option<Duration>,
    /// haproxy's connection to the server failed and it waits to retry (server-side state
    /// TAR or CER in `scb=[state,…]`): the server refuses or is gone, no handshake can be
    /// under way.
    pub retrying: bool,
}

/// The server-side stream connector's state from `scb=[<state>,<flags>,fd=<n>]`.
fn server_side_state(field: &str) -> Option<u32> {
    field.strip_prefix('[')?.split(',').next()?.parse().ok()
}

/// Parse haproxy's human time (`0s`, `59s`, `1m2s`, `3h`, `2d4h`) into a duration.
pub fn parse_age(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then(|| Duration::from_secs(total))
}

/// Parse `show sess` (`0x…: proto=tcpv4 src=… fe=… be=… srv=… … age=… …`, one session a
/// line).
pub fn parse_show_sess(text: &str) -> Vec<Session> {
    text.lines()
        .filter_map(|l| {
            let (id, rest) = l.split_once(": ")?;
            if !id.starts_with("0x") {
                return None;
            }
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_string)
            };
            Some(Session {
                id: id.to_string(),
                backend: field("be=")?,
                server: field("srv=")?,
                age: field("age=").as_deref().and_then(parse_age),
                // haproxy 2.6: SC_ST_TAR = 3 (turn-around before a retry), SC_ST_CER = 6
                // (connection error).
                retrying: matches!(
                    field("scb=").as_deref().and_then(server_side_state),
                    Some(3 | 6)
                ),
            })
        })
        .collect()
}

/// Which of an old worker's sessions to end now (pure): those on a server other than `keep`
/// (sessions without a server, such as the CLI's own, are left alone) and, when `min_age` is
/// given, only those surely at least that old — haproxy's whole-second age may exceed the
/// true age by up to a second — or whose connection to the old server already failed (a
/// crashed leader: ending them at once lets the client retry on the new one). Returns them
/// and how many others are too young yet.
pub fn to_end<'a>(
    sessions: &'a [Session],
    keep: &str,
    min_age: Option<Duration>,
) -> (Vec<&'a Session>, usize) {
    let mut now = Vec::new();
    let mut young = 0;
    for s in sessions
        .iter()
        .filter(|s| s.server != keep && !s.server.starts_with('<'))
    {
        let old_enough = match (min_age, s.age) {
            (None, _) => true,
            _ if s.retrying => true,
            (Some(min), Some(age)) => age >= min + Duration::from_secs(1),
            (Some(_), None) => false,
        };
        if old_enough {
            now.push(s);
        } else {
            young += 1;
        }
    }
    (now, young)
}

/// What ending the old leader's sessions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Sessions ended (acknowledged by haproxy, and gone at the next listing).
    pub ended: usize,
    /// Sessions left because they are younger than asked.
    pub young: usize,
    /// Sessions still open after every attempt.
    pub left: usize,
}

/// `show sess` of an old worker: `Ok(None)` when the worker is gone (its sessions with it).
async fn list_sessions(master_socket: &Path, pid: u32) -> anyhow::Result<Option<Vec<Session>>> {
    let text = socket_command(master_socket, &format!("@!{pid} show sess")).await?;
    if text.contains("Can't find the target") {
        return Ok(None);
    }
    Ok(Some(parse_show_sess(&text)))
}

/// End the sessions old worker `pid` holds on any server but `keep` (see [`to_end`] for
/// `min_age`). haproxy refuses `shutdown sessions server` on an old worker's stopped proxy,
/// so each session is ended by its id; a new listing then checks it is gone, and what is
/// still there is asked again (bounded).
async fn end_worker_sessions(
    master_socket: &Path,
    pid: u32,
    keep: &str,
    min_age: Option<Duration>,
) -> Sweep {
    let mut sweep = Sweep::default();
    // Sessions haproxy acknowledged a `shutdown session` for.
    let mut asked: HashSet<String> = HashSet::new();
    let mut still: HashSet<String> = HashSet::new();
    for round in 1..=SHUTDOWN_ROUNDS {
        let listed = match list_sessions(master_socket, pid).await {
            Ok(Some(l)) => l,
            Ok(None) => Vec::new(), // the worker is gone, and its sessions with it
            Err(e) => {
                warn!("old worker {pid}: cannot list its sessions: {e:#}");
                break;
            }
        };
        let (targets, young) = to_end(&listed, keep, min_age);
        sweep.young = young;
        still = targets.iter().map(|s| s.id.clone()).collect();
        if targets.is_empty() || round == SHUTDOWN_ROUNDS {
            break;
        }
        for s in targets {
            let again = asked.contains(&s.id);
            let cmd = format!("@!{pid} shutdown session {}", s.id);
            match socket_command(master_socket, &cmd).await {
                Ok(ans) if ans.trim().is_empty() && again => warn!(
                    "a session on old leader {}/{} outlived `shutdown session` (old worker \
                     {pid}): asked again",
                    s.backend, s.server
                ),
                Ok(ans) if ans.trim().is_empty() => {
                    info!(
                        "ended a session still open on old leader {}/{} (old worker {pid}, \
                         age {})",
                        s.backend,
                        s.server,
                        s.age
                            .map_or_else(|| "?".to_string(), |a| format!("{}s", a.as_secs()))
                    );
                    asked.insert(s.id.clone());
                }
                // It ended by itself since the listing.
                Ok(ans) if ans.contains("No such session") => {}
                Ok(ans) => warn!("`{cmd}`: {}", ans.trim()),
                Err(e) => warn!("`{cmd}`: {e:#}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sweep.ended = asked.iter().filter(|id| !still.contains(*id)).count();
    sweep.left = still.len();
    if sweep.left > 0 {
        warn!(
            "old worker {pid}: {} session(s) on an old leader still open after {} attempts; \
             hard-stop-after ends them at the latest",
            sweep.left,
            SHUTDOWN_ROUNDS - 1
        );
    }
    sweep
}

/// End the sessions old workers still hold on any server but `keep`: all of them
/// (`min_age` None) or only those at least `min_age` old. Logs each ended session.
pub async fn end_old_sessions(
    master_socket: &Path,
    keep: &str,
    min_age: Option<Duration>,
) -> Sweep {
    let procs = match socket_command(master_socket, "show proc").await {
        Ok(t) => parse_show_proc(&t),
        Err(e) => {
            warn!("cannot list haproxy's old workers: {e:#}");
            return Sweep::default();
        }
    };
    let mut total = Sweep::default();
    for p in procs.iter().filter(|p| p.kind == "worker" && p.reloads > 0) {
        let s = end_worker_sessions(master_socket, p.pid, keep, min_age).await;
        total.ended += s.ended;
        total.young += s.young;
        total.left += s.left;
    }
    total
}

/// Apply one watch event on the cluster's prefix to the view (pure): only `P/leader` and
/// `P/members/` matter. Returns whether to decide again: the view changed, or `P/leader` was
/// put again with the same value (a decision point as before: the template is read afresh).
pub fn update_view(view: &mut EtcdView, keys: &Keys, ev: &WatchEvent) -> bool {
    let value = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
    let before = view.clone();
    let leader_put =
        matches!(ev, WatchEvent::Put(kv) if keys.classify(&kv.key) == Some(KeyRef::Leader));
    match ev {
        WatchEvent::Reset { kvs, .. } => {
            let mut fresh = EtcdView::default();
            for kv in kvs {
                match keys.classify(&kv.key) {
                    Some(KeyRef::Leader) => fresh.leader = Some(value(&kv.value)),
                    Some(KeyRef::Member(n)) => {
                        fresh.members.insert(n.to_string(), value(&kv.value));
                    }
                    _ => {}
                }
            }
            *view = fresh;
        }
        WatchEvent::Put(kv) => match keys.classify(&kv.key) {
            Some(KeyRef::Leader) => view.leader = Some(value(&kv.value)),
            Some(KeyRef::Member(n)) => {
                view.members.insert(n.to_string(), value(&kv.value));
            }
            _ => {}
        },
        WatchEvent::Delete { key, .. } => match keys.classify(key) {
            Some(KeyRef::Leader) => view.leader = None,
            Some(KeyRef::Member(n)) => {
                view.members.remove(n);
            }
            _ => {}
        },
    }
    *view != before || leader_put
}

/// Feed etcd's view (`P/leader`, `P/members/`) into `tx` whenever it changes (and after every
/// re-read), for as long as `tx` is open.
async fn etcd_task(cfg: EtcdConfig, cluster: String, tx: mpsc::Sender<EtcdView>) {
    let mut backoff = Duration::from_millis(200);
    let started = tokio::time::Instant::now();
    let mut last_log: Option<tokio::time::Instant> = None;
    let etcd = loop {
        match Etcd::connect(&cfg, &cluster).await {
            Ok(e) => break e,
            Err(e) => {
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    warn!(
                        "cannot connect to etcd ({e}); haproxy keeps its config; retrying (for {:.0?})",
                        started.elapsed()
                    );
                    last_log = Some(tokio::time::Instant::now());
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    let keys = Keys::new(&cluster);
    // The whole prefix: census refreshes and the like come too, but only a change of the
    // leader or of a member is passed on.
    let mut events = watch(etcd, keys.prefix().to_string(), true);
    let mut view = EtcdView::default();
    while let Some(ev) = events.recv().await {
        let changed = update_view(&mut view, &keys, &ev);
        // A reset is passed on even unchanged: it tells the loop etcd answered.
        if (changed || matches!(ev, WatchEvent::Reset { .. }))
            && tx.send(view.clone()).await.is_err()
        {
            return;
        }
    }
}

/// The leader's servers in a new worker (pure): those still up, whose health to raise, and
/// those its first check already marked down — haproxy's verdict on them stands.
pub fn health_targets(servers: &[ServerState], server: &str) -> (Vec<String>, Vec<String>) {
    let mut raise = Vec::new();
    let mut down = Vec::new();
    for s in servers.iter().filter(|s| s.name == server) {
        let name = format!("{}/{}", s.backend, s.name);
        // srv_op_state 2: running.
        if s.op_state == 2 {
            raise.push(name);
        } else {
            down.push(name);
        }
    }
    (raise, down)
}

/// Give the leader's server in a worker that just started the health of a server that has
/// passed its checks (`set server B/S health up`: health rise + fall − 1).
///
/// haproxy starts a server at the lowest health that still counts as up (`rise`), so the first
/// failed check of a new worker — one slow answer from a busy node — marks the only server
/// down at once, and every new connection is then closed at its handshake until `rise` checks
/// pass (2–4 s with the built-in timings). The old worker had long given the node it checked
/// the full tolerance; the leader etcd has just elected gets the same one: down after `fall`
/// failed checks in a row. A server whose first check has already failed is left down.
/// Returns the `backend/server` names raised and those left down.
async fn full_health(
    h: &Haproxy,
    worker: u32,
    leader: &Leader,
) -> Result<(Vec<String>, Vec<String>), String> {
    let text = h
        .worker_command(worker, "show servers state")
        .await
        .map_err(|e| format!("{e:#}"))?;
    let (raise, down) = health_targets(&parse_servers_state(&text)?, &leader.server);
    if raise.is_empty() && down.is_empty() {
        return Err(format!("the new worker has no server {}", leader.server));
    }
    for n in &raise {
        let cmd = format!("set server {n} health up");
        let ans = h
            .worker_command(worker, &cmd)
            .await
            .map_err(|e| format!("`{cmd}`: {e:#}"))?;
        if !ans.trim().is_empty() {
            return Err(format!("`{cmd}`: {}", ans.trim()));
        }
    }
    Ok((raise, down))
}

/// The last pass over the old leader's sessions after a move, due at `at`.
struct PendingCut {
    /// The server every session may stay on (the leader moved to).
    keep: String,
    at: tokio::time::Instant,
}

struct Follower {
    opts: HaproxyOpts,
    paths: Paths,
    render_opts: RenderOptions,
    haproxy: Haproxy,
    running_cfg: String,
    status: Status,
    pending_cut: Option<PendingCut>,
}

impl Follower {
    fn render(&self, leader: Option<&Leader>, backups: &[Backup]) -> Result<String, String> {
        render(
            &template_source(&self.opts)?,
            leader,
            backups,
            &self.render_opts,
        )
    }

    fn save_status(&mut self) {
        self.status.updated_at = unix_now();
        if let Err(e) = self.status.write(&self.paths) {
            warn!("cannot write {}: {e}", self.paths.status.display());
        }
    }

    async fn on_view(&mut self, view: EtcdView) {
        self.status.etcd_seen = true;
        self.status.etcd_leader = view.leader.clone();
        self.status.etcd_seen_at = Some(unix_now());
        let d = decide(
            &self.running_cfg,
            self.status.routed.as_ref(),
            &self.status.routed_backups,
            view.leader.as_deref(),
            &view.members,
            self.opts.backend_port,
            |l, b| self.render(Some(l), b),
        );
        match d {
            Decision::Keep(reason) => info!("{reason}"),
            Decision::Refuse(reason) => {
                error!("{reason}");
                self.status.last_error = Some(reason);
            }
            Decision::Apply {
                leader,
                backups,
                config,
                reason,
            } => {
                if let Err(e) = self.apply(leader, backups, config, &reason).await {
                    let msg = format!(
                        "{reason}, but not applied: {e}; haproxy keeps running the previous config ({})",
                        describe(self.status.routed.as_ref())
                    );
                    error!("{msg}");
                    self.status.last_error = Some(msg);
                }
            }
        }
        self.save_status();
    }

    async fn apply(
        &mut self,
        leader: Leader,
        backups: Vec<Backup>,
        config: String,
        reason: &str,
    ) -> Result<(), String> {
        install_config(&self.haproxy.bin, &self.opts.haproxy_config, &config).await?;
        let worker = match self.haproxy.reload().await {
            Ok(w) => w,
            Err(e) => {
                // Put the running config back so the file tells the truth.
                let _ = write_atomic(
                    &self.opts.haproxy_config,
                    self.running_cfg.as_bytes(),
                    FILE_MODE,
                );
                return Err(format!("{e:#}"));
            }
        };
        let reloaded_at = tokio::time::Instant::now();
        match full_health(&self.haproxy, worker, &leader).await {
            Ok((raised, down)) if down.is_empty() => info!(
                "new worker {worker}: {} starts with a passed check's health (down after `fall` \
                 failed checks in a row, not at its first one)",
                raised.join(", ")
            ),
            Ok((_, down)) => warn!(
                "new worker {worker}: the first health check of {} already failed: it stays \
                 down until `rise` checks pass",
                down.join(", ")
            ),
            Err(e) => warn!(
                "new worker {worker}: cannot give {} a passed check's health ({e}); one failed \
                 check in its first second marks it down",
                leader.address
            ),
        }
        let leader_changed =
            self.status.routed.as_ref().map(|r| r.server.as_str()) != Some(leader.server.as_str());
        self.running_cfg = config;
        self.status.routed = Some(leader.clone());
        self.status.routed_backups = backups;
        self.status.reloads += 1;
        self.status.last_error = None;
        info!(
            "haproxy reloaded (reload #{}, new worker {worker}): {reason}",
            self.status.reloads
        );
        if let Err(e) = write_last_good(&self.paths, &self.running_cfg, Some(&leader)) {
            warn!(
                "cannot persist the last good config in {}: {e}",
                self.paths.run_dir.display()
            );
        }
        if leader_changed {
            // Old workers accept no more connections: what they hold was accepted before the
            // move. Pinned sessions end now; young ones (maybe still in their handshake) get
            // the grace, then the last pass ends them too. That includes sessions an old
            // worker sent to a backup while it saw the old leader down — unless that backup
            // is the new leader: they stay.
            let at = reloaded_at + OLD_SESSION_GRACE;
            let sweep = end_old_sessions(
                &self.paths.master_socket,
                &leader.server,
                Some(OLD_SESSION_GRACE),
            )
            .await;
            info!(
                "moved to {}: {} session(s) on the old leader ended now, {} younger than {:?} \
                 end {:?} after the reload (connections accepted just before the move finish \
                 their handshake)",
                leader.address, sweep.ended, sweep.young, OLD_SESSION_GRACE, OLD_SESSION_GRACE
            );
            self.pending_cut = Some(PendingCut {
                keep: leader.server.clone(),
                at,
            });
        }
        Ok(())
    }

    /// The last pass after a move: end every session old workers still hold off the leader.
    async fn finish_cut(&mut self) {
        let Some(cut) = self.pending_cut.take() else {
            return;
        };
        let sweep = end_old_sessions(&self.paths.master_socket, &cut.keep, None).await;
        info!(
            "{OLD_SESSION_GRACE:?} after the move to {}: {} more session(s) on an old leader \
             ended, {} could not be",
            cut.keep, sweep.ended, sweep.left
        );
    }
}

fn prepare_dirs(opts: &HaproxyOpts) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    if !opts.run_dir.exists() {
        std::fs::create_dir_all(&opts.run_dir)
            .and_then(|_| {
                std::fs::set_permissions(&opts.run_dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| {
                ConfigError::new(
                    "--run-dir",
                    format!("cannot create {}: {e}", opts.run_dir.display()),
                )
            })?;
    }
    if let Some(parent) = opts.haproxy_config.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|e| {
                ConfigError::new(
                    "--haproxy-config",
                    format!("cannot create {}: {e}", parent.display()),
                )
            })?;
        }
    }
    Ok(())
}

/// Run the sidecar until SIGTERM (exit 0) or haproxy's death (error).
pub async fn run(global: &GlobalOpts, opts: &HaproxyOpts) -> anyhow::Result<u8> {
    // Signals first: a SIGTERM during start must still stop haproxy cleanly.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    prepare_dirs(opts)?;
    let paths = Paths::new(&opts.run_dir);
    let render_opts = render_options(opts, &paths);
    // A template that cannot be read or rendered at all is a configuration error.
    template_source(opts)
        .and_then(|t| render(&t, None, &[], &render_opts))
        .map_err(|e| ConfigError::new("--template", e))?;

    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(etcd_task(
        EtcdConfig::from_global(global),
        global.cluster_name.clone(),
        tx,
    ));
    let wait = global.etcd_timeout + Duration::from_secs(2);
    let first_view = match tokio::time::timeout(wait, rx.recv()).await {
        Ok(Some(v)) => Some(v),
        Ok(None) => bail!("the etcd watch task ended"),
        Err(_) => None,
    };
    let persisted = match read_last_good(&paths) {
        Ok(p) => p.map(|(meta, cfg)| (meta.leader, cfg)),
        Err(e) => {
            warn!("ignoring the persisted config: {e}");
            None
        }
    };
    let render_with =
        |l: Option<&Leader>, b: &[Backup]| render(&template_source(opts)?, l, b, &render_opts);
    let (candidates, problems) = start_candidates(
        first_view.as_ref(),
        persisted,
        opts.backend_port,
        render_with,
    );
    for p in &problems {
        warn!("at start: {p}");
    }
    let mut chosen = None;
    let mut errors = Vec::new();
    for c in candidates {
        match install_config(&opts.haproxy_bin, &opts.haproxy_config, &c.config).await {
            Ok(()) => {
                chosen = Some(c);
                break;
            }
            Err(e) => {
                error!("not starting with {}: {e}", c.source);
                errors.push(e);
            }
        }
    }
    let Some(start) = chosen else {
        bail!(
            "no config haproxy accepts, haproxy not started: {}",
            errors.join("; ")
        );
    };
    info!(
        "starting haproxy with {} ({} problems: {})",
        start.source,
        problems.len(),
        if problems.is_empty() {
            "none".to_string()
        } else {
            problems.join("; ")
        }
    );
    let haproxy = Haproxy::start(
        &opts.haproxy_bin,
        &opts.haproxy_config,
        &paths.master_socket,
    )
    .await
    .map_err(|e| anyhow!("{e:#}"))?;
    if start.leader.is_some() {
        if let Err(e) = write_last_good(&paths, &start.config, start.leader.as_ref()) {
            warn!("cannot persist the last good config: {e}");
        }
    }
    let mut f = Follower {
        opts: opts.clone(),
        status: Status {
            pid: std::process::id(),
            haproxy_pid: Some(haproxy.pid),
            reloads: 0,
            routed: start.leader.clone(),
            routed_backups: start.backups.clone(),
            etcd_seen: first_view.is_some(),
            etcd_leader: first_view.as_ref().and_then(|v| v.leader.clone()),
            etcd_seen_at: first_view.is_some().then(unix_now),
            last_error: None,
            updated_at: 0,
        },
        paths,
        render_opts,
        haproxy,
        running_cfg: start.config,
        pending_cut: None,
    };
    f.save_status();

    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        // Far away when no cut is pending (the branch is then disabled anyway).
        let cut_at = f.pending_cut.as_ref().map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            |c| c.at,
        );
        tokio::select! {
            _ = tokio::time::sleep_until(cut_at), if f.pending_cut.is_some() => {
                f.finish_cut().await;
            }
            v = rx.recv() => match v {
                Some(view) => f.on_view(view).await,
                None => bail!("the etcd watch task ended"),
            },
            _ = term.recv() => {
                info!("SIGTERM: stopping haproxy");
                f.haproxy.stop(opts.stop_timeout).await;
                return Ok(0);
            }
            _ = int.recv() => {
                info!("SIGINT: stopping haproxy");
                f.haproxy.stop(opts.stop_timeout).await;
                return Ok(0);
            }
            _ = tick.tick() => {
                if let Some(st) = f.haproxy.try_wait()? {
                    let msg = format!(
                        "haproxy (master pid {}) exited unexpectedly ({st}); see its messages above. \
                         No SQL is routed now; exiting so the container is restarted",
                        f.haproxy.pid
                    );
                    f.status.haproxy_pid = None;
                    f.status.last_error = Some(msg.clone());
                    f.save_status();
                    bail!(msg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_render(l: &Leader, b: &[Backup]) -> Result<String, String> {
        if l.host == "10.9.9.9" {
            return Err("boom".into());
        }
        let mut s = format!("server {}\n", l.address);
        for b in b {
            s.push_str(&format!("server {} backup\n", b.address));
        }
        Ok(s)
    }

    fn members(m: &[(&str, &str)]) -> BTreeMap<String, String> {
        m.iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn decisions() {
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let running = "server 10.0.0.5:33306\n";
        type Case<'a> = (&'a str, Option<&'a Leader>, Option<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            // (name, routed, etcd value, expected decision kind + text)
            (
                "same leader re-put",
                Some(&l5),
                Some("10.0.0.5"),
                "keep:unchanged, no reload",
            ),
            (
                "same leader with port",
                Some(&l5),
                Some("10.0.0.5:33306"),
                "keep:unchanged",
            ),
            (
                "leader deleted",
                Some(&l5),
                None,
                "keep:no leader in etcd: keeping the running config (10.0.0.5:33306; backups none)",
            ),
            (
                "new leader",
                Some(&l5),
                Some("10.0.0.6"),
                "apply:leader changed from 10.0.0.5:33306 to 10.0.0.6:33306",
            ),
            (
                "first leader",
                None,
                Some("10.0.0.6"),
                "apply:leader changed from no leader to 10.0.0.6:33306",
            ),
            (
                "garbage value",
                Some(&l5),
                Some("x y"),
                "refuse:ignoring P/leader",
            ),
            (
                "render fails",
                Some(&l5),
                Some("10.9.9.9"),
                "refuse:cannot render",
            ),
        ];
        for (name, routed, view, want) in cases {
            let d = decide(
                running,
                routed,
                &[],
                view,
                &BTreeMap::new(),
                33306,
                fake_render,
            );
            let got = match &d {
                Decision::Keep(r) => format!("keep:{r}"),
                Decision::Refuse(r) => format!("refuse:{r}"),
                Decision::Apply { reason, .. } => format!("apply:{reason}"),
            };
            let (kind, text) = want.split_once(':').expect("case");
            assert!(got.starts_with(kind), "{name}: {got}");
            assert!(got.contains(text), "{name}: `{got}` lacks `{text}`");
        }
        // Same leader, different bytes (template changed): apply, saying why.
        let d = decide(
            "old text",
            Some(&l5),
            &[],
            Some("10.0.0.5"),
            &BTreeMap::new(),
            33306,
            fake_render,
        );
        assert!(
            matches!(&d, Decision::Apply { reason, .. } if reason.contains("unchanged but the rendered config differs")),
            "{d:?}"
        );
    }

    #[test]
    fn decisions_with_backups() {
        let three = members(&[
            ("g-0", "10.0.0.5"),
            ("g-1", "10.0.0.6"),
            ("g-2", "10.0.0.7"),
        ]);
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let (b5, _) = backups(&l5, &three, 33306);
        let running = fake_render(&l5, &b5).expect("render");
        // (case, etcd leader, members, want kind, want text, want backups of an apply)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            BTreeMap<String, String>,
            &'a str,
            &'a str,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "same leader, same members",
                Some("10.0.0.5"),
                three.clone(),
                "keep",
                "leader 10.0.0.5:33306, backups in order g-1@10.0.0.6:33306, g-2@10.0.0.7:33306: rendered config unchanged",
                "",
            ),
            (
                "the first backup becomes leader: no second move",
                Some("10.0.0.6"),
                three.clone(),
                "apply",
                "leader changed from 10.0.0.5:33306 to 10.0.0.6:33306 (it was the first backup: \
                 where the old leader is marked down haproxy already routes to it, no second \
                 move); backups in order g-0@10.0.0.5:33306, g-2@10.0.0.7:33306",
                "g-0@10.0.0.5:33306, g-2@10.0.0.7:33306",
            ),
            (
                "the second backup becomes leader",
                Some("10.0.0.7"),
                three.clone(),
                "apply",
                "leader changed from 10.0.0.5:33306 to 10.0.0.7:33306; backups in order g-0@10.0.0.5:33306, g-1@10.0.0.6:33306",
                "g-0@10.0.0.5:33306, g-1@10.0.0.6:33306",
            ),
            (
                "a member joins",
                Some("10.0.0.5"),
                {
                    let mut m = three.clone();
                    m.insert("g-3".into(), "10.0.0.8".into());
                    m
                },
                "apply",
                "leader 10.0.0.5:33306 unchanged, backups changed from g-1@10.0.0.6:33306, g-2@10.0.0.7:33306 to g-1@10.0.0.6:33306, g-2@10.0.0.7:33306, g-3@10.0.0.8:33306 (P/members changed)",
                "g-1@10.0.0.6:33306, g-2@10.0.0.7:33306, g-3@10.0.0.8:33306",
            ),
            (
                "a member removed, one unusable",
                Some("10.0.0.5"),
                members(&[("g-0", "10.0.0.5"), ("g-1", "10.0.0.6"), ("g-2", "a b")]),
                "apply",
                "backups changed from g-1@10.0.0.6:33306, g-2@10.0.0.7:33306 to g-1@10.0.0.6:33306 (P/members changed) (ignored: member g-2:",
                "g-1@10.0.0.6:33306",
            ),
            (
                "leader gone: keep leader and backups",
                None,
                three.clone(),
                "keep",
                "no leader in etcd: keeping the running config (10.0.0.5:33306; backups g-1@10.0.0.6:33306, g-2@10.0.0.7:33306)",
                "",
            ),
        ];
        for (case, leader, m, kind, text, want_backups) in cases {
            let d = decide(&running, Some(&l5), &b5, leader, &m, 33306, fake_render);
            let (got_kind, got) = match &d {
                Decision::Keep(r) => ("keep", r.clone()),
                Decision::Refuse(r) => ("refuse", r.clone()),
                Decision::Apply {
                    reason,
                    backups,
                    config,
                    ..
                } => {
                    assert_eq!(describe_backups(backups), want_backups, "{case}");
                    assert!(config.contains(" backup\n") || backups.is_empty(), "{case}");
                    ("apply", reason.clone())
                }
            };
            assert_eq!(got_kind, kind, "{case}: {got}");
            assert!(got.contains(text), "{case}: `{got}` lacks `{text}`");
        }
    }

    #[test]
    fn the_view_follows_leader_and_members_only() {
        let keys = Keys::new("c");
        let kv = |k: &str, v: &str| crate::etcd::RawKv {
            key: format!("/galera/c/{k}"),
            value: v.as_bytes().to_vec(),
            create_revision: 1,
            mod_revision: 1,
            lease: 0,
        };
        let mut view = EtcdView::default();
        let reset = WatchEvent::Reset {
            kvs: vec![
                kv("leader", "10.0.0.5\n"),
                kv("members/g-0", "10.0.0.5"),
                kv("members/g-1", "10.0.0.6"),
                kv("nodes/g-0", "10.0.0.5"),
                kv("census/g-0", "{}"),
            ],
            revision: 5,
        };
        assert!(update_view(&mut view, &keys, &reset));
        assert_eq!(view.leader.as_deref(), Some("10.0.0.5"));
        assert_eq!(
            view.members,
            members(&[("g-0", "10.0.0.5"), ("g-1", "10.0.0.6")])
        );
        // (event, changes the view?)
        let steps: Vec<(WatchEvent, bool)> = vec![
            (WatchEvent::Put(kv("census/g-1", "{\"x\":1}")), false),
            (WatchEvent::Put(kv("nodes/g-2", "10.0.0.7")), false),
            (WatchEvent::Put(kv("members/g-1", "10.0.0.6")), false),
            (WatchEvent::Put(kv("members/g-2", "10.0.0.7")), true),
            (
                WatchEvent::Delete {
                    key: "/galera/c/leader".into(),
                    revision: 7,
                },
                true,
            ),
            (
                WatchEvent::Delete {
                    key: "/galera/c/nodes/g-0".into(),
                    revision: 8,
                },
                false,
            ),
            (WatchEvent::Put(kv("leader", "10.0.0.6")), true),
            // The same leader put again: decided again (as every put of P/leader always was).
            (WatchEvent::Put(kv("leader", "10.0.0.6")), true),
            (
                WatchEvent::Delete {
                    key: "/galera/c/members/g-0".into(),
                    revision: 9,
                },
                true,
            ),
            (reset.clone(), true),
            (reset, false),
        ];
        for (i, (ev, want)) in steps.into_iter().enumerate() {
            assert_eq!(update_view(&mut view, &keys, &ev), want, "step {i}: {ev:?}");
        }
        assert_eq!(view.leader.as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn show_sess_parses() {
        // As haproxy 2.6 prints them (trimmed after scb=).
        let text = "0x55d0c1f0e600: proto=tcpv4 src=127.0.0.1:54322 fe=galera_sql be=galera srv=127.0.60.2 ts=00 epoch=0 age=5s calls=3 rate=0 cpu=0 lat=0 rq[f=48c40000h,i=0,an=00h,rx=7h59m,wx=,ax=] rp[f=80448000h,i=0,an=00h,rx=7h59m,wx=,ax=] scf=[8,0h,fd=14] scb=[8,1h,fd=15] exp=7h59m\n\
                    0x55d0c1f0f000: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 age=1m3s scb=[8,1h,fd=-1]\n\
                    0x55d0c1f0f100: proto=tcpv4 src=127.0.0.1:54324 fe=galera_sql be=galera srv=127.0.60.2 age=? scb=[3,1h,fd=-1]\n\
                    0x55d0c1f0f200: proto=tcpv4 src=127.0.0.1:54326 fe=galera_sql be=galera srv=127.0.60.2 age=0s scb=[6,1h,fd=-1]\n\
                    0x55d0c1f0f300: proto=tcpv4 src=127.0.0.1:54328 fe=galera_sql be=galera srv=127.0.60.2 age=0s scb=[5,1h,fd=16]\n\n";
        let s = |id: &str, be: &str, srv: &str, age: Option<u64>, retrying: bool| Session {
            id: id.into(),
            backend: be.into(),
            server: srv.into(),
            age: age.map(Duration::from_secs),
            retrying,
        };
        assert_eq!(
            parse_show_sess(text),
            vec![
                s("0x55d0c1f0e600", "galera", "127.0.60.2", Some(5), false),
                s("0x55d0c1f0f000", "<NONE>", "<none>", Some(63), false),
                s("0x55d0c1f0f100", "galera", "127.0.60.2", None, true),
                s("0x55d0c1f0f200", "galera", "127.0.60.2", Some(0), true),
                // Connecting (CON): may be a live server about to answer.
                s("0x55d0c1f0f300", "galera", "127.0.60.2", Some(0), false),
            ]
        );
    }

    #[test]
    fn ages() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0s", Some(0)),
            ("59s", Some(59)),
            ("1m", Some(60)),
            ("1m2s", Some(62)),
            ("3h4m", Some(3 * 3600 + 240)),
            ("2d4h", Some(2 * 86_400 + 4 * 3600)),
            ("?", None),
            ("", None),
            ("5", None),
            ("5x", None),
            ("s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_age(text), want.map(Duration::from_secs), "{text:?}");
        }
    }

    #[test]
    fn which_sessions_end() {
        let s = |id: &str, srv: &str, age: Option<u64>| Session {
            id: id.into(),
            backend: "galera".into(),
            server: srv.into(),
            age: age.map(Duration::from_secs),
            retrying: false,
        };
        let mut refused = s("refused", "10.0.0.5", Some(0));
        refused.retrying = true;
        let list = vec![
            s("pinned", "10.0.0.5", Some(40)),
            s("two-s", "10.0.0.5", Some(2)),
            s("one-s", "10.0.0.5", Some(1)),
            s("fresh", "10.0.0.5", Some(0)),
            s("unknown-age", "10.0.0.5", None),
            refused,
            s("older-leader", "10.0.0.4", Some(9)),
            s("on-the-leader", "10.0.0.6", Some(50)),
            s("cli", "<none>", Some(50)),
        ];
        let ids = |v: Vec<&Session>| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        // Right after the move: only sessions surely at least 1 s old (haproxy's whole
        // seconds may round a 0.2 s old session up to "1s").
        // A session whose connection to the old server failed ends at once too.
        let (now, young) = to_end(&list, "10.0.0.6", Some(Duration::from_secs(1)));
        assert_eq!(ids(now), ["pinned", "two-s", "refused", "older-leader"]);
        assert_eq!(young, 3);
        // The last pass: everything off the leader; never the CLI's own session.
        let (now, young) = to_end(&list, "10.0.0.6", None);
        assert_eq!(
            ids(now),
            [
                "pinned",
                "two-s",
                "one-s",
                "fresh",
                "unknown-age",
                "refused",
                "older-leader"
            ]
        );
        assert_eq!(young, 0);
    }

    #[test]
    fn health_is_raised_only_on_a_server_still_up() {
        let st = |be: &str, name: &str, op_state: u8| ServerState {
            backend: be.into(),
            name: name.into(),
            addr: name.into(),
            port: Some(3306),
            op_state,
            admin_state: 0,
        };
        let servers = [
            st("galera", "10.0.0.6", 2),
            st("other", "10.0.0.6", 0),
            st("galera", "10.0.0.5", 2),
        ];
        assert_eq!(
            health_targets(&servers, "10.0.0.6"),
            (
                vec!["galera/10.0.0.6".to_string()],
                vec!["other/10.0.0.6".to_string()]
            )
        );
        assert_eq!(health_targets(&servers, "10.0.0.9"), (vec![], vec![]));
    }

    #[test]
    fn start_candidates_in_order() {
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let r = |l: Option<&Leader>, b: &[Backup]| -> Result<String, String> {
            Ok(l.map(|l| {
                format!(
                    "{}{}",
                    l.address,
                    b.iter().map(|b| format!("+{}", b.node)).collect::<String>()
                )
            })
            .unwrap_or_else(|| "empty".into()))
        };
        let view = |l: Option<&str>| EtcdView {
            leader: l.map(str::to_string),
            members: members(&[
                ("g-0", "10.0.0.5"),
                ("g-1", "10.0.0.6"),
                ("g-2", "10.0.0.7"),
            ]),
        };
        let persisted = || Some((Some(l5.clone()), "persisted".to_string()));
        let sources = |c: &[StartCandidate]| c.iter().map(|c| c.config.clone()).collect::<Vec<_>>();

        let (c, p) = start_candidates(Some(&view(Some("10.0.0.6"))), persisted(), 33306, r);
        assert_eq!(
            sources(&c),
            ["10.0.0.6:33306+g-0+g-2", "persisted", "empty"]
        );
        assert_eq!(
            describe_backups(&c[0].backups),
            "g-0@10.0.0.5:33306, g-2@10.0.0.7:33306"
        );
        assert!(p.is_empty());

        let (c, p) = start_candidates(Some(&view(None)), persisted(), 33306, r);
        assert_eq!(sources(&c), ["persisted", "empty"]);
        assert_eq!(p, ["etcd has no leader"]);

        let (c, p) = start_candidates(None, persisted(), 33306, r);
        assert_eq!(sources(&c), ["persisted", "empty"]);
        assert_eq!(c[0].leader, Some(l5.clone()));
        assert_eq!(p, ["etcd did not answer"]);

        let (c, _) = start_candidates(None, None, 33306, r);
        assert_eq!(sources(&c), ["empty"]);

        let (c, p) = start_candidates(Some(&view(Some("a b"))), None, 33306, r);
        assert_eq!(sources(&c), ["empty"]);
        assert!(p[0].contains("ignoring P/leader"), "{p:?}");
    }
}
