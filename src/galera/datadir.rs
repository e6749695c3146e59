//! The datadir: fresh / interrupted SST / has data, `init.ok`, initialisation (install-db and
//! the users), grastate.dat edits, and the local position (`--wsrep-recover`).
//!
//! Data is sacred: only a datadir that is *fresh* (empty, or an initialisation we started and
//! did not finish) or an *interrupted SST* is ever wiped. A datadir with data is never wiped
//! here — not even without `init.ok`; the only other wipe is an operator's `resync`, which
//! by default moves the datadir aside first (`keep.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tracing::{info, warn};

use super::grastate::{self, GraState, RecoverOutput};
use super::mysqld::Reaper;
use crate::position::Position;

/// Marks a complete, initialised datadir (rewritten after every join).
pub const INIT_OK: &str = "init.ok";
/// Written before `mariadb-install-db`, removed once `init.ok` exists.
pub const INIT_STARTED: &str = ".galera-sidecar-init-started";
/// Created by MariaDB's SST scripts during a transfer.
pub const SST_IN_PROGRESS: &str = "sst_in_progress";

/// What the datadir holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatadirKind {
    /// Empty, missing, or an initialisation we started and did not finish.
    Fresh,
    /// An SST was interrupted: the content is a partial copy of the donor.
    InterruptedSst,
    /// Data; `init_ok` says whether it is marked complete.
    HasData { init_ok: bool },
}

/// Entries that do not count as data (volume artefacts).
fn ignorable(name: &str) -> bool {
    name == "lost+found" || name == INIT_STARTED
}

/// Classify the datadir (an unreadable one is an error naming it, never "fresh").
pub fn classify(datadir: &Path) -> Result<DatadirKind, String> {
    let entries = match std::fs::read_dir(datadir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DatadirKind::Fresh),
        Err(e) => {
            return Err(format!(
                "datadir {} cannot be read ({e}); fix its permissions (the entrypoint runs as root, mariadbd as mysql)",
                datadir.display()
            ))
        }
        Ok(e) => e,
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    if has(SST_IN_PROGRESS) {
        return Ok(DatadirKind::InterruptedSst);
    }
    if has(INIT_STARTED) && !has(INIT_OK) {
        return Ok(DatadirKind::Fresh);
    }
    if names.iter().all(|n| ignorable(n)) {
        return Ok(DatadirKind::Fresh);
    }
    Ok(DatadirKind::HasData {
        init_ok: has(INIT_OK),
    })
}

