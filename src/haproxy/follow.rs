//! `galera-sidecar haproxy`: keep haproxy pointed at the etcd leader.
//!
//! The loop: a watch on `P/leader` (resilient: reconnects, re-reads) feeds leader values;
//! [`decide`] (pure) turns the value and the running config into keep / refuse / apply; an
//! apply renders, validates with `haproxy -c`, replaces the config file, reloads through the
//! master CLI (listening sockets are handed over: no refused connection), persists the config
//! as the last good one, and — when the leader changed — ends the sessions old workers still
//! hold on the old leader (`shutdown sessions server`), so no client keeps writing to it.
//! `hard-stop-after` in the config bounds any old worker that is left.
//!
//! At start the first etcd read decides the config; when etcd is away (bounded wait) or has no
//! leader, the persisted last good config is used, so a restart with etcd down still routes.
//! No leader later (key deleted, lease expired) → the config is kept: the last leader may well
//! be healthy, and haproxy's health check guards it. SIGTERM/SIGINT → haproxy soft stop
//! (bounded), exit 0. haproxy dying → exit 1 naming it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::process::{check_config, parse_show_proc, socket_command, Haproxy};
use super::render::{render, Leader, RenderOptions, BUILTIN_TEMPLATE};
use super::state::{read_last_good, write_last_good, Paths, Status, FILE_MODE};
use crate::checker::state_file::write_atomic;
use crate::cli::{ConfigError, GlobalOpts, HaproxyOpts};
use crate::etcd::watch::{watch, WatchEvent};
use crate::etcd::{unix_now, Etcd, EtcdConfig, Keys};

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
        config: String,
        reason: String,
    },
}

fn describe(l: Option<&Leader>) -> String {
    l.map(|l| l.address.clone())
        .unwrap_or_else(|| "no leader".into())
}

/// Decide what a leader value (`None`: no `P/leader`) means for the running config (pure).
pub fn decide(
    running_cfg: &str,
    routed: Option<&Leader>,
    view: Option<&str>,
    backend_port: u16,
    render: impl Fn(&Leader) -> Result<String, String>,
) -> Decision {
    let Some(value) = view else {
        return Decision::Keep(format!(
            "no leader in etcd: keeping the running config ({})",
            describe(routed)
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
    let config = match render(&leader) {
        Ok(c) => c,
        Err(e) => {
            return Decision::Refuse(format!(
                "cannot render the config for leader {}: {e}; keeping the running config ({})",
                leader.address,
                describe(routed)
            ))
        }
    };
    if config == running_cfg {
        return Decision::Keep(format!(
            "leader {}: rendered config unchanged, no reload",
            leader.address
        ));
    }
    let reason = match routed {
        Some(r) if r.host == leader.host && r.port == leader.port => format!(
            "leader {} unchanged but the rendered config differs (template or options)",
            leader.address
        ),
        other => format!(
            "leader changed from {} to {}",
            describe(other),
            leader.address
        ),
    };
    Decision::Apply {
        leader,
        config,
        reason,
    }
}

/// A config haproxy may start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCandidate {
    pub leader: Option<Leader>,
    pub config: String,
    /// Where it comes from, for the log.
    pub source: String,
}

/// The configs to try at start, best first (pure). `first_view`: `None` when etcd did not
/// answer in time, else the value of `P/leader`. Returns the candidates and the problems met.
pub fn start_candidates(
    first_view: Option<Option<&str>>,
    persisted: Option<(Option<Leader>, String)>,
    backend_port: u16,
    render: impl Fn(Option<&Leader>) -> Result<String, String>,
) -> (Vec<StartCandidate>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    match first_view {
        Some(Some(v)) => match Leader::parse(v, backend_port) {
            Ok(l) => match render(Some(&l)) {
                Ok(config) => out.push(StartCandidate {
                    source: format!("etcd leader {}", l.address),
                    leader: Some(l),
                    config,
                }),
                Err(e) => problems.push(format!("cannot render for leader {}: {e}", l.address)),
            },
            Err(e) => problems.push(format!("ignoring P/leader: {e}")),
        },
        Some(None) => problems.push("etcd has no leader".into()),
        None => problems.push("etcd did not answer".into()),
    }
    if let Some((leader, config)) = persisted {
        out.push(StartCandidate {
            source: format!(
                "the persisted last good config ({})",
                describe(leader.as_ref())
            ),
            leader,
            config,
        });
    }
    match render(None) {
        Ok(config) => out.push(StartCandidate {
            leader: None,
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

/// One session of `show sess`: its id and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub backend: String,
    pub server: String,
}

/// Parse `show sess` (`0x…: proto=tcpv4 src=… fe=… be=… srv=… …`, one session a line).
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
            })
        })
        .collect()
}

