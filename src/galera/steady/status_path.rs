//! How the running loop, the probes and `checker serve` reach mariadbd (the reserved port,
//! or the socket as root), said once at start with a warning when it can be locked out.

use tracing::{info, warn};

use crate::galera::node::Node;

/// Say once how this loop (and the probes, which resolve it the same way) reach mariadbd.
pub(super) fn log_status_path(node: &Node) {
    let extra_max = node
        .cfg
        .opts
        .mysql
        .defaults_file
        .as_ref()
        .and_then(|f| crate::mycnf::MyCnf::read(f).ok())
        .and_then(|c| c.extra_max_connections());
    let monitor = node.cfg.creds.user.is_some();
    match status_path_note(&node.cfg.endpoint, monitor, extra_max) {
        (true, line) => warn!("{line}"),
        (false, line) => info!("{line}"),
    }
}

/// The connections a node's own clients may hold on the reserved port at once: this loop (and
/// a heal's or a re-application's root statement after it), the exec readiness and liveness
/// probes, `checker serve`.
pub const RESERVED_NEEDED: u32 = 4;

/// The line about the status path, and whether it is a warning (pure).
pub fn status_path_note(
    endpoint: &crate::mysql::Endpoint,
    monitor_user: bool,
    extra_max_connections: Option<u32>,
) -> (bool, String) {
    use crate::mysql::Endpoint;
    match endpoint {
        Endpoint::Reserved { .. } if !monitor_user => (
            true,
            format!(
                "no monitor user: status queries log in as root over {} (unix_socket), not over \
                 the reserved port {endpoint}; set GALERA_MONITOR_USER/_PASSWORD",
                endpoint.route(&Default::default())
            ),
        ),
        Endpoint::Reserved { .. } => {
            // MariaDB's default extra_max_connections is 1.
            let n = extra_max_connections.unwrap_or(1);
            if n < RESERVED_NEEDED {
                (
                    true,
                    format!(
                        "status queries and probes use the reserved port {endpoint}, but \
                         extra_max_connections = {n} is less than the {RESERVED_NEEDED} they may \
                         hold at once: set extra_max_connections = 10 in the my.cnf"
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "status queries and probes use the reserved port {endpoint} \
                         (extra_max_connections = {n}): clients filling max_connections do not \
                         lock them out"
                    ),
                )
            }
        }
        other => (
            false,
            format!(
                "status queries use {other}; no reserved port (extra_port in the my.cnf): \
                 clients filling max_connections make this node look unavailable \
                 (docs/probes.md)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::Endpoint;

    #[test]
    fn status_path_note_table() {
        let sock = Endpoint::Socket("/run/mysqld/mysqld.sock".into());
        let reserved = Endpoint::Reserved {
            host: "127.0.0.1".into(),
            port: 33307,
            normal: Box::new(sock.clone()),
        };
        // (endpoint, monitor user, extra_max_connections) → (warning?, text)
        let cases = [
            (&sock, true, None, false, "no reserved port"),
            (
                &reserved,
                true,
                Some(10),
                false,
                "127.0.0.1:33307 (extra_port)",
            ),
            (&reserved, true, Some(4), false, "extra_max_connections = 4"),
            (
                &reserved,
                true,
                Some(3),
                true,
                "set extra_max_connections = 10",
            ),
            (
                &reserved,
                true,
                None,
                true,
                "extra_max_connections = 1 is less",
            ),
            (&reserved, false, Some(10), true, "no monitor user"),
        ];
        for (ep, monitor, max, warning, text) in cases {
            let (w, line) = status_path_note(ep, monitor, max);
            assert_eq!(w, warning, "{ep} {monitor} {max:?}: {line}");
            assert!(line.contains(text), "{line} lacks {text}");
        }
    }
}
