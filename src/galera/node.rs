//! The entrypoint's context: configuration, the etcd session and lease, the reaper, the
//! shutdown signal, and the probes' state file — shared by the startup sequence
//! ([`super::run`]) and the running loop ([`super::steady`]).

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::datadir::{Binaries, Users};
use super::mysqld::Reaper;
use crate::cli::{ConfigError, GaleraOpts, GlobalOpts};
use crate::etcd::snapshot::{CensusEntry, Fork};
use crate::etcd::store::Registration;
use crate::etcd::{ClusterSnapshot, Etcd, EtcdConfig, EtcdError, Lease};
use crate::mysql::{Credentials, Endpoint};
use crate::position::Position;
use crate::state_file::{EtcdView, Phase, StateFile};

/// Validated configuration of one entrypoint.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub address: String,
    pub cluster_name: String,
    pub etcd: EtcdConfig,
    pub opts: GaleraOpts,
    pub bins: Binaries,
    pub users: Users,
    pub endpoint: Endpoint,
    pub creds: Credentials,
    pub log_file: Option<PathBuf>,
}

impl Config {
    pub fn new(global: &GlobalOpts, opts: &GaleraOpts) -> Result<Config, ConfigError> {
        opts.validate()?;
        let name = global.resolved_node_name()?;
        let address = global.resolved_node_address()?;
        let users = Users::from_env()?;
        let creds = match &users.monitor {
            Some((u, p)) => Credentials {
                user: Some(u.clone()),
                password: Some(p.clone()),
            },
            None => Credentials::default(),
        };
        let cnf = opts
            .mysql
            .defaults_file
            .as_ref()
            .and_then(|f| crate::mycnf::MyCnf::read(f).ok());
        let log_file = cnf
            .as_ref()
            .and_then(|c| c.get("log_error").map(PathBuf::from))
            .filter(|p| p.is_absolute());
        Ok(Config {
            name,
            address,
            cluster_name: global.cluster_name.clone(),
            etcd: global.etcd_config(),
            bins: Binaries {
                mysqld: opts.mysqld.clone(),
                install_db: opts.install_db.clone(),
                defaults_file: opts.mysql.defaults_file.clone(),
                datadir: opts.datadir.clone(),
                user: opts.mysql_user.clone(),
            },
            users,
            endpoint: crate::mysql::local_endpoint(&opts.mysql),
            creds,
            log_file,
            opts: opts.clone(),
        })
    }

    pub fn lease_ttl(&self) -> Duration {
        self.opts.lease_ttl
    }
}

/// The probes' state file, kept current.
pub struct StateWriter {
    dir: PathBuf,
    pub current: StateFile,
}

impl StateWriter {
    pub fn new(dir: PathBuf, node_name: &str) -> StateWriter {
        StateWriter {
            dir,
            current: StateFile {
                node_name: node_name.to_string(),
                phase: Phase::Preparing,
                detail: String::new(),
                mysqld_pid: None,
                mysqld_started_at: None,
                etcd: EtcdView::default(),
                leader: false,
                updated_at: crate::etcd::unix_now(),
                counters: Default::default(),
                ist_possible: None,
                tls_expires_at: None,
            },
        }
    }

    pub fn write(&mut self) {
        self.current.updated_at = crate::etcd::unix_now();
        if let Err(e) = self.current.write(&self.dir) {
            warn!("cannot write the state file in {}: {e}", self.dir.display());
        }
    }

    pub fn phase(&mut self, phase: Phase, detail: impl Into<String>) {
        let detail = detail.into();
        if self.current.phase != phase || self.current.detail != detail {
            self.current.phase = phase;
            self.current.detail = detail;
            self.write();
        }
    }