/// End the sessions old workers still hold on any server but `keep` (haproxy refuses
/// `shutdown sessions server` on an old worker's stopped proxy, so each session is ended by
/// its id). Returns how many sessions were ended.
pub async fn shutdown_old_sessions(master_socket: &Path, keep: &str) -> usize {
    let procs = match socket_command(master_socket, "show proc").await {
        Ok(t) => parse_show_proc(&t),
        Err(e) => {
            warn!("cannot list haproxy's old workers: {e:#}");
            return 0;
        }
    };
    let mut ended = 0;
    for p in procs.iter().filter(|p| p.kind == "worker" && p.reloads > 0) {
        let Ok(text) = socket_command(master_socket, &format!("@!{} show sess", p.pid)).await
        else {
            continue; // it exited meanwhile
        };
        for s in parse_show_sess(&text)
            .iter()
            .filter(|s| s.server != keep && !s.server.starts_with('<'))
        {
            let cmd = format!("@!{} shutdown session {}", p.pid, s.id);
            match socket_command(master_socket, &cmd).await {
                Ok(ans) if ans.trim().is_empty() => {
                    info!(
                        "ended a session still open on old leader {}/{} (old worker {})",
                        s.backend, s.server, p.pid
                    );
                    ended += 1;
                }
                Ok(ans) => warn!("`{cmd}`: {}", ans.trim()),
                Err(e) => warn!("`{cmd}`: {e:#}"),
            }
        }
    }
    ended
}

/// Feed the values of `P/leader` (None: no leader) into `tx`, for as long as `tx` is open.
async fn etcd_task(cfg: EtcdConfig, cluster: String, tx: mpsc::Sender<Option<String>>) {
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
    let key = Keys::new(&cluster).leader();
    let mut events = watch(etcd, key.clone(), false);
    while let Some(ev) = events.recv().await {
        let value = |kv: &crate::etcd::RawKv| String::from_utf8_lossy(&kv.value).into_owned();
        let view = match ev {
            WatchEvent::Reset { kvs, .. } => kvs.iter().find(|kv| kv.key == key).map(value),
            WatchEvent::Put(kv) => Some(value(&kv)),
            WatchEvent::Delete { .. } => None,
        };
        if tx.send(view).await.is_err() {
            return;
        }
    }
}

struct Follower {
    opts: HaproxyOpts,
    paths: Paths,
    render_opts: RenderOptions,
    haproxy: Haproxy,
    running_cfg: String,
    status: Status,
}

impl Follower {
    fn render(&self, leader: Option<&Leader>) -> Result<String, String> {
        render(&template_source(&self.opts)?, leader, &self.render_opts)
    }

    fn save_status(&mut self) {
        self.status.updated_at = unix_now();
        if let Err(e) = self.status.write(&self.paths) {
            warn!("cannot write {}: {e}", self.paths.status.display());
        }
    }

