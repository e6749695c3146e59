//! SQL clients that write through haproxy in a loop while a test breaks things: per target,
//! one writer that opens a NEW connection for every insert, and one that keeps a long-lived
//! ("pooled") connection and reconnects only when it is cut. Every attempt is recorded (when,
//! which writer, which node served it or why it failed); every acknowledged insert is kept so
//! the test can prove no acknowledged row was lost.
//!
//! Rows go to `lt.t (src, seq, node)`; [`SCHEMA`] creates it. The node is `@@wsrep_node_name`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

/// The table the writers fill (run once on any node; it replicates).
pub const SCHEMA: &str = "CREATE DATABASE IF NOT EXISTS lt; \
     CREATE TABLE IF NOT EXISTS lt.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
     src VARCHAR(32) NOT NULL, seq BIGINT NOT NULL, node VARCHAR(64) NOT NULL, \
     UNIQUE KEY (src, seq)) ENGINE=InnoDB;";

/// One write attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: Instant,
    pub writer: String,
    pub pooled: bool,
    pub seq: u64,
    /// The node that served it, or the error.
    pub outcome: Result<String, String>,
}

/// Bound of one attempt (connect + insert + select). Generous: commits stall while Galera
/// evicts a dead member (evs.suspect_timeout), which is not a failure.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Writers {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    acked: Arc<Mutex<Vec<(String, u64)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn opts(addr: SocketAddr, user: &str, password: &str) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
        .into()
}

async fn insert(conn: &mut mysql_async::Conn, src: &str, seq: u64) -> Result<(), String> {
    conn.query_drop(format!(
        "INSERT INTO lt.t (src, seq, node) VALUES ('{src}', {seq}, @@wsrep_node_name)"
    ))
    .await
    .map_err(|e| format!("insert: {e}"))
}

async fn node_name(conn: &mut mysql_async::Conn) -> Result<String, String> {
    let n: Option<String> = conn
        .query_first("SELECT @@wsrep_node_name")
        .await
        .map_err(|e| format!("select: {e}"))?;
    n.ok_or_else(|| "select: no row".into())
}

impl Writers {
    /// Start a new-connection writer and a pooled writer per target `(name, haproxy address)`.
    pub fn start(
        rt: &tokio::runtime::Handle,
        targets: &[(String, SocketAddr)],
        user: &str,
        password: &str,
    ) -> Writers {
        let mut w = Writers {
            stop: Arc::new(AtomicBool::new(false)),
            log: Arc::new(Mutex::new(Vec::new())),
            acked: Arc::new(Mutex::new(Vec::new())),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        for (name, addr) in targets {
            let o = opts(*addr, user, password);
            tasks.push(rt.spawn(new_conn_loop(
                format!("{name}-new"),
                o.clone(),
                w.stop.clone(),
                w.log.clone(),
                w.acked.clone(),
            )));
            tasks.push(rt.spawn(pooled_loop(
                format!("{name}-pooled"),
                o,
                w.stop.clone(),
                w.log.clone(),
                w.acked.clone(),
            )));
        }
        w.tasks = tasks;
        w
    }

    /// Attempts that started at or after `t`.
    pub fn since(&self, t: Instant) -> Vec<Attempt> {
        self.log
            .lock()
            .expect("writer log")
            .iter()
            .filter(|a| a.at >= t)
            .cloned()
            .collect()
    }

    /// The node that last served `writer` successfully.
    pub fn last_ok_node(&self, writer: &str) -> Option<String> {
        self.log
            .lock()
            .expect("writer log")
            .iter()
            .rev()
            .filter(|a| a.writer == writer)
            .find_map(|a| a.outcome.clone().ok())
    }

    /// Every acknowledged insert so far.
    pub fn acked(&self) -> Vec<(String, u64)> {
        self.acked.lock().expect("acked").clone()
    }

    /// Stop the loops and wait for them (bounded by the attempt timeout).
    pub fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks.drain(..) {
            let _ = rt.block_on(async { tokio::time::timeout(ATTEMPT_TIMEOUT, t).await });
        }
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn new_conn_loop(
    name: String,
    o: mysql_async::Opts,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    acked: Arc<Mutex<Vec<(String, u64)>>>,
) {
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let at = Instant::now();
        let work = async {
            let mut c = mysql_async::Conn::new(o.clone())
                .await
                .map_err(|e| format!("connect: {e}"))?;
            insert(&mut c, &name, seq).await?;
            acked.lock().expect("acked").push((name.clone(), seq));
            let n = node_name(&mut c).await;
            let _ = c.disconnect().await;
            n
        };
        let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {ATTEMPT_TIMEOUT:?}")),
        };
        log.lock().expect("writer log").push(Attempt {
            at,
            writer: name.clone(),
            pooled: false,
            seq,
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn pooled_loop(
    name: String,
    o: mysql_async::Opts,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    acked: Arc<Mutex<Vec<(String, u64)>>>,
) {
    let mut seq = 0u64;
    let mut conn: Option<mysql_async::Conn> = None;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let at = Instant::now();
        let work = async {
            if conn.is_none() {
                conn = Some(
                    mysql_async::Conn::new(o.clone())
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                );
            }
            let c = conn.as_mut().ok_or("no connection")?;
            insert(c, &name, seq).await?;
            acked.lock().expect("acked").push((name.clone(), seq));
            node_name(c).await
        };
        let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {ATTEMPT_TIMEOUT:?}")),
        };
        if outcome.is_err() {
            conn = None; // cut: the next attempt reconnects
        }
        let failed = outcome.is_err();
        log.lock().expect("writer log").push(Attempt {
            at,
            writer: name.clone(),
            pooled: true,
            seq,
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(if failed { 200 } else { 50 })).await;
    }
}

/// Per writer: attempts, failures and the distinct errors among `attempts`.
pub fn summary(attempts: &[Attempt]) -> Vec<(String, usize, usize, Vec<String>)> {
    let mut names: Vec<String> = attempts.iter().map(|a| a.writer.clone()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let mine: Vec<&Attempt> = attempts.iter().filter(|a| a.writer == n).collect();
            let mut errors: Vec<String> = mine
                .iter()
                .filter_map(|a| a.outcome.clone().err())
                .collect();
            let failed = errors.len();
            errors.sort();
            errors.dedup();
            (n, mine.len(), failed, errors)
        })
        .collect()
}
