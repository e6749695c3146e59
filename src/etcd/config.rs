//! How to reach etcd ([`EtcdConfig`]): the endpoints (with their scheme), the call timeout,
//! TLS files, and the user and password file.

use std::path::PathBuf;
use std::time::Duration;

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl EtcdConfig {
    /// Plain endpoints without a scheme get `http://`, or `https://` when TLS is configured.
    pub(super) fn urls(&self) -> Vec<String> {
        let tls = self.ca_file.is_some() || self.cert_file.is_some();
        self.endpoints
            .iter()
            .map(|e| {
                if e.starts_with("http://") || e.starts_with("https://") {
                    e.clone()
                } else if tls {
                    format!("https://{e}")
                } else {
                    format!("http://{e}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme() {
        let cfg = EtcdConfig {
            endpoints: vec!["127.0.0.1:2379".into(), "https://x:1".into()],
            timeout: Duration::from_secs(1),
            ca_file: None,
            cert_file: None,
            key_file: None,
            username: None,
            password_file: None,
        };
        assert_eq!(cfg.urls(), vec!["http://127.0.0.1:2379", "https://x:1"]);
    }
}