    async fn on_view(&mut self, view: Option<String>) {
        self.status.etcd_seen = true;
        self.status.etcd_leader = view.clone();
        self.status.etcd_seen_at = Some(unix_now());
        let d = decide(
            &self.running_cfg,
            self.status.routed.as_ref(),
            view.as_deref(),
            self.opts.backend_port,
            |l| self.render(Some(l)),
        );
        match d {
            Decision::Keep(reason) => info!("{reason}"),
            Decision::Refuse(reason) => {
                error!("{reason}");
                self.status.last_error = Some(reason);
            }
            Decision::Apply {
                leader,
                config,
                reason,
            } => {
                if let Err(e) = self.apply(leader, config, &reason).await {
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

    async fn apply(&mut self, leader: Leader, config: String, reason: &str) -> Result<(), String> {
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
        let leader_changed =
            self.status.routed.as_ref().map(|r| r.server.as_str()) != Some(leader.server.as_str());
        self.running_cfg = config;
        self.status.routed = Some(leader.clone());
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
            shutdown_old_sessions(&self.paths.master_socket, &leader.server).await;
            // A session that was still connecting a moment ago: a second pass.
            let sock = self.paths.master_socket.clone();
            let keep = leader.server.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                shutdown_old_sessions(&sock, &keep).await;
            });
        }
        Ok(())
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
        .and_then(|t| render(&t, None, &render_opts))
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
    let render_with = |l: Option<&Leader>| render(&template_source(opts)?, l, &render_opts);
    let (candidates, problems) = start_candidates(
        first_view.as_ref().map(|v| v.as_deref()),
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
            etcd_seen: first_view.is_some(),
            etcd_leader: first_view.clone().flatten(),
            etcd_seen_at: first_view.is_some().then(unix_now),
            last_error: None,
            updated_at: 0,
        },
        paths,
        render_opts,
        haproxy,
        running_cfg: start.config,
    };
    f.save_status();

    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
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

    fn fake_render(l: &Leader) -> Result<String, String> {
        if l.host == "10.9.9.9" {
            return Err("boom".into());
        }
        Ok(format!("server {}\n", l.address))
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
                "keep:no leader in etcd: keeping the running config (10.0.0.5:33306)",
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
            let d = decide(running, routed, view, 33306, fake_render);
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
        let d = decide("old text", Some(&l5), Some("10.0.0.5"), 33306, fake_render);
        assert!(
            matches!(&d, Decision::Apply { reason, .. } if reason.contains("unchanged but the rendered config differs")),
            "{d:?}"
        );
    }

    #[test]
    fn show_sess_parses() {
        let text = "0x55d0c1f0e600: proto=tcpv4 src=127.0.0.1:54322 fe=galera_sql be=galera srv=127.0.60.2 ts=00 epoch=0 age=5s calls=3\n\
                    0x55d0c1f0f000: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 age=0s\n\n";
        assert_eq!(
            parse_show_sess(text),
            vec![
                Session {
                    id: "0x55d0c1f0e600".into(),
                    backend: "galera".into(),
                    server: "127.0.60.2".into()
                },
                Session {
                    id: "0x55d0c1f0f000".into(),
                    backend: "<NONE>".into(),
                    server: "<none>".into()
                },
            ]
        );
    }

    #[test]
    fn start_candidates_in_order() {
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let r = |l: Option<&Leader>| -> Result<String, String> {
            Ok(l.map(|l| l.address.clone())
                .unwrap_or_else(|| "empty".into()))
        };
        let persisted = || Some((Some(l5.clone()), "persisted".to_string()));
        let sources = |c: &[StartCandidate]| c.iter().map(|c| c.config.clone()).collect::<Vec<_>>();

        let (c, p) = start_candidates(Some(Some("10.0.0.6")), persisted(), 33306, r);
        assert_eq!(sources(&c), ["10.0.0.6:33306", "persisted", "empty"]);
        assert!(p.is_empty());

        let (c, p) = start_candidates(Some(None), persisted(), 33306, r);
        assert_eq!(sources(&c), ["persisted", "empty"]);
        assert_eq!(p, ["etcd has no leader"]);

        let (c, p) = start_candidates(None, persisted(), 33306, r);
        assert_eq!(sources(&c), ["persisted", "empty"]);
        assert_eq!(c[0].leader, Some(l5.clone()));
        assert_eq!(p, ["etcd did not answer"]);

        let (c, _) = start_candidates(None, None, 33306, r);
        assert_eq!(sources(&c), ["empty"]);

        let (c, p) = start_candidates(Some(Some("a b")), None, 33306, r);
        assert_eq!(sources(&c), ["empty"]);
        assert!(p[0].contains("ignoring P/leader"), "{p:?}");
    }
}
