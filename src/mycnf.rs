//! Reading the my.cnf given to mariadbd (`--defaults-file`): the few values the sidecar needs
//! (socket, port, datadir, pid file, wsrep provider options, the reserved `extra_port`, the SST
//! method and the `[sst]` section's TLS settings). Pure parsing of the text; the sections
//! mariadbd reads are `[mysqld]`, `[server]`, `[mariadb]`, `[galera]`, `[mariadbd]` and their
//! `-10.11` variants, later values winning; the SST scripts read `[sst]`.

use std::collections::BTreeMap;
use std::path::Path;

/// Options of the server sections, names normalised (`-` → `_`, lower-case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MyCnf {
    pub server: BTreeMap<String, String>,
    /// The `[sst]` section (the state-transfer scripts' options).
    pub sst: BTreeMap<String, String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Server,
    Sst,
    Other,
}

fn is_server_section(s: &str) -> bool {
    let s = s.trim().to_ascii_lowercase();
    let base = s.split_once('-').map(|(b, _)| b).unwrap_or(&s);
    matches!(
        base,
        "mysqld" | "server" | "mariadb" | "galera" | "mariadbd"
    ) || s == "client-server"
}

impl MyCnf {
    /// Parse the text of a my.cnf. `!include` lines are not followed.
    pub fn parse(text: &str) -> MyCnf {
        let mut cnf = MyCnf::default();
        let mut section = Section::Other;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.starts_with(';')
                || line.starts_with('!')
            {
                continue;
            }
            if let Some(sec) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = if is_server_section(sec) {
                    Section::Server
                } else if sec.trim().eq_ignore_ascii_case("sst") {
                    Section::Sst
                } else {
                    Section::Other
                };
                continue;
            }
            let map = match section {
                Section::Server => &mut cnf.server,
                Section::Sst => &mut cnf.sst,
                Section::Other => continue,
            };
            let (k, v) = match line.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (line, ""),
            };
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            map.insert(k.replace('-', "_").to_ascii_lowercase(), v.to_string());
        }
        cnf
    }

    pub fn read(path: &Path) -> std::io::Result<MyCnf> {
        Ok(MyCnf::parse(&std::fs::read_to_string(path)?))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.server.get(name).map(String::as_str)
    }

    pub fn socket(&self) -> Option<&str> {
        self.get("socket")
    }
    pub fn port(&self) -> Option<u16> {
        self.get("port").and_then(|p| p.parse().ok())
    }
    pub fn datadir(&self) -> Option<&str> {
        self.get("datadir")
    }
    pub fn pid_file(&self) -> Option<&str> {
        self.get("pid_file")
    }
    /// MariaDB's `extra_port` (0 or unset: none).
    pub fn extra_port(&self) -> Option<u16> {
        self.get("extra_port").and_then(|p| p.parse().ok())
    }
    /// MariaDB's `extra_max_connections` (its default is 1).
    pub fn extra_max_connections(&self) -> Option<u32> {
        self.get("extra_max_connections")
            .and_then(|p| p.parse().ok())
    }
    pub fn bind_address(&self) -> Option<&str> {
        self.get("bind_address")
    }
    pub fn provider_options(&self) -> Option<&str> {
        self.get("wsrep_provider_options")
    }
    /// `wsrep_sst_method` (MariaDB's default is rsync).
    pub fn sst_method(&self) -> &str {
        self.get("wsrep_sst_method").unwrap_or("rsync")
    }
    /// An option of the `[sst]` section (name normalised like the server's).
    pub fn sst(&self, name: &str) -> Option<&str> {
        self.sst.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_sections_only() {
        let c = MyCnf::parse(
            "[client]\nsocket=/wrong\n[mysqld]\nsocket = /run/a.sock\nport=33306\nskip-name-resolve\n\
             [galera]\nwsrep-provider-options=\"gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567\"\n\
             [mariadb-10.11]\ndatadir=/data\n[sst]\nssl-mode = VERIFY_CA\ntca=/tls/ca.crt\n\
             [client]\nssl-mode=REQUIRED\n",
        );
        assert_eq!(c.sst("ssl_mode"), Some("VERIFY_CA"));
        assert_eq!(c.sst("tca"), Some("/tls/ca.crt"));
        assert_eq!(c.get("ssl_mode"), None);
        assert_eq!(c.sst_method(), "rsync");
        assert_eq!(c.socket(), Some("/run/a.sock"));
        assert_eq!(c.port(), Some(33306));
        assert_eq!(c.datadir(), Some("/data"));
        assert_eq!(c.get("skip_name_resolve"), Some(""));
        assert_eq!(
            c.provider_options(),
            Some("gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567")
        );
    }
}
