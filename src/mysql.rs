//! The wsrep status query: `SHOW GLOBAL STATUS LIKE 'wsrep%'` → [`WsrepStatus`], used by the
//! entrypoint, the checker and `status`.
//!
//! Every call is bounded by a timeout, and errors are classified ([`MysqlError`]) because the
//! probes treat "refused" (maybe dead), "too many connections" and "access denied" (alive, not
//! ready) differently.
//!
//! The local server is reached through its *reserved path* when one is configured
//! ([`Endpoint::Reserved`]: MariaDB's `extra_port`, a TCP port with its own
//! `extra_max_connections`, so clients filling `max_connections` do not lock the probes and the
//! entrypoint out); see [`resolve_local`] and docs/probes.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Socket(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// The local server's reserved TCP port (MariaDB's `extra_port`). A login without a user
    /// (root by unix_socket authentication, which works only over the socket) goes to
    /// `normal` instead, and so does any login when nothing listens on the reserved port.
    Reserved {
        host: String,
        port: u16,
        normal: Box<Endpoint>,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(p) => write!(f, "socket {}", p.display()),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Reserved { host, port, .. } => write!(f, "{host}:{port} (extra_port)"),
        }
    }
}

impl Endpoint {
    /// Where a login with `creds` goes (pure): the reserved port for a named user, the normal
    /// endpoint for a login without a user.
    pub fn route(&self, creds: &Credentials) -> Endpoint {
        match self {
            Endpoint::Reserved { normal, .. } if creds.user.is_none() => normal.route(creds),
            Endpoint::Reserved { host, port, .. } => Endpoint::Tcp {
                host: host.clone(),
                port: *port,
            },
            other => other.clone(),
        }
    }

