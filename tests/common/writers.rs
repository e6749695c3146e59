//! SQL write load that runs in the background while a test breaks things, in two styles over
//! one core (connect and insert, each optionally within a time limit, and the classification
//! of an insert's answer: acknowledged, duplicate key, or failed with an unknown outcome).
//!
//! - [`Writers`]: per target (haproxy, or a node directly), one writer that opens a NEW
//!   connection for every insert and one that keeps a long-lived ("pooled") connection and
//!   reconnects only when it is cut; tokio tasks on the test's runtime. Every attempt is
//!   recorded as an [`Attempt`] (when, which writer, which node served it or why it failed);
//!   every acknowledged insert is kept so the test can prove no acknowledged row was lost. Rows
//!   go to `lt.t (src, seq, node)`, which [`SCHEMA`] creates; the node is `@@wsrep_node_name`.
//! - [`Writer`]: one connection on its own thread committing rows 1, 2, 3… into `t.rows (id,
//!   v)` (the test creates the table), retrying each id until it is acknowledged or found to
//!   exist by a duplicate key; what it saw is kept in a [`WriterLog`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

// ---------------------------------------------------------------------------------------
// The core
// ---------------------------------------------------------------------------------------

/// Options for `user` over TCP to `addr`.
fn opts(addr: SocketAddr, user: &str, password: &str) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
        .into()
}

/// A connect that failed: the error (`connect: …`), and whether it was the time limit.
struct ConnectFailed {
    error: String,
    timed_out: bool,
}

/// Open a connection, within `limit` when given (`None`: the caller bounds the whole attempt).
async fn connect(
    o: &mysql_async::Opts,
    limit: Option<Duration>,
) -> Result<mysql_async::Conn, ConnectFailed> {
    let conn = match limit {
        Some(d) => match tokio::time::timeout(d, mysql_async::Conn::new(o.clone())).await {
            Ok(r) => r,
            Err(_) => {
                return Err(ConnectFailed {
                    error: "connect: timed out".into(),
                    timed_out: true,
                })
            }
        },
        None => mysql_async::Conn::new(o.clone()).await,
    };
    conn.map_err(|e| ConnectFailed {
        error: format!("connect: {e}"),
        timed_out: false,
    })
}

/// How one INSERT was answered.
enum Outcome {
    /// OK: the row is committed.
    Acked,
    /// Duplicate key (error 1062; its message): the row was there already.
    Duplicate(String),
    /// Anything else (connection or server error, no answer within the limit): whether it
    /// committed is unknown.
    Failed(String),
}

