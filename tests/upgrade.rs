//! Rolling version upgrades on a real 3-node cluster. Only one MariaDB series is installable
//! here, so the upgrade is of a datadir whose recorded version (`mysql_upgrade_info`) is
//! older than mariadbd's: a node stopped cleanly, its datadir made to record 10.6.16, and
//! started again runs `mariadb-upgrade` once after it is Synced — as the mysql user, the
//! password on no command line — and the datadir then records mariadbd's version. Every
//! entrypoint publishes its version in the census, and `status` shows it.
//!
//! Loopback subnet 127.0.242.x is this file's.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::galera::{Cluster, MONITOR_PASSWORD, ROOT_PASSWORD};
use common::procscan::{holds, ProcScanner};
use common::wait_until;
use galera_sidecar::galera::mariadb_upgrade::recorded;
use galera_sidecar::galera::upgrade::{version_word, Version};

const SUBNET: u8 = 242;
const STEADY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const SECRETS: [&str; 2] = [ROOT_PASSWORD, MONITOR_PASSWORD];

/// The installed mariadbd's version word (e.g. `10.11.19-MariaDB-0+deb12u1`).
fn binary_version() -> String {
    let out = std::process::Command::new("mariadbd")
        .arg("--version")
        .output()
        .expect("run mariadbd --version");
    version_word(&String::from_utf8_lossy(&out.stdout)).expect("a version in mariadbd --version")
}

#[test]
fn a_datadir_of_an_older_series_is_upgraded_once_after_synced() {
    let binary = binary_version();
    let v = Version::parse(&binary).expect("version");
    let mut c = Cluster::new(SUBNET, 3);
    c.start_all();
    c.check("first build", || c.wait_steady(3, STEADY_TIMEOUT));
    c.write_rows(0, 1, 10);

    // Every entrypoint publishes its mariadbd's version in the census; `status` shows it.
    c.check("versions in the census", || {
        wait_until(
            "every census entry with the binary's version",
            Duration::from_secs(30),
            || {
                c.snapshot().is_some_and(|s| {
                    s.census.len() == 3
                        && s.census
                            .values()
                            .all(|e| e.version.as_deref() == Some(&binary))
                })
            },
        )
    });

    // The documented procedure: one node at a time, `can-restart` first.
    let i = 2;
    c.check("can-restart", || {
        wait_until("can-restart g-2 says yes", Duration::from_secs(60), || {
            c.cli(&["can-restart", "g-2"]).status.code() == Some(0)
        })
    });
    // Every process's argv, and the environment of mariadb-upgrade and its helpers.
    let scanner = ProcScanner::start(
        &SECRETS,
        &["mariadb-upgrade", "mariadb-check", "mariadb"],
        |_| true,
    );
    assert_eq!(c.nodes[i].sigterm(STOP_TIMEOUT), Some(0), "clean stop");
    let datadir = c.nodes[i].datadir();
    let info = datadir.join("mysql_upgrade_info");
    assert!(
        info.exists(),
        "a datadir initialised by mariadb-install-db records its version"
    );
    // The datadir now records an older series, as after an image upgrade from 10.6.
    std::fs::write(&info, "10.6.16-MariaDB").expect("rewrite mysql_upgrade_info");
    let offset = c.nodes[i].log().len();
    c.start(i);
    c.check("rejoined", || c.wait_steady(3, STEADY_TIMEOUT));

    let since = |c: &Cluster| c.nodes[i].log()[offset..].to_string();
    c.check("mariadb-upgrade ran", || {
        wait_until(
            "mariadb-upgrade's outcome",
            Duration::from_secs(180),
            || {
                let l = since(&c);
                l.contains("mariadb-upgrade done") || l.contains("mariadb-upgrade failed")
            },
        )
    });
    let log = since(&c);
    assert!(
        log.contains(&format!(
            "run mariadb-upgrade: the datadir records 10.6.16, mariadbd is {v} (run 1 of 3)"
        )),
        "the decision is said:\n{log}"
    );
    assert!(!log.contains("mariadb-upgrade failed"), "{log}");
    assert!(
        log.contains("mariadb-upgrade done") && log.contains("(run 1 of 3): the datadir records"),
        "{log}"
    );

    // The datadir records the binary's version, in a file of the mysql user's.
    let now = recorded(&datadir).expect("the datadir records a version");
    assert_eq!(Version::parse(&now), Some(v), "recorded: {now:?}");
    let mysql = nix::unistd::User::from_name("mysql")
        .ok()
        .flatten()
        .expect("the mysql user")
        .uid
        .as_raw();
    let file = ["mariadb_upgrade_info", "mysql_upgrade_info"]
        .iter()
        .map(|f| datadir.join(f))
        .find(|p| p.exists())
        .expect("the upgrade info file");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&file).expect("stat").uid(),
        mysql,
        "{} is the mysql user's",
        file.display()
    );

    // Once: nothing more is run while the node keeps running.
    std::thread::sleep(Duration::from_secs(10));
    let log = since(&c);
    assert_eq!(
        log.matches("mariadb-upgrade done").count(),
        1,
        "mariadb-upgrade ran once:\n{log}"
    );
    assert_eq!(log.matches("run mariadb-upgrade:").count(), 1, "{log}");

    // The census and `status` show the version, and no mix of versions.
    let st = c.status();
    let rows = st["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 3, "{st}");
    for r in &rows {
        assert_eq!(r["version"], binary.as_str(), "{r}");
    }
    let flags = st["flags"].to_string();
    assert!(!flags.contains("mixed mariadbd versions"), "{flags}");
    let table = common::stdout(&c.cli(&["status"]));
    assert!(
        table.contains("VERSION") && table.contains(&v.to_string()),
        "{table}"
    );

    // No password on any command line or in the helpers' environment; mariadb-upgrade ran
    // as the mysql user; its option file is gone from the state dir.
    let seen = scanner.finish();
    let found = seen.exposed;
    let uids = seen
        .uids
        .get("mariadb-upgrade")
        .cloned()
        .unwrap_or_default();
    assert!(found.is_empty(), "secrets exposed:\n{}", found.join("\n"));
    assert_eq!(
        uids,
        BTreeSet::from([mysql]),
        "mariadb-upgrade ran as mysql (the sampler must have seen it)"
    );
    let state_dir = c.nodes[i].state_dir();
    for e in std::fs::read_dir(&state_dir).expect("state dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.contains("mariadb-upgrade"), "{name} left behind");
        let body = std::fs::read(e.path()).unwrap_or_default();
        for k in SECRETS {
            assert!(!holds(&body, k), "{name} holds a password");
        }
    }
    assert_eq!(c.count_rows(i), Some(10), "the rows are there");
}