/// Remove the datadir's content (keeping the directory and `lost+found`).
pub fn wipe(datadir: &Path) -> std::io::Result<()> {
    if !datadir.exists() {
        return Ok(());
    }
    for e in std::fs::read_dir(datadir)? {
        let e = e?;
        if e.file_name() == "lost+found" {
            continue;
        }
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Written once the node is Synced in a cluster recovered under a `P/recovery` record: the
/// record's id. Proof that whatever this datadir holds beyond the recorded winner's position
/// came from the recovered cluster (the only Primary Component of that history), so a restart
/// before STEADY is not "ahead of the winner". An SST copies it with the data it describes;
/// `resync` wipes it with the data.
pub const RECOVERY_JOINED: &str = "galera-sidecar.recovery";

/// The recovery record this datadir joined ([`RECOVERY_JOINED`]), if any.
pub fn recovery_joined(datadir: &Path) -> Option<String> {
    let s = std::fs::read_to_string(datadir.join(RECOVERY_JOINED)).ok()?;
    let id = s.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Record that this datadir joined the cluster recovered under record `id`.
pub fn write_recovery_joined(
    datadir: &Path,
    id: &str,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    write_mark(datadir, RECOVERY_JOINED, id, owner)
}

/// The forced recoveries this datadir's history went through (one JSON array): which branch
/// of its uuid it holds (see `branches`). Wiped with the data by a resync. Named `*.log` so
/// that an SST keeps it: a mariabackup SST deletes the joiner's top-level files except a few
/// patterns (`*.log` among them), an rsync SST keeps every top-level file; the entrypoint
/// writes the cluster's forks into it before the transfer.
pub const FORKS: &str = "galera-sidecar.forks.log";

/// The forks this datadir lists ([`FORKS`]); none when the file is absent. An unreadable or
/// corrupt file is an error naming the file: without it this datadir's branch is unknown.
pub fn forks(datadir: &Path) -> Result<Vec<crate::etcd::snapshot::Fork>, String> {
    let p = datadir.join(FORKS);
    match std::fs::read_to_string(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(t) => serde_json::from_str(t.trim()).map_err(|e| {
            format!(
                "{} is not a list of forks ({e}): it records which branch of the cluster's \
                 history this datadir holds after a forced recovery. Restore it from a copy, or \
                 — only if this datadir never went through a forced recovery — delete it",
                p.display()
            )
        }),
    }
}

/// Record the forks this datadir's history went through.
pub fn write_forks(
    datadir: &Path,
    forks: &[crate::etcd::snapshot::Fork],
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let line = serde_json::to_string(forks).map_err(std::io::Error::other)?;
    write_mark(datadir, FORKS, &line, owner)
}

/// Write `init.ok` (with the time, for people).
pub fn write_init_ok(datadir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    write_mark(
        datadir,
        INIT_OK,
        &crate::etcd::unix_now().to_string(),
        owner,
    )
}

/// One of our marker files in the datadir: `line`, written atomically, mode 0640, owned by
/// mariadbd's user (`owner`) so that it can be copied by an SST and wiped with the data.
fn write_mark(
    datadir: &Path,
    name: &str,
    line: &str,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let p = datadir.join(name);
    crate::files::write_atomic(&p, format!("{line}\n").as_bytes(), 0o640)?;
    if let Some((u, g)) = owner {
        let _ = std::os::unix::fs::chown(&p, Some(u), Some(g));
    }
    Ok(())
}

/// The uid and gid of the user mariadbd runs as, when we run as root.
pub fn user_ids(user: &str) -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

/// Read and parse grastate.dat; `Ok(None)` when absent.
pub fn read_grastate(datadir: &Path) -> Result<Option<GraState>, String> {
    let p = datadir.join("grastate.dat");
    match std::fs::read_to_string(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(t) => grastate::parse_grastate(&t)
            .map(Some)
            .map_err(|e| format!("{}: {e}", p.display())),
    }
}

/// Set `safe_to_bootstrap: 1` in grastate.dat, every other byte kept, written atomically.
pub fn set_safe_to_bootstrap(datadir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let p = datadir.join("grastate.dat");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let edited = grastate::with_safe_to_bootstrap(&text, true);
    if edited != text {
        crate::files::write_atomic(&p, edited.as_bytes(), 0o660)?;
        if let Some((u, g)) = owner {
            let _ = std::os::unix::fs::chown(&p, Some(u), Some(g));
        }
        info!("grastate.dat: safe_to_bootstrap set to 1 (other lines kept)");
    }
    Ok(())
}

/// How to run mariadbd helpers.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub mysqld: PathBuf,
    pub install_db: PathBuf,
    pub defaults_file: Option<PathBuf>,
    pub datadir: PathBuf,
    pub user: String,
}

impl Binaries {
    fn base(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        crate::secrets::scrub_env(&mut c);
        if let Some(f) = &self.defaults_file {
            c.arg(format!("--defaults-file={}", f.display()));
        }
        c
    }

    /// `mariadbd --wsrep-recover` → the local position (docs/design.md §3.2).
    pub async fn recover_position(&self, reaper: &Reaper) -> anyhow::Result<(Position, String)> {
        let mut c = self.base(&self.mysqld);
        c.arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", self.datadir.display()))
            .args([
                "--wsrep-recover",
                "--disable-log-error",
                "--wsrep-cluster-address=gcomm://",
            ]);
        let (code, out, err) = reaper
            .output(
                "mariadbd --wsrep-recover",
                c,
                None,
                Duration::from_secs(600),
            )
            .await?;
        let text = format!("{out}\n{err}");
        let rec = grastate::parse_recover_output(&text);
        let gs = match read_grastate(&self.datadir) {
            Ok(g) => g,
            Err(e) => {
                warn!(
                    "{e}: grastate.dat ignored and kept as it is; the position comes from \
                     --wsrep-recover (if that finds none, the position is unknown and a recovery \
                     waits for `galera-sidecar force-bootstrap <node>`)"
                );
                None
            }
        };
        let pos = grastate::local_position(&rec, gs.as_ref());
        let how = match &rec {
            RecoverOutput::Recovered(p) => format!("--wsrep-recover: {p}"),
            RecoverOutput::PreparedTransactions(l) => format!("--wsrep-recover failed: {l}"),
            RecoverOutput::NoPosition => {
                let tail: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("ERROR"))
                    .take(3)
                    .collect();
                format!(
                    "--wsrep-recover found no position (exit {code}): {}",
                    tail.join(" | ")
                )
            }
        };
        Ok((pos, how))
    }

    /// The effective provider options (`mariadbd --verbose --help`).
    pub async fn configured_provider_options(
        &self,
        reaper: &Reaper,
    ) -> anyhow::Result<Option<String>> {
        let mut c = self.base(&self.mysqld);
        c.args(["--verbose", "--help"]);
        let (_, out, _) = reaper
            .output(
                "mariadbd --verbose --help",
                c,
                None,
                Duration::from_secs(60),
            )
            .await?;
        Ok(super::mysqld::provider_options_from_help(&out))
    }

    /// Wipe and initialise: `mariadb-install-db --wsrep-on=OFF`, then the users through a
    /// helper mariadbd without networking or wsrep (`--bootstrap`, SQL on stdin so no
    /// password is on a command line), then `init.ok`.
    pub async fn initialise(&self, reaper: &Reaper, users: &UsersSql) -> anyhow::Result<()> {
        let dd = &self.datadir;
        let owner = user_ids(&self.user);
        wipe(dd).map_err(|e| anyhow::anyhow!("cannot empty {}: {e}", dd.display()))?;
        std::fs::create_dir_all(dd)?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(dd, Some(u), Some(g))?;
        }
        std::fs::write(dd.join(INIT_STARTED), b"")?;
        let mut c = self.base(&self.install_db);
        c.arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", dd.display()))
            .args(["--skip-test-db", "--wsrep-on=OFF"]);
        run_checked(reaper, "mariadb-install-db", c, None).await?;
        let mut c = self.base(&self.mysqld);
        c.arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", dd.display()))
            .args(["--bootstrap", "--wsrep-on=OFF", "--skip-networking"]);
        run_checked(
            reaper,
            "mariadbd --bootstrap (users)",
            c,
            Some(users.0.clone().into_bytes()),
        )
        .await?;
        write_init_ok(dd, owner)?;
        let _ = std::fs::remove_file(dd.join(INIT_STARTED));
        info!(
            "datadir {} initialised (users created, init.ok written)",
            dd.display()
        );
        Ok(())
    }
}

