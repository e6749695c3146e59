//! Encrypted replication (pure rules; docs/operations.md §16). With `--galera-tls-dir` the
//! directory holds `tls.crt`, `tls.key` and `ca.crt` (a Kubernetes TLS Secret with its CA, as
//! cert-manager writes it), and:
//! - Galera's own traffic (group communication on 4567, IST on 4568) uses them through the
//!   `socket.ssl_*` provider options, which the entrypoint adds to the configured ones (its
//!   command-line value replaces my.cnf's whole, so nothing configured may be lost);
//! - the state-transfer scripts, which read only my.cnf, must be set up in its `[sst]` section
//!   with the same files and a verifying `ssl-mode`, else a joiner's full copy of the data
//!   would cross the network in plain text: the entrypoint refuses to start, naming the lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::galera::mysqld::{append_option, option_value};

/// The certificate, key and CA file names in the TLS directory.
pub const CERT: &str = "tls.crt";
pub const KEY: &str = "tls.key";
pub const CA: &str = "ca.crt";

/// The three files of a TLS directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl TlsFiles {
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            cert: dir.join(CERT),
            key: dir.join(KEY),
            ca: dir.join(CA),
        }
    }

    /// The provider options that turn TLS on, in the order they are added.
    fn provider_options(&self) -> [(&'static str, String); 4] {
        [
            ("socket.ssl", "YES".to_string()),
            ("socket.ssl_cert", self.cert.display().to_string()),
            ("socket.ssl_key", self.key.display().to_string()),
            ("socket.ssl_ca", self.ca.display().to_string()),
        ]
    }

    /// The `[sst]` lines that make the SST scripts use these files (for error messages and
    /// the docs).
    pub fn sst_lines(&self) -> String {
        format!(
            "[sst]\nssl-mode = VERIFY_CA\ntca = {}\ntcert = {}\ntkey = {}",
            self.ca.display(),
            self.cert.display(),
            self.key.display()
        )
    }
}

fn is_yes(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1")
}

/// The provider options with TLS on: the given ones kept, the `socket.ssl*` ones added. A
/// configured `socket.ssl_cert`/`_key`/`_ca` naming another file, `socket.ssl=NO`, or
/// `socket.dynamic=YES` (which lets plain-text peers in) is refused: the error says which
/// and what to do.
pub fn with_tls(options: &str, files: &TlsFiles) -> Result<String, String> {
    if let Some(v) = option_value(options, "socket.dynamic") {
        if is_yes(v) {
            return Err(format!(
                "the provider options set socket.dynamic={v}, which accepts plain-text peers \
                 beside TLS ones; remove it from wsrep_provider_options when using \
                 --galera-tls-dir"
            ));
        }
    }
    let mut out = options.trim().to_string();
    for (key, want) in files.provider_options() {
        match option_value(options, key) {
            None => append_option(&mut out, &format!("{key}={want}")),
            Some(v) if key == "socket.ssl" && is_yes(v) => {}
            Some(v) if v == want => {}
            Some(v) => {
                return Err(format!(
                    "the provider options set {key}={v} but --galera-tls-dir gives {want}; \
                     remove {key} from wsrep_provider_options (the entrypoint adds it) or \
                     drop --galera-tls-dir"
                ));
            }
        }
    }
    Ok(out)
}

