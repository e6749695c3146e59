//! Renewed certificates applied to the running mariadbd, without a restart.
//!
//! Galera reads `--galera-tls-dir`'s files when mariadbd starts and keeps them: a Secret
//! renewed in place (cert-manager renews at two thirds of a certificate's lifetime; the
//! kubelet swaps the mounted files at once) would otherwise stay unused until the pod restarts,
//! and the node would present the old certificate until it expires, then be refused by every
//! peer it reconnects to. So the running loop reads the three files every [`CHECK_EVERY`];
//! when they differ from what mariadbd loaded, [`decide`] (pure) checks them
//! (`tls_certs::check_all`: dates, issuer, the key belongs to the certificate) and either applies them — `SET GLOBAL
//! wsrep_provider_options='socket.ssl_reload=1'` as root, which makes Galera build a new TLS
//! context from the same paths for its next connections — or refuses, keeping what mariadbd
//! has, and says why (once per different reason). SST needs nothing: the SST scripts read the
//! files at each transfer. One log line per decision; while the certificate in use expires
//! within `tls_certs::EXPIRY_WARNING`, a warning every [`WARN_EVERY`].

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::node::Node;
use super::tls::TlsFiles;
use super::tls_certs::{check_all, expiry_warning, Leaf};

/// How often the running loop reads the certificate files.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// How often the expiry warning is repeated.
pub const WARN_EVERY: Duration = Duration::from_secs(3600);

/// The contents of the three files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OnDisk {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub ca: Vec<u8>,
}

impl OnDisk {
    /// Read the three files; an error names the file.
    pub fn read(files: &TlsFiles) -> Result<OnDisk, String> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("{} cannot be read ({e})", p.display()))
        };
        Ok(OnDisk {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
            ca: read(&files.ca)?,
        })
    }

    /// The names of the files that differ from `other`'s.
    fn changed_from(&self, other: &OnDisk) -> Vec<&'static str> {
        [
            ("tls.crt", self.cert != other.cert),
            ("tls.key", self.key != other.key),
            ("ca.crt", self.ca != other.ca),
        ]
        .into_iter()
        .filter_map(|(n, d)| d.then_some(n))
        .collect()
    }
}

/// What to do about the files on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// They are what mariadbd loaded.
    Keep,
    /// Apply them (the certificate they hold; why, for the log line).
    Apply(Leaf, String),
    /// They changed but must not be applied; why (stable while the files stay as they are).
    Refuse(String),
}

/// Decide about the files on disk (`disk`) given what mariadbd loaded, at Unix time `now`.
pub fn decide(now: i64, loaded: &OnDisk, disk: &Result<OnDisk, String>) -> Reload {
    let disk = match disk {
        Ok(d) => d,
        Err(e) => return Reload::Refuse(format!("{e}; mariadbd keeps the certificates it loaded")),
    };
    let changed = disk.changed_from(loaded);
    if changed.is_empty() {
        return Reload::Keep;
    }
    let changed = changed.join(", ");
    match check_all(now, &disk.cert, &disk.key, &disk.ca) {
        Ok(leaf) => {
            let why = format!(
                "{changed} changed on disk; the new tls.crt is {}",
                leaf.describe()
            );
            Reload::Apply(leaf, why)
        }
        Err(p) => Reload::Refuse(format!(
            "{changed} changed on disk but {p}; mariadbd keeps the certificates it loaded"
        )),
    }
}

/// The running loop's memory of the certificates (`--galera-tls-dir` only).
#[derive(Debug, Default)]
pub struct TlsWatch {
    next_check: Option<Instant>,
    /// What the last "not reloading" warning was about (a hash of the files, or of the read
    /// error, and of the kind of warning): said again only when the files change, not every
    /// [`CHECK_EVERY`] (a refusal's text can hold the time).
    said: Option<u64>,
    warned_at: Option<Instant>,
}

