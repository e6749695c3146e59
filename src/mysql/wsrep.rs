//! The wsrep status query (`SHOW GLOBAL STATUS LIKE 'wsrep%'`), its result ([`WsrepStatus`]),
//! and the query retried with the previous credentials after a password change.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::connect::{classify, connect, MysqlError};
use super::endpoint::{Credentials, Endpoint};

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
