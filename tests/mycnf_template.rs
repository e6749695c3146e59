//! The one my.cnf template, templates/my.cnf.in, against everything rendered from it outside
//! the tests: docker/my.cnf (the image's /etc/galera/my.cnf) and the my.cnf of
//! k8s/configmap.yaml are committed renderings with the values below, and scripts/render-mycnf
//! (sed; scripts/playground and scripts/bench use it) must give the text tests/common/mycnf.rs
//! gives. No server, no database: text only (and bash + sed).
//!
//! After changing the template or the values here, `GALERA_UPDATE_MYCNF=1 cargo test --test
//! mycnf_template` rewrites docker/my.cnf and the ConfigMap's my.cnf; review the diff.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::mycnf::{render, server};

/// The image's values (docker/my.cnf, also used by docker/compose.yaml and scripts/image-test).
const IMAGE: &[(&str, &str)] = &[
    (
        "TITLE",
        "my.cnf of the galera-sidecar image and docker/compose.yaml: small, to try it and for the \
         image test",
    ),
    ("PORT", "33306"),
    ("BIND_ADDRESS", "0.0.0.0"),
    ("SOCKET", "/run/mysqld/mysqld.sock"),
    ("PID_FILE", "/run/mysqld/mysqld.pid"),
    ("DATADIR", "/var/lib/mysql-volume/mysql-data"),
    ("LOG_ERROR", ""),
    ("TMPDIR", ""),
    ("SKIP_HOST_CACHE", "yes"),
    ("CHARACTER_SET", "utf8mb4"),
    ("COLLATION", "utf8mb4_general_ci"),
    ("PERFORMANCE_SCHEMA", "OFF"),
    ("BUFFER_POOL_SIZE", "16M"),
    ("BUFFER_POOL_SIZE_MAX", "16M"),
    ("LOG_FILE_SIZE", "16M"),
    ("FLUSH_LOG_AT_TRX_COMMIT", ""),
    ("MAX_CONNECTIONS", "100"),
    ("EXTRA_PORT", "33307"),
    ("EXTRA_MAX_CONNECTIONS", "10"),
    ("WSREP_PROVIDER", "/usr/lib/galera/libgalera_smm.so"),
    ("CLUSTER_NAME", ""),
    ("SST_METHOD", "rsync"),
    ("SST_RECEIVE_ADDRESS", ""),
    (
        "PROVIDER_OPTIONS",
        "gcache.size=32M;evs.suspect_timeout=PT5S;evs.inactive_timeout=PT10S",
    ),
    ("TLS_DIR", ""),
    ("CLIENT_SOCKET", "/run/mysqld/mysqld.sock"),
];

/// The Kubernetes values (the ConfigMap galera-config of k8s/configmap.yaml): sized for the
/// StatefulSet's 1Gi galera container, mariabackup SST.
const KUBERNETES: &[(&str, &str)] = &[
    (
        "TITLE",
        "my.cnf of the Kubernetes StatefulSet (/etc/galera/my.cnf), sized for its 1Gi galera \
         container",
    ),
    ("PORT", "33306"),
    ("BIND_ADDRESS", "0.0.0.0"),
    ("SOCKET", "/run/mysqld/mysqld.sock"),
    ("PID_FILE", "/run/mysqld/mysqld.pid"),
    ("DATADIR", "/var/lib/mysql-volume/mysql-data"),
    ("LOG_ERROR", ""),
    ("TMPDIR", ""),
    ("SKIP_HOST_CACHE", "yes"),
    ("CHARACTER_SET", "utf8mb4"),
    ("COLLATION", "utf8mb4_general_ci"),
    ("PERFORMANCE_SCHEMA", ""),
    ("BUFFER_POOL_SIZE", "512M"),
    ("BUFFER_POOL_SIZE_MAX", ""),
    ("LOG_FILE_SIZE", "128M"),
    ("FLUSH_LOG_AT_TRX_COMMIT", "1"),
    ("MAX_CONNECTIONS", "500"),
    ("EXTRA_PORT", "33307"),
    ("EXTRA_MAX_CONNECTIONS", "10"),
    ("WSREP_PROVIDER", "/usr/lib/galera/libgalera_smm.so"),
    ("CLUSTER_NAME", ""),
    ("SST_METHOD", "mariabackup"),
    ("SST_RECEIVE_ADDRESS", ""),
    (
        "PROVIDER_OPTIONS",
        "gcache.size=512M;evs.suspect_timeout=PT5S;evs.inactive_timeout=PT15S",
    ),
    ("TLS_DIR", "/etc/galera-tls"),
    ("CLIENT_SOCKET", "/run/mysqld/mysqld.sock"),
];

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn updating() -> bool {
    std::env::var_os("GALERA_UPDATE_MYCNF").is_some_and(|v| v == "1")
}

