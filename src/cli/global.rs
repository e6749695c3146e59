//! The options every command takes (etcd endpoints and credentials, cluster and node names,
//! log format), and their checks.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{parse_duration, validate_node_name, ConfigError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options every command uses.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// etcd endpoints, comma-separated (http:// or https://)
    #[arg(
        long,
        global = true,
        env = "GALERA_ETCD_ENDPOINTS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub etcd_endpoints: Vec<String>,
    /// Cluster name: the etcd prefix is /galera/<cluster-name>/
    #[arg(
        long,
        global = true,
        env = "GALERA_CLUSTER_NAME",
        default_value = "k8scluster"
    )]
    pub cluster_name: String,
    /// This node's name (stable; in a StatefulSet the pod name) [default: the host name]
    #[arg(long, global = true, env = "GALERA_NODE_NAME")]
    pub node_name: Option<String>,
    /// This node's address [default: $POD_IP, else the host's address]
    #[arg(long, global = true, env = "GALERA_NODE_ADDRESS")]
    pub node_address: Option<String>,
    /// Log format
    #[arg(
        long,
        global = true,
        env = "GALERA_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// CA certificate to verify etcd's server certificate
    #[arg(long, global = true, env = "GALERA_ETCD_CA_FILE")]
    pub etcd_ca_file: Option<PathBuf>,
    /// Client certificate for etcd (with --etcd-key-file)
    #[arg(long, global = true, env = "GALERA_ETCD_CERT_FILE")]
    pub etcd_cert_file: Option<PathBuf>,
    /// Client key for etcd (with --etcd-cert-file)
    #[arg(long, global = true, env = "GALERA_ETCD_KEY_FILE")]
    pub etcd_key_file: Option<PathBuf>,
    /// etcd user name (with --etcd-password-file)
    #[arg(long, global = true, env = "GALERA_ETCD_USERNAME")]
    pub etcd_username: Option<String>,
    /// File holding the etcd user's password
    #[arg(long, global = true, env = "GALERA_ETCD_PASSWORD_FILE")]
    pub etcd_password_file: Option<PathBuf>,
    /// Timeout of every etcd call
    #[arg(long, global = true, env = "GALERA_ETCD_TIMEOUT", value_parser = parse_duration,
          default_value = "5s")]
    pub etcd_timeout: Duration,
}

/// Validate global options clap cannot check by itself.
pub fn validate_global(g: &GlobalOpts) -> Result<(), ConfigError> {
    validate_cluster_name(&g.cluster_name)?;
    if g.etcd_endpoints.iter().all(|e| e.trim().is_empty()) {
        return Err(ConfigError::new("--etcd-endpoints", "no endpoint given"));
    }
    for e in &g.etcd_endpoints {
        let e = e.trim();
        let rest = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"))
            .unwrap_or(e);
        if rest.is_empty() || rest.contains('/') || rest.contains(' ') {
            return Err(ConfigError::new(
                "--etcd-endpoints",
                format!("`{e}` is not an endpoint; use http://HOST:PORT or https://HOST:PORT"),
            ));
        }
    }
    if let Some(n) = &g.node_name {
        validate_node_name(n).map_err(|p| ConfigError::new("--node-name", p))?;
    }
    if g.etcd_cert_file.is_some() != g.etcd_key_file.is_some() {
        return Err(ConfigError::new(
            "--etcd-cert-file",
            "--etcd-cert-file and --etcd-key-file go together",
        ));
    }
    if g.etcd_username.is_some() != g.etcd_password_file.is_some() {
        return Err(ConfigError::new(
            "--etcd-username",
            "--etcd-username and --etcd-password-file go together",
        ));
    }
    for (opt, f) in [
        ("--etcd-ca-file", &g.etcd_ca_file),
        ("--etcd-cert-file", &g.etcd_cert_file),
        ("--etcd-key-file", &g.etcd_key_file),
        ("--etcd-password-file", &g.etcd_password_file),
    ] {
        if let Some(f) = f {
            if !f.is_file() {
                return Err(ConfigError::new(
                    opt,
                    format!("{} is not a readable file", f.display()),
                ));
            }
        }
    }
    if let Some(f) = &g.etcd_password_file {
        let pw = std::fs::read_to_string(f).map_err(|e| {
            ConfigError::new(
                "--etcd-password-file",
                format!(
                    "{} cannot be read ({e}); mount the etcd password secret there",
                    f.display()
                ),
            )
        })?;
        if pw.trim_end_matches(['\n', '\r']).is_empty() {
            return Err(ConfigError::new(
                "--etcd-password-file",
                format!(
                    "{} is empty; put the password of --etcd-username in it",
                    f.display()
                ),
            ));
        }
    }
    if g.etcd_timeout.is_zero() {
        return Err(ConfigError::new("--etcd-timeout", "must be more than 0"));
    }
    Ok(())
}

