//! Gathering a probe's inputs — the imperative shell around [`super::rules`]: the state file,
//! `<datadir>/sst_in_progress`, the wsrep status (one bounded SQL call), the etcd view (from the
//! state file; etcd itself only when the file is missing or stale, one bounded read, and an
//! etcd failure falls back to the stale view), and the liveness memory file in the state dir.
//!
//! The SQL call and the etcd fallback run concurrently, each bounded by half of `--timeout`,
//! so a probe answers well inside its budget even when both hang.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

use super::rules::{
    self, EtcdViewObs, LivenessConfig, Memory, MysqldKey, Observation, PhaseView, Verdict,
    ViewSource,
};
use crate::cli::{CheckerOpts, ConfigError, GlobalOpts, MysqlOpts};
use crate::etcd::{unix_now, Etcd, EtcdConfig};
use crate::mycnf::MyCnf;
use crate::mysql::{self, Credentials, Endpoint};
use crate::state_file::{self, EtcdView, StateFile};

/// The default socket when neither a flag nor the defaults file names one.
pub const DEFAULT_SOCKET: &str = mysql::DEFAULT_SOCKET;
/// The default datadir.
pub const DEFAULT_DATADIR: &str = "/var/lib/mysql";
/// Liveness memory of the exec probe, in the state dir.
pub const EXEC_MEMORY: &str = "checker-liveness.json";
/// Liveness memory of `checker serve` (separate: the two must not count each other's probes).
pub const HTTP_MEMORY: &str = "checker-liveness-http.json";

/// The MySQL endpoint: the reserved port when one is configured (`--extra-port`, else the
/// `extra_port` of `--defaults-file`), over `--mysql-socket`, else `--mysql-host`/`--mysql-port`,
/// else the socket of `--defaults-file`, else [`DEFAULT_SOCKET`] (see
/// [`mysql::resolve_local`]).
pub fn endpoint(m: &MysqlOpts, cnf: Option<&MyCnf>) -> Endpoint {
    mysql::resolve_local(m, cnf)
}

/// `(P/uuid, P/state)` as read from etcd.
pub type EtcdRead = (Option<String>, Option<String>);

/// The etcd view to decide with, from the state file's view and (when it was needed and
/// tried) the result of reading etcd. Pure.
///
/// `etcd` is `None` when etcd was not read (the file's view is fresh), else `Ok((uuid,
/// state))` or `Err(why)`.
pub fn view(
    file: Option<&EtcdView>,
    now: i64,
    etcd: Option<Result<EtcdRead, String>>,
) -> EtcdViewObs {
    let age = |v: &EtcdView| Duration::from_secs(now.saturating_sub(v.read_at).max(0) as u64);
    match (etcd, file) {
        (Some(Ok((uuid, state))), _) => EtcdViewObs {
            uuid,
            state,
            age: Some(Duration::ZERO),
            source: ViewSource::Etcd,
        },
        (None, Some(v)) => EtcdViewObs {
            uuid: v.uuid.clone(),
            state: v.state.clone(),
            age: Some(age(v)),
            source: ViewSource::StateFile,
        },
        (Some(Err(why)), Some(v)) => EtcdViewObs {
            uuid: v.uuid.clone(),
            state: v.state.clone(),
            age: Some(age(v)),
            source: ViewSource::Stale(why),
        },
        (Some(Err(why)), None) => EtcdViewObs {
            uuid: None,
            state: None,
            age: None,
            source: ViewSource::Nothing(why),
        },
        (None, None) => EtcdViewObs {
            uuid: None,
            state: None,
            age: None,
            source: ViewSource::Nothing("etcd not read".into()),
        },
    }
}

/// Does the state file's view need a fresh etcd read? (Missing file or view older than
/// `max_age`.) Pure.
pub fn needs_etcd(file: Option<&StateFile>, now: i64, max_age: Duration) -> bool {
    match file {
        None => true,
        Some(f) => now.saturating_sub(f.etcd.read_at) > max_age.as_secs() as i64,
    }
}

