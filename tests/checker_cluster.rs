//! The probes against a real 3-node cluster run by the entrypoint, under the kubelet emulator
//! with the manifests' timings (k8s/statefulset.yaml, docs/probes.md): a uuid changed in etcd
//! makes every node not ready but none dead; a node cut off by nftables is not ready
//! (non-Primary) but alive; joiners in a slow SST, and a second joiner behind them, stay
//! alive the whole time. Subnet 127.0.16.x.

mod common;

use std::time::Duration;

use common::galera::Cluster;
use common::kubelet::{Kubelet, ProbeSpec};

const READINESS: ProbeSpec = ProbeSpec {
    period: Duration::from_secs(5),
    timeout: Duration::from_secs(5),
    failure_threshold: 1,
};
const LIVENESS: ProbeSpec = ProbeSpec {
    period: Duration::from_secs(10),
    timeout: Duration::from_secs(5),
    failure_threshold: 3,
};
const T: Duration = Duration::from_secs(120);

fn probe_once(c: &Cluster, i: usize, probe: &str) -> (bool, String) {
    let out = c.nodes[i]
        .probe_cmd(&c.endpoint(), &c.name, probe)
        .output()
        .expect("probe");
    (
        out.status.success(),
        common::stdout(&out).trim().to_string(),
    )
}

/// The liveness probe of node `i` under the kubelet emulator, in the background.
fn liveness_kubelet(c: &Cluster, i: usize) -> common::kubelet::Background {
    let probe = c.nodes[i].probe_cmd(&c.endpoint(), &c.name, "liveness");
    let args: Vec<_> = probe.get_args().map(|a| a.to_os_string()).collect();
    Kubelet::start(LIVENESS, move || {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(&args)
            .env("GALERA_MONITOR_USER", common::galera::MONITOR_USER)
            .env("GALERA_MONITOR_PASSWORD", common::galera::MONITOR_PASSWORD);
        cmd
    })
}

#[test]
fn probes_tell_the_truth_in_a_cluster() {
    let mut c = Cluster::new(16, 3);
    c.start_all();
    c.check("steady", || c.wait_steady(3, T));
    c.write_rows(0, 1, 10);
    // Liveness of every node under the kubelet for the whole test: nobody may be restarted.
    let liveness: Vec<_> = (0..3).map(|i| liveness_kubelet(&c, i)).collect();
    for i in 0..3 {
        let (ok, line) = probe_once(&c, i, "readiness");
        assert!(ok, "g-{i} ready when Synced: {line}");
    }

    // 1. P/uuid changed in etcd: not ready on every node, alive on every node.
    let uuid = c.status()["uuid"].as_str().expect("uuid").to_string();
    let out = c.etcd.etcdctl(&[
        "put",
        &format!("/galera/{}/uuid", c.name),
        "11111111-2222-3333-4444-555555555555",
    ]);
    assert!(out.status.success());
    c.check("uuid mismatch → not ready everywhere", || {
        common::wait_until(
            "every node not ready for the uuid",
            Duration::from_secs(30),
            || {
                (0..3).all(|i| {
                    let (ok, line) = probe_once(&c, i, "readiness");
                    !ok && line.contains("uuid")
                })
            },
        )
    });
    for i in 0..3 {
        let (ok, line) = probe_once(&c, i, "liveness");
        assert!(ok, "g-{i} alive despite the uuid mismatch: {line}");
    }
    assert!(c
        .etcd
        .etcdctl(&["put", &format!("/galera/{}/uuid", c.name), &uuid])
        .status
        .success());
    c.check("ready again", || {
        common::wait_until("every node ready", Duration::from_secs(30), || {
            (0..3).all(|i| probe_once(&c, i, "readiness").0)
        })
    });

    // 2. g-2 cut off: not ready (non-Primary), alive.
    let others: Vec<String> = c.nodes[..2].iter().map(|n| n.ip.clone()).collect();
    let mut cut = common::nft::Partition::isolate("galera_checker16", &c.nodes[2].ip, &others);
    c.check("partitioned node not ready", || {
        common::wait_until(
            "g-2 not ready (non-Primary)",
            Duration::from_secs(40),
            || {
                let (ok, line) = probe_once(&c, 2, "readiness");
                !ok && (line.contains("Primary")
                    || line.contains("wsrep_ready")
                    || line.contains("Synced"))
            },
        )
    });
    let (ok, line) = probe_once(&c, 2, "liveness");
    assert!(ok, "partitioned node alive: {line}");
    cut.heal();
    c.check("healed", || c.wait_all_synced(3, T));

    // 3. Two joiners: g-3 in a slow SST (rsync limited to 2 MB/s), g-4 behind it. Both alive.
    let bin_dir = c.root.path().join("slow-rsync");
    std::fs::create_dir_all(&bin_dir).expect("dir");
    let wrapper = bin_dir.join("rsync");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexec /usr/bin/rsync --bwlimit=2000 \"$@\"\n",
    )
    .expect("wrapper");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&wrapper).expect("meta").permissions(),
        0o755,
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for i in [3, 4] {
        c.add_node(i, 3);
        c.nodes[i].env = vec![("PATH".into(), path.clone())];
    }
    c.start(3);
    c.start(4);
    let joiners: Vec<_> = [3, 4].iter().map(|&i| liveness_kubelet(&c, i)).collect();
    // The slow transfer is really in progress for a while.
    c.check("a slow SST is in progress", || {
        common::wait_until(
            "sst_in_progress on a joiner",
            Duration::from_secs(60),
            || {
                [3, 4]
                    .iter()
                    .any(|&i| c.nodes[i].datadir().join("sst_in_progress").exists())
            },
        )
    });
    c.check("both joiners synced", || {
        c.wait_steady(5, Duration::from_secs(300))
    });
    let joiners: Vec<Kubelet> = joiners.into_iter().map(|k| k.stop()).collect();
    for (k, i) in joiners.iter().zip([3, 4]) {
        assert!(
            k.restarts.is_empty(),
            "joiner g-{i} would have been restarted:\n{}",
            k.transcript()
        );
        assert!(!k.results.is_empty());
    }
    let liveness: Vec<Kubelet> = liveness.into_iter().map(|k| k.stop()).collect();
    for (i, k) in liveness.iter().enumerate() {
        assert!(
            k.restarts.is_empty(),
            "g-{i} would have been restarted:\n{}",
            k.transcript()
        );
        assert!(k.results.len() >= 3, "g-{i} was probed: {}", k.transcript());
    }
    // Readiness under the kubelet now: every node ready.
    for i in 0..5 {
        let mut k = Kubelet::new(READINESS);
        k.run(1, || {
            c.nodes[i].probe_cmd(&c.endpoint(), &c.name, "readiness")
        });
        assert!(k.results[0].ok, "g-{i}: {}", k.transcript());
    }
}
