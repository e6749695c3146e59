//! Running many schedules (on every core), shrinking a failing one, and the report: the
//! random seed (`SIM_SEED`), the violation, the schedule as Rust values (to paste into a
//! test) and the trace.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::findings::Finding;
use super::invariants::Violation;
use super::product::Mutant;
use super::schedule::{self, Schedule};
use super::world::{Outcome, Stats, World};

/// What counts as a failure: any violation (`strict`), or one no open finding (today only the
/// documented limit L1) explains. A fixed finding that recurs fails the run.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub mutant: Mutant,
    pub strict: bool,
    /// Run every random seed instead of stopping at the first failure.
    pub keep_going: bool,
}

impl Policy {
    pub fn fails(&self, v: &Violation) -> bool {
        self.strict || !v.known.is_some_and(Finding::is_open)
    }
}

/// The summary of many runs.
#[derive(Debug, Default)]
pub struct Summary {
    pub schedules: u64,
    pub recovered: u64,
    pub steps: u64,
    pub secs: f64,
    pub stats: Stats,
    /// The failing schedules (by random seed) with their violation, in order.
    pub failing: Vec<(u64, String)>,
    /// Schedules that ended on a recognised finding: count and lowest random seed.
    pub known: BTreeMap<Finding, (u64, u64)>,
    /// How the nodes of schedules that did not recover ended.
    pub ends: BTreeMap<String, u64>,
    /// The lowest failing random seed's schedule, shrunk, and its report.
    pub failure: Option<(Schedule, String)>,
}

impl Summary {
    pub fn per_sec(&self) -> f64 {
        self.schedules as f64 / self.secs.max(1e-9)
    }

    fn add(&mut self, o: Summary) {
        self.schedules += o.schedules;
        self.recovered += o.recovered;
        self.steps += o.steps;
        self.stats.add(&o.stats);
        self.failing.extend(o.failing);
        for (e, n) in o.ends {
            *self.ends.entry(e).or_default() += n;
        }
        for (f, (n, seed)) in o.known {
            let e = self.known.entry(f).or_insert((0, seed));
            e.0 += n;
            e.1 = e.1.min(seed);
        }
    }

    pub fn line(&self) -> String {
        let s = &self.stats;
        let known: Vec<String> = self
            .known
            .iter()
            .map(|(f, (n, seed))| format!("{f:?} in {n} (first: seed {seed})"))
            .collect();
        format!(
            "{} schedules ({} steps) in {:.1} s: {:.0} schedules/s; {} ended recovered (STEADY, \
             every node running); {} commits, {} bootstraps, {} elections, {} joins, {} refusals, \
             {} resyncs, {} heals in place, {} accepted losses; operator commands: {} written, {} refused by the CLI; \
             findings recognised: {}",
            self.schedules,
            self.steps,
            self.secs,
            self.per_sec(),
            self.recovered,
            s.commits,
            s.bootstraps,
            s.elections,
            s.joins,
            s.refusals,
            s.resyncs,
            s.heals,
            s.accepted_losses,
            s.cli_written,
            s.cli_refused,
            if known.is_empty() {
                "none seen".to_string()
            } else {
                known.join(", ")
            }
        )
    }
}

/// Run `count` schedules from random seed `first` on every core. The lowest failing random seed is shrunk
/// and reported; without `keep_going` the run stops at a failure (every lower random seed is still
/// run, so the reported random seed does not depend on the threads).
pub fn run_many(first: u64, count: u64, p: Policy) -> Summary {
    let start = Instant::now();
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sum = Summary::default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| worker(&next, &stop, first + count, p)))
            .collect();
        for w in workers {
            sum.add(w.join().unwrap_or_default());
        }
    });
    sum.failing.sort_by_key(|(seed, _)| *seed);
    if let Some((seed, _)) = sum.failing.first() {
        let s = schedule::generate(*seed);
        let small = shrink(&s, p.mutant, |v| p.fails(v));
        let report = report(&small, &World::run(&small, p.mutant));
        sum.failure = Some((small, report));
    }
    sum.secs = start.elapsed().as_secs_f64();
    sum
}

fn worker(next: &AtomicU64, stop: &AtomicBool, end: u64, p: Policy) -> Summary {
    let mut sum = Summary::default();
    while !stop.load(Ordering::SeqCst) {
        let seed = next.fetch_add(1, Ordering::SeqCst);
        if seed >= end {
            break;
        }
        let s = schedule::generate(seed);
        let out = World::run(&s, p.mutant);
        sum.schedules += 1;
        sum.steps += u64::from(s.steps);
        sum.stats.add(&out.stats);
        sum.recovered += u64::from(out.recovered);
        if !out.recovered && out.violation.is_none() {
            for e in &out.end {
                *sum.ends.entry(e.clone()).or_default() += 1;
            }
        }
        let Some(v) = &out.violation else {
            continue;
        };
        if let Some(f) = v.known {
            let e = sum.known.entry(f).or_insert((0, seed));
            e.0 += 1;
            e.1 = e.1.min(seed);
        }
        if p.fails(v) {
            sum.failing.push((seed, describe(v)));
            if !p.keep_going {
                stop.store(true, Ordering::SeqCst);
            }
        }
    }
    sum
}

fn describe(v: &Violation) -> String {
    let known = v.known.map(|f| format!(" [{f:?}]")).unwrap_or_default();
    format!("{} at step {}{known}: {}", v.invariant, v.step, v.detail)
}

/// Remove events (and steps) while the schedule still ends on a violation `keep` accepts.
pub fn shrink(s: &Schedule, mutant: Mutant, keep: impl Fn(&Violation) -> bool) -> Schedule {
    let mut best = s.clone();
    let Some(v) = World::run(&best, mutant).violation.filter(|v| keep(v)) else {
        return best;
    };
    best.steps = v.step;
    loop {
        let mut progress = false;
        let mut i = best.events.len();
        while i > 0 {
            i -= 1;
            let mut cand = best.clone();
            cand.events.remove(i);
            if let Some(v) = World::run(&cand, mutant).violation.filter(|v| keep(v)) {
                cand.steps = v.step;
                best = cand;
                progress = true;
            }
        }
        if !progress {
            return best;
        }
    }
}

/// The random seed, the violation, the schedule (as Rust values) and the trace.
pub fn report(s: &Schedule, out: &Outcome) -> String {
    let mut r = String::new();
    if let Some(v) = &out.violation {
        r += &format!(
            "VIOLATION of {} (seed {}, {} nodes): {}\n",
            v.invariant,
            s.seed,
            s.n,
            describe(v)
        );
    }
    r += &format!(
        "replay: SIM_SEED={} cargo test --test simulation -- --nocapture\n",
        s.seed
    );
    r += &format!("schedule ({} nodes, {} steps; shrunk):\n", s.n, s.steps);
    for (t, e) in &s.events {
        r += &format!("    ({t}, {e:?}),\n");
    }
    r += "trace:\n";
    for line in &out.trace {
        r += &format!("    {line}\n");
    }
    r += "at the end:\n";
    for (i, e) in out.end.iter().enumerate() {
        r += &format!("    g-{i}: {e}\n");
    }
    r
}
