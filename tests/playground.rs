//! The playground (`scripts/playground`) as a new user runs it: up → STEADY with 3 nodes →
//! SQL through haproxy → `kill 1` / `start 1` → `outage` / `recover` → data intact → `down`
//! leaves no process. Its own work directory and addresses (127.0.101.x), so a developer's
//! running playground (127.0.0.x, ./.playground) is not disturbed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{bin, stderr, stdout, wait_until};

const PREFIX: &str = "127.0.101";
const ROOT_PW: &str = "playground-root";

struct Playground {
    dir: tempfile::TempDir,
    down: bool,
}

impl Playground {
    fn new() -> Playground {
        let dir = tempfile::Builder::new()
            .prefix("playground-test")
            .tempdir()
            .expect("tempdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the work dir");
        Playground { dir, down: false }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    /// Run `scripts/playground ARGS` with this test's work dir, addresses and binary.
    fn run(&self, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/playground");
        let mut cmd = Command::new(script);
        for (k, _) in std::env::vars() {
            if k.starts_with("GALERA_") || k.starts_with("PLAYGROUND_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("PLAYGROUND_DIR", self.work())
            .env("PLAYGROUND_IP_PREFIX", PREFIX)
            .env("PLAYGROUND_BIN", bin())
            .output()
            .expect("run scripts/playground")
    }

    /// Run and require success.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "playground {args:?} failed ({}):\n{}\n{}\n{}",
            o.status,
            stdout(&o),
            stderr(&o),
            self.logs()
        );
        stdout(&o)
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for n in 1..=3 {
            let log = self.work().join(format!("node{n}/sidecar.log"));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            s.push_str(&format!(
                "==== node{n} ====\n{}\n",
                lines[lines.len().saturating_sub(30)..].join("\n")
            ));
        }
        s
    }

    /// `galera-sidecar status --json` against the playground's etcd, as its monitor user.
    fn status(&self) -> serde_json::Value {
        let o = Command::new(bin())
            .args([
                "--etcd-endpoints",
                &format!("http://{PREFIX}.1:23790"),
                "--cluster-name",
                "playground",
                "status",
                "--json",
            ])
            .env("GALERA_MONITOR_USER", "monitor")
            .env("GALERA_MONITOR_PASSWORD", "playground-monitor")
            .env_remove("GALERA_SQL_PORT")
            .output()
            .expect("status");
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn steady_with(&self, n: usize) -> bool {
        let d = self.status();
        d["state"] == "STEADY"
            && d["members"].as_array().is_some_and(|m| {
                m.iter()
                    .filter(|r| r["registered"] == true && r["live"]["local_state"] == "Synced")
                    .count()
                    == n
            })
    }

    /// SQL through haproxy as root.
    fn sql(&self, q: &str) -> Option<String> {
        let o = Command::new("mariadb")
            .args([
                &format!("-h{PREFIX}.1"),
                "-P3306",
                "-uroot",
                "-N",
                "-B",
                "--connect-timeout=3",
                "-e",
                q,
            ])
            .env("MYSQL_PWD", ROOT_PW)
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    /// Processes whose command line names the work dir (ours), except this test's commands.
    fn processes(&self) -> Vec<String> {
        let o = Command::new("ps")
            .args(["-eo", "pid=,args="])
            .output()
            .expect("ps");
        let work = self.work().display().to_string();
        stdout(&o)
            .lines()
            .filter(|l| l.contains(&work) && !l.contains("scripts/playground"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.run(&["down"]);
        }
    }
}

#[test]
fn playground_up_kill_start_outage_recover_down() {
    let mut pg = Playground::new();

    // A taken port is a clear error before anything starts.
    {
        let _squatter =
            std::net::TcpListener::bind(format!("{PREFIX}.1:23790")).expect("bind etcd's port");
        let o = pg.run(&["up"]);
        assert!(!o.status.success(), "up with etcd's port taken succeeded");
        assert!(
            stderr(&o).contains("already in use"),
            "no clear error: {}",
            stderr(&o)
        );
        assert!(pg.processes().is_empty(), "{:?}", pg.processes());
    }

    let out = pg.ok(&["up"]);
    assert!(out.contains("STEADY with 3 nodes registered"), "{out}");
    assert!(out.contains("up took"), "{out}");
    assert!(
        out.contains(&format!("mariadb -h{PREFIX}.1 -P3306 -uroot -p{ROOT_PW}")),
        "{out}"
    );
    assert!(pg.steady_with(3), "{}", pg.status());

    // SQL through haproxy reaches the leader; writes replicate.
    wait_until("SQL through haproxy", Duration::from_secs(30), || {
        pg.sql("SELECT 1").is_some()
    });
    pg.sql("CREATE DATABASE pg; CREATE TABLE pg.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO pg.t VALUES (1, 'first')")
        .expect("write through haproxy");
    let leader = pg.status()["leader_name"]
        .as_str()
        .expect("a leader")
        .to_string();
    assert_eq!(
        pg.sql("SELECT @@wsrep_node_name").as_deref(),
        Some(leader.as_str()),
        "haproxy routes to the etcd leader"
    );

    // Idempotent: a second up leaves everything alone.
    let again = pg.ok(&["up"]);
    assert!(again.contains("already running"), "{again}");
    assert!(pg.steady_with(3));

    // kill 1 / start 1: node1 rejoins.
    pg.ok(&["kill", "1"]);
    wait_until("node1 deregistered", Duration::from_secs(30), || {
        pg.status()["members"].as_array().is_some_and(|m| {
            m.iter()
                .any(|r| r["name"] == "node1" && r["registered"] == false)
        })
    });
    let st = pg.ok(&["status"]);
    assert!(st.contains("node1     down"), "{st}");
    assert!(st.contains("member node1 is not registered"), "{st}");
    let started = pg.ok(&["start", "1"]);
    assert!(started.contains("node1 registered"), "{started}");
    let noop = pg.ok(&["start", "1", "--no-wait"]);
    assert!(noop.contains("node1 already running"), "{noop}");
    wait_until(
        "STEADY with 3 after start 1",
        Duration::from_secs(60),
        || pg.steady_with(3),
    );
    pg.sql("INSERT INTO pg.t VALUES (2, 'after-rejoin')")
        .expect("write after the rejoin");

    // outage / recover: STEADY again, every committed row there.
    pg.ok(&["outage"]);
    assert!(
        !pg.processes().iter().any(|p| p.contains("mariadbd")),
        "mariadbd survived the outage: {:?}",
        pg.processes()
    );
    let rec = pg.ok(&["recover"]);
    assert!(rec.contains("STEADY with 3 nodes registered"), "{rec}");
    wait_until(
        "STEADY with 3 after recover",
        Duration::from_secs(60),
        || pg.steady_with(3),
    );
    wait_until(
        "SQL through haproxy after recover",
        Duration::from_secs(30),
        || pg.sql("SELECT 1").is_some(),
    );
    assert_eq!(
        pg.sql("SELECT GROUP_CONCAT(v ORDER BY id) FROM pg.t")
            .as_deref(),
        Some("first,after-rejoin"),
        "data intact after the outage"
    );

    // down: no process left.
    let down = pg.ok(&["down"]);
    pg.down = true;
    assert!(down.contains("no process left"), "{down}");
    assert!(pg.processes().is_empty(), "left: {:?}", pg.processes());
}
