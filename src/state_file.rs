//! The state file the entrypoint writes for the probes (`<state-dir>/state.json`).
//!
//! Written atomically (temp file, fsync, rename) with mode 0600. Probes read it instead of
//! opening an etcd session per run, so an etcd blip never fails a probe; they read etcd
//! directly only when the file is missing or its etcd view is stale.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The entrypoint's phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    #[default]
    Preparing,
    RecoveringPosition,
    WaitingLock,
    Queued,
    Joining,
    Running,
    Refused,
    Stopping,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Preparing => "preparing",
            Phase::RecoveringPosition => "recovering-position",
            Phase::WaitingLock => "waiting-lock",
            Phase::Queued => "queued",
            Phase::Joining => "joining",
            Phase::Running => "running",
            Phase::Refused => "refused",
            Phase::Stopping => "stopping",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entrypoint's last etcd view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdView {
    pub state: Option<String>,
    pub uuid: Option<String>,
    /// Unix time (seconds) of the read.
    pub read_at: i64,
    /// Until when a maintenance pause (`P/pause`) is on, as of the read.
    #[serde(default)]
    pub paused_until: Option<i64>,
}

/// Counters the entrypoint keeps since it started, exported by `checker serve` on `/metrics`
/// (optional: a file without them reads as all zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Decisions taken, by kind (e.g. `join`, `bootstrap`, `recover`, `wait`, `refuse`).
    #[serde(default)]
    pub decisions: std::collections::BTreeMap<String, u64>,
    /// etcd calls that failed (unreachable, timeout, rejected).
    #[serde(default)]
    pub etcd_errors: u64,
    /// Leases found lost (TTL 0 / not found) and repaired.
    #[serde(default)]
    pub lease_losses: u64,
}

/// What the entrypoint tells the probes.
///
/// `Default` exists so writers can fill what they know and add `..Default::default()`: new
/// optional fields then do not break them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    pub node_name: String,
    pub phase: Phase,
    /// Why the entrypoint is in this phase (e.g. the refusal reason), for people.
    #[serde(default)]
    pub detail: String,
    pub mysqld_pid: Option<u32>,
    /// Unix time mariadbd was started.
    pub mysqld_started_at: Option<i64>,
    pub etcd: EtcdView,
    /// Whether this node holds `P/leader`.
    #[serde(default)]
    pub leader: bool,
    /// Unix time of this write.
    pub updated_at: i64,
    /// Counters for `/metrics` (optional).
    #[serde(default)]
    pub counters: Counters,
    /// Whether restarting this node now would rejoin by IST (`restart_gate::ist`), as of the
    /// last etcd view; `None` when not known (exported as `galera_ist_possible`).
    #[serde(default)]
    pub ist_possible: Option<bool>,
    /// Unix time the Galera certificate mariadbd has loaded expires (`--galera-tls-dir`;
    /// `None` without it), exported as `galera_tls_certificate_expiry_timestamp_seconds`.
    #[serde(default)]
    pub tls_expires_at: Option<i64>,
}

pub const FILE_NAME: &str = "state.json";

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

pub use crate::files::write_atomic;

impl StateFile {
    /// Write to `<dir>/state.json` atomically, mode 0600, creating `dir` (0700) if needed.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let body = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&path(dir), &body, 0o600)
    }

    /// Read `<dir>/state.json`: `Ok(None)` when absent, `Err` with a reason when unreadable.
    pub fn read(dir: &Path) -> Result<Option<StateFile>, String> {
        let p = path(dir);
        match std::fs::read(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", p.display())),
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{}: not a state file ({e})", p.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_round_trip_with_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().join("state");
        let s = StateFile {
            node_name: "g-0".into(),
            phase: Phase::Running,
            detail: String::new(),
            mysqld_pid: Some(42),
            mysqld_started_at: Some(1),
            etcd: EtcdView {
                state: Some("STEADY".into()),
                uuid: None,
                read_at: 5,
                paused_until: None,
            },
            leader: true,
            updated_at: 6,
            counters: Counters::default(),
            ist_possible: Some(true),
            tls_expires_at: Some(1_867_973_018),
        };
        s.write(&d).expect("write");
        assert_eq!(StateFile::read(&d), Ok(Some(s)));
        let mode = std::fs::metadata(path(&d))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(&d).expect("ls").collect();
        assert_eq!(leftovers.len(), 1, "no temp file left");
    }

    #[test]
    fn missing_and_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(StateFile::read(dir.path()), Ok(None));
        std::fs::write(path(dir.path()), "{garbage").expect("write");
        assert!(StateFile::read(dir.path()).is_err());
    }

    #[test]
    fn counters_are_optional() {
        let json = r#"{"node_name":"g-0","phase":"running","mysqld_pid":1,"mysqld_started_at":2,
            "etcd":{"state":"STEADY","uuid":null,"read_at":3},"updated_at":4}"#;
        let s: StateFile = serde_json::from_str(json).expect("parse without counters");
        assert_eq!(s.counters, Counters::default());
        assert_eq!(s.ist_possible, None);
        let json = r#"{"node_name":"g-0","phase":"running","mysqld_pid":1,"mysqld_started_at":2,
            "etcd":{"state":"STEADY","uuid":null,"read_at":3},"updated_at":4,
            "counters":{"decisions":{"join":2},"etcd_errors":5}}"#;
        let s: StateFile = serde_json::from_str(json).expect("parse with counters");
        assert_eq!(s.counters.decisions.get("join"), Some(&2));
        assert_eq!(s.counters.etcd_errors, 5);
        assert_eq!(s.counters.lease_losses, 0);
    }

    #[test]
    fn phase_names_are_the_contract() {
        let json = serde_json::to_string(&Phase::RecoveringPosition).expect("json");
        assert_eq!(json, "\"recovering-position\"");
        assert_eq!(Phase::WaitingLock.as_str(), "waiting-lock");
    }
}
