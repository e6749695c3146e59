//! `mariadb-upgrade` once the node is Synced (the decision is `upgrade::run_due`): the
//! datadir's recorded version, and the run — in the background, so the running loop goes on;
//! through the reaper; as mariadbd's user (so the files it writes in the datadir stay that
//! user's); bounded by `bounds::UPGRADE_RUN`; its outcome said in one line.
//!
//! The login never reaches a command line or an environment: it is written to an option
//! file in the state dir (mode 0600, owned by mariadbd's user), opened, and deleted at once;
//! the child reads it through the open descriptor (`--defaults-extra-file=/dev/fd/N`), the
//! only one it inherits. `mariadb-upgrade` hands it on to its own helpers in a temporary
//! option file of its own, and by default neither binlogs nor replicates what it changes
//! (its sessions set `SQL_LOG_BIN=0, WSREP_ON=OFF`): each node upgrades its own datadir.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::bounds::{UPGRADE_RETRY, UPGRADE_RUN};
use super::mysqld::Reaper;
use super::node::Node;
use super::upgrade::{upgrade_due, Facts, UpgradeDue, ATTEMPTS};
use crate::mysql::Endpoint;

/// The files in which `mariadb-upgrade` records the version it upgraded the datadir to:
/// `mariadb_upgrade_info` since MariaDB 11, `mysql_upgrade_info` before (and in datadirs
/// initialised by `mariadb-install-db` of those versions).
pub const RECORDED: [&str; 2] = ["mariadb_upgrade_info", "mysql_upgrade_info"];

/// The option file's name in the state dir (deleted as soon as it is opened).
const OPTION_FILE: &str = "mariadb-upgrade.cnf";

/// The version the datadir records ([`RECORDED`], the first that exists), trimmed; `None`
/// when it records none.
pub fn recorded(datadir: &Path) -> Option<String> {
    RECORDED.iter().find_map(|f| {
        let t = std::fs::read_to_string(datadir.join(f)).ok()?;
        Some(
            t.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string(),
        )
    })
}

