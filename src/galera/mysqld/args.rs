//! mariadbd's command line (pure): what it is started with ([`MysqldArgs`]) and the argument
//! list built from it.

use std::path::PathBuf;

/// What mariadbd is started with (docs/design.md §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqldArgs {
    pub defaults_file: Option<PathBuf>,
    pub datadir: PathBuf,
    pub user: String,
    pub node_name: String,
    /// This node's address, stored bare (`fd00::2`); written in brackets for IPv6.
    pub node_address: String,
    /// Peer addresses (`host` or `host:port`); empty with `new_cluster`.
    pub peers: Vec<String>,
    pub galera_port: u16,
    pub new_cluster: bool,
    pub start_position: Option<String>,
    pub donors: Vec<String>,
    pub provider_options: String,
}

impl MysqldArgs {
    /// The argument list; `--defaults-file` first, as mariadbd requires.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![];
        if let Some(f) = &self.defaults_file {
            a.push(format!("--defaults-file={}", f.display()));
        }
        a.push(format!("--user={}", self.user));
        a.push(format!("--datadir={}", self.datadir.display()));
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|p| crate::net_addr::with_default_port(p, self.galera_port))
            .collect();
        a.push(format!(
            "--wsrep-cluster-address=gcomm://{}",
            peers.join(",")
        ));
        a.push(format!("--wsrep-node-name={}", self.node_name));
        // In brackets for IPv6: Galera takes the node address as a URI authority, and derives
        // `ist.recv_addr` from it as `tcp://<address>:<base_port + 1>`, which is only an address
        // with the brackets; MariaDB parses both forms (see `provider.rs`).
        a.push(format!(
            "--wsrep-node-address={}",
            crate::net_addr::bracket(&self.node_address)
        ));
        if let Some(p) = &self.start_position {
            a.push(format!("--wsrep-start-position={p}"));
        }
        if !self.donors.is_empty() {
            a.push(format!("--wsrep-sst-donor={},", self.donors.join(",")));
        }
        a.push(format!(
            "--wsrep-provider-options={}",
            self.provider_options
        ));
        if self.new_cluster {
            a.push("--wsrep-new-cluster".into());
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_table() {
        let mut a = MysqldArgs {
            defaults_file: Some("/etc/my.cnf".into()),
            datadir: "/var/lib/mysql".into(),
            user: "mysql".into(),
            node_name: "g-1".into(),
            node_address: "10.0.0.2".into(),
            peers: vec!["10.0.0.1".into(), "10.0.0.3:4567".into()],
            galera_port: 4567,
            new_cluster: false,
            start_position: Some("u:5".into()),
            donors: vec!["g-2".into()],
            provider_options: "pc.recovery=false".into(),
        };
        let args = a.to_args();
        assert_eq!(args[0], "--defaults-file=/etc/my.cnf");
        assert!(args
            .contains(&"--wsrep-cluster-address=gcomm://10.0.0.1:4567,10.0.0.3:4567".to_string()));
        assert!(args.contains(&"--wsrep-sst-donor=g-2,".to_string()));
        assert!(args.contains(&"--wsrep-start-position=u:5".to_string()));
        assert!(!args.contains(&"--wsrep-new-cluster".to_string()));
        a.new_cluster = true;
        a.peers.clear();
        a.donors.clear();
        let args = a.to_args();
        assert!(args.contains(&"--wsrep-cluster-address=gcomm://".to_string()));
        assert!(args.contains(&"--wsrep-new-cluster".to_string()));
        assert!(!args.iter().any(|x| x.starts_with("--wsrep-sst-donor")));
    }

    #[test]
    fn addresses_table() {
        // (node address, peers, --wsrep-node-address, --wsrep-cluster-address)
        let cases: &[(&str, &[&str], &str, &str)] = &[
            (
                "10.0.0.2",
                &["10.0.0.1", "10.0.0.3:5000"],
                "--wsrep-node-address=10.0.0.2",
                "--wsrep-cluster-address=gcomm://10.0.0.1:4567,10.0.0.3:5000",
            ),
            (
                "fd00::2",
                &["fd00::1", "[fd00::3]", "[fd00::4]:5000"],
                "--wsrep-node-address=[fd00::2]",
                "--wsrep-cluster-address=gcomm://[fd00::1]:4567,[fd00::3]:4567,[fd00::4]:5000",
            ),
            (
                "g-2.galera.db.svc",
                &["g-1.galera.db.svc"],
                "--wsrep-node-address=g-2.galera.db.svc",
                "--wsrep-cluster-address=gcomm://g-1.galera.db.svc:4567",
            ),
        ];
        for (node, peers, want_node, want_cluster) in cases {
            let a = MysqldArgs {
                defaults_file: None,
                datadir: "/var/lib/mysql".into(),
                user: "mysql".into(),
                node_name: "g-2".into(),
                node_address: node.to_string(),
                peers: peers.iter().map(|p| p.to_string()).collect(),
                galera_port: 4567,
                new_cluster: false,
                start_position: None,
                donors: vec![],
                provider_options: "pc.recovery=false".into(),
            };
            let args = a.to_args();
            assert!(args.contains(&want_node.to_string()), "{node}: {args:?}");
            assert!(args.contains(&want_cluster.to_string()), "{node}: {args:?}");
        }
    }
}
