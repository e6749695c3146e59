//! Fault-injection helpers for `tests/faults.rs`: the schedule's random source (a random
//! seed), a background sampler that watches every node's wsrep view for a second Primary
//! Component, and the keeping of every log after the run. The network partition is
//! `common::nft`; the writer that commits numbered rows through haproxy is
//! `common::writers::Writer`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use galera_sidecar::mysql::{wsrep_status, Credentials, Endpoint};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seeded random source of a fault schedule: the same random seed replays the same schedule.
pub struct Schedule {
    pub seed: u64,
    rng: StdRng,
}

impl Schedule {
    /// Seeded from `GALERA_FAULT_SEED` when set, else from the clock.
    pub fn from_env() -> Schedule {
        let seed = match std::env::var("GALERA_FAULT_SEED") {
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("GALERA_FAULT_SEED={s:?} is not a u64")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        };
        Schedule {
            seed,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }

    /// An index below `n`.
    pub fn pick(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// `0..n` in a random order.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.rng.random_range(0..=i);
            v.swap(i, j);
        }
        v
    }
}

/// One node's view at one sample.
#[derive(Debug, Clone)]
pub struct View {
    pub ip: String,
    pub status: String,
    pub uuid: String,
    pub size: String,
    pub conf_id: String,
    pub members: BTreeSet<String>,
}

/// What the sampler found.
#[derive(Debug, Default, Clone)]
pub struct SamplerLog {
    pub samples: u64,
    /// Samples in which two nodes were Primary with the same uuid and neither's view contained
    /// the other: two disjoint Primary Components at once.
    pub violations: Vec<String>,
    /// Primary views whose uuid is not the cluster's.
    pub foreign_uuids: BTreeMap<String, u64>,
    /// Most Primary nodes seen in one sample (for the summary: the sampler did see something).
    pub max_primary: usize,
}

/// Samples every node's `wsrep_cluster_status`, `cluster_size`, `cluster_state_uuid`,
/// `cluster_conf_id` and `incoming_addresses` every `period`, as the monitor user over TCP.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    pub log: Arc<Mutex<SamplerLog>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// `ips`: the nodes' current addresses (the test updates it when a node moves); `uuid`: the
    /// cluster's uuid.
    pub fn start(
        ips: Arc<Mutex<Vec<String>>>,
        port: u16,
        creds: Credentials,
        uuid: String,
        period: Duration,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(SamplerLog::default()));
        let (s, l) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sampler runtime");
            rt.block_on(async move {
                while !s.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let now: Vec<String> = ips.lock().expect("ips").clone();
                    let views = sample(&now, port, &creds).await;
                    record(&l, &views, &uuid);
                    tokio::time::sleep(period.saturating_sub(t.elapsed())).await;
                }
            });
        });
        Sampler {
            stop,
            log,
            thread: Some(thread),
        }
    }

    pub fn snapshot(&self) -> SamplerLog {
        self.log.lock().expect("sampler log").clone()
    }

    pub fn stop(&mut self) -> SamplerLog {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.snapshot()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn sample(ips: &[String], port: u16, creds: &Credentials) -> Vec<View> {
    // Concurrently, so one sample is one moment.
    let mut set = tokio::task::JoinSet::new();
    for ip in ips {
        let (ip, creds) = (ip.clone(), creds.clone());
        set.spawn(async move {
            let ep = Endpoint::Tcp {
                host: ip.clone(),
                port,
            };
            let st = wsrep_status(&ep, &creds, Duration::from_secs(1))
                .await
                .ok()?;
            let text = |k: &str| st.get(k).unwrap_or("").to_string();
            Some(View {
                status: text("cluster_status"),
                uuid: text("cluster_state_uuid"),
                size: text("cluster_size"),
                conf_id: text("cluster_conf_id"),
                members: text("incoming_addresses")
                    .split(',')
                    .filter_map(|a| {
                        let a = a.trim();
                        let host = a.rsplit_once(':').map(|(h, _)| h).unwrap_or(a);
                        (!host.is_empty()).then(|| host.to_string())
                    })
                    .collect(),
                ip,
            })
        });
    }
    set.join_all().await.into_iter().flatten().collect()
}

/// Two Primary views of the same uuid conflict when neither contains the other's node: they
/// are two disjoint components (a view in transition still lists the node it is losing or
/// gaining, so joins and leaves do not look like this). Pure.
pub fn disjoint_primaries(views: &[View]) -> Vec<String> {
    let primaries: Vec<&View> = views.iter().filter(|v| v.status == "Primary").collect();
    let mut out = vec![];
    for (i, a) in primaries.iter().enumerate() {
        for b in &primaries[i + 1..] {
            if a.uuid == b.uuid
                && !a.members.is_empty()
                && !b.members.is_empty()
                && !a.members.contains(&b.ip)
                && !b.members.contains(&a.ip)
            {
                out.push(format!(
                    "{} (Primary, size {}, conf {}, members {:?}) and {} (Primary, size {}, \
                     conf {}, members {:?}) share uuid {} but not a component",
                    a.ip, a.size, a.conf_id, a.members, b.ip, b.size, b.conf_id, b.members, a.uuid
                ));
            }
        }
    }
    out
}

fn record(log: &Mutex<SamplerLog>, views: &[View], uuid: &str) {
    let mut l = log.lock().expect("sampler log");
    l.samples += 1;
    let primaries = views.iter().filter(|v| v.status == "Primary").count();
    l.max_primary = l.max_primary.max(primaries);
    for v in views.iter().filter(|v| v.status == "Primary") {
        if v.uuid != uuid {
            *l.foreign_uuids
                .entry(format!("{} on {}", v.uuid, v.ip))
                .or_default() += 1;
        }
    }
    for v in disjoint_primaries(views) {
        l.violations.push(v);
    }
}

/// On drop (so also after a failure), copy every `*.log` under `root` (the nodes' sidecar and
/// mariadbd logs, the haproxy sidecar's) into `$GALERA_FAULT_LOG_DIR`, when that is set.
pub struct KeepLogs {
    pub root: std::path::PathBuf,
}

impl Drop for KeepLogs {
    fn drop(&mut self) {
        let Ok(dest) = std::env::var("GALERA_FAULT_LOG_DIR") else {
            return;
        };
        fn walk(base: &std::path::Path, p: &std::path::Path, dest: &std::path::Path) {
            let Ok(rd) = std::fs::read_dir(p) else { return };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() && !path.ends_with("data") {
                    walk(base, &path, dest);
                } else if path.extension().is_some_and(|x| x == "log") {
                    if let Ok(rel) = path.strip_prefix(base) {
                        let to = dest.join(rel);
                        if let Some(parent) = to.parent() {
                            let _ = std::fs::create_dir_all(parent);
                        }
                        let _ = std::fs::copy(&path, &to);
                    }
                }
            }
        }
        walk(&self.root, &self.root, std::path::Path::new(&dest));
        eprintln!("logs copied to {dest}");
    }
}
