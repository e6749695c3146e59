//! The leader's health in a new worker: after every reload its server gets a passed check's
//! health unless its first check already failed ([`health_targets`] decides, pure).

use crate::haproxy::process::Haproxy;
use crate::haproxy::readiness::{parse_servers_state, ServerState};
use crate::haproxy::render::Leader;

/// The leader's servers in a new worker (pure): those still up, whose health to raise, and
/// those its first check already marked down — haproxy's verdict on them stands.
pub fn health_targets(servers: &[ServerState], server: &str) -> (Vec<String>, Vec<String>) {
    let mut raise = Vec::new();
    let mut down = Vec::new();
    for s in servers.iter().filter(|s| s.name == server) {
        let name = format!("{}/{}", s.backend, s.name);
        // srv_op_state 2: running.
        if s.op_state == 2 {
            raise.push(name);
        } else {
            down.push(name);
        }
    }
    (raise, down)
}

/// Give the leader's server in a worker that just started the health of a server that has
/// passed its checks (`set server B/S health up`: health rise + fall − 1).
///
/// haproxy starts a server at the lowest health that still counts as up (`rise`), so the first
/// failed check of a new worker — one slow answer from a busy node — marks the only server
/// down at once, and every new connection is then closed at its handshake until `rise` checks
/// pass (2–4 s with the built-in timings). The old worker had long given the node it checked
/// the full tolerance; the leader etcd has just elected gets the same one: down after `fall`
/// failed checks in a row. A server whose first check has already failed is left down.
/// Returns the `backend/server` names raised and those left down.
pub(super) async fn full_health(
    h: &Haproxy,
    worker: u32,
    leader: &Leader,
) -> Result<(Vec<String>, Vec<String>), String> {
    let text = h
        .worker_command(worker, "show servers state")
        .await
        .map_err(|e| format!("{e:#}"))?;
    let (raise, down) = health_targets(&parse_servers_state(&text)?, &leader.server);
    if raise.is_empty() && down.is_empty() {
        return Err(format!("the new worker has no server {}", leader.server));
    }
    for n in &raise {
        let cmd = format!("set server {n} health up");
        let ans = h
            .worker_command(worker, &cmd)
            .await
            .map_err(|e| format!("`{cmd}`: {e:#}"))?;
        if !ans.trim().is_empty() {
            return Err(format!("`{cmd}`: {}", ans.trim()));
        }
    }
    Ok((raise, down))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn health_is_raised_only_on_a_server_still_up() {
        let st = |be: &str, name: &str, op_state: u8| ServerState {
            backend: be.into(),
            name: name.into(),
            addr: name.into(),
            port: Some(3306),
            op_state,
            admin_state: 0,
        };
        let servers = [
            st("galera", "10.0.0.6", 2),
            st("other", "10.0.0.6", 0),
            st("galera", "10.0.0.5", 2),
        ];
        assert_eq!(
            health_targets(&servers, "10.0.0.6"),
            (
                vec!["galera/10.0.0.6".to_string()],
                vec!["other/10.0.0.6".to_string()]
            )
        );
        assert_eq!(health_targets(&servers, "10.0.0.9"), (vec![], vec![]));
    }
}