    /// Count a decision by kind (exported as a metric by `checker serve`).
    pub fn decision(&mut self, kind: &str) {
        *self
            .current
            .counters
            .decisions
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// Count a failed etcd call.
    pub fn etcd_error(&mut self) {
        self.current.counters.etcd_errors += 1;
    }

    pub fn view(&mut self, snap: &ClusterSnapshot) {
        self.current.etcd = EtcdView {
            state: snap.state.as_ref().map(|s| match s {
                crate::etcd::snapshot::StateValue::Known(k) => k.to_string(),
                crate::etcd::snapshot::StateValue::Invalid(v) => v.clone(),
            }),
            uuid: snap.uuid.clone(),
            read_at: crate::etcd::unix_now(),
            paused_until: crate::pause::active(snap, crate::etcd::unix_now()).map(|p| p.until),
        };
        self.current.ist_possible =
            crate::restart_gate::ist_possible(snap, &self.current.node_name);
    }
}

/// Everything the sequence needs.
pub struct Node {
    pub cfg: Config,
    pub etcd: Etcd,
    pub lease: Lease,
    pub reaper: Reaper,
    pub state: StateWriter,
    pub shutdown: CancellationToken,
    /// When the previous run of this entrypoint last saw mariadbd up (from the state file it
    /// left), to let peers evict that incarnation before rejoining after an unclean stop.
    pub previous_alive: Option<i64>,
    /// When this datadir's position was last current: mariadbd last seen up, else this
    /// process's start (the safety gate compares published cluster positions against it).
    pub position_since: i64,
    /// The census entry last written by this process, and the lease it was written under.
    pub census: Option<(i64, CensusEntry)>,
    /// Throttles the steady loop's "still so" notes (e.g. a leader kept during a pause).
    pub notes: crate::logging::Notes,
    /// mariadbd's version (`mariadbd --version`, read once at start; `None`: unknown),
    /// published in the census and compared with the leader's before a join.
    pub version: Option<String>,
    /// `--galera-tls-dir`'s files as mariadbd loaded them (at its start or at the last
    /// reload) and the certificate they hold (`None` when it did not pass the check).
    pub tls_loaded: Option<(super::tls_reload::OnDisk, Option<super::tls_certs::Leaf>)>,
}

impl Node {
    /// The recovery record this node's datadir joined (its marker file), read afresh: a
    /// `resync` wipes it with the data.
    pub fn recovery_mark(&self) -> Option<String> {
        super::datadir::recovery_joined(&self.cfg.opts.datadir)
    }

    /// The forced recoveries this datadir's history went through (its forks file, read
    /// afresh: a resync wipes it with the data). A corrupt file stops the entrypoint at start
    /// (`run::prepare`); one that turns corrupt later counts as none, with a warning.
    pub fn forks(&self) -> Vec<Fork> {
        super::datadir::forks(&self.cfg.opts.datadir).unwrap_or_else(|e| {
            warn!("{e}");
            vec![]
        })
    }

