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
    /// This node's address: an IP address (IPv6 bare or in brackets) or a host name, without
    /// a port [default: $POD_IP, else the host name's address, IPv4 first]
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

    /// The node address: the flag, else `POD_IP`, else the address the host name resolves to
    /// ([`crate::net_addr::choose_host_address`]: IPv4 first, IPv6 on an IPv6-only host). Stored
    /// bare and canonical (`[fd00::2]` → `fd00::2`, [`crate::net_addr::parse_node_address`]).
    pub fn resolved_node_address(&self) -> Result<String, ConfigError> {
        resolve_node_address(
            self.node_address.as_deref(),
            std::env::var("POD_IP").ok().as_deref(),
            || {
                let host = nix::unistd::gethostname()
                    .map_err(|e| format!("no host name: {e}"))?
                    .to_string_lossy()
                    .into_owned();
                use std::net::ToSocketAddrs;
                let ips = (host.as_str(), 0)
                    .to_socket_addrs()
                    .map(|it| it.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                Ok((host, ips))
            },
        )
    }
}

/// Which node address (pure but for `resolve_host`, called only when neither the flag nor a
/// non-blank `POD_IP` is given; it returns the host name and what it resolves to). Every error
/// names `--node-address` and the fix.
pub fn resolve_node_address(
    flag: Option<&str>,
    pod_ip: Option<&str>,
    resolve_host: impl FnOnce() -> Result<(String, Vec<std::net::IpAddr>), String>,
) -> Result<String, ConfigError> {
    use crate::net_addr::{choose_host_address, parse_node_address};
    if let Some(a) = flag {
        return parse_node_address(a).map_err(|p| {
            ConfigError::new(
                "--node-address",
                format!("{p}; set --node-address / GALERA_NODE_ADDRESS to this node's IP address"),
            )
        });
    }
    if let Some(ip) = pod_ip.filter(|ip| !ip.trim().is_empty()) {
        return parse_node_address(ip).map_err(|p| {
            ConfigError::new(
                "--node-address",
                format!(
                    "POD_IP: {p}; set POD_IP from the pod's status.podIP, or set \
                     --node-address / GALERA_NODE_ADDRESS"
                ),
            )
        });
    }
    let (host, ips) = resolve_host().map_err(|e| ConfigError::new("--node-address", e))?;
    choose_host_address(&ips)
        .map(|ip| ip.to_string())
        .ok_or_else(|| {
            ConfigError::new(
                "--node-address",
                format!("host name `{host}` does not resolve; set --node-address or POD_IP"),
            )
        })
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
    fn node_address_sources_table() {
        use std::net::IpAddr;
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let host = |ips: Vec<IpAddr>| move || Ok(("g-0".to_string(), ips));
        // (flag, POD_IP, resolved host addresses, Ok(address) | Err(text in the problem))
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Vec<IpAddr>,
            Result<&'a str, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (Some("10.0.0.2"), Some("10.0.0.9"), vec![], Ok("10.0.0.2")),
            (Some("[fd00::2]"), None, vec![], Ok("fd00::2")),
            (Some("fd00::2"), None, vec![], Ok("fd00::2")),
            (Some("a b"), None, vec![], Err("GALERA_NODE_ADDRESS")),
            (Some("10.0.0.2:4567"), None, vec![], Err("no port")),
            (Some(""), None, vec![], Err("empty")),
            (None, Some(" fd00::7 "), vec![], Ok("fd00::7")),
            (None, Some("[fd00::7]"), vec![], Ok("fd00::7")),
            (None, Some("10.0.0.7"), vec![ip("10.9.9.9")], Ok("10.0.0.7")),
            (None, Some("x/y"), vec![], Err("POD_IP")),
            (None, Some("  "), vec![ip("10.0.0.3")], Ok("10.0.0.3")),
            (
                None,
                None,
                vec![ip("10.0.0.3"), ip("fd00::3")],
                Ok("10.0.0.3"),
            ),
            (None, None, vec![ip("::1"), ip("fd00::3")], Ok("fd00::3")),
            (None, None, vec![], Err("does not resolve")),
        ];
        for (flag, pod_ip, ips, want) in cases {
            let got = resolve_node_address(flag, pod_ip, host(ips.clone()));
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{flag:?} {pod_ip:?} {ips:?}"),
                (Err(needle), Err(e)) => {
                    assert_eq!(e.option, "--node-address");
                    assert!(e.problem.contains(needle), "{flag:?} {pod_ip:?}: {e}");
                }
                _ => panic!("{flag:?} {pod_ip:?} {ips:?}: want {want:?}, got {got:?}"),
            }
        }
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
