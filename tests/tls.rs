//! Encrypted replication on a real 3-node cluster (docs/operations.md §16): certificates from
//! scripts/make-galera-tls in one directory (`--galera-tls-dir`, the my.cnf's `[sst]` naming
//! the same files), mariabackup SST. A capture of every packet on the Galera, IST and SST
//! ports holds none of the rows' text, although the cluster builds by SST, a node rejoins by
//! IST and another by SST after losing its datadir; the Galera port speaks TLS with the CA's
//! certificate, a plain-text connection to it gets no plain-text answer, and a node without
//! TLS cannot join (the first SST was encrypted too: mariadbd's log says so). Before that, the
//! entrypoint refuses a key mariadbd's user cannot read and a my.cnf that would send SST in
//! plain text, each with exit code 2 and the fix.
//!
//! Loopback subnets 127.0.243.x and (the plain-text control) 127.0.245.x are this file's.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::capture::{contains, Capture};
use common::galera::Cluster;
use common::tls::{configure, key_readable_by_mysql, make_certificates, refused_start};

const SUBNET: u8 = 243;
const STEADY_TIMEOUT: Duration = Duration::from_secs(240);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The canary rows: text that must never cross the Galera, IST or SST ports in clear.
fn insert_canaries(c: &Cluster, i: usize, canary: &str, from: u32, n: u32) {
    let values: Vec<String> = (from..from + n)
        .map(|id| format!("({id},'{canary}-{id}')"))
        .collect();
    let sql = format!(
        "CREATE DATABASE IF NOT EXISTS t; \
         CREATE TABLE IF NOT EXISTS t.canary (id INT PRIMARY KEY, v VARCHAR(64)); \
         INSERT INTO t.canary VALUES {}",
        values.join(",")
    );
    c.nodes[i]
        .sql_result(&sql)
        .unwrap_or_else(|e| panic!("insert canaries through g-{i}: {e}\n{}", c.logs()));
}

fn canaries(c: &Cluster, i: usize) -> Option<u64> {
    c.nodes[i]
        .sql("SELECT COUNT(*) FROM t.canary")
        .and_then(|s| s.trim().parse().ok())
}

