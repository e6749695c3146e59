//! Monitor password rotation, end to end: a real etcd and a real Galera node run by
//! `galera-sidecar galera` with `GALERA_MONITOR_PASSWORD_FILE` (a mounted Secret), the reserved
//! port configured, and its `checker serve` reading the same file. The test rewrites the file
//! (atomically, as the kubelet updates a Secret volume) and checks that the node is ready with
//! the new password within a bounded time, the old one no longer works for either host the user
//! exists for, the leader never moved, no secret reached a log line, and one line said what was
//! decided. Then a password changed behind the Secret's back (as another node applying a newer
//! Secret would) is not undone at once.
//!
//! Subnet 127.0.232.x is this file's.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::galera::{Cluster, MONITOR_USER, ROOT_PASSWORD};
use common::{bin, die_with_parent, wait_until};
use galera_sidecar::mysql::{self, Credentials, Endpoint, MysqlError};

const OLD_PW: &str = "mon-old-7f3a";
const NEW_PW: &str = "mon-new-91c2";
const HAND_PW: &str = "mon-hand-55d0";
const CHECK_PORT: u16 = 18080;
const EXTRA_PORT: u16 = 3307;
/// How long a rotation may take to be ready again (the running loop checks every second).
const BOUND: Duration = Duration::from_secs(15);

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Replace the file's content atomically (write beside it, rename), as a Secret volume update.
fn rotate(file: &Path, pw: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{pw}\n")).expect("write the new secret");
    std::fs::rename(&tmp, file).expect("swap the secret");
}

fn creds(pw: &str) -> Credentials {
    Credentials {
        user: Some(MONITOR_USER.into()),
        password: Some(pw.into()),
    }
}

