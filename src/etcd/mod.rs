//! THE shared state module: every read and write of the cluster's coordination state in etcd.
//!
//! - [`keys`]: the key layout under `/galera/<cluster>/`;
//! - [`snapshot`]: the typed, pure view of the prefix at one revision;
//! - this file: the connection, timeouts, retries of transient errors, and the transactions
//!   (compare-and-set of `state`, create-if-absent, multi-put, lock-guarded writes);
//! - [`lease`]: leases kept alive in the background, with lost-lease detection;
//! - [`lock`]: the membership lock (`P/lock`) and its fencing token;
//! - [`watch`]: a watch that survives reconnects, compaction and a replaced etcd;
//! - [`store`], [`startup`], [`requests`]: the writes as domain operations, each with its
//!   fence (the running loop's, the startup sequence's, the operator commands').
//!
//! Every call has a timeout. Only transient errors (unreachable, timeout, leader lost) are
//! retried; a failed compare or a missing key is an answer, not an error.

pub mod keys;
pub mod lease;
pub mod lock;
pub mod requests;
pub mod snapshot;
pub mod startup;
pub mod store;
pub mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp};
use tracing::{debug, warn};

pub use keys::Keys;
pub use lease::Lease;
pub use lock::LockGuard;
pub use snapshot::{ClusterSnapshot, ClusterState, RawKv};

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl EtcdConfig {
    pub fn from_global(g: &crate::cli::GlobalOpts) -> Self {
        EtcdConfig {
            endpoints: g
                .etcd_endpoints
                .iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
            timeout: g.etcd_timeout,
            ca_file: g.etcd_ca_file.clone(),
            cert_file: g.etcd_cert_file.clone(),
            key_file: g.etcd_key_file.clone(),
            username: g.etcd_username.clone(),
            password_file: g.etcd_password_file.clone(),
        }
    }

    /// Plain endpoints without a scheme get `http://`, or `https://` when TLS is configured.
    fn urls(&self) -> Vec<String> {
        let tls = self.ca_file.is_some() || self.cert_file.is_some();
        self.endpoints
            .iter()
            .map(|e| {
                if e.starts_with("http://") || e.starts_with("https://") {
                    e.clone()
                } else if tls {
                    format!("https://{e}")
                } else {
                    format!("http://{e}")
                }
            })
            .collect()
    }
}

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

