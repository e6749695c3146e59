//! The connected client ([`Etcd`]): connecting (TLS, user/password), every call bounded by
//! the timeout, a request that was never sent tried again, and the plain reads, puts,
//! deletes and leases.

use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetOptions, PutOptions};
use tracing::{debug, warn};

use super::config::EtcdConfig;
use super::error::{classify, EtcdError};
use super::{ClusterSnapshot, Keys, RawKv};

/// A connected client with the cluster's key layout and the call timeout.
#[derive(Clone)]
pub struct Etcd {
    client: Client,
    pub keys: Keys,
    timeout: Duration,
    endpoints: String,
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

pub(super) fn kv_from(kv: &etcd_client::KeyValue) -> RawKv {
    RawKv {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: kv.lease(),
    }
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
}