fn http_readiness(ip: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect((ip, CHECK_PORT)) else {
        return (0, "no connection".into());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET /readiness HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n"
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn a_rotated_monitor_secret_is_applied_by_the_running_node() {
    let mut c = Cluster::new(232, 0);
    c.add_node(0, 1);
    let secrets = c.root.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    let pw_file = secrets.join("monitor-password");
    std::fs::write(&pw_file, format!("{OLD_PW}\n")).expect("write the secret");
    c.nodes[0].mycnf_extra = format!("extra_port={EXTRA_PORT}\nextra_max_connections=10\n");
    c.nodes[0].env = vec![(
        "GALERA_MONITOR_PASSWORD_FILE".into(),
        pw_file.display().to_string(),
    )];
    c.start(0);
    c.check("STEADY", || c.wait_steady(1, Duration::from_secs(90)));
    let node = &c.nodes[0];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reserved = Endpoint::Tcp {
        host: node.ip.clone(),
        port: EXTRA_PORT,
    };
    let socket = Endpoint::Socket(node.socket());
    let login = |ep: &Endpoint, pw: &str| {
        rt.block_on(mysql::wsrep_status(ep, &creds(pw), Duration::from_secs(2)))
    };
    // The exec probe as the manifest runs it: the Secret as a file.
    let probe = |which: &str| {
        let out = Command::new(bin())
            .args(["--etcd-endpoints", &c.endpoint(), "--cluster-name", &c.name])
            .args(["checker", which, "--state-dir"])
            .arg(node.state_dir())
            .arg("--defaults-file")
            .arg(node.defaults_file())
            .env("GALERA_MONITOR_USER", MONITOR_USER)
            .env("GALERA_MONITOR_PASSWORD_FILE", &pw_file)
            .env_remove("GALERA_MONITOR_PASSWORD")
            .env_remove("GALERA_ETCD_ENDPOINTS")
            .output()
            .expect("run the probe");
        (
            out.status.code() == Some(0),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    let mut cmd = Command::new(bin());
    cmd.args(["--etcd-endpoints", &c.endpoint(), "--cluster-name", &c.name])
        .args(["checker", "serve", "--listen"])
        .arg(format!("{}:{CHECK_PORT}", node.ip))
        .arg("--state-dir")
        .arg(node.state_dir())
        .arg("--defaults-file")
        .arg(node.defaults_file())
        .env("GALERA_MONITOR_USER", MONITOR_USER)
        .env("GALERA_MONITOR_PASSWORD_FILE", &pw_file)
        .env_remove("GALERA_MONITOR_PASSWORD")
        .env_remove("GALERA_ETCD_ENDPOINTS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    die_with_parent(&mut cmd);
    let _serve = Serve(cmd.spawn().expect("start checker serve"));
    wait_until("checker serve", Duration::from_secs(10), || {
        http_readiness(&node.ip).0 == 200
    });
    let (ready, line) = probe("readiness");
    assert!(ready, "{line}");
    assert!(login(&reserved, OLD_PW).is_ok());
    let leader = || {
        rt.block_on(async {
            let etcd = c.etcd.client(&c.name).await;
            etcd.get(&etcd.keys.leader())
                .await
                .expect("read P/leader")
                .map(|kv| kv.create_revision)
        })
    };
    let leader_before = leader().expect("a leader");
    let log_from = node.log().len();

    // Rotate the Secret.
    rotate(&pw_file, NEW_PW);
    let t0 = Instant::now();
    let mut http = vec![];
    let mut ready_after = None;
    while t0.elapsed() < BOUND {
        http.push(http_readiness(&node.ip));
        if ready_after.is_none() && probe("readiness").0 && login(&reserved, NEW_PW).is_ok() {
            ready_after = Some(t0.elapsed());
        }
        if ready_after.is_some_and(|d| t0.elapsed() > d + Duration::from_secs(3)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = node.log()[log_from..].to_string();
    println!(
        "rotation: ready with the new password {ready_after:.1?} after the Secret changed; \
         checker serve {}/{} answers 200 meanwhile",
        http.iter().filter(|(s, _)| *s == 200).count(),
        http.len()
    );
    c.check("the rotation is applied", || {
        assert!(
            ready_after.is_some(),
            "not ready with the new password within {BOUND:?}: {:?}\n{log}",
            probe("readiness")
        );
        // The old password no longer works, for '%' (TCP) and 'localhost' (socket).
        for ep in [&reserved, &socket] {
            let r = login(ep, OLD_PW);
            assert!(
                matches!(r, Err(MysqlError::AccessDenied(_))),
                "old password over {ep}: {r:?}"
            );
            assert!(login(ep, NEW_PW).is_ok(), "new password over {ep}");
        }
        let (ready, line) = probe("readiness");
        assert!(ready && line.starts_with("ready: Synced"), "{line}");
        assert!(probe("liveness").0);
        // checker serve re-read the file and never lost the node meanwhile.
        assert!(
            http.iter().all(|(s, _)| *s == 200),
            "checker serve during the rotation: {http:?}"
        );
        assert_eq!(leader(), Some(leader_before), "P/leader never moved");
        // One line for the decision, naming what was done, and no secret anywhere.
        let decisions: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("monitor user:"))
            .collect();
        assert_eq!(decisions.len(), 1, "{decisions:?}");
        assert!(
            decisions[0].contains("re-applied it as root")
                && decisions[0].contains("not yet seen to work"),
            "{}",
            decisions[0]
        );
        assert!(!log.contains("local wsrep status unavailable"), "{log}");
    });

    // The password changed behind the Secret's back (another node applied a newer Secret not
    // yet mounted here, or a DBA): the node does not undo it at once, and says why, once.
    let log_from = node.log().len();
    node.sql_result(&format!(
        "ALTER USER '{MONITOR_USER}'@'%' IDENTIFIED BY '{HAND_PW}'; \
         ALTER USER '{MONITOR_USER}'@'localhost' IDENTIFIED BY '{HAND_PW}'"
    ))
    .expect("change the password by hand");
    std::thread::sleep(Duration::from_secs(5));
    let log = node.log()[log_from..].to_string();
    c.check("a newer password is not undone", || {
        assert!(login(&reserved, HAND_PW).is_ok(), "not reverted");
        assert!(matches!(
            login(&reserved, NEW_PW),
            Err(MysqlError::AccessDenied(_))
        ));
        let (ready, line) = probe("readiness");
        assert!(!ready && line.contains("access denied"), "{line}");
        let waits: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("monitor user:"))
            .collect();
        assert_eq!(waits.len(), 1, "{waits:?}");
        assert!(waits[0].contains("not yet mounted here"), "{}", waits[0]);
    });
    // The Secret catches up: ready again, nothing re-applied, and it says so.
    rotate(&pw_file, HAND_PW);
    let t1 = Instant::now();
    c.check("the Secret catches up", || {
        wait_until("ready again", BOUND, || probe("readiness").0);
        wait_until("registered again", BOUND, || c.registered() == 1);
    });
    println!(
        "a Secret catching up: ready again {:.1?} after",
        t1.elapsed()
    );
    let log = node.log()[log_from..].to_string();
    assert!(
        log.contains("monitor user: the Secret's password authenticates again"),
        "{log}"
    );
    assert!(!log.contains("re-applied"), "{log}");

    // The decisions, for the test's output (--nocapture).
    println!(
        "{}",
        node.log()
            .lines()
            .filter(|l| l.contains("monitor user")
                || l.contains("reserved port")
                || l.contains("leadership")
                || l.contains("became leader"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // No secret in any log line.
    for (what, text) in [("sidecar", node.log()), ("mariadbd", node.mysqld_log())] {
        for secret in [OLD_PW, NEW_PW, HAND_PW, ROOT_PASSWORD] {
            assert!(!text.contains(secret), "the {what} log holds a password");
        }
    }
}
