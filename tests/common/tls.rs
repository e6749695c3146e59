//! Certificates for the TLS tests (openssl, scripts/make-galera-tls) and a cluster configured
//! to encrypt replication with them (`--galera-tls-dir`, the my.cnf's `[sst]`, mariabackup).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::Duration;

use super::galera::Cluster;

pub const SST_USER: &str = "sst";
pub const SST_PASSWORD: &str = "sst-pw-tls";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// CA, certificate and key for the nodes' addresses in `dir`, made by scripts/make-galera-tls
/// (the CA's key in `dir/ca-private/ca.key`).
pub fn make_certificates(dir: &Path, ips: &[String]) {
    let mut cmd = Command::new(repo("scripts/make-galera-tls"));
    cmd.arg(dir).args(ips.iter().map(|ip| format!("IP:{ip}")));
    super::run_ok(&mut cmd, "scripts/make-galera-tls");
}

pub fn mysql_gid() -> nix::unistd::Gid {
    nix::unistd::Group::from_name("mysql")
        .ok()
        .flatten()
        .expect("a mysql group (the mariadb-server package makes it)")
        .gid
}

/// Give mysql's group read access to a key (as a Secret volume with fsGroup does).
pub fn key_readable_by_mysql(key: &Path) {
    nix::unistd::chown(key, None, Some(mysql_gid())).expect("chgrp mysql");
}

/// Every node of `c` encrypts with the files of `tls` (`--galera-tls-dir`), and SST by
/// mariabackup; `with_sst_lines`: the my.cnf's `[sst]` names the same files (without it the
/// entrypoint refuses to start).
pub fn configure(c: &mut Cluster, tls: &Path, with_sst_lines: bool) {
    for n in &mut c.nodes {
        n.extra_args
            .extend(["--galera-tls-dir".to_string(), tls.display().to_string()]);
        // socat's SST listener binds every address unless told: three joiners on one host
        // would take each other's 4444 (a pod has its own).
        n.mycnf_extra = format!(
            "wsrep_sst_method = mariabackup\n\n[sst]\nsockopt = bind={}\n",
            n.ip
        );
        n.env.push(("GALERA_SST_USER".into(), SST_USER.into()));
        n.env
            .push(("GALERA_SST_PASSWORD".into(), SST_PASSWORD.into()));
        if with_sst_lines {
            n.tls_dir = Some(tls.to_path_buf());
        }
    }
}

fn openssl(args: &[&str], what: &str) {
    super::run_ok(Command::new("openssl").args(args), what);
}

/// A new self-signed CA in `dir` (`ca.crt`, `ca.key`).
pub fn new_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("CA dir");
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key.display().to_string(),
            "-out",
            &crt.display().to_string(),
        ],
        "openssl req (CA)",
    );
    (crt, key)
}

/// A new key and a certificate for `ips` signed by the CA (`ca_crt`, `ca_key`), with `serial`
/// (hex) and valid for `days` from now (negative: expired already), written to `out`'s
/// `tls.crt` and `tls.key` (the key readable by mysql's group), with `ca` as its `ca.crt`.
pub fn issue(ca_crt: &Path, ca_key: &Path, serial: &str, days: i32, ips: &[String], out: &Path) {
    std::fs::create_dir_all(out).expect("certificate dir");
    let (key, csr, ext) = (out.join("tls.key"), out.join("tls.csr"), out.join("ext"));
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=galera",
            "-keyout",
            &key.display().to_string(),
            "-out",
            &csr.display().to_string(),
        ],
        "openssl req (node)",
    );
    let sans: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
    std::fs::write(
        &ext,
        format!(
            "subjectAltName={}\nextendedKeyUsage=serverAuth,clientAuth\n",
            sans.join(",")
        ),
    )
    .expect("ext file");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr.display().to_string(),
            "-CA",
            &ca_crt.display().to_string(),
            "-CAkey",
            &ca_key.display().to_string(),
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            &days.to_string(),
            "-extfile",
            &ext.display().to_string(),
            "-out",
            &out.join("tls.crt").display().to_string(),
        ],
        "openssl x509 -req (node)",
    );
    let _ = std::fs::remove_file(csr);
    let _ = std::fs::remove_file(ext);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod key");
    key_readable_by_mysql(&key);
}

/// What `openssl s_client` to `ip:4567`, verifying against `ca` and presenting the files of
/// `client` (a directory with tls.crt and tls.key), prints; Err with its output when the
/// handshake or the verification failed.
pub fn s_client(ip: &str, ca: &Path, client: &Path) -> Result<String, String> {
    s_client_with(ip, ca, client, &[])
}

/// Whether the Galera port of `ip` accepts a peer presenting `client`'s certificate: a TLS 1.2
/// handshake (in TLS 1.3 the server's verdict on the client's certificate comes after the
/// client has finished its handshake, so s_client would succeed either way).
pub fn peer_accepted(ip: &str, ca: &Path, client: &Path) -> bool {
    s_client_with(ip, ca, client, &["-tls1_2"]).is_ok()
}

fn s_client_with(ip: &str, ca: &Path, client: &Path, extra: &[&str]) -> Result<String, String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("{ip}:4567")])
        .args(extra)
        .arg("-CAfile")
        .arg(ca)
        .arg("-cert")
        .arg(client.join("tls.crt"))
        .arg("-key")
        .arg(client.join("tls.key"))
        .arg("-verify_return_error")
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = super::stdout(&out);
    if out.status.success() && text.contains("Verify return code: 0 (ok)") {
        Ok(text)
    } else {
        Err(format!("{text}{}", super::stderr(&out)))
    }
}

/// The serial (hex, upper case) of the certificate the Galera port of `ip` presents, verified
/// against `ca`.
pub fn served_serial(ip: &str, ca: &Path, client: &Path) -> Result<String, String> {
    let text = s_client(ip, ca, client)?;
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or("no certificate in the s_client output")?;
    let end = text[begin..]
        .find("-----END CERTIFICATE-----")
        .ok_or("an unterminated certificate")?
        + begin
        + "-----END CERTIFICATE-----".len();
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl x509");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(&text.as_bytes()[begin..end])
            .expect("write the certificate");
    }
    let out = child.wait_with_output().expect("openssl x509");
    let serial = super::stdout(&out);
    serial
        .trim()
        .strip_prefix("serial=")
        .map(|s| s.trim_start_matches('0').to_uppercase())
        .ok_or_else(|| format!("openssl x509 printed {serial:?}"))
}

/// Start node `i`, which must exit with code 2 (a configuration error) within 30 s; returns
/// what it logged.
pub fn refused_start(c: &mut Cluster, i: usize) -> String {
    let offset = c.nodes[i].log().len();
    c.start(i);
    assert_eq!(
        c.nodes[i].wait_exit(Duration::from_secs(30)),
        Some(2),
        "{}",
        c.logs()
    );
    c.nodes[i].log()[offset..].to_string()
}

/// A certificate's end (`openssl x509 -enddate`), Unix seconds.
pub fn not_after(cert: &Path) -> i64 {
    let out = super::run_ok(
        std::process::Command::new("openssl")
            .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
            .arg(cert),
        "openssl x509 -enddate",
    );
    let text = super::stdout(&out);
    let date = text
        .trim()
        .trim_start_matches("notAfter=")
        .replace(' ', "T");
    humantime::parse_rfc3339(&date)
        .unwrap_or_else(|e| panic!("{date}: {e}"))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}
