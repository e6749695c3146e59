//! The `galera` entrypoint's options, and their checks (limits, the my.cnf, the datadir, the
//! programs it runs).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, validate_extra_port, validate_program, ConfigError, MysqlOpts};

#[derive(Debug, Clone, Args)]
pub struct GaleraOpts {
    /// The datadir
    #[arg(long, env = "GALERA_DATADIR", default_value = "/var/lib/mysql")]
    pub datadir: PathBuf,
    /// Where `resync` keeps a diverged datadir (moved there by one rename: it must be on the
    /// datadir's filesystem, outside the datadir) [default: galera-kept beside the datadir]
    #[arg(long, env = "GALERA_KEPT_DIR")]
    pub kept_dir: Option<PathBuf>,
    /// Members expected at the first build
    #[arg(long, env = "GALERA_CLUSTER_SIZE", default_value_t = 3)]
    pub cluster_size: usize,
    /// The mariadbd binary
    #[arg(long, env = "GALERA_MYSQLD", default_value = "mariadbd")]
    pub mysqld: PathBuf,
    /// The mariadb-install-db binary
    #[arg(long, env = "GALERA_INSTALL_DB", default_value = "mariadb-install-db")]
    pub install_db: PathBuf,
    /// The mariadb-upgrade binary: run once the node is Synced when the datadir records an
    /// older release series than mariadbd's (docs/operations.md §14); a missing one fails
    /// only that run, logged
    #[arg(
        long,
        env = "GALERA_MARIADB_UPGRADE",
        default_value = "mariadb-upgrade"
    )]
    pub mariadb_upgrade: PathBuf,
    /// Addresses or DNS names of the other members, probed before a brand-new bootstrap
    #[arg(long, env = "GALERA_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// TTL of this node's etcd lease (registration, queue, lock, leadership)
    #[arg(long, env = "GALERA_LEASE_TTL", value_parser = parse_duration, default_value = "10s")]
    pub lease_ttl: Duration,
    /// Directory of the state file shared with the probes
    #[arg(long, env = "GALERA_STATE_DIR", default_value = "/run/galera-sidecar")]
    pub state_dir: PathBuf,
    /// The user mariadbd runs as
    #[arg(long, env = "GALERA_MYSQL_USER", default_value = "mysql")]
    pub mysql_user: String,
    /// Galera replication port of every node
    #[arg(long, env = "GALERA_GALERA_PORT", default_value_t = 4567)]
    pub galera_port: u16,
    /// Longest time the lock is held by one join before it is released anyway
    #[arg(long, env = "GALERA_LOCK_HOLD_TIMEOUT", value_parser = parse_duration, default_value = "120s")]
    pub lock_hold_timeout: Duration,
    /// After SIGTERM, the drain's one budget before stopping mariadbd: the --drain-wait-ist wait
    /// and a leader's hand-over (a new leader elected, haproxy moved off this node) share it
    #[arg(long, env = "GALERA_DRAIN_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub drain_timeout: Duration,
    /// Part of the drain kept for haproxy to reload onto the new leader once it is elected
    /// (the wait for a new leader gets the rest of what --drain-timeout has left)
    #[arg(long, env = "GALERA_DRAIN_SWITCH_WINDOW", value_parser = parse_duration, default_value = "3s")]
    pub drain_switch_window: Duration,
    /// On SIGTERM, first wait until this node's restart would rejoin by IST and keep quorum
    /// (`can-restart`); bounded by --drain-timeout less --drain-switch-window and 1 s, kept for
    /// a leader's hand-over, then stop anyway
    #[arg(long, env = "GALERA_DRAIN_WAIT_IST", value_parser = clap::builder::BoolishValueParser::new())]
    pub drain_wait_ist: bool,
    /// Run every node but the leader with `read_only=ON` (as root; the leader gets OFF before
    /// it campaigns or takes a switchover over). Users with SUPER or READ_ONLY ADMIN (root)
    /// still write (docs/leader.md, "Read-only followers")
    #[arg(long, env = "GALERA_READ_ONLY_FOLLOWERS", value_parser = clap::builder::BoolishValueParser::new())]
    pub read_only_followers: bool,
    /// How long a clean mariadbd stop may take before SIGKILL
    #[arg(long, env = "GALERA_STOP_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub stop_timeout: Duration,
    /// Directory of the certificates that encrypt Galera's traffic (replication, IST) and
    /// state transfers: tls.crt, tls.key and ca.crt (a Kubernetes TLS Secret); the my.cnf's
    /// [sst] section must name the same files (docs/operations.md §16)
    #[arg(long, env = "GALERA_TLS_DIR")]
    pub galera_tls_dir: Option<PathBuf>,
    #[command(flatten)]
    pub mysql: MysqlOpts,
}