/// Run a helper command to completion; a non-zero exit is an error quoting its last lines.
async fn run_checked(
    reaper: &Reaper,
    name: &str,
    cmd: Command,
    input: Option<Vec<u8>>,
) -> anyhow::Result<()> {
    let (code, out, err) = reaper
        .output(name, cmd, input, Duration::from_secs(600))
        .await?;
    if code != 0 {
        let text = format!("{out}\n{err}");
        let tail: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(5)
            .collect();
        anyhow::bail!("{name} failed (exit {code}): {}", tail.join(" | "));
    }
    Ok(())
}

/// The SQL that creates the users (contains secrets: only ever written to a child's stdin).
pub struct UsersSql(String);

impl std::fmt::Debug for UsersSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsersSql(<redacted>)")
    }
}

/// Quote a string as an SQL literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Statements that hold secrets (only ever sent over the SQL protocol, never logged).
pub struct SecretSql(Vec<String>);

impl std::fmt::Debug for SecretSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSql({} statements, <redacted>)", self.0.len())
    }
}

impl SecretSql {
    pub fn statements(&self) -> &[String] {
        &self.0
    }
}

/// Re-apply the monitor user from its Secret (pure): the two hosts [`Users::sql`] creates it
/// for, created if missing (a renamed user) and given the Secret's password. USAGE only, as
/// at initialisation.
pub fn monitor_user_statements(user: &str, password: &str) -> SecretSql {
    let (u, pw) = (lit(user), lit(password));
    SecretSql(
        ["'%'", "'localhost'"]
            .iter()
            .flat_map(|host| {
                [
                    format!("CREATE USER IF NOT EXISTS {u}@{host} IDENTIFIED BY {pw}"),
                    format!("ALTER USER {u}@{host} IDENTIFIED BY {pw}"),
                ]
            })
            .collect(),
    )
}

/// The passwords and names of the users to create.
#[derive(Debug, Clone, Default)]
pub struct Users {
    pub root_password: Option<String>,
    pub monitor: Option<(String, String)>,
    pub sst: Option<(String, String)>,
}

impl Users {
    /// From `GALERA_*` env (or `*_FILE`).
    pub fn from_env() -> Result<Users, crate::cli::ConfigError> {
        use crate::secrets::read;
        let pair = |u: &'static str,
                    p: &'static str|
         -> Result<Option<(String, String)>, crate::cli::ConfigError> {
            match (read(u)?, read(p)?) {
                (Some(u), Some(p)) => Ok(Some((u, p))),
                (None, None) => Ok(None),
                (Some(_), None) => Err(crate::cli::ConfigError::new(
                    p,
                    "is required when the user is set",
                )),
                (None, Some(_)) => Err(crate::cli::ConfigError::new(
                    u,
                    "is required when the password is set",
                )),
            }
        };
        Ok(Users {
            root_password: read("GALERA_ROOT_PASSWORD")?,
            monitor: pair("GALERA_MONITOR_USER", "GALERA_MONITOR_PASSWORD")?,
            sst: pair("GALERA_SST_USER", "GALERA_SST_PASSWORD")?,
        })
    }

