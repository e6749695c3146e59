//! Who answers on its Galera port: registered nodes, members, `--peers` — evidence for the
//! startup decisions (an answer is a running mariadbd; a refusal is positive evidence of none).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::etcd::ClusterSnapshot;
use crate::galera::node::Node;
use crate::galera::non_primary::PortProbe;

/// Does anything answer on `addr:port` within `timeout`?
pub async fn answers(addr: &str, port: u16, timeout: Duration) -> bool {
    port_probe(addr, port, timeout).await == PortProbe::Answers
}

/// What a TCP connection to `addr` finds within `timeout` (`addr` a host, `host:port` or
/// `[v6]:port`; `port` when it has none): accepted, refused (nothing listens: positive
/// evidence), or nothing (a timeout or any other error: no evidence).
pub async fn port_probe(addr: &str, port: u16, timeout: Duration) -> PortProbe {
    let target = crate::net_addr::with_default_port(addr, port);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await {
        Ok(Ok(_)) => PortProbe::Answers,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => PortProbe::Refused,
        _ => PortProbe::Silent,
    }
}

/// Registered nodes (other than us) answering on their Galera port.
pub(super) async fn probe_registered(node: &Node, snap: &ClusterSnapshot) -> BTreeSet<String> {
    let port = node.cfg.opts.galera_port;
    let checks = snap
        .nodes
        .iter()
        .filter(|(n, _)| **n != node.cfg.name)
        .map(|(n, e)| async move {
            answers(&e.address, port, crate::galera::bounds::PORT_PROBE)
                .await
                .then(|| n.clone())
        });
    futures_join(checks).await.into_iter().flatten().collect()
}

/// Members (by their recorded and reported addresses) answering on their Galera port, other
/// than ourselves.
pub(super) async fn probe_members(node: &Node, snap: &ClusterSnapshot) -> Vec<String> {
    let port = node.cfg.opts.galera_port;
    let me = node.cfg.name.clone();
    let mut targets: BTreeSet<(String, String)> = BTreeSet::new();
    for (n, a) in &snap.members {
        targets.insert((n.clone(), a.clone()));
    }
    for (n, c) in &snap.census {
        targets.insert((n.clone(), c.address.clone()));
    }
    let mine = node.cfg.address.clone();
    let checks = targets
        .into_iter()
        .filter(|(n, a)| *n != me && !is_me(a, &mine))
        .map(|(n, a)| async move {
            answers(&a, port, crate::galera::bounds::PORT_PROBE)
                .await
                .then(|| format!("{n} ({a})"))
        });
    futures_join(checks).await.into_iter().flatten().collect()
}

/// `--peers` members answering on their Galera port (other than ourselves).
pub(super) async fn probe_peers(node: &Node) -> Vec<String> {
    let port = node.cfg.opts.galera_port;
    let me = node.cfg.address.clone();
    let checks = node
        .cfg
        .opts
        .peers
        .iter()
        .filter(|p| !is_me(p, &me))
        .map(|p| async move {
            answers(p, port, crate::galera::bounds::PORT_PROBE)
                .await
                .then(|| p.clone())
        });
    futures_join(checks).await.into_iter().flatten().collect()
}

/// Is `peer` (a host, `host:port` or `[v6]:port`) this node's address `me`?
fn is_me(peer: &str, me: &str) -> bool {
    crate::net_addr::split_host_port(peer)
        .is_ok_and(|(host, _)| crate::net_addr::same_host(host, me))
}

pub(super) async fn futures_join<F: std::future::Future>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    futures::future::join_all(futs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_me_table() {
        // (peer, this node's address, is it this node)
        for (peer, me, want) in [
            ("10.0.0.2", "10.0.0.2", true),
            ("10.0.0.2:4567", "10.0.0.2", true),
            ("10.0.0.3", "10.0.0.2", false),
            ("fd00::2", "fd00::2", true),
            ("[fd00::2]", "fd00::2", true),
            ("[fd00::2]:4567", "fd00::2", true),
            ("FD00:0::2", "fd00::2", true),
            ("fd00::3", "fd00::2", false),
            ("g-2.db", "g-2.db", true),
            ("a:b:c", "a", false),
        ] {
            assert_eq!(is_me(peer, me), want, "{peer} {me}");
        }
    }
}
