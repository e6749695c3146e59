//! The my.cnf of every test server, rendered from the one template `templates/my.cnf.in`
//! (docs/design.md §7): its files under one directory, one loopback address, small memory,
//! and — for Galera nodes — rsync SST with the provider and IST listening on that address.
//! Also the datadir initialisation they share. scripts/render-mycnf renders the same template
//! with sed (playground, bench); tests/mycnf_template.rs checks both renderers and the committed
//! renderings (docker/my.cnf, k8s/configmap.yaml).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The template (its `##` notes list the placeholders and the rules).
pub const TEMPLATE: &str = include_str!("../../templates/my.cnf.in");

/// The template's placeholder names (`@NAME@` and `@?NAME@` outside the `##` notes).
pub fn placeholders() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in TEMPLATE.lines().filter(|l| !l.starts_with("##")) {
        let mut rest = line;
        while let Some(start) = rest.find('@') {
            let after = &rest[start + 1..];
            let after = after.strip_prefix('?').unwrap_or(after);
            let len = after
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..len];
            if len > 0
                && after[len..].starts_with('@')
                && name.starts_with(|c: char| c.is_ascii_uppercase())
            {
                names.insert(name.to_string());
                rest = &after[len + 1..];
            } else {
                rest = &rest[start + 1..];
            }
        }
    }
    names
}

/// Render the template with `values`, which must name every placeholder exactly once (each
/// value one line; panics otherwise): `##` lines are left out, and so is every line naming a
/// placeholder whose value is empty; `@?NAME@` becomes nothing, `@NAME@` the value. The same
/// rules as scripts/render-mycnf.
pub fn render(values: &[(&str, &str)]) -> String {
    let names = placeholders();
    let mut given = BTreeSet::new();
    for (k, v) in values {
        assert!(
            names.contains(*k),
            "{k}: no such placeholder in templates/my.cnf.in"
        );
        assert!(given.insert(*k), "{k} given twice");
        assert!(!v.contains('\n'), "{k}: the value must be one line");
    }
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !given.contains(n.as_str()))
        .collect();
    assert!(missing.is_empty(), "no value for: {missing:?}");
    let mut out = String::new();
    for line in TEMPLATE.lines().filter(|l| !l.starts_with("##")) {
        let left_out = values.iter().any(|(k, v)| {
            v.is_empty() && (line.contains(&format!("@{k}@")) || line.contains(&format!("@?{k}@")))
        });
        if left_out {
            continue;
        }
        let mut l = line.to_string();
        for (k, v) in values {
            l = l
                .replace(&format!("@?{k}@"), "")
                .replace(&format!("@{k}@"), v);
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The template's values for one test server (start with [`server`]).
#[derive(Debug, Clone)]
pub struct Values(Vec<(&'static str, String)>);

impl Values {
    /// Set `name` (a placeholder of the template) to `value`.
    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> Values {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value.into(),
            None => self.0.push((name, value.into())),
        }
        self
    }

    /// A Galera node on the server's address: rsync SST, gcache 16M, group communication on
    /// `ip:4567`, IST on `ip:4568`; `provider_extra` (`;key=value…`) is appended to
    /// `wsrep_provider_options`. On an IPv6 address only group communication is set (on
    /// `[ip]:4567`: Galera's default listens on every IPv4 address, and the entrypoint's default
    /// for an IPv6 node on every IPv6 one — three nodes on one host need their own): IST and SST
    /// addresses are left to what the entrypoint and MariaDB derive from the node address, as
    /// on Kubernetes.
    pub fn galera(self, cluster: &str, provider_extra: &str) -> Values {
        let ip = self.get("BIND_ADDRESS").to_string();
        let v6 = ip.contains(':');
        let (host, sst, ist) = if v6 {
            (format!("[{ip}]"), String::new(), String::new())
        } else {
            (ip.clone(), ip.clone(), format!(";ist.recv_addr={ip}:4568"))
        };
        self.set("WSREP_PROVIDER", "/usr/lib/galera/libgalera_smm.so")
            .set("CLUSTER_NAME", cluster)
            .set("SST_METHOD", "rsync")
            .set("SST_RECEIVE_ADDRESS", sst)
            .set(
                "PROVIDER_OPTIONS",
                format!(
                    "gcache.size=16M;gmcast.listen_addr=tcp://{host}:4567{ist}{provider_extra}"
                ),
            )
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} not set"))
    }

    /// The values as [`render`] takes them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The my.cnf text; it ends in the `[mysqld]` section, so callers may append its lines.
    pub fn render(&self) -> String {
        render(&self.pairs())
    }
}

/// A plain test server (no Galera; [`Values::galera`] makes it a node): data, socket, pid file
/// and error log under `dir`, `tmpdir` (a Galera node needs its own: a starting mariadbd
/// deletes every `#sql*` file in it), `ip:port`, small memory. Nothing of the image's settings
/// (skip-host-cache, character set, reserved port, `[client]`).
pub fn server(dir: &Path, ip: &str, port: u16, tmpdir: &Path) -> Values {
    let d = dir.display();
    Values(Vec::new())
        .set("TITLE", "a galera-sidecar test server (tests/common)")
        .set("PORT", port.to_string())
        .set("BIND_ADDRESS", ip)
        .set("SOCKET", format!("{d}/mysqld.sock"))
        .set("PID_FILE", format!("{d}/mysqld.pid"))
        .set("DATADIR", format!("{d}/data"))
        .set("LOG_ERROR", format!("{d}/error.log"))
        .set("TMPDIR", tmpdir.display().to_string())
        .set("SKIP_HOST_CACHE", "")
        .set("CHARACTER_SET", "")
        .set("COLLATION", "")
        .set("PERFORMANCE_SCHEMA", "OFF")
        .set("BUFFER_POOL_SIZE", "16M")
        .set("BUFFER_POOL_SIZE_MAX", "16M")
        .set("LOG_FILE_SIZE", "16M")
        .set("FLUSH_LOG_AT_TRX_COMMIT", "")
        .set("MAX_CONNECTIONS", "")
        .set("EXTRA_PORT", "")
        .set("EXTRA_MAX_CONNECTIONS", "")
        .set("WSREP_PROVIDER", "")
        .set("CLUSTER_NAME", "")
        .set("SST_METHOD", "")
        .set("SST_RECEIVE_ADDRESS", "")
        .set("PROVIDER_OPTIONS", "")
        .set("TLS_DIR", "")
        .set("CLIENT_SOCKET", "")
}

/// `mariadb-install-db` for the datadir of `cnf`, as `mysql`, wsrep off (with wsrep on it
/// fails: docs/design.md §7); `extra` arguments appended. Panics with its stderr on failure.
pub fn install_db(cnf: &Path, extra: &[&str]) {
    super::run_ok(
        Command::new("mariadb-install-db")
            .arg(format!("--defaults-file={}", cnf.display()))
            .args(["--user=mysql", "--skip-test-db", "--wsrep-on=OFF"])
            .args(extra),
        "mariadb-install-db",
    );
}