/// `expected` and `actual` equal, or a panic naming the first differing line.
fn assert_same(what: &str, expected: &str, actual: &str) {
    if expected == actual {
        return;
    }
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let i = (0..e.len().max(a.len()))
        .find(|&i| e.get(i) != a.get(i))
        .unwrap_or(e.len());
    panic!(
        "{what} is not templates/my.cnf.in rendered with its values (tests/mycnf_template.rs); \
         first difference at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
         (after a change to the template: GALERA_UPDATE_MYCNF=1 cargo test --test mycnf_template)\n\
         --- expected:\n{expected}",
        i + 1,
        e.get(i),
        a.get(i),
    );
}

#[test]
fn docker_my_cnf_is_the_template_rendered_for_the_image() {
    let path = repo("docker/my.cnf");
    let want = render(IMAGE);
    if updating() {
        std::fs::write(&path, &want).expect("write docker/my.cnf");
    }
    let have = std::fs::read_to_string(&path).expect("read docker/my.cnf");
    assert_same("docker/my.cnf", &want, &have);
}

/// The `my.cnf: |` block of k8s/configmap.yaml: its line range and its text (indent removed).
fn configmap_block(yaml: &str) -> (usize, usize, String) {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "  my.cnf: |")
        .expect("k8s/configmap.yaml has a `  my.cnf: |` block")
        + 1;
    let mut end = start;
    while end < lines.len() && (lines[end].is_empty() || lines[end].starts_with("    ")) {
        end += 1;
    }
    // Blank lines at the end of a block scalar are not part of its text.
    while end > start && lines[end - 1].is_empty() {
        end -= 1;
    }
    let text: String = lines[start..end]
        .iter()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    (start, end, text)
}

#[test]
fn k8s_configmap_my_cnf_is_the_template_rendered_for_kubernetes() {
    let path = repo("k8s/configmap.yaml");
    let want = render(KUBERNETES);
    if updating() {
        let yaml = std::fs::read_to_string(&path).expect("read k8s/configmap.yaml");
        let (start, end, _) = configmap_block(&yaml);
        let lines: Vec<&str> = yaml.lines().collect();
        let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
        out.extend(want.lines().map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        }));
        out.extend(lines[end..].iter().map(|l| l.to_string()));
        std::fs::write(&path, out.join("\n") + "\n").expect("write k8s/configmap.yaml");
    }
    let yaml = std::fs::read_to_string(&path).expect("read k8s/configmap.yaml");
    let (_, _, have) = configmap_block(&yaml);
    assert_same("the my.cnf of k8s/configmap.yaml", &want, &have);
}