/// Everything one probe gathered: the observation for the rules, and the state file for
/// metrics.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub obs: Observation,
    pub state: Option<StateFile>,
}

/// A configured prober (built once; `checker serve` reuses it for every request).
#[derive(Debug, Clone)]
pub struct Prober {
    pub state_dir: PathBuf,
    pub datadir: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub endpoint: Endpoint,
    pub creds: Credentials,
    pub timeout: Duration,
    pub state_max_age: Duration,
    pub liveness: LivenessConfig,
    pub etcd: EtcdConfig,
    pub cluster_name: String,
    /// The monitor credentials that last authenticated (`checker serve` re-reads the Secret at
    /// every observation and falls back to these while the server still has the old password).
    last_good: std::sync::Arc<std::sync::Mutex<Option<Credentials>>>,
}

impl Prober {
    /// Resolve the options (exit 2 on a bad defaults file or secret).
    pub fn new(g: &GlobalOpts, o: &CheckerOpts) -> Result<Prober, ConfigError> {
        let cnf = match &o.mysql.defaults_file {
            Some(f) => Some(MyCnf::read(f).map_err(|e| {
                ConfigError::new("--defaults-file", format!("{}: {e}", f.display()))
            })?),
            None => None,
        };
        if o.timeout < Duration::from_millis(200) {
            return Err(ConfigError::new("--timeout", "must be at least 200ms"));
        }
        if o.liveness_failures == 0 {
            return Err(ConfigError::new(
                "--liveness-failures",
                "must be at least 1",
            ));
        }
        let datadir = o
            .datadir
            .clone()
            .or_else(|| cnf.as_ref().and_then(|c| c.datadir()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATADIR));
        let pid_file = cnf.as_ref().and_then(|c| c.pid_file()).map(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                datadir.join(p)
            }
        });
        crate::cli::validate_extra_port(&o.mysql, cnf.as_ref())?;
        let mut etcd = g.etcd_config();
        // One short attempt: the probe must answer inside its own budget.
        etcd.timeout = etcd.timeout.min(o.timeout / 2);
        Ok(Prober {
            state_dir: o.state_dir.clone(),
            datadir,
            pid_file,
            endpoint: endpoint(&o.mysql, cnf.as_ref()),
            creds: Credentials::monitor_from_env()?,
            timeout: o.timeout,
            state_max_age: o.state_max_age,
            liveness: LivenessConfig {
                liveness_failures: o.liveness_failures,
                stuck_join_timeout: o.stuck_join_timeout,
            },
            etcd,
            cluster_name: g.cluster_name.clone(),
            last_good: Default::default(),
        })
    }

    /// The monitor credentials as the Secret holds them now (re-read: a rotated, mounted Secret
    /// is picked up without a restart); when it cannot be read, the last ones that worked.
    fn current_creds(&self) -> Credentials {
        match Credentials::monitor_from_env() {
            Ok(c) => c,
            Err(e) => {
                static WARNED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    warn!("cannot re-read the monitor credentials ({e}); using the last ones");
                }
                self.last_good().unwrap_or_else(|| self.creds.clone())
            }
        }
    }

    fn last_good(&self) -> Option<Credentials> {
        self.last_good
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The wsrep status as the Secret's monitor user (see [`Prober::current_creds`]), falling
    /// back to the credentials that last authenticated when those are refused.
    async fn query(&self) -> Result<mysql::WsrepStatus, mysql::MysqlError> {
        let current = self.current_creds();
        let previous = self.last_good();
        let (r, used) = mysql::wsrep_status_either(
            &self.endpoint,
            &current,
            previous.as_ref(),
            self.sql_timeout(),
        )
        .await;
        if r.is_ok() {
            if used != current {
                static SAID: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    warn!(
                        "the monitor password of the Secret is refused, the previous one still \
                         works: the entrypoint applies the new one (docs/operations.md)"
                    );
                }
            }
            *self.last_good.lock().unwrap_or_else(|p| p.into_inner()) = Some(used);
        }
        r
    }

    /// The SQL budget: half the probe's timeout.
    fn sql_timeout(&self) -> Duration {
        self.timeout / 2
    }

    /// Read `P/uuid` and `P/state` with one short connection.
    async fn read_etcd(&self) -> Result<EtcdRead, String> {
        let budget = self.etcd.timeout;
        let work = async {
            let etcd = Etcd::connect(&self.etcd, &self.cluster_name)
                .await
                .map_err(|e| e.to_string())?;
            let (uk, sk) = (etcd.keys.uuid(), etcd.keys.state());
            let (u, s) = tokio::join!(etcd.get(&uk), etcd.get(&sk));
            let text = |kv: Option<crate::etcd::RawKv>| {
                kv.and_then(|kv| kv.value_str().ok().map(|v| v.trim().to_ascii_lowercase()))
            };
            let uuid = text(u.map_err(|e| e.to_string())?);
            let state = s
                .map_err(|e| e.to_string())?
                .and_then(|kv| kv.value_str().ok().map(|v| v.trim().to_string()));
            Ok((uuid.filter(|u| !u.is_empty()), state))
        };
        match tokio::time::timeout(budget + Duration::from_millis(50), work).await {
            Err(_) => Err(format!("etcd did not answer within {budget:?}")),
            Ok(r) => r,
        }
    }

    /// mariadbd's pid and start time: the state file's, else the pid file's (its mtime as the
    /// start time).
    fn mysqld_key(&self, state: Option<&StateFile>) -> MysqldKey {
        if let Some(s) = state {
            if s.mysqld_pid.is_some() {
                return MysqldKey {
                    pid: s.mysqld_pid,
                    started_at: s.mysqld_started_at,
                };
            }
        }
        let Some(pf) = &self.pid_file else {
            return MysqldKey::default();
        };
        let pid = std::fs::read_to_string(pf)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        let started_at = std::fs::metadata(pf)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        MysqldKey { pid, started_at }
    }

    /// Gather one observation (bounded by about half of `--timeout`).
    pub async fn gather(&self) -> Gathered {
        let now = unix_now();
        let (phase, state) = match StateFile::read(&self.state_dir) {
            Ok(Some(s)) => (PhaseView::Known(s.phase), Some(s)),
            Ok(None) => (
                PhaseView::Missing(format!(
                    "no state file {}",
                    state_file::path(&self.state_dir).display()
                )),
                None,
            ),
            Err(e) => (PhaseView::Missing(format!("unusable state file {e}")), None),
        };
        let want_etcd = needs_etcd(state.as_ref(), now, self.state_max_age);
        let sql = self.query();
        let etcd = async {
            if want_etcd {
                Some(self.read_etcd().await)
            } else {
                None
            }
        };
        let (wsrep, etcd) = tokio::join!(sql, etcd);
        let etcd_view = view(state.as_ref().map(|s| &s.etcd), now, etcd);
        let mysqld = self.mysqld_key(state.as_ref());
        let mysqld_exists = mysqld
            .pid
            .map(|pid| Path::new(&format!("/proc/{pid}")).exists());
        let obs = Observation {
            phase,
            sst_in_progress: self.datadir.join("sst_in_progress").exists(),
            etcd: etcd_view,
            wsrep,
            mysqld,
            mysqld_exists,
            now,
        };
        Gathered { obs, state }
    }

    /// The liveness memory in `<state-dir>/<name>`; a missing or unreadable file is no memory.
    pub fn load_memory(&self, name: &str) -> Memory {
        match std::fs::read(self.state_dir.join(name)) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                warn!("ignoring {name}: {e}");
                Memory::default()
            }),
            Err(_) => Memory::default(),
        }
    }

    /// Write the liveness memory (atomically). A failure is logged: the probe still answers.
    pub fn save_memory(&self, name: &str, m: &Memory) {
        let result = (|| {
            if !self.state_dir.exists() {
                std::fs::create_dir_all(&self.state_dir)?;
            }
            let body = serde_json::to_vec(m).map_err(std::io::Error::other)?;
            state_file::write_atomic(&self.state_dir.join(name), &body, 0o600)
        })();
        if let Err(e) = result {
            warn!(
                "cannot write {}: {e} (liveness cannot count failures)",
                self.state_dir.join(name).display()
            );
        }
    }

    /// Liveness on an observation: read the memory, decide, write the memory back.
    pub fn liveness(&self, obs: &Observation, memory_file: &str) -> Verdict {
        let prev = self.load_memory(memory_file);
        let (v, next) = rules::liveness(obs, &prev, &self.liveness);
        self.save_memory(memory_file, &next);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_view(read_at: i64) -> EtcdView {
        EtcdView {
            state: Some("STEADY".into()),
            uuid: Some("u1".into()),
            read_at,
            paused_until: None,
        }
    }

    #[test]
    fn view_sources() {
        // Fresh file: its view, its age.
        let v = view(Some(&file_view(90)), 100, None);
        assert_eq!(v.source, ViewSource::StateFile);
        assert_eq!(v.age, Some(Duration::from_secs(10)));
        assert_eq!(v.uuid.as_deref(), Some("u1"));
        // Read from etcd: etcd wins.
        let v = view(
            Some(&file_view(0)),
            100,
            Some(Ok((Some("u2".into()), None))),
        );
        assert_eq!(
            (v.source, v.uuid.as_deref()),
            (ViewSource::Etcd, Some("u2"))
        );
        // etcd failed: the stale view, with its age and why.
        let v = view(Some(&file_view(5)), 100, Some(Err("down".into())));
        assert_eq!(v.source, ViewSource::Stale("down".into()));
        assert_eq!(v.age, Some(Duration::from_secs(95)));
        assert_eq!(v.uuid.as_deref(), Some("u1"));
        assert!(v.note().contains("1m 35s old"), "{}", v.note());
        // Nothing at all.
        let v = view(None, 100, Some(Err("down".into())));
        assert_eq!(v.source, ViewSource::Nothing("down".into()));
        assert_eq!(v.uuid, None);
        // A clock that went backwards is age 0, not a panic.
        assert_eq!(
            view(Some(&file_view(200)), 100, None).age,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn etcd_read_only_when_missing_or_stale() {
        let f = StateFile {
            etcd: file_view(100),
            ..Default::default()
        };
        let max = Duration::from_secs(30);
        assert!(needs_etcd(None, 100, max));
        assert!(!needs_etcd(Some(&f), 130, max));
        assert!(needs_etcd(Some(&f), 131, max));
    }

    #[test]
    fn endpoint_order() {
        let m = |sock: Option<&str>, host: Option<&str>| MysqlOpts {
            mysql_socket: sock.map(PathBuf::from),
            mysql_host: host.map(String::from),
            mysql_port: 33306,
            extra_port: None,
            defaults_file: None,
        };
        let cnf = MyCnf::parse("[mysqld]\nsocket=/data/my.sock\n");
        assert_eq!(
            endpoint(&m(Some("/a.sock"), Some("h")), Some(&cnf)),
            Endpoint::Socket("/a.sock".into())
        );
        assert_eq!(
            endpoint(&m(None, Some("h")), Some(&cnf)),
            Endpoint::Tcp {
                host: "h".into(),
                port: 33306
            }
        );
        assert_eq!(
            endpoint(&m(None, None), Some(&cnf)),
            Endpoint::Socket("/data/my.sock".into())
        );
        assert_eq!(
            endpoint(&m(None, None), None),
            Endpoint::Socket(DEFAULT_SOCKET.into())
        );
        // The my.cnf's extra_port: the reserved port, the socket behind it.
        let cnf = MyCnf::parse("[mysqld]\nsocket=/data/my.sock\nextra_port=33307\n");
        assert_eq!(
            endpoint(&m(None, None), Some(&cnf)),
            Endpoint::Reserved {
                host: "127.0.0.1".into(),
                port: 33307,
                normal: Box::new(Endpoint::Socket("/data/my.sock".into())),
            }
        );
    }
}
