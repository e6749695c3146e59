//! `checker serve`: the probes over HTTP (axum) — `GET /readiness` and `GET /liveness` answer
//! 200 or 503 with the one-line verdict as the body, `GET /metrics` the Prometheus text.
//! It is haproxy's `httpchk` target, so it must stay cheap under many concurrent checks:
//!
//! - one observation in flight at a time, shared by every request that arrives meanwhile, and
//!   reused for [`CACHE_FOR`] (haproxy's checks of every node and the kubelet share it);
//! - liveness memory advances once per observation, not once per request;
//! - readiness remembers when it last answered `ready`, so a node keeps passing through a
//!   Galera membership change for at most [`rules::MEMBERSHIP_GRACE`] (docs/probes.md);
//! - at most [`MAX_IN_FLIGHT`] requests are served at once (more get 503 at once), and every
//!   request is bounded by `--timeout` plus a second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{Mutex, Semaphore};
use tracing::{info, warn};

use super::metrics::{self, Verdicts};
use super::probe::{Gathered, Prober, EXEC_MEMORY, HTTP_MEMORY};
use super::rules::{self, ReadyMemory, Verdict};

/// How long one observation answers every request.
pub const CACHE_FOR: Duration = Duration::from_millis(500);
/// Requests served at once.
pub const MAX_IN_FLIGHT: usize = 64;

struct Cached {
    at: Instant,
    seq: u64,
    g: Arc<Gathered>,
}

struct Server {
    prober: Prober,
    cache: Mutex<Option<Cached>>,
    liveness: Mutex<Option<(u64, Verdict)>>,
    /// When readiness last answered `ready` (monotonic, since `epoch`).
    ready: std::sync::Mutex<ReadyMemory>,
    epoch: Instant,
    verdicts: Verdicts,
    permits: Semaphore,
    request_timeout: Duration,
    /// The last verdict word and rule per probe, to log changes (one line per change, not per
    /// request).
    last_words: std::sync::Mutex<[Option<(&'static str, rules::Rule)>; 2]>,
}

impl Server {
    /// The current observation: the cached one if fresh, else a new one (single flight: the
    /// lock is held while gathering, so concurrent requests wait for it and share it).
    async fn current(&self) -> (u64, Instant, Arc<Gathered>) {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if c.at.elapsed() < CACHE_FOR {
                return (c.seq, c.at, c.g.clone());
            }
        }
        let seq = cache.as_ref().map(|c| c.seq + 1).unwrap_or(1);
        let g = Arc::new(self.prober.gather().await);
        self.verdicts.observed();
        let at = Instant::now();
        *cache = Some(Cached {
            at,
            seq,
            g: g.clone(),
        });
        (seq, at, g)
    }

    fn log_change(&self, v: &Verdict) {
        let i = match v.probe {
            rules::Probe::Readiness => 0,
            rules::Probe::Liveness => 1,
        };
        let mut last = match self.last_words.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        if last[i] != Some((v.word(), v.rule)) {
            info!("{} now {v} (rule {})", v.probe.as_str(), v.rule.as_str());
            last[i] = Some((v.word(), v.rule));
        }
    }

    async fn readiness(&self) -> Verdict {
        let (_, at, g) = self.current().await;
        let mut memory = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        memory.decide(
            &g.obs,
            at.saturating_duration_since(self.epoch),
            rules::MEMBERSHIP_GRACE,
        )
    }

    async fn liveness(&self) -> Verdict {
        let (seq, _, g) = self.current().await;
        let mut last = self.liveness.lock().await;
        if let Some((s, v)) = last.as_ref() {
            if *s == seq {
                return v.clone();
            }
        }
        let v = self.prober.liveness(&g.obs, HTTP_MEMORY);
        *last = Some((seq, v.clone()));
        v
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Run one verdict-producing request: bounded in number and time.
async fn answer<F>(s: &Server, what: &str, f: F) -> Response
where
    F: std::future::Future<Output = Verdict>,
{
    let Ok(_permit) = s.permits.try_acquire() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("busy: more than {MAX_IN_FLIGHT} checks in flight\n"),
        );
    };
    match tokio::time::timeout(s.request_timeout, f).await {
        Ok(v) => {
            s.verdicts.record(&v);
            s.log_change(&v);
            let status = if v.ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, format!("{v}\n"))
        }
        Err(_) => {
            warn!("{what} check did not finish within {:?}", s.request_timeout);
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{what}: the check did not finish within {:?}\n",
                    s.request_timeout
                ),
            )
        }
    }
}

async fn readiness(State(s): State<Arc<Server>>) -> Response {
    answer(&s, "readiness", s.readiness()).await
}

async fn liveness(State(s): State<Arc<Server>>) -> Response {
    answer(&s, "liveness", s.liveness()).await
}

async fn metrics_handler(State(s): State<Arc<Server>>) -> Response {
    let Ok(_permit) = s.permits.try_acquire() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "busy\n".into());
    };
    match tokio::time::timeout(s.request_timeout, s.current()).await {
        Ok((_, _, g)) => {
            // The kubelet's exec probes count their failures in the shared state dir.
            let failures =
                metrics::exec_liveness_failures(&s.prober.load_memory(EXEC_MEMORY), &g.obs.mysqld);
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                metrics::render(&g, &s.verdicts, failures),
            )
                .into_response()
        }
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics timed out\n".into(),
        ),
    }
}

/// The HTTP routes.
fn router(s: Arc<Server>) -> Router {
    Router::new()
        .route("/readiness", get(readiness))
        .route("/liveness", get(liveness))
        .route("/metrics", get(metrics_handler))
        .with_state(s)
}

/// Serve until SIGTERM/SIGINT.
pub async fn serve(prober: Prober, listen: SocketAddr) -> anyhow::Result<u8> {
    let shutdown = crate::shutdown::on_terminate()?;
    let request_timeout = prober.timeout + Duration::from_secs(1);
    let server = Arc::new(Server {
        prober,
        cache: Mutex::new(None),
        liveness: Mutex::new(None),
        ready: std::sync::Mutex::new(ReadyMemory::default()),
        epoch: Instant::now(),
        verdicts: Verdicts::default(),
        permits: Semaphore::new(MAX_IN_FLIGHT),
        request_timeout,
        last_words: std::sync::Mutex::new([None, None]),
    });
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {listen}: {e}; {}",
            crate::cli::listen_fix(&e, "--listen / GALERA_CHECKER_LISTEN")
        )
    })?;
    info!("checker serving /readiness, /liveness, /metrics on {listen}");
    axum::serve(listener, router(server))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|e| anyhow::anyhow!("serving on {listen}: {e}"))?;
    Ok(0)
}