/// A connected client with the cluster's key layout and the call timeout.
#[derive(Clone)]
pub struct Etcd {
    client: Client,
    pub keys: Keys,
    timeout: Duration,
    endpoints: String,
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

fn classify(
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

/// Pause between attempts of a request that could not be sent.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The request never reached etcd: the connection could not be made (tonic reports a failed
/// connect as UNAVAILABLE "tcp connect error"; a refused one as a transport error).
fn never_sent(e: &etcd_client::Error) -> bool {
    use etcd_client::Error as E;
    match e {
        E::TransportError(_) => true,
        E::GRpcStatus(s) => {
            s.code() == tonic::Code::Unavailable && s.message().contains("connect error")
        }
        _ => false,
    }
}

fn kv_from(kv: &etcd_client::KeyValue) -> RawKv {
    RawKv {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: kv.lease(),
    }
}

/// The result of a transaction: whether the comparisons held, and the revision it ran at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOutcome {
    pub succeeded: bool,
    pub revision: i64,
}

impl Etcd {
    /// Connect (bounded by the timeout). TLS and user/password are used when configured.
    pub async fn connect(cfg: &EtcdConfig, cluster_name: &str) -> Result<Etcd, EtcdError> {
        let urls = cfg.urls();
        let endpoints = urls.join(",");
        let mut opts = ConnectOptions::new()
            .with_timeout(cfg.timeout)
            .with_connect_timeout(cfg.timeout)
            .with_keep_alive(Duration::from_secs(5), cfg.timeout)
            .with_require_leader(true);
        if cfg.ca_file.is_some() || cfg.cert_file.is_some() {
            let mut tls = etcd_client::TlsOptions::new();
            if let Some(ca) = &cfg.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    EtcdError::Config(format!("--etcd-ca-file {}: {e}", ca.display()))
                })?;
                tls = tls.ca_certificate(etcd_client::Certificate::from_pem(pem));
            }
            if let (Some(c), Some(k)) = (&cfg.cert_file, &cfg.key_file) {
                let cert = std::fs::read(c).map_err(|e| {
                    EtcdError::Config(format!("--etcd-cert-file {}: {e}", c.display()))
                })?;
                let key = std::fs::read(k).map_err(|e| {
                    EtcdError::Config(format!("--etcd-key-file {}: {e}", k.display()))
                })?;
                tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
            }
            opts = opts.with_tls(tls);
        }
        if let (Some(user), Some(pwf)) = (&cfg.username, &cfg.password_file) {
            let pw = std::fs::read_to_string(pwf).map_err(|e| {
                EtcdError::Config(format!("--etcd-password-file {}: {e}", pwf.display()))
            })?;
            let pw = pw.trim_end_matches(['\n', '\r']);
            if pw.is_empty() {
                return Err(EtcdError::Config(format!(
                    "--etcd-password-file {} is empty",
                    pwf.display()
                )));
            }
            opts = opts
                .with_user(user.clone(), pw.to_string())
                .with_auto_token_refresh(true);
        }
        let connect = Client::connect(urls.clone(), Some(opts));
        let client = match tokio::time::timeout(cfg.timeout, connect).await {
            Err(_) => {
                return Err(EtcdError::Timeout {
                    op: "connect",
                    timeout: cfg.timeout,
                    endpoints,
                })
            }
            Ok(Err(e)) => return Err(classify("connect", &endpoints, cfg.timeout, e)),
            Ok(Ok(c)) => c,
        };
        Ok(Etcd {
            client,
            keys: Keys::new(cluster_name),
            timeout: cfg.timeout,
            endpoints,
        })
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A clone of the raw client (cheap: shares the channel).
    pub fn raw(&self) -> Client {
        self.client.clone()
    }

    /// Run one call with the timeout, classifying its error.
    pub async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, EtcdError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(self.timeout, f(self.client.clone())).await {
            Err(_) => Err(EtcdError::Timeout {
                op,
                timeout: self.timeout,
                endpoints: self.endpoints.clone(),
            }),
            Ok(Err(e)) => Err(classify(op, &self.endpoints, self.timeout, e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// [`Etcd::call`], but a request that never left this process (the connection to the
    /// endpoint picked could not be made: one of several endpoints is down) is tried again,
    /// within the same timeout. Without this, with `--etcd-endpoints A,B` and A down, about
    /// half of all calls failed at once with "tcp connect error" although B was fine. Only
    /// unsent requests are repeated, so a write is never applied twice.
    pub async fn call_retrying<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, EtcdError>
    where
        F: FnOnce(Client) -> Fut + Clone,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timed_out = || EtcdError::Timeout {
            op,
            timeout: self.timeout,
            endpoints: self.endpoints.clone(),
        };
        loop {
            let attempt = f.clone()(self.client.clone());
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e))
                    if never_sent(&e)
                        && tokio::time::Instant::now() + CONNECT_RETRY_PAUSE < deadline =>
                {
                    debug!("etcd {op}: {e}; trying again (another endpoint may answer)");
                    tokio::time::sleep(CONNECT_RETRY_PAUSE).await;
                }
                Ok(Err(e)) => return Err(classify(op, &self.endpoints, self.timeout, e)),
            }
        }
    }

    /// One linearizable range read of the whole prefix, at one revision.
    pub async fn snapshot(&self) -> Result<ClusterSnapshot, EtcdError> {
        let (kvs, revision, cluster_id) = self.get_range(self.keys.prefix(), true).await?;
        let snap = ClusterSnapshot::from_kvs(&self.keys, revision, cluster_id, kvs);
        for w in &snap.warnings {
            warn!("{w}");
        }
        Ok(snap)
    }

    /// Grant a lease of `ttl` (whole seconds, at least 1) that nobody keeps alive: keys put
    /// under it vanish by themselves when it runs out (an operator's time-bound record).
    pub async fn grant_lease(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let secs = ttl.as_secs().max(1) as i64;
        let resp = self
            .call_retrying("lease grant", |mut c| async move {
                c.lease_grant(secs, None).await
            })
            .await?;
        Ok(resp.id())
    }

    /// Revoke a lease: every key under it goes at once.
    pub async fn revoke_lease(&self, id: i64) -> Result<(), EtcdError> {
        self.call_retrying(
            "lease revoke",
            |mut c| async move { c.lease_revoke(id).await },
        )
        .await?;
        Ok(())
    }

    /// Read one key.
    pub async fn get(&self, key: &str) -> Result<Option<RawKv>, EtcdError> {
        Ok(self.get_range(key, false).await?.0.into_iter().next())
    }

    /// Read one key, or every key under it when `prefix`, with the read's revision and the
    /// cluster id of the etcd that answered.
    pub async fn get_range(
        &self,
        key: &str,
        prefix: bool,
    ) -> Result<(Vec<RawKv>, i64, u64), EtcdError> {
        let key = key.to_string();
        let resp = self
            .call_retrying("get", |mut c| async move {
                c.get(key, prefix.then(|| GetOptions::new().with_prefix()))
                    .await
            })
            .await?;
        let (rev, cid) = resp
            .header()
            .map(|h| (h.revision(), h.cluster_id()))
            .unwrap_or((0, 0));
        Ok((resp.kvs().iter().map(kv_from).collect(), rev, cid))
    }

    /// Put one key, optionally under a lease.
    pub async fn put(&self, key: &str, value: &str, lease: Option<i64>) -> Result<(), EtcdError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.call_retrying("put", |mut c| async move {
            let opts = lease.map(|l| PutOptions::new().with_lease(l));
            c.put(key, value, opts).await
        })
        .await
        .map(|_| ())
    }

    /// Delete one key; returns whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        let key = key.to_string();
        let resp = self
            .call_retrying("delete", |mut c| async move { c.delete(key, None).await })
            .await?;
        Ok(resp.deleted() > 0)
    }

    /// Run a transaction.
    pub async fn txn(&self, txn: Txn) -> Result<TxnOutcome, EtcdError> {
        let resp = self
            .call_retrying("txn", |mut c| async move { c.txn(txn).await })
            .await?;
        Ok(TxnOutcome {
            succeeded: resp.succeeded(),
            revision: resp.header().map(|h| h.revision()).unwrap_or(0),
        })
    }

    /// Create `key` only if it does not exist. Returns whether it was created.
    pub async fn create_if_absent(
        &self,
        key: &str,
        value: &str,
        lease: Option<i64>,
    ) -> Result<bool, EtcdError> {
        let txn = Txn::new()
            .when(vec![absent(key)])
            .and_then(vec![put_op(key, value, lease)]);
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Several puts in one transaction (all or nothing).
    pub async fn put_all(
        &self,
        kvs: &[(String, String)],
        lease: Option<i64>,
    ) -> Result<(), EtcdError> {
        let ops: Vec<TxnOp> = kvs.iter().map(|(k, v)| put_op(k, v, lease)).collect();
        self.txn(Txn::new().and_then(ops)).await.map(|_| ())
    }

    /// Compare-and-set `P/state`: succeeds only if the state is `expected` (None: absent) and
    /// every extra condition holds (e.g. [`Etcd::no_nodes`]).
    pub async fn cas_state(
        &self,
        expected: Option<&str>,
        new: ClusterState,
        extra: Vec<Compare>,
        extra_ops: Vec<TxnOp>,
    ) -> Result<bool, EtcdError> {
        let key = self.keys.state();
        let mut when = vec![match expected {
            Some(v) => Compare::value(key.clone(), CompareOp::Equal, v),
            None => absent(&key),
        }];
        when.extend(extra);
        let mut ops = vec![put_op(&key, new.as_str(), None)];
        ops.extend(extra_ops);
        Ok(self
            .txn(Txn::new().when(when).and_then(ops))
            .await?
            .succeeded)
    }

    /// Condition: no key under `nodes/`.
    pub fn no_nodes(&self) -> Compare {
        prefix_empty(&self.keys.nodes_prefix())
    }

    /// Condition: no key under `queue/`.
    pub fn no_queue(&self) -> Compare {
        prefix_empty(&self.keys.queue_prefix())
    }

    /// Write `ops` only if `lock` still holds the lock (same create_revision): a holder whose
    /// lease expired, or whose key was replaced, writes nothing. Returns whether it wrote.
    pub async fn guarded(
        &self,
        lock: &LockGuard,
        extra: Vec<Compare>,
        ops: Vec<TxnOp>,
    ) -> Result<bool, EtcdError> {
        let mut when = vec![lock.still_held()];
        when.extend(extra);
        let ok = self
            .txn(Txn::new().when(when).and_then(ops))
            .await?
            .succeeded;
        if !ok {
            debug!("guarded write not done: lock lost or a condition failed");
        }
        Ok(ok)
    }
}