    /// The SQL for `mariadbd --bootstrap` (pure).
    pub fn sql(&self) -> UsersSql {
        let mut s = String::from("FLUSH PRIVILEGES;\n");
        s.push_str("DROP USER IF EXISTS ''@'localhost';\n");
        if let Some(pw) = &self.root_password {
            s.push_str(&format!(
                "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY {pw};\n\
                 GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
                 ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD({pw});\n",
                pw = lit(pw)
            ));
        }
        if let Some((u, pw)) = &self.monitor {
            // SHOW GLOBAL STATUS needs no privilege: USAGE only.
            s.push_str(&format!(
                "CREATE USER IF NOT EXISTS {u}@'%' IDENTIFIED BY {pw};\n\
                 CREATE USER IF NOT EXISTS {u}@'localhost' IDENTIFIED BY {pw};\n\
                 GRANT USAGE ON *.* TO {u}@'%';\nGRANT USAGE ON *.* TO {u}@'localhost';\n",
                u = lit(u),
                pw = lit(pw)
            ));
        }
        if let Some((u, pw)) = &self.sst {
            s.push_str(&format!(
                "CREATE USER IF NOT EXISTS {u}@'localhost' IDENTIFIED BY {pw};\n\
                 GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO {u}@'localhost';\n",
                u = lit(u),
                pw = lit(pw)
            ));
        }
        s.push_str(
            "CREATE USER IF NOT EXISTS 'mysql'@'localhost' IDENTIFIED VIA unix_socket;\n\
             GRANT ALL PRIVILEGES ON *.* TO 'mysql'@'localhost' WITH GRANT OPTION;\n",
        );
        UsersSql(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let d = tempfile::tempdir().expect("tempdir");
        let dd = d.path().join("data");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "missing");
        std::fs::create_dir(&dd).expect("mkdir");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "empty");
        std::fs::create_dir(dd.join("lost+found")).expect("mkdir");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "lost+found only");
        std::fs::write(dd.join(INIT_STARTED), "").expect("w");
        std::fs::write(dd.join("ibdata1"), "x").expect("w");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "interrupted init");
        std::fs::write(dd.join(INIT_OK), "").expect("w");
        assert_eq!(classify(&dd), Ok(DatadirKind::HasData { init_ok: true }));
        std::fs::remove_file(dd.join(INIT_STARTED)).expect("rm");
        std::fs::remove_file(dd.join(INIT_OK)).expect("rm");
        assert_eq!(
            classify(&dd),
            Ok(DatadirKind::HasData { init_ok: false }),
            "data without init.ok"
        );
        std::fs::write(dd.join(SST_IN_PROGRESS), "").expect("w");
        assert_eq!(classify(&dd), Ok(DatadirKind::InterruptedSst));
    }

    #[test]
    fn wipe_keeps_lost_and_found() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("lost+found")).expect("mkdir");
        std::fs::create_dir(d.path().join("mysql")).expect("mkdir");
        std::fs::write(d.path().join("mysql/user.frm"), "x").expect("w");
        std::fs::write(d.path().join("ibdata1"), "x").expect("w");
        wipe(d.path()).expect("wipe");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("lost+found")]);
    }

    #[test]
    fn users_sql_quotes_and_grants() {
        let u = Users {
            root_password: Some("r'oo\\t".into()),
            monitor: Some(("mon".into(), "p".into())),
            sst: Some(("sst".into(), "s".into())),
        };
        let UsersSql(sql) = u.sql();
        assert!(sql.starts_with("FLUSH PRIVILEGES;"));
        assert!(sql.contains("IDENTIFIED BY 'r''oo\\\\t'"), "{sql}");
        assert!(sql.contains("GRANT USAGE ON *.* TO 'mon'@'%'"));
        assert!(!sql.contains("GRANT ALL PRIVILEGES ON *.* TO 'mon'"));
        assert!(sql.contains("BINLOG MONITOR ON *.* TO 'sst'@'localhost'"));
        assert!(format!("{:?}", u.sql()).contains("redacted"));
    }

    #[test]
    fn monitor_user_statements_cover_both_hosts() {
        let sql = monitor_user_statements("mon", "n'ew");
        assert_eq!(
            sql.statements(),
            [
                "CREATE USER IF NOT EXISTS 'mon'@'%' IDENTIFIED BY 'n''ew'",
                "ALTER USER 'mon'@'%' IDENTIFIED BY 'n''ew'",
                "CREATE USER IF NOT EXISTS 'mon'@'localhost' IDENTIFIED BY 'n''ew'",
                "ALTER USER 'mon'@'localhost' IDENTIFIED BY 'n''ew'",
            ]
        );
        // The hosts are the ones the datadir's initialisation creates the user for.
        let UsersSql(init) = Users {
            monitor: Some(("mon".into(), "p".into())),
            ..Default::default()
        }
        .sql();
        for host in ["'mon'@'%'", "'mon'@'localhost'"] {
            assert!(
                init.contains(&format!("CREATE USER IF NOT EXISTS {host}")),
                "{init}"
            );
        }
        assert!(!format!("{sql:?}").contains("ew"));
    }
}
