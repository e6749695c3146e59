//! A real single-node MariaDB Galera (Debian's `mariadbd` + galera-4) on one loopback address:
//! `mariadb-install-db --wsrep-on=OFF`, then `mariadbd --wsrep-new-cluster` as the `mysql`
//! user, small-memory settings (docs/design.md §7). Killed on drop and with the test process.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::die_with_parent;

pub struct MariaDb {
    pub ip: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl MariaDb {
    /// Install a datadir and bootstrap a one-node cluster on `ip`; `extra` is appended to the
    /// `[mysqld]` section. Waits until the node is Synced.
    pub fn bootstrap(ip: &str, extra: &str) -> MariaDb {
        let mut m = Self::prepare(ip, extra);
        super::mycnf::install_db(&m.cnf(), &["--auth-root-authentication-method=socket"]);
        m.start(&["--wsrep-new-cluster"]);
        m.wait_synced(Duration::from_secs(60));
        m
    }

    /// Start a node with an empty datadir on `ip` joining `peer` (rsync SST). Does not wait.
    pub fn join(ip: &str, peer: &str, extra: &str) -> MariaDb {
        let mut m = Self::prepare(ip, extra);
        m.start(&[&format!("--wsrep-cluster-address=gcomm://{peer}:4567")]);
        m
    }

    fn prepare(ip: &str, extra: &str) -> MariaDb {
        let dir = tempfile::Builder::new()
            .prefix("checker-mariadb")
            .tempdir()
            .expect("tempdir");
        // mariadbd runs as mysql: it must reach its files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let m = MariaDb {
            ip: ip.to_string(),
            dir,
            child: None,
        };
        std::fs::create_dir_all(m.datadir()).expect("datadir");
        let cnf = format!(
            "{}wsrep_cluster_address=gcomm://\nwsrep_node_address={ip}\n{extra}\n",
            super::mycnf::server(m.dir.path(), ip, 3306, m.dir.path())
                .galera("checker-test", ";pc.recovery=false")
                .render(),
        );
        std::fs::write(m.cnf(), cnf).expect("write my.cnf");
        let chown = Command::new("chown")
            .args(["-R", "mysql:mysql"])
            .arg(m.dir.path())
            .status()
            .expect("chown");
        assert!(chown.success(), "chown the test dir to mysql");
        m
    }

    fn start(&mut self, args: &[&str]) {
        let mut cmd = Command::new("mariadbd");
        cmd.arg(format!("--defaults-file={}", self.cnf().display()))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start mariadbd"));
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
    pub fn cnf(&self) -> PathBuf {
        self.dir.path().join("my.cnf")
    }
    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("mysqld.pid")
    }
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// mariadbd's pid (the child we started).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("mariadbd running").id()
    }

    /// Run SQL as root over the socket (unix_socket authentication); output without headers.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "-N", "-B", "--connect-timeout=5", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("SQL `{sql}` failed: {e}\nerror log:\n{}", self.error_log()))
    }

    /// One wsrep status variable (`wsrep_` prefix included in `name`).
    pub fn status(&self, name: &str) -> String {
        let row = self.sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        row.split('\t').nth(1).unwrap_or("").to_string()
    }

    pub fn wait_synced(&mut self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("mariadbd exited ({st}); error log:\n{}", self.error_log());
            }
            if let Ok(row) = self.try_sql("SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'") {
                if row.ends_with("Synced") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "mariadbd on {} not Synced after {timeout:?}; error log:\n{}",
            self.ip,
            self.error_log()
        );
    }

    /// SIGKILL mariadbd, leaving its pid file and socket file behind.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill9();
    }
}
