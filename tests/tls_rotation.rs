//! Certificates renewed and a CA replaced on a running, encrypted 3-node cluster
//! (docs/operations.md §16), with no restart: the files are swapped the way the kubelet
//! updates a Secret volume (a new directory, then one rename of the symlink the
//! `--galera-tls-dir` path goes through), and each node's entrypoint makes Galera reload them
//! (`socket.ssl_reload`), which `openssl s_client` shows: the Galera port presents the new
//! certificate's serial. A renewal that peers would refuse (signed by a foreign CA, or
//! expired) or whose key is not the certificate's is not reloaded: the node keeps the
//! certificate it has and says why. Before all that, the entrypoint refuses to start with an
//! expired certificate, one that `ca.crt` did not sign, or the key of another certificate
//! (exit code 2, the date, issuer or serial named). A CA replacement in three reloaded steps
//! (both CAs, certificates of the new one, the new one alone): a CA added to `ca.crt` is
//! trusted at once (TLS 1.2 handshakes presenting a peer certificate show what a node
//! accepts), and a node restarted on the new CA alone rejoins by IST and refuses the old one.
//!
//! Loopback subnet 127.0.246.x is this file's.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::galera::Cluster;
use common::tls::{
    configure, issue, make_certificates, new_ca, peer_accepted, refused_start, served_serial,
};

const SUBNET: u8 = 246;
const STEADY_TIMEOUT: Duration = Duration::from_secs(240);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// The running loop reads the files every 10 s; a reload is one statement.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The `--galera-tls-dir` path: a symlink to the current version's directory, swapped in
/// one rename (what the kubelet does with a Secret volume's `..data`).
struct Secret {
    root: PathBuf,
    version: u32,
}