impl TlsWatch {
    /// Every [`CHECK_EVERY`]: read the files, decide, act; warn while the certificate in use
    /// is near its end. Never stops the loop: failures are logged.
    pub async fn poll(&mut self, node: &mut Node) {
        let Some(dir) = node.cfg.opts.galera_tls_dir.clone() else {
            return;
        };
        if self.next_check.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.next_check = Some(Instant::now() + CHECK_EVERY);
        let Some((loaded, _)) = node.tls_loaded.clone() else {
            return;
        };
        let now = crate::etcd::unix_now();
        let disk = OnDisk::read(&TlsFiles::in_dir(&dir));
        match decide(now, &loaded, &disk) {
            Reload::Keep => self.said = None,
            Reload::Refuse(why) => {
                if self.first_time(&disk, "refused") {
                    warn!("not reloading the Galera certificates: {why}");
                }
            }
            Reload::Apply(new_leaf, why) => {
                if self.apply(node, &disk, &why).await {
                    if let Ok(disk) = disk {
                        node.state.current.tls_expires_at = Some(new_leaf.not_after);
                        node.tls_loaded = Some((disk, Some(new_leaf)));
                    }
                    self.said = None;
                    self.warned_at = None;
                }
            }
        }
        let in_use = node.tls_loaded.as_ref().and_then(|(_, l)| l.as_ref());
        if let Some(w) = in_use.and_then(|l| expiry_warning(now, l)) {
            if self.warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                warn!("{w}");
                self.warned_at = Some(Instant::now());
            }
        }
    }

    /// Whether this is the first warning of `kind` about these files (remembered).
    fn first_time(&mut self, disk: &Result<OnDisk, String>, kind: &str) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (disk, kind).hash(&mut h);
        let key = h.finish();
        let first = self.said != Some(key);
        self.said = Some(key);
        first
    }

    /// `socket.ssl_reload=1` as root; true when mariadbd took it.
    async fn apply(&mut self, node: &mut Node, disk: &Result<OnDisk, String>, why: &str) -> bool {
        let Some(password) = node.cfg.users.root_password.clone() else {
            if self.first_time(disk, "no root password") {
                warn!(
                    "{why}, but reloading them needs root's password (GALERA_ROOT_PASSWORD or \
                     GALERA_ROOT_PASSWORD_FILE); restart this pod to apply them"
                );
            }
            return false;
        };
        let root = crate::mysql::Credentials {
            user: Some("root".into()),
            password: Some(password),
        };
        match crate::mysql::execute(
            &node.cfg.endpoint,
            &root,
            "SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'",
            crate::galera::bounds::STATUS_QUERY,
        )
        .await
        {
            Ok(()) => {
                info!("reloaded the Galera certificates: {why} (socket.ssl_reload)");
                true
            }
            Err(e) => {
                let note = format!(
                    "{why}, but mariadbd refused to reload them ({e}); it keeps the ones it \
                     loaded; trying again every {CHECK_EVERY:?}"
                );
                if node.notes.due(&note) {
                    warn!("{note}");
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA1: &[u8] = include_bytes!("testdata/ca1.crt");
    const CA2: &[u8] = include_bytes!("testdata/ca2.crt");
    const LEAF1: &[u8] = include_bytes!("testdata/leaf1.crt");
    const CHAIN: &[u8] = include_bytes!("testdata/chain.crt");
    /// The key of LEAF1 and CHAIN's leaf, as PKCS#8 and as PKCS#1 (other bytes, same key).
    const KEY: &[u8] = include_bytes!("testdata/leaf.key");
    const KEY_PKCS1: &[u8] = include_bytes!("testdata/leaf-pkcs1.key");
    /// Another key (EC).
    const OTHER_KEY: &[u8] = include_bytes!("testdata/ec.key");
    const NOW: i64 = 1_796_693_018 + 60;

    fn disk(cert: &[u8], key: &[u8], ca: &[u8]) -> OnDisk {
        OnDisk {
            cert: cert.to_vec(),
            key: key.to_vec(),
            ca: ca.to_vec(),
        }
    }

    #[test]
    fn decide_table() {
        let loaded = disk(LEAF1, KEY, CA1);
        let bundle = [CA1, CA2].concat();
        // (files on disk, want: Keep / Apply(serial, words) / Refuse(words))
        enum Want<'a> {
            Keep,
            Apply(&'a str, &'a [&'a str]),
            Refuse(&'a [&'a str]),
        }
        let cases: Vec<(Result<OnDisk, String>, Want)> = vec![
            (Ok(loaded.clone()), Want::Keep),
            // A renewal: a new certificate and key from the same CA.
            (
                Ok(disk(CHAIN, KEY_PKCS1, CA1)),
                Want::Apply("1002", &["tls.crt, tls.key changed", "serial 1002"]),
            ),
            // A CA replacement's first step: only ca.crt, now a bundle.
            (
                Ok(disk(LEAF1, KEY, &bundle)),
                Want::Apply("1001", &["ca.crt changed"]),
            ),
            // A new ca.crt that no longer holds the CA of the certificate: refused.
            (
                Ok(disk(LEAF1, KEY, CA2)),
                Want::Refuse(&["ca.crt changed", "not signed by a CA in ca.crt", "keeps"]),
            ),
            // A certificate with another issuance's key: refused.
            (
                Ok(disk(LEAF1, OTHER_KEY, CA1)),
                Want::Refuse(&["tls.key changed", "not the key of tls.crt", "keeps"]),
            ),
            (
                Ok(disk(b"garbage", KEY, CA1)),
                Want::Refuse(&["tls.crt changed", "no CERTIFICATE", "keeps"]),
            ),
            (
                Err("/tls/tls.crt cannot be read (No such file)".into()),
                Want::Refuse(&["/tls/tls.crt cannot be read", "keeps"]),
            ),
        ];
        for (i, (on_disk, want)) in cases.into_iter().enumerate() {
            let got = decide(NOW, &loaded, &on_disk);
            match (want, &got) {
                (Want::Keep, Reload::Keep) => {}
                (Want::Apply(serial, words), Reload::Apply(leaf, why)) => {
                    assert_eq!(leaf.serial, serial, "case {i}");
                    for w in words {
                        assert!(why.contains(w), "case {i}: {w:?} not in {why}");
                    }
                }
                (Want::Refuse(words), Reload::Refuse(why)) => {
                    for w in words {
                        assert!(why.contains(w), "case {i}: {w:?} not in {why}");
                    }
                }
                _ => panic!("case {i}: got {got:?}"),
            }
        }
        // An expired renewal is refused with its date.
        let later = 1_867_973_018 + 365 * 24 * 3600;
        match decide(later, &loaded, &Ok(disk(CHAIN, KEY_PKCS1, CA1))) {
            Reload::Refuse(why) => assert!(why.contains("expired on"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
