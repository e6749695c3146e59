//! A real two-node Galera (127.0.41.2 donor, 127.0.41.3 joiner by rsync SST): while the
//! donor serves the SST it is not ready naming Donor/Desynced and stays alive; the joiner,
//! without SQL during the transfer, stays alive the whole time (kubelet emulator).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::bin;
use common::kubelet::{Kubelet, ProbeSpec};
use common::mariadb::MariaDb;
use galera_sidecar::etcd::unix_now;
use galera_sidecar::state_file::{EtcdView, Phase, StateFile};

const DONOR: &str = "127.0.41.2";
const JOINER: &str = "127.0.41.3";

fn write_state(dir: &std::path::Path, phase: Phase, pid: u32, uuid: &str) {
    let now = unix_now();
    StateFile {
        node_name: "n".into(),
        phase,
        mysqld_pid: Some(pid),
        mysqld_started_at: Some(now),
        etcd: EtcdView {
            state: Some("STEADY".into()),
            uuid: Some(uuid.into()),
            read_at: now + 3600, // fresh for the whole test: no etcd read
            paused_until: None,
        },
        updated_at: now,
        ..Default::default()
    }
    .write(dir)
    .expect("write the state file");
}

fn probe(db_cnf: &std::path::Path, state: &std::path::Path, which: &str) -> Command {
    let mut c = Command::new(bin());
    c.args(["--etcd-endpoints", "http://127.0.0.1:9", "checker", which])
        .arg("--state-dir")
        .arg(state)
        .arg("--defaults-file")
        .arg(db_cnf)
        .args(["--timeout", "2s"])
        .env_remove("GALERA_ETCD_ENDPOINTS")
        .env("GALERA_MONITOR_USER", "monitor")
        .env("GALERA_MONITOR_PASSWORD", "mon-pw");
    c
}

#[test]
fn donor_not_ready_alive_and_joiner_alive_through_sst() {
    let donor = MariaDb::bootstrap(DONOR, "");
    donor.sql(
        "CREATE USER 'monitor'@'%' IDENTIFIED BY 'mon-pw'; \
         CREATE DATABASE d; CREATE TABLE d.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT); \
         INSERT INTO d.t (v) VALUES (REPEAT('x', 4000));",
    );
    // Some data, so the transfer takes a moment.
    for _ in 0..12 {
        donor.sql("INSERT INTO d.t (v) SELECT v FROM d.t");
    }
    let uuid = donor.status("wsrep_cluster_state_uuid");
    let donor_state = tempfile::tempdir().expect("tempdir");
    let joiner_state = tempfile::tempdir().expect("tempdir");
    write_state(donor_state.path(), Phase::Running, donor.pid(), &uuid);
    let (r, line) = {
        let o = probe(&donor.cnf(), donor_state.path(), "readiness")
            .output()
            .expect("probe");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    assert!(r, "donor ready before the join: {line}");

    let spec = ProbeSpec {
        period: Duration::from_millis(200),
        timeout: Duration::from_secs(3),
        failure_threshold: 1,
    };
    let (dcnf, dstate) = (donor.cnf(), donor_state.path().to_path_buf());
    let donor_live = Kubelet::start(spec, move || probe(&dcnf, &dstate, "liveness"));

    let mut joiner = MariaDb::join(JOINER, DONOR, "");
    // The entrypoint says `joining` until Synced.
    write_state(joiner_state.path(), Phase::Joining, joiner.pid(), &uuid);
    let (jcnf, jstate) = (joiner.cnf(), joiner_state.path().to_path_buf());
    let joiner_live = Kubelet::start(spec, move || probe(&jcnf, &jstate, "liveness"));

    // Poll the donor's readiness through the transfer.
    let mut donor_lines = vec![];
    let start = Instant::now();
    let mut saw_donor = false;
    while start.elapsed() < Duration::from_secs(120) {
        let o = probe(&donor.cnf(), donor_state.path(), "readiness")
            .output()
            .expect("probe");
        let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if line.contains("Donor/Desynced") {
            assert!(!o.status.success(), "a donor is not ready: {line}");
            assert_eq!(
                line,
                "not ready: wsrep_local_state_comment=Donor/Desynced (want Synced)"
            );
            saw_donor = true;
        }
        donor_lines.push(line);
        if joiner
            .try_sql("SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'")
            .is_ok_and(|r| r.ends_with("Synced"))
        {
            break;
        }
    }
    joiner.wait_synced(Duration::from_secs(60));
    eprintln!(
        "donor readiness through the join ({} probes, {} as donor):\n{}",
        donor_lines.len(),
        donor_lines.iter().filter(|l| l.contains("Donor")).count(),
        donor_lines.join("\n")
    );
    let donor_k = donor_live.stop();
    let joiner_k = joiner_live.stop();
    assert!(
        saw_donor,
        "never saw the donor state; donor readiness:\n{}",
        donor_lines.join("\n")
    );
    assert!(
        donor_k.restarts.is_empty() && donor_k.results.iter().all(|r| r.ok),
        "donor liveness:\n{}",
        donor_k.transcript()
    );
    assert!(
        joiner_k.restarts.is_empty() && joiner_k.results.iter().all(|r| r.ok),
        "joiner liveness:\n{}",
        joiner_k.transcript()
    );
    assert!(!joiner_k.results.is_empty());

    // Synced and running: both ready, cluster size 2.
    write_state(joiner_state.path(), Phase::Running, joiner.pid(), &uuid);
    for (db, st) in [(&donor, &donor_state), (&joiner, &joiner_state)] {
        let o = probe(&db.cnf(), st.path(), "readiness")
            .output()
            .expect("probe");
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success() && line.contains("cluster size 2"),
            "{}: {line}",
            db.ip
        );
    }
}