/// Condition: `key` does not exist.
pub fn absent(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Equal, 0)
}

/// Condition: `key` exists.
pub fn present(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Greater, 0)
}

/// Condition: no key under `prefix` (etcd compares a range against every key in it; an empty
/// range compares against a zero key, so create_revision == 0 holds exactly when it is empty).
pub fn prefix_empty(prefix: &str) -> Compare {
    Compare::create_revision(prefix, CompareOp::Equal, 0).with_range(prefix_end(prefix))
}

/// Condition: no key starting with `prefix` was created or changed after `revision` (a
/// decision taken on a snapshot at `revision` still stands on those keys).
pub fn unchanged_since(prefix: &str, revision: i64) -> Compare {
    Compare::mod_revision(prefix, CompareOp::Less, revision + 1).with_range(prefix_end(prefix))
}

/// The end of the range of keys starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A put, optionally under a lease, for a transaction.
pub fn put_op(key: &str, value: &str, lease: Option<i64>) -> TxnOp {
    TxnOp::put(key, value, lease.map(|l| PutOptions::new().with_lease(l)))
}

/// A delete, for a transaction.
pub fn delete_op(key: &str) -> TxnOp {
    TxnOp::delete(key, None)
}

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end("/galera/c/nodes/"), b"/galera/c/nodes0".to_vec());
        assert_eq!(prefix_end("a"), b"b".to_vec());
    }

    #[test]
    fn urls_get_a_scheme() {
        let cfg = EtcdConfig {
            endpoints: vec!["127.0.0.1:2379".into(), "https://x:1".into()],
            timeout: Duration::from_secs(1),
            ca_file: None,
            cert_file: None,
            key_file: None,
            username: None,
            password_file: None,
        };
        assert_eq!(cfg.urls(), vec!["http://127.0.0.1:2379", "https://x:1"]);
    }
}
