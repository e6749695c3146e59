//! Security: etcd over TLS with client certificates (generated here with the `openssl` CLI),
//! etcd user/password auth including token expiry under long-lived watches and leases, no
//! secret on any child's command line (or in its environment), the monitor user's grants,
//! and the files and sockets written with restrictive modes, atomically.
//!
//! Loopback subnet 127.0.111.x is this file's.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::etcd::EtcdServer;
use common::galera::Cluster;
use common::haproxy::{listen_addr, Sidecar};
use common::procscan::{holds, ProcScanner};
use common::{bin, die_with_parent, run, stderr, stdout, wait_until};
use galera_sidecar::etcd::watch::{watch, WatchEvent};
use galera_sidecar::etcd::{Etcd, EtcdConfig, Lease};

const SUBNET: u8 = 111;

// ---------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
    fn s(&self, f: &str) -> String {
        self.path(f).display().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    common::run_ok(
        Command::new("openssl").current_dir(dir).args(args),
        &format!("openssl {args:?}"),
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and a
/// second, unrelated CA with its own client certificate.
fn make_pki() -> Pki {
    let pki = Pki {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let d = pki.dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut a = vec!["req", "-x509"];
        a.extend(ec);
        let (key, pem, subj) = (
            format!("{ca}.key"),
            format!("{ca}.pem"),
            format!("/CN=galera-test-{ca}"),
        );
        a.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
        openssl(d, &a);
    }
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("ext");
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    for (name, ca, ext) in [
        ("server", "ca", "server.ext"),
        ("client", "ca", "client.ext"),
        ("stranger", "other-ca", "client.ext"),
    ] {
        let mut a = vec!["req"];
        a.extend(ec);
        let (key, csr, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("/CN={name}"),
        );
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(d, &a);
        let (ca_pem, ca_key, pem) = (
            format!("{ca}.pem"),
            format!("{ca}.key"),
            format!("{name}.pem"),
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }
    pki
}

fn tls_args(pki: &Pki, ca: &str, cert: Option<(&str, &str)>) -> Vec<String> {
    let mut v = vec!["--etcd-ca-file".to_string(), pki.s(ca)];
    if let Some((c, k)) = cert {
        v.extend([
            "--etcd-cert-file".into(),
            pki.s(c),
            "--etcd-key-file".into(),
            pki.s(k),
        ]);
    }
    v
}

fn run_with(endpoint: &str, cluster: &str, extra: &[String], args: &[&str]) -> Output {
    let mut a: Vec<String> = vec![
        "--etcd-endpoints".into(),
        endpoint.into(),
        "--cluster-name".into(),
        cluster.into(),
        "--etcd-timeout".into(),
        "3s".into(),
    ];
    a.extend(extra.iter().cloned());
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run(&a, &[])
}

/// A lease and a watch through the library: a put is seen, the lease stays alive.
async fn lease_and_watch_work(etcd: &Etcd) {
    let lease = Lease::grant(etcd, Duration::from_secs(3))
        .await
        .expect("lease");
    let key = etcd.keys.leader();
    let mut rx = watch(etcd.clone(), key.clone(), false);
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        Ok(Some(WatchEvent::Reset { .. })) => {}
        other => panic!("first watch event: {other:?}"),
    }
    etcd.put(&key, "127.0.0.9", Some(lease.id()))
        .await
        .expect("put");
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        Ok(Some(WatchEvent::Put(kv))) => assert_eq!(kv.value, b"127.0.0.9"),
        other => panic!("watch event for the put: {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!lease.is_lost(), "lease lost after one TTL");
    assert!(
        etcd.get(&key).await.expect("get").is_some(),
        "key kept alive"
    );
    lease.revoke().await;
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[test]
fn etcd_over_tls_with_client_certificates() {
    let pki = make_pki();
    let etcd = EtcdServer::start_with(
        vec![
            "--cert-file".into(),
            pki.s("server.pem"),
            "--key-file".into(),
            pki.s("server.key"),
            "--client-cert-auth".into(),
            "--trusted-ca-file".into(),
            pki.s("ca.pem"),
        ],
        "https",
    );
    let ep = etcd.endpoint();
    assert!(ep.starts_with("https://"), "{ep}");
    let good = tls_args(&pki, "ca.pem", Some(("client.pem", "client.key")));

    // The right certificates: status, set-state, status again.
    let out = run_with(&ep, "tls", &good, &["set-state", "STEADY"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "set-state over TLS: {}",
        stderr(&out)
    );
    let out = run_with(&ep, "tls", &good, &["status", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "status over TLS: {}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(v["state"], "STEADY", "{v}");

    // The library: a lease and a watch.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let cfg = EtcdConfig {
            endpoints: vec![ep.clone()],
            timeout: Duration::from_secs(3),
            ca_file: Some(pki.path("ca.pem")),
            cert_file: Some(pki.path("client.pem")),
            key_file: Some(pki.path("client.key")),
            username: None,
            password_file: None,
        };
        let etcd = Etcd::connect(&cfg, "tls").await.expect("connect over TLS");
        lease_and_watch_work(&etcd).await;
    });

    // Without a client certificate, with a certificate of another CA, trusting the wrong CA,
    // and in clear text: each fails, exit 1, with a line naming etcd and TLS.
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "no client certificate",
            tls_args(&pki, "ca.pem", None),
            ep.clone(),
        ),
        (
            "client certificate of another CA",
            tls_args(&pki, "ca.pem", Some(("stranger.pem", "stranger.key"))),
            ep.clone(),
        ),
        (
            "server not trusted (wrong CA)",
            tls_args(&pki, "other-ca.pem", Some(("client.pem", "client.key"))),
            ep.clone(),
        ),
        (
            "plain http to a TLS etcd",
            vec![],
            ep.replace("https://", "http://"),
        ),
    ];
    for (case, args, endpoint) in &cases {
        let start = Instant::now();
        let out = run_with(endpoint, "tls", args, &["status"]);
        let err = stderr(&out);
        eprintln!("{case}: {err}");
        assert_eq!(out.status.code(), Some(1), "{case}: {err}");
        assert!(
            err.contains(endpoint.as_str()),
            "{case}: names the endpoint: {err}"
        );
        assert!(
            err.to_lowercase().contains("tls") || err.contains("certificate"),
            "{case}: says it is about TLS/certificates: {err}"
        );
        assert!(!err.contains("panicked"), "{case}: {err}");
        assert!(start.elapsed() < Duration::from_secs(20), "{case}: bounded");
        let out = run_with(endpoint, "tls", args, &["set-state", "RECOVERY"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: set-state: {}",
            stderr(&out)
        );
    }
    // Nothing was changed by the failed set-state calls.
    let out = run_with(&ep, "tls", &good, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(v["state"], "STEADY", "{v}");
}

// ---------------------------------------------------------------------------------------
// User/password auth, and token expiry
// ---------------------------------------------------------------------------------------

fn etcdctl_as(etcd: &EtcdServer, user: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("etcdctl");
    c.env("ETCDCTL_API", "3")
        .args(["--endpoints", &etcd.endpoint(), "--command-timeout", "5s"]);
    if let Some(u) = user {
        c.args(["--user", u]);
    }
    let out = c.args(args).output().expect("run etcdctl");
    assert!(
        out.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Enable auth: root, and a user `galera` with readwrite on the `/galera/` prefix only.
fn enable_auth(etcd: &EtcdServer, galera_pw: &str) {
    etcdctl_as(etcd, None, &["user", "add", "root:root-etcd-pw"]);
    etcdctl_as(etcd, None, &["role", "add", "galera-rw"]);
    etcdctl_as(
        etcd,
        None,
        &[
            "role",
            "grant-permission",
            "galera-rw",
            "--prefix=true",
            "readwrite",
            "/galera/",
        ],
    );
    etcdctl_as(etcd, None, &["user", "add", &format!("galera:{galera_pw}")]);
    etcdctl_as(etcd, None, &["user", "grant-role", "galera", "galera-rw"]);
    etcdctl_as(etcd, None, &["auth", "enable"]);
}

fn auth_args(user: &str, pw_file: &Path) -> Vec<String> {
    vec![
        "--etcd-username".into(),
        user.into(),
        "--etcd-password-file".into(),
        pw_file.display().to_string(),
    ]
}

#[test]
fn etcd_user_password_auth() {
    let etcd = EtcdServer::start();
    enable_auth(&etcd, "galera-etcd-pw");
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "galera-etcd-pw\n").expect("write");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    let ep = etcd.endpoint();
    let good = auth_args("galera", &pw);

    let out = run_with(&ep, "auth", &good, &["set-state", "STEADY"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "set-state with auth: {}",
        stderr(&out)
    );
    let out = run_with(&ep, "auth", &good, &["status", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "status with auth: {}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["state"], "STEADY");
    let got = etcdctl_as(
        &etcd,
        Some("root:root-etcd-pw"),
        &["get", "--print-value-only", "/galera/auth/state"],
    );
    assert_eq!(stdout(&got).trim(), "STEADY");

    // A wrong password, no credentials at all, a user without the role's prefix.
    for (case, args, needles) in [
        (
            "wrong password",
            auth_args("galera", &wrong),
            vec![
                "authentication failed",
                "--etcd-username",
                "--etcd-password-file",
            ],
        ),
        (
            "unknown user",
            auth_args("nobody", &pw),
            vec!["authentication failed", "--etcd-username"],
        ),
        (
            "no credentials",
            vec![],
            vec!["--etcd-username", "--etcd-password-file"],
        ),
    ] {
        let out = run_with(&ep, "auth", &args, &["status"]);
        let err = stderr(&out);
        eprintln!("{case}: {err}");
        assert_eq!(out.status.code(), Some(1), "{case}: {err}");
        for n in needles {
            assert!(err.contains(n), "{case}: `{n}` not in: {err}");
        }
        assert!(!err.contains("panicked"), "{case}: {err}");
        let out = run_with(&ep, "auth", &args, &["set-state", "RECOVERY"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: set-state: {}",
            stderr(&out)
        );
    }
    let got = etcdctl_as(
        &etcd,
        Some("root:root-etcd-pw"),
        &["get", "--print-value-only", "/galera/auth/state"],
    );
    assert_eq!(
        stdout(&got).trim(),
        "STEADY",
        "failed calls changed nothing"
    );
}

#[test]
fn auth_token_expiry_does_not_break_long_lived_watches_and_leases() {
    let etcd = EtcdServer::start_with(
        vec![
            "--auth-token".into(),
            "simple".into(),
            "--auth-token-ttl".into(),
            "5".into(),
        ],
        "http",
    );
    enable_auth(&etcd, "galera-etcd-pw");
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "galera-etcd-pw").expect("write");
    let cfg = EtcdConfig {
        endpoints: vec![etcd.endpoint()],
        timeout: Duration::from_secs(3),
        ca_file: None,
        cert_file: None,
        key_file: None,
        username: Some("galera".into()),
        password_file: Some(pw.clone()),
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = Etcd::connect(&cfg, "ttl").await.expect("connect with auth");
        let lease = Lease::grant(&client, Duration::from_secs(3))
            .await
            .expect("lease");
        let mine = client.keys.node("g-0");
        client
            .put(&mine, "127.0.111.2", Some(lease.id()))
            .await
            .expect("put under lease");
        let prefix = client.keys.prefix().to_string();
        let mut rx = watch(client.clone(), prefix.clone(), true);
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(WatchEvent::Reset { .. })) => {}
            other => panic!("first watch event: {other:?}"),
        }
        // A second client writes while the first one idles past its token's TTL (5 s) three
        // times over.
        let writer = Etcd::connect(&cfg, "ttl").await.expect("second client");
        let start = Instant::now();
        let mut seen = BTreeSet::new();
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(18) {
            i += 1;
            let k = format!("{prefix}tick/{i}");
            // The writer also idles past its TTL between some writes.
            tokio::time::sleep(Duration::from_secs(if i % 2 == 0 { 6 } else { 1 })).await;
            writer
                .put(&k, "x", None)
                .await
                .unwrap_or_else(|e| panic!("put {k} after token expiry: {e}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !seen.contains(&k) {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, rx.recv()).await {
                    Ok(Some(WatchEvent::Put(kv))) => {
                        seen.insert(kv.key);
                    }
                    Ok(Some(WatchEvent::Reset { kvs, .. })) => {
                        seen.extend(kvs.into_iter().map(|kv| kv.key));
                    }
                    Ok(Some(_)) => {}
                    other => panic!(
                        "watch did not see {k} (after {:?}): {other:?}",
                        start.elapsed()
                    ),
                }
            }
            assert!(!lease.is_lost(), "lease lost after {:?}", start.elapsed());
        }
        assert!(start.elapsed() > Duration::from_secs(15));
        // The first client, idle all along (only its streams ran), still reads and writes.
        client
            .put(&format!("{prefix}late"), "y", None)
            .await
            .expect("put after expiry");
        let got = client.get(&mine).await.expect("get after expiry");
        assert_eq!(
            got.map(|kv| kv.lease),
            Some(lease.id()),
            "the key is still under the lease"
        );
        assert!(!lease.is_lost(), "lease not lost");
        // Control: the tokens really expire here — a client without automatic refresh fails
        // after idling past the TTL (so the checks above exercised the refresh).
        let opts = etcd_client::ConnectOptions::new()
            .with_user("galera", "galera-etcd-pw")
            .with_auto_token_refresh(false);
        let mut raw = etcd_client::Client::connect([etcd.endpoint()], Some(opts))
            .await
            .expect("raw client");
        raw.get(prefix.as_str(), None)
            .await
            .expect("fresh token works");
        tokio::time::sleep(Duration::from_secs(7)).await;
        let e = raw
            .get(prefix.as_str(), None)
            .await
            .expect_err("an expired token without refresh must fail");
        assert!(e.to_string().contains("invalid auth token"), "{e}");
        lease.revoke().await;
    });
}

// ---------------------------------------------------------------------------------------
// A real node: no secret in argv or in children's environment; grants; file modes
// ---------------------------------------------------------------------------------------

const ROOT_PW: &str = "Zq9rootSECRET4471";
const MONITOR_PW: &str = "Zq9monSECRET8812";
const SST_PW: &str = "Zq9sstSECRET3390";
const SECRETS: [&str; 3] = [ROOT_PW, MONITOR_PW, SST_PW];

/// The programs whose processes the secret test records (and whose environment it checks,
/// the sidecar's own aside: it holds the secrets by design).
const WATCHED: [&str; 7] = [
    "mariadbd",
    "mysqld",
    "mariadb-install-db",
    "rsync",
    "haproxy",
    "wsrep_sst_rsync",
    "galera-sidecar",
];

/// The entrypoint of node g-0, started with distinctive secrets (root and SST passwords in
/// env, the monitor password through a `_FILE`), in its own process group killed on drop.
struct SecretNode {
    child: Option<Child>,
}

impl Drop for SecretNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
    }
}

fn file_mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// No temp leftovers (`.name.tmp.*`) in `dir`.
fn assert_no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(
            !n.contains(".tmp"),
            "temp leftover {} in {}",
            n,
            dir.display()
        );
    }
}

fn assert_no_secret_in(what: &str, content: &[u8]) {
    for k in SECRETS {
        assert!(!holds(content, k), "{what} holds a password");
    }
}

#[test]
fn a_real_node_keeps_its_secrets_off_argv_and_files_with_tight_modes() {
    let mut c = Cluster::new(SUBNET, 0);
    c.add_node(0, 1);
    let node = &c.nodes[0];
    node.write_config();
    let secrets_dir = c.root.path().join("secrets");
    std::fs::create_dir_all(&secrets_dir).expect("mkdir");
    let monitor_file = secrets_dir.join("monitor-pw");
    std::fs::write(&monitor_file, format!("{MONITOR_PW}\n")).expect("write");

    let scanner = ProcScanner::start(&SECRETS, &WATCHED, |p| p != "galera-sidecar");
    let log = std::fs::File::create(node.sidecar_log()).expect("log");
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("GALERA_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--etcd-endpoints", &c.endpoint(), "--cluster-name", &c.name])
        .args(["--node-name", &node.name, "--node-address", &node.ip])
        .arg("galera")
        .arg("--defaults-file")
        .arg(node.defaults_file())
        .arg("--datadir")
        .arg(node.datadir())
        .arg("--state-dir")
        .arg(node.state_dir())
        .arg("--mysql-socket")
        .arg(node.socket())
        .args([
            "--cluster-size",
            "1",
            "--lease-ttl",
            "4s",
            "--drain-timeout",
            "3s",
        ])
        .env("GALERA_ROOT_PASSWORD", ROOT_PW)
        .env("GALERA_MONITOR_USER", "monitor")
        .env("GALERA_MONITOR_PASSWORD_FILE", &monitor_file)
        .env("GALERA_SST_USER", "sstuser")
        .env("GALERA_SST_PASSWORD", SST_PW)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .process_group(0);
    die_with_parent(&mut cmd);
    let mut guard = SecretNode {
        child: Some(cmd.spawn().expect("start the entrypoint")),
    };
    let steady = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.wait_steady(1, Duration::from_secs(90))
    }));
    if steady.is_err() {
        panic!("not STEADY:\n{}", c.logs());
    }
    let node = &c.nodes[0];
    // The haproxy sidecar following this cluster.
    let hdir = c.root.path().join("haproxy");
    let listen = listen_addr("127.0.111.1");
    let sidecar = Sidecar::builder(&hdir, &c.endpoint(), &c.name, listen)
        .backend_port(3306)
        .check_port(18080)
        .start();
    wait_until(
        "haproxy routes to the leader",
        Duration::from_secs(30),
        || sidecar.rendered().contains("127.0.111.2"),
    );
    // Keep sampling while running (steady loop, probes, reloads).
    for probe in ["readiness", "liveness"] {
        let sd = node.state_dir().display().to_string();
        let sock = node.socket().display().to_string();
        let out = run(
            &[
                "checker",
                probe,
                "--state-dir",
                &sd,
                "--mysql-socket",
                &sock,
                "--etcd-endpoints",
                &c.endpoint(),
                "--cluster-name",
                &c.name,
            ],
            &[
                ("GALERA_MONITOR_USER", "monitor"),
                ("GALERA_MONITOR_PASSWORD", MONITOR_PW),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{probe}: {}", stdout(&out));
    }
    std::thread::sleep(Duration::from_secs(3));

    // The monitor user holds USAGE only.
    let grants = node
        .sql("SHOW GRANTS FOR 'monitor'@'%'")
        .expect("SHOW GRANTS for monitor");
    let lines: Vec<&str> = grants.lines().collect();
    assert_eq!(lines.len(), 1, "monitor has one grant line: {grants}");
    assert!(
        lines[0].starts_with("GRANT USAGE ON *.* TO `monitor`@`%`"),
        "monitor holds only USAGE: {grants}"
    );
    if let Some(g) = node.sql("SHOW GRANTS FOR 'monitor'@'localhost'") {
        assert!(
            g.lines().all(|l| l.starts_with("GRANT USAGE ON *.*")),
            "monitor@localhost holds only USAGE: {g}"
        );
    }
    // The SST user (created because GALERA_SST_USER is set) holds only what mariabackup needs.
    let sst = node
        .sql("SHOW GRANTS FOR 'sstuser'@'localhost'")
        .expect("sst grants");
    assert!(!sst.contains("ALL PRIVILEGES"), "sst user: {sst}");

    // Files: the state file 0600 in a 0700 dir, the haproxy files 0640 in a 0700 run dir,
    // sockets 0600, no temp leftovers, no secret in any of them.
    let state_dir = node.state_dir();
    assert_eq!(file_mode(&state_dir), 0o700, "state dir");
    let state = state_dir.join("state.json");
    assert_eq!(file_mode(&state), 0o600, "state file");
    assert_no_temp_files(&state_dir);
    for e in std::fs::read_dir(&state_dir).expect("ls").flatten() {
        let m = file_mode(&e.path());
        assert_eq!(
            m & 0o077,
            0,
            "{} is readable by others: {m:o}",
            e.path().display()
        );
        assert_no_secret_in(
            &e.path().display().to_string(),
            &std::fs::read(e.path()).expect("read"),
        );
    }
    let run_dir = &sidecar.run_dir;
    assert_eq!(
        file_mode(run_dir) & 0o007,
        0,
        "haproxy run dir not world-accessible"
    );
    for f in ["last-good.cfg", "last-good.json", "status.json"] {
        let p = run_dir.join(f);
        assert_eq!(file_mode(&p), 0o640, "{f}");
        assert_no_secret_in(f, &std::fs::read(&p).expect("read"));
    }
    assert_eq!(file_mode(&sidecar.config), 0o640, "rendered haproxy config");
    assert_no_secret_in("rendered haproxy config", sidecar.rendered().as_bytes());
    assert_no_temp_files(run_dir);
    assert_no_temp_files(sidecar.config.parent().expect("parent"));
    for s in ["admin.sock", "master.sock"] {
        let p = run_dir.join(s);
        let meta = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(meta.file_type().is_socket(), "{s} is a socket");
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "{s} is not group/world-accessible"
        );
    }
    // init.ok and grastate.dat are not world-writable.
    for f in ["init.ok", "grastate.dat"] {
        let p = node.datadir().join(f);
        assert_eq!(file_mode(&p) & 0o002, 0, "{f} world-writable");
    }
    assert_no_secret_in("sidecar log", node.log().as_bytes());
    assert_no_secret_in("haproxy sidecar log", sidecar.log().as_bytes());
    assert_no_secret_in("mariadbd error log", node.mysqld_log().as_bytes());
    let status = c.cli(&["status", "--json"]);
    assert_no_secret_in("status", &status.stdout);

    // Stop everything cleanly while still sampling (the stop path runs children too).
    drop(sidecar);
    let child = guard.child.as_mut().expect("child");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let common::procscan::Seen {
        exposed: found,
        labels: seen,
        samples,
        ..
    } = scanner.finish();
    assert!(found.is_empty(), "secrets exposed:\n{}", found.join("\n"));
    // The sampler saw the short-lived children, so it was fast enough to catch them.
    for must in [
        "mariadb-install-db",
        "mariadbd --bootstrap",
        "mariadbd --wsrep-new-cluster",
        "haproxy",
    ] {
        assert!(
            seen.iter().any(|s| s.starts_with(must) || s.contains(must)),
            "the sampler never saw `{must}` ({samples} samples; saw {seen:?})"
        );
    }
    assert_no_secret_in("sidecar log after stop", c.nodes[0].log().as_bytes());
}