/// The datadir must be a directory or not exist yet (it is created); a file there, or a
/// file in its path, is a mount or typo problem that must not be mistaken for anything else.
pub fn validate_datadir(datadir: &std::path::Path) -> Result<(), ConfigError> {
    let mut p = Some(datadir);
    while let Some(cur) = p {
        if let Ok(m) = std::fs::metadata(cur) {
            if m.is_dir() {
                return Ok(());
            }
            return Err(ConfigError::new(
                "--datadir",
                if cur == datadir {
                    format!(
                        "{} is a file, not a directory; point --datadir / GALERA_DATADIR at the \
                         data volume's directory (nothing was changed)",
                        datadir.display()
                    )
                } else {
                    format!(
                        "{} cannot be a directory: {} is a file; point --datadir / \
                         GALERA_DATADIR at the data volume's directory (nothing was changed)",
                        datadir.display(),
                        cur.display()
                    )
                },
            ));
        }
        p = cur.parent();
    }
    Ok(())
}

/// One `--peers` entry: `host`, `host:port`, an IPv6 address bare or in brackets, or
/// `[v6]:port` (split by [`crate::net_addr::split_host_port`]).
pub fn validate_peer(p: &str) -> Result<(), ConfigError> {
    if p.trim().is_empty() || p.contains(char::is_whitespace) {
        return Err(ConfigError::new(
            "--peers",
            format!("`{p}` is not an address"),
        ));
    }
    crate::net_addr::split_host_port(p)
        .map(|_| ())
        .map_err(|e| {
            ConfigError::new(
                "--peers",
                format!("{e}; give the other members as HOST, HOST:PORT or [IPv6]:PORT"),
            )
        })
}

/// `--galera-tls-dir`: its three files are PEM files mariadbd's user can read, and the my.cnf
/// sends state transfers encrypted with them (the rule: [`crate::galera::tls::sst_problem`]).
pub fn validate_tls(
    dir: &std::path::Path,
    cnf: Option<&crate::mycnf::MyCnf>,
    mysql_user: &str,
) -> Result<(), ConfigError> {
    use crate::galera::tls::{sst_problem, TlsFiles};
    let files = TlsFiles::in_dir(dir);
    let user = nix::unistd::User::from_name(mysql_user).ok().flatten();
    let mut texts = Vec::new();
    for f in [&files.cert, &files.key, &files.ca] {
        let text = std::fs::read(f).map_err(|e| {
            ConfigError::new(
                "--galera-tls-dir",
                format!(
                    "{} cannot be read ({e}); mount the TLS Secret (tls.crt, tls.key, ca.crt)                      at {}",
                    f.display(),
                    dir.display()
                ),
            )
        })?;
        if !String::from_utf8_lossy(&text).contains("-----BEGIN ") {
            return Err(ConfigError::new(
                "--galera-tls-dir",
                format!("{} is not a PEM file (no -----BEGIN line)", f.display()),
            ));
        }
        if let (Some(u), true) = (&user, nix::unistd::geteuid().is_root()) {
            let meta = std::fs::metadata(f).map_err(|e| {
                ConfigError::new("--galera-tls-dir", format!("{}: {e}", f.display()))
            })?;
            if !readable_by(&meta, u.uid.as_raw(), u.gid.as_raw()) {
                return Err(ConfigError::new(
                    "--galera-tls-dir",
                    format!(
                        "{} cannot be read by {mysql_user}, the user mariadbd runs as; make it                          readable by that user's group (on Kubernetes: the Secret volume's                          defaultMode 0440 and the pod's fsGroup)",
                        f.display()
                    ),
                ));
            }
        }
        texts.push(text);
    }
    let now = crate::etcd::unix_now();
    let leaf = crate::galera::tls_certs::check_all(now, &texts[0], &texts[1], &texts[2])
        .map_err(|p| ConfigError::new("--galera-tls-dir", format!("{}: {p}", dir.display())))?;
    if let Some(w) = crate::galera::tls_certs::expiry_warning(now, &leaf) {
        tracing::warn!("{w}");
    }
    let empty = crate::mycnf::MyCnf::default();
    let cnf = cnf.unwrap_or(&empty);
    crate::galera::tls::with_tls(cnf.provider_options().unwrap_or(""), &files)
        .map_err(|p| ConfigError::new("--galera-tls-dir", p))?;
    let stunnel = which::which("stunnel").is_ok();
    if let Some(p) = sst_problem(cnf.sst_method(), &cnf.sst, &files, stunnel) {
        return Err(ConfigError::new("--galera-tls-dir", p));
    }
    Ok(())
}

