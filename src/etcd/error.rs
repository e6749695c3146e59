//! etcd's failures classified ([`EtcdError`]): unreachable or timed out (worth retrying),
//! rejected, or misconfigured; with the whole cause and a hint at the flag to check.

use std::time::Duration;

/// An etcd failure, classified so callers know whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd unreachable at {endpoints}: {cause} (is etcd running, and are --etcd-endpoints right?)")]
    Unreachable { endpoints: String, cause: String },
    #[error("etcd {op} timed out after {timeout:?} (endpoints {endpoints}): etcd is unreachable or overloaded; is it running, and are --etcd-endpoints right?")]
    Timeout {
        op: &'static str,
        timeout: Duration,
        endpoints: String,
    },
    #[error("etcd refused {op}: {cause}")]
    Rejected { op: &'static str, cause: String },
    #[error("etcd configuration: {0}")]
    Config(String),
}

impl EtcdError {
    /// etcd answered that the lease does not exist (expired, revoked, or etcd lost its data):
    /// the owner must grant a new lease and put its keys again; retrying cannot help.
    pub fn is_lease_not_found(&self) -> bool {
        matches!(self, EtcdError::Rejected { cause, .. } if cause.contains("lease not found"))
    }

    /// Worth retrying: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EtcdError::Unreachable { .. } | EtcdError::Timeout { .. }
        )
    }
}

/// Is this gRPC status one a retry can fix?
fn status_is_transient(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Unavailable | DeadlineExceeded | Unknown | Aborted | ResourceExhausted | Cancelled
    )
}

/// An error with its whole source chain (a transport error's own text is only "transport
/// error"; the reason — refused, certificate unknown, … — is in its sources).
fn with_sources(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// What to check, for the failures whose fix is in our own flags (TLS, user/password).
fn hint(cause: &str, endpoints: &str) -> Option<&'static str> {
    let c = cause.to_ascii_lowercase();
    if c.contains("authentication failed") {
        Some("check --etcd-username and the password in --etcd-password-file")
    } else if c.contains("user name is empty") || c.contains("user name not found") {
        Some("etcd has authentication enabled: set --etcd-username and --etcd-password-file")
    } else if c.contains("permission denied") {
        Some("the etcd user needs a role granting readwrite on the /galera/ prefix")
    } else if c.contains("invalid auth token") {
        Some("the etcd session expired; it is renewed automatically, try again")
    } else if c.contains("certificate")
        || c.contains("tls")
        || c.contains("handshake")
        || c.contains("unknownissuer")
        || c.contains("alert")
    {
        Some("a TLS failure: check --etcd-ca-file (the CA of etcd's server certificate) and --etcd-cert-file/--etcd-key-file (a client certificate etcd trusts)")
    } else if endpoints.contains("https://") && c.contains("transport error") {
        Some("over TLS: check --etcd-ca-file, --etcd-cert-file and --etcd-key-file")
    } else if endpoints.contains("http://")
        && c.contains("transport error")
        && !c.contains("connect error")
    {
        // The TCP connection was made, then closed on us: a TLS etcd spoken to in clear text.
        Some("if etcd serves TLS, use https:// endpoints with --etcd-ca-file (and a client certificate if it asks for one)")
    } else {
        None
    }
}

fn with_hint(cause: String, endpoints: &str) -> String {
    match hint(&cause, endpoints) {
        Some(h) => format!("{cause} ({h})"),
        None => cause,
    }
}

pub(super) fn classify(
    op: &'static str,
    endpoints: &str,
    timeout: Duration,
    e: etcd_client::Error,
) -> EtcdError {
    use etcd_client::Error as E;
    match e {
        // The channel's own per-request timeout (the same --etcd-timeout) fired first: say
        // "timed out", as our own timeout does, rather than a bare "Timeout expired".
        E::GRpcStatus(s)
            if s.code() == tonic::Code::DeadlineExceeded
                || (s.code() == tonic::Code::Cancelled && s.message() == "Timeout expired") =>
        {
            EtcdError::Timeout {
                op,
                timeout,
                endpoints: endpoints.to_string(),
            }
        }
        E::TransportError(t) => EtcdError::Unreachable {
            endpoints: endpoints.to_string(),
            cause: with_hint(with_sources(&t), endpoints),
        },
        E::IoError(t) => EtcdError::Unreachable {
            endpoints: endpoints.to_string(),
            cause: t.to_string(),
        },
        E::GRpcStatus(s) if status_is_transient(s.code()) => EtcdError::Unreachable {
            endpoints: endpoints.to_string(),
            cause: with_hint(
                match std::error::Error::source(&s) {
                    Some(src) => format!("{}: {}: {}", op, s.message(), with_sources(src)),
                    None => format!("{}: {}", op, s.message()),
                },
                endpoints,
            ),
        },
        E::GRpcStatus(s) => EtcdError::Rejected {
            op,
            cause: with_hint(format!("{:?}: {}", s.code(), s.message()), endpoints),
        },
        // Opening a keep-alive stream for a lease etcd does not have (expired while we were
        // cut off, or etcd wiped) fails with this error: an answer, not a transport problem.
        E::LeaseKeepAliveError(m) if m.contains("not found") => EtcdError::Rejected {
            op,
            cause: format!("lease not found ({m})"),
        },
        E::WatchError(m) | E::LeaseKeepAliveError(m) => EtcdError::Unreachable {
            endpoints: endpoints.to_string(),
            cause: m,
        },
        other => EtcdError::Rejected {
            op,
            cause: other.to_string(),
        },
    }
}
