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

/// What a TCP connection to `addr:port` finds within `timeout`: accepted, refused (nothing
/// listens: positive evidence), or nothing (a timeout or any other error: no evidence).
pub async fn port_probe(addr: &str, port: u16, timeout: Duration) -> PortProbe {
    let target = if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
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
        .filter(|(n, a)| *n != me && *a != mine)
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
        .filter(|p| **p != me)
        .map(|p| async move {
            answers(p, port, crate::galera::bounds::PORT_PROBE)
                .await
                .then(|| p.clone())
        });
    futures_join(checks).await.into_iter().flatten().collect()
}

pub(super) async fn futures_join<F: std::future::Future>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    futures::future::join_all(futs).await
}
