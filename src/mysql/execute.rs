//! Running statements on one connection within a timeout, with the secrets they hold
//! redacted from the errors reported.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::connect::{classify, connect, MysqlError};
use super::endpoint::{Credentials, Endpoint};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        let m = "ERROR 1396 Operation ALTER USER failed for 'mon'@'%' near 'IDENTIFIED BY 'pw-x''";
        let r = redact(m, &["pw-x", "mon", ""]);
        assert!(!r.contains("pw-x") && !r.contains("'mon'"), "{r}");
        assert!(r.contains("ERROR 1396"), "{r}");
        // A secret containing another is replaced whole.
        assert_eq!(redact("abcdef", &["cd", "abcdef"]), "<redacted>");
    }
}
