//! The wsrep status query: `SHOW GLOBAL STATUS LIKE 'wsrep%'` → [`WsrepStatus`], used by the
//! entrypoint, the checker and `status`.
//!
//! Every call is bounded by a timeout, and errors are classified ([`MysqlError`]) because the
//! probes treat "refused" (maybe dead), "too many connections" and "access denied" (alive, not
//! ready) differently.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Socket(PathBuf),
    Tcp { host: String, port: u16 },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(p) => write!(f, "socket {}", p.display()),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Who to log in as. No user: `root` over the socket (unix_socket authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Credentials {
    /// The monitor user from `GALERA_MONITOR_USER` / `GALERA_MONITOR_PASSWORD` (or `_FILE`).
    pub fn monitor_from_env() -> Result<Credentials, crate::cli::ConfigError> {
        Ok(Credentials {
            user: crate::secrets::read("GALERA_MONITOR_USER")?,
            password: crate::secrets::read("GALERA_MONITOR_PASSWORD")?,
        })
    }
}

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

fn classify(endpoint: &Endpoint, e: mysql_async::Error) -> MysqlError {
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

fn opts(endpoint: &Endpoint, creds: &Credentials) -> OptsBuilder {
    let b = OptsBuilder::default()
        .user(Some(creds.user.clone().unwrap_or_else(|| "root".into())))
        .pass(creds.password.clone())
        .stmt_cache_size(0)
        .prefer_socket(false);
    match endpoint {
        Endpoint::Socket(p) => b.socket(Some(p.display().to_string())),
        Endpoint::Tcp { host, port } => b.ip_or_hostname(host.clone()).tcp_port(*port),
    }
}

/// Open a connection within `timeout`.
pub async fn connect(
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

/// The wsrep status variables of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WsrepStatus {
    /// `wsrep_*` status variables, names lower-case without the `wsrep_` prefix.
    pub vars: BTreeMap<String, String>,
}

impl WsrepStatus {
    /// Build from `(Variable_name, Value)` rows (pure).
    pub fn from_rows<I, K, V>(rows: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars = rows
            .into_iter()
            .filter_map(|(k, v)| {
                let k = k.as_ref().to_ascii_lowercase();
                k.strip_prefix("wsrep_")
                    .map(|n| (n.to_string(), v.as_ref().to_string()))
            })
            .collect();
        WsrepStatus { vars }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// `wsrep_local_state_comment`: Synced, Donor/Desynced, Joining, Joined, Initialized…
    pub fn local_state_comment(&self) -> &str {
        self.text("local_state_comment")
    }
    /// `wsrep_local_state`: 1 joining, 2 donor, 3 joined, 4 synced.
    pub fn local_state(&self) -> Option<u32> {
        self.get("local_state").and_then(|v| v.parse().ok())
    }
    pub fn evs_state(&self) -> &str {
        self.text("evs_state")
    }
    pub fn connected(&self) -> bool {
        self.text("connected").eq_ignore_ascii_case("ON")
    }
    pub fn ready(&self) -> bool {
        self.text("ready").eq_ignore_ascii_case("ON")
    }
    pub fn cluster_state_uuid(&self) -> &str {
        self.text("cluster_state_uuid")
    }
    /// `wsrep_cluster_status`: Primary, non-Primary, Disconnected.
    pub fn cluster_status(&self) -> &str {
        self.text("cluster_status")
    }
    pub fn cluster_size(&self) -> Option<u64> {
        self.get("cluster_size").and_then(|v| v.parse().ok())
    }
    pub fn last_committed(&self) -> Option<i64> {
        self.get("last_committed").and_then(|v| v.parse().ok())
    }
    pub fn local_recv_queue(&self) -> Option<i64> {
        self.get("local_recv_queue").and_then(|v| v.parse().ok())
    }
    pub fn is_synced(&self) -> bool {
        self.local_state() == Some(4) || self.local_state_comment() == "Synced"
    }
    pub fn is_donor(&self) -> bool {
        self.local_state() == Some(2) || self.local_state_comment().starts_with("Donor")
    }
    pub fn is_primary(&self) -> bool {
        self.cluster_status() == "Primary"
    }
}

/// Query the wsrep status, connection and query together bounded by `timeout`.
pub async fn wsrep_status(
    endpoint: &Endpoint,
    creds: &Credentials,
    timeout: Duration,
) -> Result<WsrepStatus, MysqlError> {
    let work = async {
        let mut conn = connect(endpoint, creds, timeout).await?;
        let rows: Vec<(String, String)> = conn
            .query("SHOW GLOBAL STATUS LIKE 'wsrep%'")
            .await
            .map_err(|e| classify(endpoint, e))?;
        let _ = conn.disconnect().await;
        Ok(WsrepStatus::from_rows(rows))
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(MysqlError::Timeout {
            endpoint: endpoint.to_string(),
            timeout,
        }),
        Ok(r) => r,
    }
}

/// Run one statement, connection and statement together bounded by `timeout`.
pub async fn execute(
    endpoint: &Endpoint,
    creds: &Credentials,
    sql: &str,
    timeout: Duration,
) -> Result<(), MysqlError> {
    let work = async {
        let mut conn = connect(endpoint, creds, timeout).await?;
        conn.query_drop(sql)
            .await
            .map_err(|e| classify(endpoint, e))?;
        let _ = conn.disconnect().await;
        Ok(())
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(MysqlError::Timeout {
            endpoint: endpoint.to_string(),
            timeout,
        }),
        Ok(r) => r,
    }
}

/// The local server's endpoint: `--mysql-socket`, else `--mysql-host`/`--mysql-port`, else the
/// socket named in `--defaults-file`, else `/run/mysqld/mysqld.sock`.
pub fn local_endpoint(o: &crate::cli::MysqlOpts) -> Endpoint {
    if let Some(s) = &o.mysql_socket {
        return Endpoint::Socket(s.clone());
    }
    if let Some(h) = &o.mysql_host {
        return Endpoint::Tcp {
            host: h.clone(),
            port: o.mysql_port,
        };
    }
    if let Some(sock) = o
        .defaults_file
        .as_ref()
        .and_then(|f| crate::mycnf::MyCnf::read(f).ok())
        .and_then(|c| c.socket().map(PathBuf::from))
    {
        return Endpoint::Socket(sock);
    }
    Endpoint::Socket(PathBuf::from("/run/mysqld/mysqld.sock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows() {
        let s = WsrepStatus::from_rows([
            ("wsrep_local_state_comment", "Synced"),
            ("wsrep_local_state", "4"),
            ("WSREP_CLUSTER_STATUS", "Primary"),
            ("wsrep_cluster_size", "3"),
            ("wsrep_last_committed", "17"),
            ("wsrep_connected", "ON"),
            ("wsrep_ready", "OFF"),
            ("Uptime", "5"),
        ]);
        assert!(s.is_synced());
        assert!(s.is_primary());
        assert!(!s.is_donor());
        assert_eq!(s.cluster_size(), Some(3));
        assert_eq!(s.last_committed(), Some(17));
        assert!(s.connected());
        assert!(!s.ready());
        assert_eq!(s.get("uptime"), None);
    }

    #[test]
    fn donor_detection() {
        let s = WsrepStatus::from_rows([
            ("wsrep_local_state", "2"),
            ("wsrep_local_state_comment", "Donor/Desynced"),
        ]);
        assert!(s.is_donor());
        assert!(!s.is_synced());
    }
}