/// scripts/render-mycnf with `values`: its stdout, or its exit code and stderr.
fn render_with_sed(values: &[(&str, &str)]) -> Result<String, (Option<i32>, String)> {
    let out = Command::new("bash")
        .arg(repo("scripts/render-mycnf"))
        .args(values.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .expect("run scripts/render-mycnf");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8"))
    } else {
        Err((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

#[test]
fn sed_and_rust_render_the_same_text() {
    let dir = std::path::Path::new("/tmp/a dir/node1");
    let node = server(dir, "127.0.9.2", 3306, &dir.join("tmp"))
        .galera(
            "test",
            ";evs.suspect_timeout=PT5S;evs.inactive_timeout=PT8S",
        )
        .set("FLUSH_LOG_AT_TRX_COMMIT", "1")
        .set("MAX_CONNECTIONS", "50");
    let plain = server(dir, "127.0.9.3", 3307, dir);
    let tls = node.clone().set("TLS_DIR", "/tls");
    // Characters sed's `s|…|…|` would take for its own.
    let odd = plain.clone().set("TITLE", r"a|b & c \1 \n @ / end");
    let cases = [
        ("the image", IMAGE.to_vec()),
        ("Kubernetes", KUBERNETES.to_vec()),
        ("a test node", node.pairs()),
        ("a TLS test node", tls.pairs()),
        ("a plain server", plain.pairs()),
        ("odd characters", odd.pairs()),
    ];
    for (what, values) in cases {
        let sed = render_with_sed(&values)
            .unwrap_or_else(|e| panic!("scripts/render-mycnf failed for {what}: {e:?}"));
        assert_same(&format!("render-mycnf for {what}"), &render(&values), &sed);
    }
    assert!(render(&odd.pairs()).contains(r"# a|b & c \1 \n @ / end"));
}

#[test]
fn a_plain_server_has_no_galera_line_and_ends_in_mysqld() {
    let dir = std::path::Path::new("/d");
    let cnf = server(dir, "127.0.9.3", 3307, dir).render();
    let settings: Vec<&str> = cnf.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !settings
            .iter()
            .any(|l| l.contains("wsrep") || l.contains("binlog_format") || l.contains('@')),
        "{cnf}"
    );
    let last_section = settings.iter().rfind(|l| l.starts_with('[')).unwrap();
    assert_eq!(*last_section, "[mysqld]");
}

#[test]
fn the_renderers_refuse_missing_unknown_and_repeated_names() {
    let mut values = IMAGE.to_vec();
    values.pop();
    assert_eq!(render_with_sed(&values).unwrap_err().0, Some(2));
    values.push(("CLIENT_SOCKET", "/s"));
    values.push(("NO_SUCH_NAME", "x"));
    assert_eq!(render_with_sed(&values).unwrap_err().0, Some(2));
    values.pop();
    values.push(("PORT", "1"));
    assert_eq!(render_with_sed(&values).unwrap_err().0, Some(2));
    for values in [&IMAGE[1..], &values[..]] {
        let values = values.to_vec();
        assert!(std::panic::catch_unwind(|| render(&values)).is_err());
    }
}

/// The Kubernetes my.cnf sends state transfers encrypted with the TLS Secret the StatefulSet
/// mounts at /etc/galera-tls (GALERA_TLS_DIR): the entrypoint's own check passes on it, and
/// finds the image's (no TLS) wanting if GALERA_TLS_DIR were set.
#[test]
fn the_kubernetes_mycnf_encrypts_state_transfers_with_the_mounted_secret() {
    use galera_sidecar::galera::tls::{sst_problem, with_tls, TlsFiles};
    use galera_sidecar::mycnf::MyCnf;
    let files = TlsFiles::in_dir(std::path::Path::new("/etc/galera-tls"));
    let k8s = MyCnf::parse(&render(KUBERNETES));
    assert_eq!(k8s.sst_method(), "mariabackup");
    assert_eq!(sst_problem(k8s.sst_method(), &k8s.sst, &files, false), None);
    let merged = with_tls(k8s.provider_options().unwrap_or(""), &files).expect("no conflict");
    assert!(
        merged.contains("socket.ssl_cert=/etc/galera-tls/tls.crt"),
        "{merged}"
    );
    let image = MyCnf::parse(&render(IMAGE));
    let problem = sst_problem(image.sst_method(), &image.sst, &files, true).expect("no [sst]");
    assert!(problem.contains("no ssl-mode"), "{problem}");
}
