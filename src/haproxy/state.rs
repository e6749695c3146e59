//! The files the haproxy sidecar keeps in `--run-dir`:
//!
//! - `last-good.cfg` + `last-good.json`: the last config haproxy accepted and runs, and the
//!   leader it names. Used at start when etcd is away or has no leader, so a restarted sidecar
//!   still routes. Written atomically, mode 0640, only after `haproxy -c` passed and the reload
//!   happened.
//! - `status.json`: what the running sidecar knows (the etcd leader it last saw, the leader
//!   haproxy routes to, the reload count, the last error). Read by `haproxy readiness` and by
//!   people; written atomically, mode 0640.
//! - `admin.sock` (runtime API) and `master.sock` (master CLI), both mode 600.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::render::{Backup, Leader};
use crate::files::write_atomic;

/// Mode of the files we write (no secrets in them; owner and group may read).
pub const FILE_MODE: u32 = 0o640;

/// The paths under `--run-dir`.
#[derive(Debug, Clone)]
pub struct Paths {
    pub run_dir: PathBuf,
    pub admin_socket: PathBuf,
    pub master_socket: PathBuf,
    pub last_good_cfg: PathBuf,
    pub last_good_json: PathBuf,
    pub status: PathBuf,
}

impl Paths {
    pub fn new(run_dir: &Path) -> Paths {
        Paths {
            run_dir: run_dir.to_path_buf(),
            admin_socket: run_dir.join("admin.sock"),
            master_socket: run_dir.join("master.sock"),
            last_good_cfg: run_dir.join("last-good.cfg"),
            last_good_json: run_dir.join("last-good.json"),
            status: run_dir.join("status.json"),
        }
    }
}

/// The leader named by `last-good.cfg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastGood {
    pub leader: Option<Leader>,
    /// Unix time it was written.
    pub written_at: i64,
}

/// What the running sidecar knows, for `haproxy readiness` and people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The sidecar's pid.
    pub pid: u32,
    /// haproxy master's pid.
    pub haproxy_pid: Option<u32>,
    /// Reloads done by this sidecar process (a reload happens only when the bytes change).
    pub reloads: u64,
    /// The leader the running config names.
    pub routed: Option<Leader>,
    /// The backup servers the running config names, in haproxy's order (empty when started
    /// from the persisted config, until the first reload).
    #[serde(default)]
    pub routed_backups: Vec<Backup>,
    /// Whether the sidecar has read `P/leader` from etcd at least once.
    pub etcd_seen: bool,
    /// The value of `P/leader` at the last read or watch event (None: no leader).
    pub etcd_leader: Option<String>,
    /// Unix time of the last read or watch event.
    pub etcd_seen_at: Option<i64>,
    /// The last failure (render, `haproxy -c`, reload), cleared by the next good reload.
    pub last_error: Option<String>,
    pub updated_at: i64,
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>, String> {
    match std::fs::read(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: unreadable ({e})", p.display())),
    }
}

fn write_json<T: Serialize>(p: &Path, v: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?;
    write_atomic(p, &body, FILE_MODE)
}

impl Status {
    pub fn read(paths: &Paths) -> Result<Option<Status>, String> {
        read_json(&paths.status)
    }
    pub fn write(&self, paths: &Paths) -> std::io::Result<()> {
        write_json(&paths.status, self)
    }
}

/// Read the last good config and the leader it names. `Ok(None)` when there is none.
pub fn read_last_good(paths: &Paths) -> Result<Option<(LastGood, String)>, String> {
    let Some(meta) = read_json::<LastGood>(&paths.last_good_json)? else {
        return Ok(None);
    };
    match std::fs::read_to_string(&paths.last_good_cfg) {
        Ok(cfg) => Ok(Some((meta, cfg))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", paths.last_good_cfg.display())),
    }
}

/// Persist the config haproxy now runs (config first, then the record naming its leader).
pub fn write_last_good(
    paths: &Paths,
    config: &str,
    leader: Option<&Leader>,
) -> std::io::Result<()> {
    write_atomic(&paths.last_good_cfg, config.as_bytes(), FILE_MODE)?;
    write_json(
        &paths.last_good_json,
        &LastGood {
            leader: leader.cloned(),
            written_at: crate::etcd::unix_now(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn last_good_round_trip_with_0640() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = Paths::new(d.path());
        assert_eq!(read_last_good(&p), Ok(None));
        let l = Leader::parse("10.0.0.5", 33306).expect("leader");
        write_last_good(&p, "cfg text\n", Some(&l)).expect("write");
        let (meta, cfg) = read_last_good(&p).expect("read").expect("present");
        assert_eq!(meta.leader, Some(l));
        assert_eq!(cfg, "cfg text\n");
        for f in [&p.last_good_cfg, &p.last_good_json] {
            let mode = std::fs::metadata(f).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o640, "{}", f.display());
        }
    }

    #[test]
    fn status_round_trip() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = Paths::new(d.path());
        assert_eq!(Status::read(&p), Ok(None));
        let s = Status {
            pid: 1,
            reloads: 3,
            etcd_leader: Some("10.0.0.5".into()),
            ..Status::default()
        };
        s.write(&p).expect("write");
        assert_eq!(Status::read(&p), Ok(Some(s)));
        std::fs::write(&p.status, "{").expect("garbage");
        assert!(Status::read(&p).is_err());
    }
}
