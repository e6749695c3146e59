//! What one probe observed ([`Observation`]): the entrypoint's phase, the etcd view and where
//! it came from, the wsrep status, and which mariadbd run it was.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fmt_age;
use crate::mysql::{MysqlError, WsrepStatus};
use crate::state_file::Phase;

/// The entrypoint's phase as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseView {
    Known(Phase),
    /// No usable state file (missing or unreadable); the text says which.
    Missing(String),
}

/// Where the etcd view came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewSource {
    /// The state file's view, younger than `--state-max-age`.
    StateFile,
    /// Read from etcd by this probe (the file was missing or stale).
    Etcd,
    /// The state file's stale view: etcd could not be read (the text says why).
    Stale(String),
    /// No view at all: no state file and etcd could not be read.
    Nothing(String),
}

/// The etcd view the probe decides with (`P/uuid`, `P/state`) and how old it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdViewObs {
    pub uuid: Option<String>,
    pub state: Option<String>,
    /// Age of the view (0 when read by this probe); `None` when there is no view.
    pub age: Option<Duration>,
    pub source: ViewSource,
}

impl EtcdViewObs {
    /// A note for the reason when the view is not fresh, e.g. ` [etcd view 95s old: etcd
    /// unreachable …]`; empty when the view is fresh.
    pub fn note(&self) -> String {
        match &self.source {
            ViewSource::StateFile | ViewSource::Etcd => String::new(),
            ViewSource::Stale(why) => format!(
                " [etcd view {} old, from the state file: {why}]",
                fmt_age(self.age.unwrap_or_default())
            ),
            ViewSource::Nothing(why) => format!(" [no etcd view: {why}]"),
        }
    }
}

/// Everything one probe observed (gathered by `probe.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub phase: PhaseView,
    /// `<datadir>/sst_in_progress` exists.
    pub sst_in_progress: bool,
    pub etcd: EtcdViewObs,
    pub wsrep: Result<WsrepStatus, MysqlError>,
    /// mariadbd's pid and start time (from the state file, else the pid file).
    pub mysqld: MysqldKey,
    /// `Some(false)` when mariadbd's pid is known and no such process exists.
    pub mysqld_exists: Option<bool>,
    /// Unix time of the observation.
    pub now: i64,
}

/// Identifies one run of mariadbd: liveness memory of another run is discarded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MysqldKey {
    pub pid: Option<u32>,
    pub started_at: Option<i64>,
}