/// Run the INSERT `sql`, within `limit` when given, and classify the answer.
async fn insert(conn: &mut mysql_async::Conn, sql: String, limit: Option<Duration>) -> Outcome {
    let answer = match limit {
        Some(d) => match tokio::time::timeout(d, conn.query_drop(sql)).await {
            Ok(r) => r,
            Err(_) => return Outcome::Failed(format!("no answer within {d:?}")),
        },
        None => conn.query_drop(sql).await,
    };
    match answer {
        Ok(()) => Outcome::Acked,
        Err(e) if matches!(&e, mysql_async::Error::Server(s) if s.code == 1062) => {
            Outcome::Duplicate(e.to_string())
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// Writers: per target, a new-connection writer and a pooled writer
// ---------------------------------------------------------------------------------------

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

/// Insert row `(src, seq)`; the whole attempt is bounded by the caller. Any answer but OK
/// (a duplicate key included) is an error.
async fn insert_seq(conn: &mut mysql_async::Conn, src: &str, seq: u64) -> Result<(), String> {
    let sql =
        format!("INSERT INTO lt.t (src, seq, node) VALUES ('{src}', {seq}, @@wsrep_node_name)");
    match insert(conn, sql, None).await {
        Outcome::Acked => Ok(()),
        Outcome::Duplicate(e) | Outcome::Failed(e) => Err(format!("insert: {e}")),
    }
}

async fn node_name(conn: &mut mysql_async::Conn) -> Result<String, String> {
    let n: Option<String> = conn
        .query_first("SELECT @@wsrep_node_name")
        .await
        .map_err(|e| format!("select: {e}"))?;
    n.ok_or_else(|| "select: no row".into())
}

impl Writers {
    /// Start a new-connection writer (`{name}-new`) and a pooled writer (`{name}-pooled`) per
    /// target `(name, SQL address)`.
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
            let mut c = connect(&o, None).await.map_err(|f| f.error)?;
            insert_seq(&mut c, &name, seq).await?;
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
                conn = Some(connect(&o, None).await.map_err(|f| f.error)?);
            }
            let c = conn.as_mut().ok_or("no connection")?;
            insert_seq(c, &name, seq).await?;
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

// ---------------------------------------------------------------------------------------
// Writer: numbered rows, each retried until acknowledged or found to exist
// ---------------------------------------------------------------------------------------

/// What the writer has seen.
#[derive(Debug, Default, Clone)]
pub struct WriterLog {
    /// Ids whose autocommit INSERT returned OK, in order.
    pub acked: Vec<u32>,
    /// Ids whose retried INSERT hit a duplicate key: an earlier attempt with an unknown outcome
    /// did commit. Not counted as acknowledged, but checked like them.
    pub dup_confirmed: Vec<u32>,
    /// Failed attempts (connection errors, timeouts, server errors) — each one retried.
    pub failures: u64,
    pub last_error: Option<String>,
}

/// A background thread committing rows 1, 2, 3… (`INSERT INTO t.rows`) through `addr`, one at
/// a time, retrying each id until it is acknowledged or found to exist.
pub struct Writer {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WriterLog>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Bound of each connect and each INSERT of a [`Writer`].
const OP_TIMEOUT: Duration = Duration::from_secs(5);

impl Writer {
    /// Start it; `pace` is the pause after each acknowledged row.
    pub fn start(addr: SocketAddr, user: &str, password: &str, pace: Duration) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(WriterLog::default()));
        let o = opts(addr, user, password);
        let (s, l) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("writer runtime");
            rt.block_on(write_loop(o, s, l, pace));
        });
        Writer {
            stop,
            log,
            thread: Some(thread),
        }
    }

    pub fn snapshot(&self) -> WriterLog {
        self.log.lock().expect("writer log").clone()
    }

    pub fn acked_count(&self) -> usize {
        self.log.lock().expect("writer log").acked.len()
    }

    /// Stop after the statement in flight; returns the final log.
    pub fn stop(&mut self) -> WriterLog {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.snapshot()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn write_loop(
    o: mysql_async::Opts,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WriterLog>>,
    pace: Duration,
) {
    let mut conn: Option<mysql_async::Conn> = None;
    let mut id: u32 = 1;
    while !stop.load(Ordering::SeqCst) {
        if conn.is_none() {
            match connect(&o, Some(OP_TIMEOUT)).await {
                Ok(c) => conn = Some(c),
                Err(f) => {
                    fail(&log, f.error);
                    if !f.timed_out {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let sql = format!("INSERT INTO t.rows (id, v) VALUES ({id}, 'w{id}')");
        match insert(c, sql, Some(OP_TIMEOUT)).await {
            Outcome::Acked => {
                log.lock().expect("writer log").acked.push(id);
                id += 1;
                tokio::time::sleep(pace).await;
            }
            Outcome::Duplicate(_) => {
                log.lock().expect("writer log").dup_confirmed.push(id);
                id += 1;
            }
            Outcome::Failed(e) => {
                // The outcome is unknown: retry the same id on a new connection.
                fail(&log, e);
                conn = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

fn fail(log: &Mutex<WriterLog>, e: String) {
    let mut l = log.lock().expect("writer log");
    l.failures += 1;
    l.last_error = Some(e);
}