    /// Record that this datadir's history goes through `forks` (besides those it lists).
    pub fn add_forks(&self, forks: &[Fork]) -> anyhow::Result<()> {
        let own = self.forks();
        let all = super::branches::merged(&own, &[forks]);
        if all != own {
            let owner = super::datadir::user_ids(&self.cfg.opts.mysql_user);
            super::datadir::write_forks(&self.cfg.opts.datadir, &all, owner)?;
            info!(
                "datadir lists the forks (forced recoveries, heals beside members down) {}",
                all.iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        Ok(())
    }

    pub fn stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Sleep `d`, or less if shutdown is requested. Returns true when shutting down.
    pub async fn pause(&mut self, d: Duration) -> bool {
        if self.stopping() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.cancelled() => {}
        }
        self.stopping()
    }

    /// A snapshot, retried while etcd is unreachable (a log line every few seconds).
    pub async fn snapshot(&mut self) -> Result<ClusterSnapshot, EtcdError> {
        let start = tokio::time::Instant::now();
        let mut say = crate::logging::Every::now(super::bounds::SAY_EVERY);
        loop {
            match self.etcd.snapshot().await {
                Ok(s) => {
                    self.state.view(&s);
                    return Ok(s);
                }
                Err(e) if e.is_transient() && !self.stopping() => {
                    self.state.etcd_error();
                    if say.due() {
                        warn!(
                            "etcd unavailable for {:.0?}: {e}; retrying",
                            start.elapsed()
                        );
                    }
                    self.pause(super::bounds::PASS).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Replace a lost lease with a new one (the caller re-puts its keys).
    pub async fn renew_lease_if_lost(&mut self) -> Result<bool, EtcdError> {
        if !self.lease.is_lost() {
            return Ok(false);
        }
        self.state.current.counters.lease_losses += 1;
        let new = Lease::grant(&self.etcd, self.cfg.lease_ttl()).await?;
        info!(
            "lease lost; new lease {:x} granted, re-putting this node's keys",
            new.id()
        );
        let old = std::mem::replace(&mut self.lease, new);
        drop(old);
        Ok(true)
    }

    /// The census entry for `position` (and the running cluster's, when mariadbd runs).
    pub fn census_entry(&self, position: &Position, running: Option<Position>) -> CensusEntry {
        CensusEntry {
            position: position.clone(),
            address: self.cfg.address.clone(),
            at: crate::etcd::unix_now(),
            running,
            forks: self.forks(),
            cached_downto: None,
            stray_writes: 0,
            version: self.version.clone(),
        }
    }

    /// Does the census need `entry` written? When it was never written under this lease, etcd
    /// no longer has it, or it changed. With `refresh` (the running loop, whose seqno moves
    /// with every commit) a new seqno alone is not enough: the entry is re-written once the
    /// last write is that old, moved or not (a joiner needs a recent publication to compare).
    pub fn census_due(
        &self,
        snap: Option<&ClusterSnapshot>,
        entry: &CensusEntry,
        refresh: Option<Duration>,
    ) -> bool {
        let Some((lease, last)) = &self.census else {
            return true;
        };
        if *lease != self.lease.id()
            || last.address != entry.address
            || snap.is_some_and(|s| !s.census.contains_key(&self.cfg.name))
        {
            return true;
        }
        let history = |p: &Position| (p.uuid().map(str::to_string), matches!(p, Position::Fresh));
        let material = history(&last.position) != history(&entry.position)
            || last.running.as_ref().map(history) != entry.running.as_ref().map(history)
            || last.forks != entry.forks
            || last.version != entry.version
            // The first stray write is published at once (then with the refresh).
            || (last.stray_writes == 0) != (entry.stray_writes == 0);
        let moved = last.position != entry.position || last.running != entry.running;
        match refresh {
            None => material || moved,
            Some(r) => material || entry.at - last.at >= r.as_secs() as i64,
        }
    }

    /// Write this node's census entry under its lease.
    pub async fn publish_census(&mut self, entry: CensusEntry) -> Result<(), EtcdError> {
        let lease = self.lease.id();
        self.etcd
            .publish_census(&self.cfg.name, &entry, lease)
            .await?;
        self.census = Some((lease, entry));
        Ok(())
    }

    /// Put `nodes/<me>` (if not already ours) and, once, `members/<me>`; drop the queue keys.
    /// `census`: this node's census entry with the running cluster's actual uuid and seqno,
    /// written in the same txn, so a registered node's history is always published with it.
    pub async fn register(
        &mut self,
        snap: &ClusterSnapshot,
        census: Option<CensusEntry>,
    ) -> Result<(), EtcdError> {
        let me = self.cfg.name.clone();
        let lease = self.lease.id();
        let mut r = Registration::needed(snap, &me, &self.cfg.address, lease);
        r.census =
            census.filter(|c| self.census_due(Some(snap), c, Some(super::steady::CENSUS_REFRESH)));
        if !self
            .etcd
            .register(&me, &self.cfg.address, lease, &r)
            .await?
        {
            return Ok(());
        }
        if let Some(c) = r.census.take() {
            self.census = Some((lease, c));
        }
        if r.registers() {
            info!("registered nodes/{me} = {}", self.cfg.address);
        }
        Ok(())
    }

    /// Remove `nodes/<me>` (only if it is ours).
    pub async fn deregister(&mut self, snap: &ClusterSnapshot, why: &str) -> Result<(), EtcdError> {
        let me = &self.cfg.name;
        if snap
            .nodes
            .get(me)
            .is_some_and(|n| n.lease == self.lease.id())
        {
            self.etcd.deregister(me).await?;
            info!("deregistered nodes/{me}: {why}");
        }
        Ok(())
    }

    /// At start: remove keys our previous life left under another lease (killed before its
    /// lease expired), so they neither block nor lie. Only our own keys, each compared.
    pub async fn clear_previous_life(&mut self) -> Result<(), EtcdError> {
        let snap = self.etcd.snapshot().await?;
        let k = self.etcd.keys.clone();
        let me = self.cfg.name.clone();
        for key in k.owned_by(&me) {
            if self.etcd.delete_left_over(&key, self.lease.id()).await? {
                info!("removed {key} left by an earlier run of {me}");
            }
        }
        if let Some(l) = &snap.leader {
            if (l.address == self.cfg.address
                || snap.nodes.get(&me).is_some_and(|n| n.lease == l.lease))
                && self.etcd.resign(l).await?
            {
                info!("removed a leader key left by an earlier run of {me}");
            }
        }
        Ok(())
    }
}