/// A value of an option file, double-quoted with `\` escapes (MariaDB's option files undo
/// them), so that `#`, quotes, spaces and backslashes in a password survive (pure).
fn quoted(v: &str) -> String {
    let mut q = String::with_capacity(v.len() + 2);
    q.push('"');
    for c in v.chars() {
        match c {
            '\\' => q.push_str("\\\\"),
            '"' => q.push_str("\\\""),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The option file `mariadb-upgrade` logs in with (pure): `[client]` with the user, its
/// password when there is one, and where the local server listens (the socket behind a
/// reserved port). Read after the global option files, so its values win.
pub fn option_file(user: &str, password: Option<&str>, endpoint: &Endpoint) -> String {
    let mut s = format!("[client]\nuser={}\n", quoted(user));
    if let Some(p) = password {
        s.push_str(&format!("password={}\n", quoted(p)));
    }
    let mut at = endpoint;
    while let Endpoint::Reserved { normal, .. } = at {
        at = normal;
    }
    match at {
        Endpoint::Socket(p) => s.push_str(&format!(
            "protocol=socket\nsocket={}\n",
            quoted(&p.display().to_string())
        )),
        // The client takes an IPv6 host bare (`host=fd00::2`).
        Endpoint::Tcp { host, port } => s.push_str(&format!(
            "protocol=tcp\nhost={}\nport={port}\n",
            quoted(crate::net_addr::unbracket(host))
        )),
        Endpoint::Reserved { .. } => {}
    }
    s
}

/// The running loop's `mariadb-upgrade` runs since mariadbd started.
#[derive(Default)]
pub struct Runner {
    task: Option<JoinHandle<()>>,
    attempts: u32,
    last_end: Option<i64>,
}

impl Runner {
    /// The facts for this pass's decision: a finished run collected; the datadir's recorded
    /// version, read only while `synced` (nothing is decided before) and no run is going on.
    pub fn facts(&mut self, node: &Node, synced: bool) -> Facts {
        if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            self.task = None;
            self.last_end = Some(crate::etcd::unix_now());
        }
        let running = self.task.is_some();
        let read = synced && !running && self.attempts < ATTEMPTS;
        Facts {
            binary: node.version.clone(),
            recorded: read.then(|| recorded(&node.cfg.opts.datadir)).flatten(),
            attempts: self.attempts,
            running,
            last_end: self.last_end,
        }
    }

    /// Start a run in the background (the plan's sentence said why); its outcome is logged
    /// when it ends.
    pub fn start(&mut self, node: &Node) {
        if self.task.is_some() {
            return;
        }
        self.attempts += 1;
        let job = Job {
            program: node.cfg.opts.mariadb_upgrade.clone(),
            user: node.cfg.opts.mysql_user.clone(),
            datadir: node.cfg.opts.datadir.clone(),
            option_path: node.cfg.opts.state_dir.join(OPTION_FILE),
            endpoint: node.cfg.endpoint.clone(),
            password: node.cfg.users.root_password.clone(),
            binary: node.version.clone(),
            reaper: node.reaper.clone(),
            run: self.attempts,
        };
        self.task = Some(tokio::spawn(job.run()));
    }
}

/// One run, with what it needs from the node.
struct Job {
    program: PathBuf,
    user: String,
    datadir: PathBuf,
    option_path: PathBuf,
    endpoint: Endpoint,
    password: Option<String>,
    binary: Option<String>,
    reaper: Reaper,
    run: u32,
}

impl Job {
    /// Run `mariadb-upgrade` and say how it went, in one line.
    async fn run(self) {
        let started = Instant::now();
        let result = self.upgrade().await;
        let took = started.elapsed();
        let now = recorded(&self.datadir);
        let upgraded = now.is_some()
            && matches!(
                upgrade_due(self.binary.as_deref(), now.as_deref()),
                UpgradeDue::NotDue(_)
            );
        let next = if self.run < ATTEMPTS {
            format!("run again in {UPGRADE_RETRY:?}")
        } else {
            "not run again until mariadbd restarts: run it by hand (docs/operations.md §14)"
                .to_string()
        };
        let n = format!("run {} of {ATTEMPTS}", self.run);
        let records = now.as_deref().unwrap_or("no version");
        match result {
            Ok(()) if upgraded => {
                info!("mariadb-upgrade done in {took:.1?} ({n}): the datadir records {records}")
            }
            Ok(()) => warn!(
                "mariadb-upgrade exited 0 in {took:.1?} ({n}) but the datadir still records \
                 {records}; {next}; mariadbd keeps running"
            ),
            Err(e) => warn!(
                "mariadb-upgrade failed after {took:.1?} ({n}): {e:#}; {next}; mariadbd keeps \
                 running"
            ),
        }
    }

    /// The run itself: the option file, the command, its exit status.
    async fn upgrade(&self) -> anyhow::Result<()> {
        let owner = run_as(&self.user);
        let login = match &self.password {
            Some(_) => "root",
            // Without a root password: the user's unix_socket login, as initialisation
            // creates it (`datadir::Users::sql`).
            None => self.user.as_str(),
        };
        let text = option_file(login, self.password.as_deref(), &self.endpoint);
        let opened = (|| {
            crate::files::write_atomic(&self.option_path, text.as_bytes(), 0o600)?;
            if let Some((uid, gid, _)) = &owner {
                std::os::unix::fs::chown(&self.option_path, Some(*uid), Some(*gid))?;
            }
            std::fs::File::open(&self.option_path)
        })();
        // Deleted before the run: the open descriptor is the only way to it.
        let _ = std::fs::remove_file(&self.option_path);
        let file = opened.map_err(|e| {
            anyhow::anyhow!(
                "cannot write the option file {}: {e}",
                self.option_path.display()
            )
        })?;
        // `mariadb-install-db` run as root leaves the upgrade-info file root's: the run, as
        // mariadbd's user, must be able to rewrite it.
        if let Some((uid, gid, _)) = &owner {
            for name in RECORDED {
                let path = self.datadir.join(name);
                if path.exists() {
                    std::os::unix::fs::chown(&path, Some(*uid), Some(*gid)).map_err(|e| {
                        anyhow::anyhow!("cannot hand {} to {}: {e}", path.display(), self.user)
                    })?;
                }
            }
        }
        let fd = file.as_raw_fd();
        let mut c = Command::new(&self.program);
        crate::secrets::scrub_env(&mut c);
        c.arg(format!("--defaults-extra-file=/dev/fd/{fd}"));
        if let Some((uid, gid, home)) = owner {
            use std::os::unix::process::CommandExt;
            c.uid(uid)
                .gid(gid)
                .env("HOME", home)
                .env("USER", &self.user)
                .env("LOGNAME", &self.user);
        }
        // The option file's descriptor survives the exec (it is close-on-exec like every
        // other). SAFETY: fcntl is async-signal-safe; `fd` stays open until the run ends.
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(move || {
                use nix::fcntl::{fcntl, FcntlArg, FdFlag};
                fcntl(
                    BorrowedFd::borrow_raw(fd),
                    FcntlArg::F_SETFD(FdFlag::empty()),
                )
                .map(drop)
                .map_err(std::io::Error::from)
            });
        }
        let (code, out, err) = self
            .reaper
            .output("mariadb-upgrade", c, None, UPGRADE_RUN)
            .await?;
        drop(file);
        if code != 0 {
            let secrets: Vec<&str> = self.password.iter().map(String::as_str).collect();
            anyhow::bail!(
                "exit {code}: {}",
                crate::mysql::redact(&crate::galera::mysqld::output_tail(&out, &err, 3), &secrets)
            );
        }
        Ok(())
    }
}

/// The uid, gid and home directory of `user`, when this process may switch to it (root).
fn run_as(user: &str) -> Option<(u32, u32, PathBuf)> {
    let (uid, gid) = super::datadir::user_ids(user)?;
    let home = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.dir)
        .unwrap_or_else(|| PathBuf::from("/"));
    Some((uid, gid, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_file_table() {
        let sock = Endpoint::Socket("/run/mysqld/mysqld.sock".into());
        let reserved = Endpoint::Reserved {
            host: "10.0.0.5".into(),
            port: 33307,
            normal: Box::new(sock.clone()),
        };
        let tcp = Endpoint::Tcp {
            host: "db".into(),
            port: 3306,
        };
        let tcp6 = Endpoint::Tcp {
            host: "[fd00::2]".into(),
            port: 3306,
        };
        let cases: &[(&str, Option<&str>, &Endpoint, &str)] = &[
            (
                "root",
                Some("s3cret"),
                &sock,
                "[client]\nuser=\"root\"\npassword=\"s3cret\"\nprotocol=socket\n\
                 socket=\"/run/mysqld/mysqld.sock\"\n",
            ),
            (
                "root",
                Some("a\"b c#d\\e"),
                &reserved,
                "[client]\nuser=\"root\"\npassword=\"a\\\"b c#d\\\\e\"\nprotocol=socket\n\
                 socket=\"/run/mysqld/mysqld.sock\"\n",
            ),
            (
                "mysql",
                None,
                &tcp,
                "[client]\nuser=\"mysql\"\nprotocol=tcp\nhost=\"db\"\nport=3306\n",
            ),
            (
                "mysql",
                None,
                &tcp6,
                "[client]\nuser=\"mysql\"\nprotocol=tcp\nhost=\"fd00::2\"\nport=3306\n",
            ),
        ];
        for (user, pw, ep, want) in cases {
            assert_eq!(option_file(user, *pw, ep), *want, "{user} {pw:?} {ep}");
        }
    }

    #[test]
    fn recorded_reads_either_file() {
        let d = tempfile::tempdir().expect("tempdir");
        assert_eq!(recorded(d.path()), None);
        std::fs::write(d.path().join("mysql_upgrade_info"), "10.6.16-MariaDB").expect("w");
        assert_eq!(recorded(d.path()).as_deref(), Some("10.6.16-MariaDB"));
        std::fs::write(d.path().join("mariadb_upgrade_info"), "11.4.2-MariaDB\n\0").expect("w");
        assert_eq!(recorded(d.path()).as_deref(), Some("11.4.2-MariaDB"));
    }
}