    /// The endpoint to try when [`Endpoint::route`] refused the connection: the normal one
    /// behind a reserved port (a reserved port nobody listens on must not make a live server
    /// look dead), else none.
    fn fallback(&self, creds: &Credentials) -> Option<Endpoint> {
        match self {
            Endpoint::Reserved { normal, .. } if creds.user.is_some() => Some(normal.route(creds)),
            _ => None,
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

/// Connection options for an endpoint already routed ([`Endpoint::route`]).
fn opts(endpoint: &Endpoint, creds: &Credentials) -> OptsBuilder {
    let b = OptsBuilder::default()
        .user(Some(creds.user.clone().unwrap_or_else(|| "root".into())))
        .pass(creds.password.clone())
        .stmt_cache_size(0)
        .prefer_socket(false);
    match endpoint {
        Endpoint::Socket(p) => b.socket(Some(p.display().to_string())),
        Endpoint::Tcp { host, port } | Endpoint::Reserved { host, port, .. } => {
            b.ip_or_hostname(host.clone()).tcp_port(*port)
        }
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
    /// `wsrep_local_cached_downto`: the lowest seqno in the gcache; `None` when the gcache is
    /// empty (Galera reports 0, -1 or 2^64-1 then) or the variable is missing.
    pub fn local_cached_downto(&self) -> Option<i64> {
        self.get("local_cached_downto")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v > 0)
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

/// The wsrep status as `current`, or — when `current` is refused with access denied and
/// `previous` (the credentials that last authenticated) differ — as `previous`: a Secret
/// updated a moment before the server's password must not make a healthy node look sick.
/// When `previous` is refused too, `current` once more (the password may have changed between
/// the two). Bounded by `timeout` in total. Returns the result and the credentials that
/// produced it.
pub async fn wsrep_status_either(
    endpoint: &Endpoint,
    current: &Credentials,
    previous: Option<&Credentials>,
    timeout: Duration,
) -> (Result<WsrepStatus, MysqlError>, Credentials) {
    let start = tokio::time::Instant::now();
    let left = || timeout.saturating_sub(start.elapsed());
    let first = wsrep_status(endpoint, current, timeout).await;
    match (first, previous) {
        (Err(MysqlError::AccessDenied(why)), Some(prev)) if prev != current => {
            match wsrep_status(endpoint, prev, left()).await {
                Ok(s) => (Ok(s), prev.clone()),
                Err(MysqlError::AccessDenied(_)) => {
                    match wsrep_status(endpoint, current, left()).await {
                        Ok(s) => (Ok(s), current.clone()),
                        Err(_) => (Err(MysqlError::AccessDenied(why)), current.clone()),
                    }
                }
                Err(_) => (Err(MysqlError::AccessDenied(why)), current.clone()),
            }
        }
        (r, _) => (r, current.clone()),
    }
}

/// Run one statement, connection and statement together bounded by `timeout`.
pub async fn execute(
    endpoint: &Endpoint,
    creds: &Credentials,
    sql: &str,
    timeout: Duration,
) -> Result<(), MysqlError> {
    execute_all(endpoint, creds, &[sql.to_string()], &[], timeout).await
}

/// Run `statements` in order on one connection, bounded by `timeout` in total. For statements
/// holding secrets: a server error is reported by its code and its message with every string
/// of `secrets` replaced by `<redacted>` (a message may quote the statement).
pub async fn execute_all(
    endpoint: &Endpoint,
    creds: &Credentials,
    statements: &[String],
    secrets: &[&str],
    timeout: Duration,
) -> Result<(), MysqlError> {
    let work = async {
        let mut conn = connect(endpoint, creds, timeout).await?;
        for sql in statements {
            if let Err(e) = conn.query_drop(sql.as_str()).await {
                let _ = conn.disconnect().await;
                return Err(match classify(&endpoint.route(creds), e) {
                    MysqlError::Server(m) => MysqlError::Server(redact(&m, secrets)),
                    MysqlError::AccessDenied(m) => MysqlError::AccessDenied(redact(&m, secrets)),
                    other => other,
                });
            }
        }
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

/// `text` with every non-empty string of `secrets` replaced by `<redacted>` (pure).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut t = text.to_string();
    // Longest first, so that a secret containing another is replaced whole.
    let mut s: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    s.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in s {
        t = t.replace(secret, "<redacted>");
    }
    t
}

/// The default socket when neither a flag nor the defaults file names one.
pub const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// The local server's endpoint (reads `--defaults-file`; see [`resolve_local`]).
pub fn local_endpoint(o: &crate::cli::MysqlOpts) -> Endpoint {
    let cnf = o
        .defaults_file
        .as_ref()
        .and_then(|f| crate::mycnf::MyCnf::read(f).ok());
    resolve_local(o, cnf.as_ref())
}

/// The reserved port: `--extra-port` when given (0: none), else the `extra_port` of the
/// defaults file; none when the server does not listen on TCP at all (`skip_networking`).
/// Pure.
pub fn reserved_port(o: &crate::cli::MysqlOpts, cnf: Option<&crate::mycnf::MyCnf>) -> Option<u16> {
    let skip_networking = cnf
        .and_then(|c| c.get("skip_networking"))
        .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "off" | "false"));
    let port = match o.extra_port {
        Some(p) => p,
        None => cnf.and_then(|c| c.extra_port()).unwrap_or(0),
    };
    (port != 0 && !skip_networking).then_some(port)
}

/// The host the reserved port is reached at: `--mysql-host`, else the defaults file's first
/// `bind-address` unless it is a wildcard, else `127.0.0.1`. Pure.
pub fn reserved_host(o: &crate::cli::MysqlOpts, cnf: Option<&crate::mycnf::MyCnf>) -> String {
    if let Some(h) = &o.mysql_host {
        return h.clone();
    }
    cnf.and_then(|c| c.bind_address())
        .and_then(|b| b.split(',').map(str::trim).find(|a| !a.is_empty()))
        .filter(|a| !matches!(*a, "0.0.0.0" | "::" | "*" | "[::]"))
        .map(|a| a.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// The local server's endpoint (pure). The normal one is `--mysql-socket`, else
/// `--mysql-host`/`--mysql-port`, else the socket of the defaults file, else
/// [`DEFAULT_SOCKET`]; with a reserved port ([`reserved_port`]) logins with a user go there
/// instead ([`Endpoint::Reserved`]).
pub fn resolve_local(o: &crate::cli::MysqlOpts, cnf: Option<&crate::mycnf::MyCnf>) -> Endpoint {
    let normal = if let Some(s) = &o.mysql_socket {
        Endpoint::Socket(s.clone())
    } else if let Some(h) = &o.mysql_host {
        Endpoint::Tcp {
            host: h.clone(),
            port: o.mysql_port,
        }
    } else {
        Endpoint::Socket(PathBuf::from(
            cnf.and_then(|c| c.socket()).unwrap_or(DEFAULT_SOCKET),
        ))
    };
    match reserved_port(o, cnf) {
        Some(port) => Endpoint::Reserved {
            host: reserved_host(o, cnf),
            port,
            normal: Box::new(normal),
        },
        None => normal,
    }
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
        assert_eq!(s.local_cached_downto(), None);
        for (v, want) in [
            ("42", Some(42)),
            ("1", Some(1)),
            ("0", None),
            ("-1", None),
            ("18446744073709551615", None),
            ("x", None),
        ] {
            let s = WsrepStatus::from_rows([("wsrep_local_cached_downto", v)]);
            assert_eq!(s.local_cached_downto(), want, "{v}");
        }
    }

    fn opts(socket: Option<&str>, host: Option<&str>, extra: Option<u16>) -> crate::cli::MysqlOpts {
        crate::cli::MysqlOpts {
            mysql_socket: socket.map(PathBuf::from),
            mysql_host: host.map(String::from),
            mysql_port: 3306,
            extra_port: extra,
            defaults_file: None,
        }
    }

    #[test]
    fn local_endpoint_table() {
        use crate::mycnf::MyCnf;
        let sock = |p: &str| Endpoint::Socket(p.into());
        let reserved = |host: &str, port: u16, normal: Endpoint| Endpoint::Reserved {
            host: host.into(),
            port,
            normal: Box::new(normal),
        };
        let plain = MyCnf::parse("[mysqld]\nsocket=/s.sock\nbind-address=0.0.0.0\n");
        let extra =
            MyCnf::parse("[mysqld]\nsocket=/s.sock\nbind-address=10.0.0.5,::1\nextra_port=33307\n");
        let extra_any = MyCnf::parse("[mysqld]\nbind-address=::\nextra-port=33307\n");
        let no_net = MyCnf::parse("[mysqld]\nextra_port=33307\nskip-networking\n");
        let no_net_off = MyCnf::parse("[mysqld]\nextra_port=33307\nskip-networking=OFF\n");
        let cases = [
            // Without a reserved port: as before.
            (opts(None, None, None), None, sock(DEFAULT_SOCKET)),
            (opts(None, None, None), Some(&plain), sock("/s.sock")),
            (
                opts(Some("/a.sock"), Some("h"), None),
                Some(&plain),
                sock("/a.sock"),
            ),
            (
                opts(None, Some("h"), None),
                Some(&plain),
                Endpoint::Tcp {
                    host: "h".into(),
                    port: 3306,
                },
            ),
            // extra_port of the my.cnf, at its first bind address.
            (
                opts(None, None, None),
                Some(&extra),
                reserved("10.0.0.5", 33307, sock("/s.sock")),
            ),
            // A wildcard bind address: loopback. The socket flag stays the normal endpoint.
            (
                opts(Some("/a.sock"), None, None),
                Some(&extra_any),
                reserved("127.0.0.1", 33307, sock("/a.sock")),
            ),
            // The flag: 0 turns it off, a port turns it on, --mysql-host is its host.
            (opts(None, None, Some(0)), Some(&extra), sock("/s.sock")),
            (
                opts(None, None, Some(4000)),
                Some(&plain),
                reserved("127.0.0.1", 4000, sock("/s.sock")),
            ),
            (
                opts(None, Some("h"), Some(4000)),
                None,
                reserved(
                    "h",
                    4000,
                    Endpoint::Tcp {
                        host: "h".into(),
                        port: 3306,
                    },
                ),
            ),
            // A server without TCP has no reserved port.
            (opts(None, None, None), Some(&no_net), sock(DEFAULT_SOCKET)),
            (
                opts(None, None, None),
                Some(&no_net_off),
                reserved("127.0.0.1", 33307, sock(DEFAULT_SOCKET)),
            ),
        ];
        for (o, cnf, want) in cases {
            assert_eq!(resolve_local(&o, cnf), want, "{o:?} {cnf:?}");
        }
    }

    #[test]
    fn routes_by_credentials() {
        let normal = Endpoint::Socket("/s.sock".into());
        let r = Endpoint::Reserved {
            host: "10.0.0.5".into(),
            port: 33307,
            normal: Box::new(normal.clone()),
        };
        let monitor = Credentials {
            user: Some("monitor".into()),
            password: Some("p".into()),
        };
        let nobody = Credentials::default();
        let tcp = Endpoint::Tcp {
            host: "10.0.0.5".into(),
            port: 33307,
        };
        assert_eq!(r.route(&monitor), tcp);
        // root by unix_socket works only over the socket.
        assert_eq!(r.route(&nobody), normal);
        assert_eq!(r.fallback(&monitor), Some(normal.clone()));
        assert_eq!(r.fallback(&nobody), None);
        assert_eq!(normal.route(&monitor), normal);
        assert_eq!(normal.fallback(&monitor), None);
        assert_eq!(r.to_string(), "10.0.0.5:33307 (extra_port)");
    }

    #[test]
    fn redaction() {
        let m = "ERROR 1396 Operation ALTER USER failed for 'mon'@'%' near 'IDENTIFIED BY 'pw-x''";
        let r = redact(m, &["pw-x", "mon", ""]);
        assert!(!r.contains("pw-x") && !r.contains("'mon'"), "{r}");
        assert!(r.contains("ERROR 1396"), "{r}");
        // A secret containing another is replaced whole.
        assert_eq!(redact("abcdef", &["cd", "abcdef"]), "<redacted>");
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
