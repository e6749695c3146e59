//! A real, plain MariaDB server (wsrep OFF) on one loopback address, standing for a Galera
//! node where only its SQL endpoint matters (haproxy tests). Users: `test`/`test` with all
//! privileges and a password-less `haproxy` (for `mysql-check`), both `@'%'`. `@@server_id`
//! tells the nodes apart. Runs as the `mysql` user (set before exec, so PR_SET_PDEATHSIG
//! survives and the server dies with the test process); stopped on drop.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

pub struct PlainMariadb {
    pub ip: String,
    pub port: u16,
    pub server_id: u32,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn chown_mysql(p: &Path) {
    let u = nix::unistd::User::from_name("mysql")
        .expect("look up user mysql")
        .expect("user mysql exists");
    nix::unistd::chown(p, Some(u.uid), Some(u.gid)).expect("chown to mysql");
}

impl PlainMariadb {
    /// Initialise a datadir and start mariadbd on `ip:port`; waits until it accepts SQL.
    pub fn start(ip: &str, port: u16, server_id: u32) -> PlainMariadb {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod tempdir");
        chown_mysql(dir.path());
        let d = dir.path();
        let init = "CREATE USER IF NOT EXISTS 'test'@'%' IDENTIFIED BY 'test';\n\
                    GRANT ALL ON *.* TO 'test'@'%';\n\
                    CREATE USER IF NOT EXISTS 'haproxy'@'%';\n";
        std::fs::write(d.join("init.sql"), init).expect("init.sql");
        chown_mysql(&d.join("init.sql"));
        let cnf = format!(
            "{}server-id={server_id}\nwsrep_on=OFF\ninit-file={}/init.sql\n",
            super::mycnf::server(d, ip, port, d).render(),
            d.display()
        );
        std::fs::write(d.join("my.cnf"), cnf).expect("my.cnf");
        super::mycnf::install_db(&d.join("my.cnf"), &[]);
        let mut m = PlainMariadb {
            ip: ip.to_string(),
            port,
            server_id,
            dir,
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let u = nix::unistd::User::from_name("mysql")
            .expect("look up user mysql")
            .expect("user mysql exists");
        let (uid, gid) = (u.uid, u.gid);
        let mut cmd = Command::new("mariadbd");
        cmd.arg(format!("--defaults-file={}", self.cnf().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&[gid]).map_err(std::io::Error::from)?;
                nix::unistd::setgid(gid).map_err(std::io::Error::from)?;
                nix::unistd::setuid(uid).map_err(std::io::Error::from)?;
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        self.child = Some(cmd.spawn().expect("start mariadbd"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if std::net::TcpStream::connect((self.ip.as_str(), self.port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("mariadbd exited ({st}); error log:\n{}", self.error_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "mariadbd did not listen on {}:{}; error log:\n{}",
            self.ip,
            self.port,
            self.error_log()
        );
    }

    pub fn cnf(&self) -> PathBuf {
        self.dir.path().join("my.cnf")
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Stop cleanly (SIGTERM, bounded), then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PlainMariadb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connection options for the `test` user at `ip:port` over TCP.
pub fn opts(ip: &str, port: u16) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(ip.to_string())
        .tcp_port(port)
        .user(Some("test"))
        .pass(Some("test"))
        .prefer_socket(false)
        .into()
}

/// Open a new connection and ask `@@server_id` (bounded by 5 s).
pub async fn server_id_once(ip: &str, port: u16) -> Result<u32, String> {
    let fut = async {
        let mut c = mysql_async::Conn::new(opts(ip, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let id: Option<u32> = c
            .query_first("SELECT @@server_id")
            .await
            .map_err(|e| format!("query: {e}"))?;
        let _ = c.disconnect().await;
        id.ok_or_else(|| "no row".to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| "timed out".to_string())?
}
