//! Opening a connection within a timeout (a reserved port that refuses falls back to the
//! normal endpoint), and failures classified for the probes ([`MysqlError`]).

use std::time::Duration;

use mysql_async::{Conn, OptsBuilder};

use super::endpoint::{Credentials, Endpoint};

/// A failed query, classified for the probes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MysqlError {
    /// Nothing listens, or the connection was reset: the server may be dead.
    #[error("cannot connect to {0}")]
    Refused(String),
    /// No answer within the timeout: the server may be hung.
    #[error("no answer from {endpoint} within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    /// The server is alive and said no.
    #[error("too many connections on {0}")]
    TooManyConnections(String),
    #[error("access denied on {0} (check the monitor user and password)")]
    AccessDenied(String),
    /// Anything else the server answered.
    #[error("{0}")]
    Server(String),
}

impl MysqlError {
    /// The server answered: it is alive even if the answer was an error.
    pub fn server_answered(&self) -> bool {
        matches!(
            self,
            MysqlError::TooManyConnections(_) | MysqlError::AccessDenied(_) | MysqlError::Server(_)
        )
    }
}

pub(super) fn classify(endpoint: &Endpoint, e: mysql_async::Error) -> MysqlError {
    let ep = endpoint.to_string();
    match e {
        mysql_async::Error::Server(s) => match s.code {
            1040 => MysqlError::TooManyConnections(ep),
            1044 | 1045 | 1698 => MysqlError::AccessDenied(format!("{ep}: {}", s.message)),
            _ => MysqlError::Server(format!("{ep}: ERROR {} {}", s.code, s.message)),
        },
        mysql_async::Error::Io(io) => {
            let msg = io.to_string();
            if msg.contains("Too many connections") {
                MysqlError::TooManyConnections(ep)
            } else {
                MysqlError::Refused(format!("{ep}: {msg}"))
            }
        }
        other => {
            let msg = other.to_string();
            if msg.contains("1040") || msg.contains("Too many connections") {
                MysqlError::TooManyConnections(ep)
            } else {
                MysqlError::Refused(format!("{ep}: {msg}"))
            }
        }
    }
}

/// Connection options for an endpoint already routed ([`Endpoint::route`]).
fn opts(endpoint: &Endpoint, creds: &Credentials) -> OptsBuilder {
    let b = OptsBuilder::default()
        .user(Some(creds.user.clone().unwrap_or_else(|| "root".into())))
        .pass(creds.password.clone())
        .stmt_cache_size(0)
        .prefer_socket(false);
    match endpoint {
        Endpoint::Socket(p) => b.socket(Some(p.display().to_string())),
        // The connection resolves `(host, port)`, which takes an IPv6 address bare only.
        Endpoint::Tcp { host, port } | Endpoint::Reserved { host, port, .. } => b
            .ip_or_hostname(crate::net_addr::unbracket(host))
            .tcp_port(*port),
    }
}

/// Open one connection to an endpoint already routed, within `timeout`.
async fn connect_routed(
    endpoint: &Endpoint,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Conn, MysqlError> {
    match tokio::time::timeout(timeout, Conn::new(opts(endpoint, creds))).await {
        Err(_) => Err(MysqlError::Timeout {
            endpoint: endpoint.to_string(),
            timeout,
        }),
        Ok(Err(e)) => Err(classify(endpoint, e)),
        Ok(Ok(c)) => Ok(c),
    }
}

/// Open a connection within `timeout` (in total, the fallback included). A reserved port that
/// refuses the connection (nothing listens: `extra_port` missing from the server's my.cnf)
/// falls back to the normal endpoint, with a warning once per process.
pub async fn connect(
    endpoint: &Endpoint,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Conn, MysqlError> {
    let start = tokio::time::Instant::now();
    let routed = endpoint.route(creds);
    match connect_routed(&routed, creds, timeout).await {
        Err(MysqlError::Refused(why)) => match endpoint.fallback(creds) {
            Some(normal) => {
                let left = timeout.saturating_sub(start.elapsed());
                let conn = connect_routed(&normal, creds, left).await?;
                // The server answers, but not on the reserved port: a configuration mismatch.
                static WARNED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        "the reserved port refuses connections ({why}) while {normal} answers: \
                         using {normal} (set extra_port in the my.cnf mariadbd reads, or \
                         GALERA_EXTRA_PORT=0)"
                    );
                }
                Ok(conn)
            }
            None => Err(MysqlError::Refused(why)),
        },
        other => other,
    }
}
