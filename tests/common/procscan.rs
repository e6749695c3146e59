//! A `/proc` sampler for the secret tests: every few milliseconds, every process's argv is
//! searched for the secrets; the processes of the programs a test names are recorded (a label
//! with the flags that tell their roles apart, and the uid they ran as), and their environment
//! is searched too when the test asks for it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a scan saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Secrets found: in whose argv, or in whose environment (sorted, without repeats).
    pub exposed: Vec<String>,
    /// The named programs seen, labelled with `--bootstrap`, `--wsrep-recover` or
    /// `--wsrep-new-cluster` when their command line has it.
    pub labels: BTreeSet<String>,
    /// The uids each named program ran as.
    pub uids: BTreeMap<String, BTreeSet<u32>>,
    /// How many passes over `/proc` were made.
    pub samples: u64,
}

/// Samples `/proc` in a thread until [`ProcScanner::finish`].
pub struct ProcScanner {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Does `hay` hold `needle`?
pub fn holds(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The real uid of process `pid` (`/proc/<pid>/status`).
fn uid_of(pid: &str) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
}

impl ProcScanner {
    /// Start sampling for `secrets`. `programs`: the programs to record (matched on the
    /// program's name, or the script a shell runs: `/bin/sh mariadb-install-db`);
    /// `check_env(program)`: whether that program's environment must be free of the secrets.
    pub fn start(
        secrets: &[&str],
        programs: &[&str],
        check_env: impl Fn(&str) -> bool + Send + 'static,
    ) -> ProcScanner {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        let programs: Vec<String> = programs.iter().map(|s| s.to_string()).collect();
        let me = std::process::id().to_string();
        let (s, out) = (stop.clone(), seen.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok(rd) = std::fs::read_dir("/proc") else {
                    return;
                };
                for e in rd.flatten() {
                    let pid = e.file_name().to_string_lossy().into_owned();
                    if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                        continue;
                    }
                    let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&cmd).replace('\0', " ");
                    let mut seen = out.lock().expect("lock");
                    for k in &secrets {
                        if holds(&cmd, k) {
                            seen.exposed.push(format!("argv of {pid}: {text}"));
                        }
                    }
                    let Some(base) = text
                        .split_whitespace()
                        .take(2)
                        .map(|a| a.rsplit('/').next().unwrap_or("").to_string())
                        .find(|b| programs.contains(b))
                    else {
                        continue;
                    };
                    let mut label = base.clone();
                    for flag in ["--bootstrap", "--wsrep-recover", "--wsrep-new-cluster"] {
                        if text.contains(flag) {
                            label.push(' ');
                            label.push_str(flag);
                        }
                    }
                    seen.labels.insert(label);
                    if let Some(uid) = uid_of(&pid) {
                        seen.uids.entry(base.clone()).or_default().insert(uid);
                    }
                    if check_env(&base) {
                        if let Ok(env) = std::fs::read(e.path().join("environ")) {
                            if secrets.iter().any(|k| holds(&env, k)) {
                                seen.exposed
                                    .push(format!("environment of {pid} ({text}) holds a secret"));
                            }
                        }
                    }
                }
                out.lock().expect("lock").samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        ProcScanner {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// Stop sampling and return what was seen.
    pub fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let mut seen = self.seen.lock().expect("lock").clone();
        seen.exposed.sort();
        seen.exposed.dedup();
        seen
    }
}