impl Secret {
    fn path(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// A new version's directory (to fill before [`Secret::publish`]).
    fn next_dir(&mut self) -> PathBuf {
        self.version += 1;
        let d = self.root.join(format!("tls-v{}", self.version));
        std::fs::create_dir_all(&d).expect("version dir");
        d
    }

    /// Make `dir` the current version, atomically.
    fn publish(&self, dir: &Path) {
        let tmp = self.root.join("tls.new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(dir, &tmp).expect("symlink");
        std::fs::rename(&tmp, self.path()).expect("swap the symlink");
    }

    /// A new version holding `cert_dir`'s tls.crt and tls.key and `ca` as ca.crt, published.
    fn publish_files(&mut self, cert_dir: &Path, ca: &[u8]) {
        let d = self.next_dir();
        for f in ["tls.crt", "tls.key"] {
            std::fs::copy(cert_dir.join(f), d.join(f)).expect("copy");
        }
        common::tls::key_readable_by_mysql(&d.join("tls.key"));
        std::fs::write(d.join("ca.crt"), ca).expect("ca.crt");
        self.publish(&d);
    }
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every node logged `what` after the log offsets `offs`, within [`RELOAD_TIMEOUT`].
fn wait_logged(c: &Cluster, offs: &[usize], what: &str) {
    c.check(what, || {
        common::wait_until(what, RELOAD_TIMEOUT, || {
            c.nodes
                .iter()
                .zip(offs)
                .all(|(n, &o)| n.log().get(o..).is_some_and(|l| l.contains(what)))
        })
    });
}

/// `tls_expires_at` of the entrypoint's state file in `dir`.
fn tls_expires_at(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("tls_expires_at")?.as_i64()
}

fn offsets(c: &Cluster) -> Vec<usize> {
    c.nodes.iter().map(|n| n.log().len()).collect()
}

/// Every node's Galera port presents `serial`, verified against `ca`.
fn assert_serving(c: &Cluster, serial: &str, ca: &Path, client: &Path) {
    for n in &c.nodes {
        assert_eq!(
            served_serial(&n.ip, ca, client).as_deref(),
            Ok(serial),
            "{}\n{}",
            n.name,
            c.logs()
        );
    }
}

#[test]
fn renewed_and_replaced_certificates_are_reloaded_without_a_restart() {
    let mut c = Cluster::new(SUBNET, 3);
    let ips: Vec<String> = c.nodes.iter().map(|n| n.ip.clone()).collect();
    let mut secret = Secret {
        root: c.root.path().join("secret"),
        version: 0,
    };
    let v1 = secret.next_dir();
    std::fs::remove_dir(&v1).expect("make-galera-tls makes it");
    make_certificates(&v1, &ips);
    let (ca1_crt, ca1_key) = (v1.join("ca.crt"), v1.join("ca-private/ca.key"));
    let ca1 = read(&ca1_crt);
    let work = c.root.path().join("work");
    let tls = secret.path();
    configure(&mut c, &tls, true);

    // 1. Refused at start: an expired certificate, then one another CA signed.
    issue(&ca1_crt, &ca1_key, "E1", -1, &ips, &work.join("expired"));
    secret.publish_files(&work.join("expired"), &ca1);
    let log = refused_start(&mut c, 0);
    assert!(
        log.contains("tls.crt expired on") && log.contains("renew"),
        "{log}"
    );
    let (other_crt, other_key) = new_ca(&work.join("other-ca"), "some other CA");
    issue(
        &other_crt,
        &other_key,
        "F1",
        30,
        &ips,
        &work.join("foreign"),
    );
    secret.publish_files(&work.join("foreign"), &ca1);
    let log = refused_start(&mut c, 0);
    assert!(
        log.contains("issuer CN=some other CA") && log.contains("not signed by a CA in ca.crt"),
        "{log}"
    );
    //    A certificate with another issuance's key (the renewal below with the foreign key).
    issue(&ca1_crt, &ca1_key, "A2", 30, &ips, &work.join("renewed"));
    let mixed = work.join("mixed");
    std::fs::create_dir_all(&mixed).expect("mixed dir");
    std::fs::copy(work.join("renewed/tls.crt"), mixed.join("tls.crt")).expect("copy");
    std::fs::copy(work.join("foreign/tls.key"), mixed.join("tls.key")).expect("copy");
    secret.publish_files(&mixed, &ca1);
    let log = refused_start(&mut c, 0);
    assert!(
        log.contains("tls.key is not the key of tls.crt (serial A2)"),
        "{log}"
    );

    // 2. The cluster, on make-galera-tls's certificate.
    common::tls::key_readable_by_mysql(&v1.join("tls.key"));
    secret.publish(&v1);
    c.start_all();
    c.check("first build", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    let first = served_serial(&ips[0], &tls.join("ca.crt"), &tls).expect("s_client");
    // The nodes verify their peers' certificates: one of another CA is refused.
    assert!(peer_accepted(&ips[0], &tls.join("ca.crt"), &tls));
    assert!(!peer_accepted(
        &ips[0],
        &tls.join("ca.crt"),
        &work.join("foreign")
    ));

    // 3. A renewal by the same CA: reloaded by every node, no restart.
    let pids: Vec<_> = c.nodes.iter().map(|n| n.mysqld_pid()).collect();
    let offs = offsets(&c);
    secret.publish_files(&work.join("renewed"), &ca1);
    wait_logged(
        &c,
        &offs,
        "reloaded the Galera certificates: tls.crt, tls.key changed",
    );
    assert_serving(&c, "A2", &tls.join("ca.crt"), &tls);
    assert_ne!(first, "A2");
    // The reload sets one option: the others, pc.recovery=false first, are as they were.
    for n in &c.nodes {
        let opts = n
            .sql("SELECT @@wsrep_provider_options")
            .expect("provider options");
        for want in [
            "pc.recovery = false".to_string(),
            "socket.ssl = YES".to_string(),
            format!("socket.ssl_cert = {}/tls.crt", tls.display()),
            format!("socket.ssl_ca = {}/ca.crt", tls.display()),
        ] {
            assert!(opts.contains(&want), "{}: {want} not in {opts}", n.name);
        }
    }
    // The state file, and so checker serve's /metrics, has the renewal's end
    // (galera_tls_certificate_expiry_timestamp_seconds, what GaleraTLSCertificateExpiring
    // watches).
    let renewed_end = common::tls::not_after(&work.join("renewed/tls.crt"));
    let port = common::free_port();
    let _serves: Vec<_> = (0..3).map(|i| c.checker_serve(i, port)).collect();
    for n in &c.nodes {
        c.check("the state file's tls_expires_at", || {
            common::wait_until("tls_expires_at", Duration::from_secs(10), || {
                tls_expires_at(&n.state_dir()) == Some(renewed_end)
            })
        });
        c.check("the expiry on /metrics", || {
            common::wait_until("the expiry on /metrics", Duration::from_secs(30), || {
                common::http_get(&n.ip, port, "/metrics").is_some_and(|t| {
                    common::metric_value(&t, "galera_tls_certificate_expiry_timestamp_seconds")
                        == Some(renewed_end as f64)
                })
            })
        });
    }
    assert_eq!(
        pids,
        c.nodes.iter().map(|n| n.mysqld_pid()).collect::<Vec<_>>(),
        "mariadbd restarted"
    );

    // 4. A renewal the peers would refuse is not reloaded: the node keeps serving A2.
    let offs = offsets(&c);
    secret.publish_files(&work.join("foreign"), &ca1);
    wait_logged(&c, &offs, "not reloading the Galera certificates");
    wait_logged(&c, &offs, "not signed by a CA in ca.crt");
    assert_serving(&c, "A2", &ca1_crt, &work.join("renewed"));
    let offs = offsets(&c);
    secret.publish_files(&mixed, &ca1);
    wait_logged(&c, &offs, "tls.key is not the key of tls.crt (serial A2)");
    assert_serving(&c, "A2", &ca1_crt, &work.join("renewed"));
    let offs = offsets(&c);
    issue(&ca1_crt, &ca1_key, "E2", -1, &ips, &work.join("expired2"));
    secret.publish_files(&work.join("expired2"), &ca1);
    wait_logged(&c, &offs, "expired on");
    assert_serving(&c, "A2", &ca1_crt, &work.join("renewed"));

    // 5. A CA replacement in three steps, each reloaded: both CAs trusted; certificates of
    //    the new CA; the old CA dropped.
    let (ca2_crt, ca2_key) = new_ca(&work.join("ca2"), "galera-sidecar CA 2");
    let ca2 = read(&ca2_crt);
    let bundle = [ca1.clone(), ca2.clone()].concat();
    issue(&ca2_crt, &ca2_key, "B1", 30, &ips, &work.join("ca2-node"));
    let (old_client, new_client) = (work.join("renewed"), work.join("ca2-node"));
    for n in &c.nodes {
        assert!(!peer_accepted(&n.ip, &ca1_crt, &new_client), "{}", n.name);
    }
    let offs = offsets(&c);
    secret.publish_files(&old_client, &bundle);
    wait_logged(
        &c,
        &offs,
        "reloaded the Galera certificates: ca.crt changed",
    );
    // The added CA is trusted at once: a peer of the new CA is accepted by every node.
    for n in &c.nodes {
        assert!(
            peer_accepted(&n.ip, &ca1_crt, &new_client),
            "{}: a peer of the added CA is refused after the reload",
            n.name
        );
    }
    let offs = offsets(&c);
    secret.publish_files(&new_client, &bundle);
    wait_logged(&c, &offs, "serial B1");
    assert_serving(&c, "B1", &ca2_crt, &new_client);
    for n in &c.nodes {
        assert!(peer_accepted(&n.ip, &ca2_crt, &old_client), "{}", n.name);
    }
    let offs = offsets(&c);
    secret.publish_files(&new_client, &ca2);
    wait_logged(
        &c,
        &offs,
        "reloaded the Galera certificates: ca.crt changed",
    );
    assert_serving(&c, "B1", &ca2_crt, &new_client);
    assert_eq!(
        pids,
        c.nodes.iter().map(|n| n.mysqld_pid()).collect::<Vec<_>>(),
        "mariadbd restarted"
    );

    // 6. A node restarted on the new CA alone rejoins by IST (its peers' reloaded contexts
    //    accept it, it accepts theirs).
    c.nodes[0]
        .sql_result(
            "CREATE DATABASE t; CREATE TABLE t.x (id INT PRIMARY KEY); INSERT INTO t.x VALUES (1)",
        )
        .unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(c.nodes[2].sigterm(STOP_TIMEOUT), Some(0));
    c.nodes[0]
        .sql_result("INSERT INTO t.x VALUES (2)")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let off = c.nodes[2].error_log_len();
    c.start(2);
    c.check("rejoin by IST", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    assert!(c.nodes[2].joined_by_ist_since(off), "{}", c.logs());
    assert_eq!(
        c.nodes[2]
            .sql("SELECT COUNT(*) FROM t.x")
            .as_deref()
            .map(str::trim),
        Some("2")
    );
    assert_serving(&c, "B1", &ca2_crt, &new_client);
    // Galera's reload adds to the trust store it has: a CA dropped from ca.crt stays trusted
    // by a running mariadbd until it restarts (docs/operations.md §16). Restarted, g-2
    // trusts only the new CA.
    assert!(
        !peer_accepted(&c.nodes[2].ip, &ca2_crt, &old_client),
        "g-2, restarted on the new CA alone, accepts a peer of the old one"
    );
}