#[test]
fn replication_ist_and_sst_are_encrypted() {
    let mut c = Cluster::new(SUBNET, 3);
    let tls = c.root.path().join("tls");
    let ips: Vec<String> = c.nodes.iter().map(|n| n.ip.clone()).collect();
    make_certificates(&tls, &ips);
    configure(&mut c, &tls, false);

    // 1. Refusals, before etcd or mariadbd is touched. The key as made (0640, root's group):
    //    mariadbd's user could not read it.
    let log = refused_start(&mut c, 0);
    assert!(
        log.contains("tls.key cannot be read by mysql") && log.contains("defaultMode 0440"),
        "{log}"
    );
    key_readable_by_mysql(&tls.join("tls.key"));
    //    A my.cnf without the [sst] lines: the SST would be plain text.
    let log = refused_start(&mut c, 0);
    assert!(
        log.contains("no ssl-mode") && log.contains(&format!("tkey = {}/tls.key", tls.display())),
        "{log}"
    );
    for n in &mut c.nodes {
        n.tls_dir = Some(tls.clone());
    }

    // 2. Everything on the Galera (4567), IST (4568) and SST (4444) ports from here on.
    let capture = Capture::start(
        c.root.path(),
        "replication",
        &format!("net 127.0.{SUBNET}.0/24 and (tcp port 4567 or tcp port 4568 or tcp port 4444)"),
    );
    let canary = format!("tls-canary-{}", std::process::id());

    // 3. The first build: two of the three join by SST (mariabackup, through socat's TLS).
    c.start_all();
    c.check("first build", || c.wait_steady(3, STEADY_TIMEOUT));
    let encrypted_ssts = c
        .nodes
        .iter()
        .filter(|n| {
            let l = n.mysqld_log();
            l.contains("SST completed on joiner")
                && l.contains("Using openssl based encryption with socat")
        })
        .count();
    assert_eq!(encrypted_ssts, 2, "{}", c.logs());
    for n in &c.nodes {
        let opts = n
            .sql("SELECT @@wsrep_provider_options")
            .expect("provider options");
        for want in [
            "socket.ssl = YES".to_string(),
            format!("socket.ssl_cert = {}/tls.crt", tls.display()),
            format!("socket.ssl_ca = {}/ca.crt", tls.display()),
            "pc.recovery = false".to_string(),
            "evs.suspect_timeout = PT5S".to_string(),
        ] {
            assert!(opts.contains(&want), "{}: {want} not in {opts}", n.name);
        }
    }
    insert_canaries(&c, 0, &canary, 1, 20);

    // 4. IST: g-2 stopped cleanly, rows written meanwhile, g-2 back.
    assert_eq!(c.nodes[2].sigterm(STOP_TIMEOUT), Some(0));
    insert_canaries(&c, 0, &canary, 21, 20);
    let off = c.nodes[2].error_log_len();
    c.start(2);
    c.check("rejoin by IST", || c.wait_steady(3, STEADY_TIMEOUT));
    assert!(c.nodes[2].joined_by_ist_since(off), "{}", c.logs());
    assert_eq!(canaries(&c, 2), Some(40));

    // 5. SST of a datadir holding the canaries: g-1 loses its datadir.
    c.nodes[1].kill9();
    c.check("g-1 evicted", || c.wait_until_registered(2));
    std::fs::remove_dir_all(c.nodes[1].datadir()).expect("empty the datadir");
    insert_canaries(&c, 0, &canary, 41, 20);
    let off = c.nodes[1].error_log_len();
    c.start(1);
    c.check("rejoin by SST", || c.wait_steady(3, STEADY_TIMEOUT));
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    assert!(c.nodes[1].joined_by_sst_since(off), "{}", c.logs());
    assert!(
        c.nodes[1]
            .error_log_since(off)
            .contains("Using openssl based encryption with socat"),
        "{}",
        c.nodes[1].error_log_since(off)
    );
    assert_eq!(canaries(&c, 1), Some(60));

    // 6. The Galera port speaks TLS, with a certificate of the cluster's CA...
    if let Err(out) = common::tls::s_client(&c.nodes[0].ip, &tls.join("ca.crt"), &tls) {
        panic!("{out}");
    }
    // ...and a plain-text client gets no plain-text answer: the server closes the connection
    // (at most after a TLS alert record, content type 21) or says nothing.
    let probe = format!("plain-text-probe-{}", std::process::id());
    let mut plain =
        std::net::TcpStream::connect((c.nodes[0].ip.as_str(), 4567)).expect("connect to 4567");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(format!("{probe}\r\n\r\n").as_bytes())
        .expect("write");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        answer.is_empty() || answer[0] == 21,
        "a non-TLS answer to plain text: {answer:?}"
    );
    drop(plain);
    // A node without TLS (no --galera-tls-dir) cannot join: it never becomes a member.
    c.add_node(3, 3);
    let off = c.nodes[3].error_log_len();
    c.start(3);
    // Its gcomm handshake meets a TLS server that waits for a ClientHello: no message comes
    // back, and mariadbd gives up ("failed to reach primary view"); meanwhile the cluster
    // stays at 3.
    let start = std::time::Instant::now();
    while !c.nodes[3]
        .error_log_since(off)
        .contains("failed to reach primary view")
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the plain-text node neither joined nor gave up in 120 s:\n{}",
            c.nodes[3].error_log_since(off)
        );
        assert_eq!(
            c.nodes[0].wsrep("cluster_size").as_deref(),
            Some("3"),
            "a plain-text node joined:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(!c.nodes[3].synced(), "{}", c.logs());
    c.nodes[3].kill9();
    c.check("still 3 Synced", || c.wait_all_synced(3, STEADY_TIMEOUT));

    // 7. The capture: the probe's plain text is in it (the capture sees these ports' bytes),
    //    the canaries are not, though 60 of them crossed by replication, IST and SST.
    let pcap = capture.finish();
    assert!(
        contains(&pcap, probe.as_bytes()),
        "the capture ({} bytes) does not hold the plain-text probe: it is not capturing",
        pcap.len()
    );
    assert!(
        !contains(&pcap, canary.as_bytes()),
        "row text crossed the Galera/IST/SST ports in clear ({} bytes captured)",
        pcap.len()
    );
    assert!(pcap.len() > 1_000_000, "only {} bytes captured", pcap.len());
}

/// The control: the same capture on a cluster without TLS holds the rows' text — what the
/// capture above would have shown had replication not been encrypted. Subnet 127.0.245.x.
#[test]
fn without_tls_the_capture_holds_the_rows_text() {
    let mut c = Cluster::new(245, 3);
    c.start_all();
    c.check("first build", || c.wait_steady(3, STEADY_TIMEOUT));
    let capture = Capture::start(
        c.root.path(),
        "replication",
        "net 127.0.245.0/24 and (tcp port 4567 or tcp port 4568 or tcp port 4444)",
    );
    let canary = format!("plain-canary-{}", std::process::id());
    insert_canaries(&c, 0, &canary, 1, 20);
    c.check("replicated", || {
        common::wait_until("the rows on g-2", Duration::from_secs(30), || {
            canaries(&c, 2) == Some(20)
        })
    });
    let pcap = capture.finish();
    assert!(
        contains(&pcap, canary.as_bytes()),
        "no row text in the capture of a plain-text cluster ({} bytes): the TLS test's \
         capture would prove nothing",
        pcap.len()
    );
}