/// Whether a file's mode lets `uid` (primary group `gid`) read it.
fn readable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    (meta.uid() == uid && mode & 0o400 != 0)
        || (meta.gid() == gid && mode & 0o040 != 0)
        || mode & 0o004 != 0
}

impl GaleraOpts {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster_size == 0 {
            return Err(ConfigError::new("--cluster-size", "must be at least 1"));
        }
        if self.lease_ttl < Duration::from_secs(2) {
            return Err(ConfigError::new("--lease-ttl", "must be at least 2s"));
        }
        if self.drain_switch_window > self.drain_timeout {
            return Err(ConfigError::new(
                "--drain-switch-window",
                format!(
                    "{:?} is longer than --drain-timeout {:?}, of which it is a part",
                    self.drain_switch_window, self.drain_timeout
                ),
            ));
        }
        if let Some(f) = &self.mysql.defaults_file {
            if !f.is_file() {
                return Err(ConfigError::new(
                    "--defaults-file",
                    format!(
                        "{} does not exist or is not a file; mount the my.cnf there or set \
                         --defaults-file / GALERA_DEFAULTS_FILE to its path",
                        f.display()
                    ),
                ));
            }
        }
        let cnf = self
            .mysql
            .defaults_file
            .as_ref()
            .and_then(|f| crate::mycnf::MyCnf::read(f).ok());
        validate_extra_port(&self.mysql, cnf.as_ref())?;
        if let Some(dir) = &self.galera_tls_dir {
            validate_tls(dir, cnf.as_ref(), &self.mysql_user)?;
        }
        validate_datadir(&self.datadir)?;
        crate::galera::keep::kept_root(&self.datadir, self.kept_dir.as_deref())
            .map_err(|p| ConfigError::new("--kept-dir", p))?;
        validate_program(
            "--mysqld",
            "GALERA_MYSQLD",
            &self.mysqld,
            "MariaDB (mariadbd)",
        )?;
        validate_program(
            "--install-db",
            "GALERA_INSTALL_DB",
            &self.install_db,
            "MariaDB (mariadb-install-db)",
        )?;
        for p in &self.peers {
            validate_peer(p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_table() {
        for (peer, ok) in [
            ("10.0.0.1", true),
            ("10.0.0.1:4567", true),
            ("g-1.galera.db.svc", true),
            ("fd00::1", true),
            ("[fd00::1]", true),
            ("[fd00::1]:4567", true),
            ("", false),
            (" 10.0.0.1", false),
            ("10.0.0.1:x", false),
            ("[fd00::1", false),
            ("a:b:c", false),
        ] {
            let r = validate_peer(peer);
            assert_eq!(r.is_ok(), ok, "{peer:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.option, "--peers");
            }
        }
    }
}