/// Cluster names become an etcd path segment: letters, digits, `-`, `_`, `.`.
pub fn validate_cluster_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::new(
            "--cluster-name",
            format!(
                "`{name}` is not a valid cluster name (letters, digits, - _ . only, 1-128 chars)"
            ),
        ));
    }
    Ok(())
}

impl GlobalOpts {
    /// How to reach etcd, from the global options (blank endpoints dropped).
    pub fn etcd_config(&self) -> crate::etcd::EtcdConfig {
        crate::etcd::EtcdConfig {
            endpoints: self
                .etcd_endpoints
                .iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
            timeout: self.etcd_timeout,
            ca_file: self.etcd_ca_file.clone(),
            cert_file: self.etcd_cert_file.clone(),
            key_file: self.etcd_key_file.clone(),
            username: self.etcd_username.clone(),
            password_file: self.etcd_password_file.clone(),
        }
    }

    /// The node name: the flag, else the host name.
    pub fn resolved_node_name(&self) -> Result<String, ConfigError> {
        match &self.node_name {
            Some(n) => Ok(n.clone()),
            None => {
                let h = nix::unistd::gethostname()
                    .map_err(|e| ConfigError::new("--node-name", format!("no host name: {e}")))?;
                let h = h.to_string_lossy().into_owned();
                validate_node_name(&h).map_err(|p| {
                    ConfigError::new("--node-name", format!("host name unusable, set it: {p}"))
                })?;
                Ok(h)
            }
        }
    }

    /// The node address: the flag, else `POD_IP`, else the address the host name resolves to.
    pub fn resolved_node_address(&self) -> Result<String, ConfigError> {
        if let Some(a) = &self.node_address {
            if a.trim().is_empty() || a.contains(' ') || a.contains('/') {
                return Err(ConfigError::new(
                    "--node-address",
                    format!("`{a}` is not an address"),
                ));
            }
            return Ok(a.clone());
        }
        if let Ok(ip) = std::env::var("POD_IP") {
            if !ip.trim().is_empty() {
                return Ok(ip.trim().to_string());
            }
        }
        let host = nix::unistd::gethostname()
            .map_err(|e| ConfigError::new("--node-address", format!("no host name: {e}")))?
            .to_string_lossy()
            .into_owned();
        use std::net::ToSocketAddrs;
        let addr = (host.as_str(), 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.find(|a| a.is_ipv4()))
            .ok_or_else(|| {
                ConfigError::new(
                    "--node-address",
                    format!("host name `{host}` does not resolve; set --node-address or POD_IP"),
                )
            })?;
        Ok(addr.ip().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    #[test]
    fn cluster_names() {
        for ok in ["k8scluster", "prod-eu.1", "a_b"] {
            assert!(validate_cluster_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "with space", "x*"] {
            assert!(validate_cluster_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names() {
        assert!(validate_node_name("galera-0").is_ok());
        assert!(validate_node_name("").is_err());
        assert!(validate_node_name("a/b").is_err());
    }

    #[test]
    fn endpoints_are_checked() {
        let cli = Cli::try_parse_from([
            "galera-sidecar",
            "--etcd-endpoints",
            "http://127.0.0.1:2379,http://x/y",
            "status",
        ])
        .expect("parses");
        let err = validate_global(&cli.global).expect_err("bad endpoint");
        assert_eq!(err.option, "--etcd-endpoints");
    }
}
