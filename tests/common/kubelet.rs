//! A small kubelet emulator for exec probes: runs the probe command every `period`, kills it
//! after `timeout` (a timeout is a failure, as in Kubernetes), counts consecutive failures and
//! records a restart verdict when they reach `failure_threshold` (then starts counting again,
//! as after a container restart).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ProbeSpec {
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub ok: bool,
    pub timed_out: bool,
    /// The probe's stdout (one line).
    pub line: String,
}

#[derive(Debug, Clone)]
pub struct Kubelet {
    pub spec: ProbeSpec,
    pub results: Vec<ProbeResult>,
    failures: u32,
    /// Indexes (into `results`) of the probes that triggered a restart.
    pub restarts: Vec<usize>,
}

impl Kubelet {
    pub fn new(spec: ProbeSpec) -> Kubelet {
        Kubelet {
            spec,
            results: vec![],
            failures: 0,
            restarts: vec![],
        }
    }

    /// Run the probe once, as the kubelet would.
    pub fn probe(&mut self, mut cmd: Command) -> ProbeResult {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the probe");
        let start = Instant::now();
        let (ok, timed_out) = loop {
            match child.try_wait().expect("wait for the probe") {
                Some(st) => break (st.success(), false),
                None if start.elapsed() >= self.spec.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break (false, true);
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let mut line = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut line);
        }
        let r = ProbeResult {
            ok,
            timed_out,
            line: line.trim().to_string(),
        };
        self.results.push(r.clone());
        if ok {
            self.failures = 0;
        } else {
            self.failures += 1;
            if self.failures >= self.spec.failure_threshold {
                self.restarts.push(self.results.len() - 1);
                self.failures = 0;
            }
        }
        r
    }

    /// Run `n` probes, one per period.
    pub fn run(&mut self, n: usize, make: impl Fn() -> Command) {
        for i in 0..n {
            let t = Instant::now();
            self.probe(make());
            if i + 1 < n {
                std::thread::sleep(self.spec.period.saturating_sub(t.elapsed()));
            }
        }
    }

    /// Probe in the background until [`Background::stop`].
    pub fn start(spec: ProbeSpec, make: impl Fn() -> Command + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut k = Kubelet::new(spec);
            while !flag.load(Ordering::SeqCst) {
                let t = Instant::now();
                k.probe(make());
                std::thread::sleep(spec.period.saturating_sub(t.elapsed()));
            }
            k
        });
        Background { stop, thread }
    }

    /// A one-line summary of every result, for assertion messages.
    pub fn transcript(&self) -> String {
        self.results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "#{i} {}{}: {}",
                    if r.ok { "ok" } else { "FAIL" },
                    if r.timed_out { " (timeout)" } else { "" },
                    r.line
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub struct Background {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Kubelet>,
}

impl Background {
    pub fn stop(self) -> Kubelet {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("kubelet thread")
    }
}