/// What the SST would be sent with, given my.cnf's `[sst]` section (names normalised:
/// `ssl_mode`), the SST method, and whether stunnel (rsync's TLS tunnel) is installed.
/// `None`: encrypted with the directory's files; `Some(problem)`: a sentence naming what is
/// wrong and the fix.
pub fn sst_problem(
    method: &str,
    sst: &BTreeMap<String, String>,
    files: &TlsFiles,
    stunnel: bool,
) -> Option<String> {
    let fix = format!(
        "add to the my.cnf:\n{}\n(or drop --galera-tls-dir)",
        files.sst_lines()
    );
    match method {
        "mariabackup" => {}
        "rsync" if stunnel => {}
        "rsync" => {
            return Some(
                "wsrep_sst_method=rsync encrypts through stunnel, which is not installed; \
                 install stunnel4 or use wsrep_sst_method=mariabackup"
                    .into(),
            )
        }
        other => {
            return Some(format!(
                "wsrep_sst_method={other} cannot encrypt a state transfer with certificates; \
                 use wsrep_sst_method=mariabackup"
            ))
        }
    }
    let sst = |name: &str| sst.get(name).map(String::as_str);
    let mode = sst("ssl_mode").map(|m| m.to_ascii_uppercase());
    match mode.as_deref() {
        Some("VERIFY_CA") | Some("VERIFY_IDENTITY") => {}
        None => {
            return Some(format!(
                "--galera-tls-dir is set but the my.cnf's [sst] section has no ssl-mode, so a \
                 state transfer would be sent in plain text; {fix}"
            ))
        }
        Some(m) => {
            return Some(format!(
                "[sst] ssl-mode={m} does not verify the peer's certificate; use VERIFY_CA or \
                 VERIFY_IDENTITY: {fix}"
            ))
        }
    }
    if let Some(e) = sst("encrypt") {
        if !matches!(e.trim(), "3" | "4") {
            return Some(format!(
                "[sst] encrypt={e} does not use the certificates; remove it (ssl-mode alone \
                 turns certificate encryption on): {fix}"
            ));
        }
    }
    for (names, want) in [
        (["tca", "ssl_ca"], &files.ca),
        (["tcert", "ssl_cert"], &files.cert),
        (["tkey", "ssl_key"], &files.key),
    ] {
        let got = names.iter().find_map(|n| sst(n));
        let want = want.display().to_string();
        match got {
            Some(g) if g == want => {}
            Some(g) => {
                return Some(format!(
                    "[sst] {}={g} but --galera-tls-dir gives {want}; use the same files for \
                     both: {fix}",
                    names[0]
                ))
            }
            None => {
                return Some(format!(
                    "[sst] has no {} (the SST would not use --galera-tls-dir's files); {fix}",
                    names[0]
                ))
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> TlsFiles {
        TlsFiles::in_dir(Path::new("/tls"))
    }

    const ON: &str = "socket.ssl=YES;socket.ssl_cert=/tls/tls.crt;socket.ssl_key=/tls/tls.key;\
                      socket.ssl_ca=/tls/ca.crt";

    #[test]
    fn provider_options_table() {
        let ok = |input: &str, want: String| {
            assert_eq!(
                with_tls(input, &files()).as_deref(),
                Ok(want.as_str()),
                "{input:?}"
            )
        };
        ok("", ON.to_string());
        ok("pc.recovery=false", format!("pc.recovery=false;{ON}"));
        ok(
            "gcache.size=16M; pc.recovery=false;",
            format!("gcache.size=16M; pc.recovery=false;{ON}"),
        );
        // Already set to the same files (or socket.ssl already on): nothing twice.
        ok(ON, ON.to_string());
        ok(
            "socket.ssl = true; socket.ssl_cert = /tls/tls.crt",
            "socket.ssl = true; socket.ssl_cert = /tls/tls.crt;socket.ssl_key=/tls/tls.key;\
             socket.ssl_ca=/tls/ca.crt"
                .to_string(),
        );
        ok("socket.dynamic=NO", format!("socket.dynamic=NO;{ON}"));
    }

    #[test]
    fn conflicting_provider_options_are_refused() {
        for (input, names) in [
            (
                "socket.ssl_cert=/other/cert.pem",
                "socket.ssl_cert=/other/cert.pem",
            ),
            ("socket.ssl_ca = /etc/ca.pem", "socket.ssl_ca=/etc/ca.pem"),
            ("socket.ssl=NO", "socket.ssl=NO"),
            ("gcache.size=1G;socket.dynamic=YES", "socket.dynamic=YES"),
        ] {
            let e = with_tls(input, &files()).expect_err(input);
            assert!(e.contains(names), "{input}: {e}");
        }
    }

    fn sst_of(lines: &[(&str, &str)]) -> BTreeMap<String, String> {
        lines
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sst_table() {
        let good = [
            ("ssl_mode", "VERIFY_CA"),
            ("tca", "/tls/ca.crt"),
            ("tcert", "/tls/tls.crt"),
            ("tkey", "/tls/tls.key"),
        ];
        let with = |changes: &[(&str, Option<&str>)]| {
            let mut m = sst_of(&good);
            for (k, v) in changes {
                match v {
                    Some(v) => m.insert(k.to_string(), v.to_string()),
                    None => m.remove(*k),
                };
            }
            m
        };
        // (method, [sst], stunnel installed, None = fine / Some(words the problem names))
        type Case<'a> = (&'a str, BTreeMap<String, String>, bool, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("mariabackup", with(&[]), false, None),
            ("rsync", with(&[]), true, None),
            (
                "mariabackup",
                with(&[("ssl_mode", Some("verify_identity"))]),
                false,
                None,
            ),
            ("mariabackup", with(&[("encrypt", Some("3"))]), false, None),
            // The new-style names in [sst] are read too.
            (
                "mariabackup",
                with(&[
                    ("tca", None),
                    ("ssl_ca", Some("/tls/ca.crt")),
                    ("tkey", None),
                    ("ssl_key", Some("/tls/tls.key")),
                ]),
                false,
                None,
            ),
            ("rsync", with(&[]), false, Some("stunnel")),
            (
                "mysqldump",
                with(&[]),
                true,
                Some("mysqldump cannot encrypt"),
            ),
            ("mariabackup", BTreeMap::new(), false, Some("no ssl-mode")),
            (
                "mariabackup",
                with(&[("ssl_mode", Some("REQUIRED"))]),
                false,
                Some("REQUIRED"),
            ),
            (
                "mariabackup",
                with(&[("ssl_mode", Some("DISABLED"))]),
                false,
                Some("DISABLED"),
            ),
            (
                "mariabackup",
                with(&[("encrypt", Some("1"))]),
                false,
                Some("encrypt=1"),
            ),
            ("mariabackup", with(&[("tca", None)]), false, Some("no tca")),
            (
                "mariabackup",
                with(&[("tkey", Some("/x/key.pem"))]),
                false,
                Some("/x/key.pem"),
            ),
            (
                "mariabackup",
                with(&[("tcert", None)]),
                false,
                Some("no tcert"),
            ),
        ];
        for (method, sst, stunnel, want) in cases {
            let got = sst_problem(method, &sst, &files(), stunnel);
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(p)) => assert!(p.contains(w), "{method} {sst:?}: {p}"),
                _ => panic!("{method} {sst:?} stunnel={stunnel}: got {got:?}, want {want:?}"),
            }
            // Every problem names its fix.
            if let Some(p) = got {
                assert!(
                    p.contains("mariabackup") || p.contains("[sst]\nssl-mode = VERIFY_CA"),
                    "{p}"
                );
            }
        }
    }
}
