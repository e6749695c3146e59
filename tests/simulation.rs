//! Deterministic simulation of the entrypoints' decisions under random faults and operator
//! commands (docs/faults.md, "Deterministic simulation"). Pure: no etcd, no MariaDB.
//!
//! ```sh
//! cargo test --test simulation -- --nocapture                  # the fixed budget
//! SIM_SCHEDULES=200000 cargo test --release --test simulation -- --nocapture
//! SIM_SEED=1234 cargo test --test simulation -- --nocapture    # replay (and shrink) one
//! SIM_STRICT=1 ...                                             # L1 (open) fails too
//! SIM_KEEP_GOING=1 ...                                         # list every failing random seed
//! SIM_ENDS=1 ...                                               # how unrecovered runs ended
//! SIM_TRACE=1 cargo test --test simulation f1 -- --nocapture   # a replay's trace
//! ```

mod sim;

use sim::product::Mutant;
use sim::runner::{self, Policy};
use sim::schedule::generate;
use sim::world::World;

/// Schedules run by `cargo test`.
const BUDGET: u64 = 10_000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn policy(mutant: Mutant) -> Policy {
    Policy {
        mutant,
        strict: std::env::var_os("SIM_STRICT").is_some(),
        keep_going: std::env::var_os("SIM_KEEP_GOING").is_some(),
    }
}

#[test]
fn simulation() {
    let p = policy(Mutant::None);
    if let Some(seed) = env_u64("SIM_SEED") {
        let s = generate(seed);
        let out = World::run(&s, p.mutant);
        println!("{}", runner::report(&s, &out));
        let Some(v) = out.violation else {
            return;
        };
        // Shrunk, keeping the same violation (SIM_SHRINK_LOOSE: any of the same invariant).
        let loose = std::env::var_os("SIM_SHRINK_LOOSE").is_some();
        let small = runner::shrink(&s, p.mutant, |w| {
            w.invariant == v.invariant && (loose || w.known == v.known)
        });
        let report = runner::report(&small, &World::run(&small, p.mutant));
        if p.fails(&v) {
            panic!("seed {seed}, shrunk:\n{report}");
        }
        println!(
            "seed {seed} ends on open finding {:?}; shrunk:\n{report}",
            v.known
        );
        return;
    }
    let count = env_u64("SIM_SCHEDULES").unwrap_or(BUDGET);
    let first = env_u64("SIM_FIRST").unwrap_or(0);
    let sum = runner::run_many(first, count, p);
    println!("simulation: {}", sum.line());
    if std::env::var_os("SIM_ENDS").is_some() {
        for (e, n) in &sum.ends {
            println!("end state {n:>6} × {e}");
        }
    }
    for (seed, v) in &sum.failing {
        println!("seed {seed}: {v}");
    }
    if let Some((_, report)) = &sum.failure {
        panic!("{report}");
    }
}

/// The simulation can fail: a reverted fix is found within a small budget.
fn finds(mutant: Mutant, budget: u64, invariant: &str) {
    let p = Policy {
        mutant,
        strict: false,
        keep_going: false,
    };
    let sum = runner::run_many(0, budget, p);
    let Some((s, report)) = &sum.failure else {
        panic!(
            "{mutant:?}: no violation in {budget} schedules: {}",
            sum.line()
        );
    };
    println!(
        "{mutant:?}: first failing seed {} ({} schedules run):\n{report}",
        s.seed, sum.schedules
    );
    assert!(report.contains(invariant), "{report}");
}

#[test]
fn mutant_fresh_node_bootstraps_after_a_wipe_is_caught() {
    finds(Mutant::FreshBootstrap, 500, "VIOLATION of S1");
}

#[test]
fn mutant_foreign_datadir_joins_is_caught() {
    finds(Mutant::JoinForeign, 500, "VIOLATION of S2");
}

#[test]
fn mutant_unbound_resync_is_obeyed_is_caught() {
    finds(Mutant::UnboundResync, 500, "VIOLATION of S3");
}

/// The product must survive the schedule: no invariant violated.
fn survives(c: sim::cases::Case) {
    let out = World::run(&c.schedule, Mutant::None);
    if std::env::var_os("SIM_TRACE").is_some() {
        println!("{:?}:\n{}", c.finding, runner::report(&c.schedule, &out));
    }
    if out.violation.is_some() {
        panic!("{:?}:\n{}", c.finding, runner::report(&c.schedule, &out));
    }
}

/// F1: after a forced recovery from behind, a second outage: the election sees two branches
/// of one uuid and makes no automatic choice (before the fix it compared their seqnos and
/// overwrote the forced cluster's commits by IST).
#[test]
fn f1_forced_stale_bootstrap_keeps_both_branches() {
    let c = sim::cases::f1_branches();
    let out = World::run(&c.schedule, Mutant::None);
    let report = runner::report(&c.schedule, &out);
    if std::env::var_os("SIM_TRACE").is_some() {
        println!("{report}");
    }
    assert!(out.violation.is_none(), "{report}");
    assert!(
        out.end
            .iter()
            .all(|e| e.contains("hold two branches of cluster")),
        "the election must block on two branches: {report}"
    );
}

#[test]
fn f2_unknown_position_is_not_overwritten() {
    survives(sim::cases::f2_unknown_overwritten());
}

#[test]
fn f1_forced_unknown_position_records_its_fork() {
    survives(sim::cases::f1_forced_unknown_position());
}

#[test]
fn f1_fork_known_only_from_a_lost_census() {
    survives(sim::cases::f1_fork_known_only_from_a_lost_census());
}

#[test]
fn f2_unknown_position_after_the_record_is_lost() {
    survives(sim::cases::f2_unknown_after_record_lost());
}

#[test]
fn f4_record_without_bootstrap_key_is_re_elected() {
    survives(sim::cases::f4_record_outlives_bootstrap());
}

#[test]
fn f5_forced_bootstrap_waits_for_running_members() {
    survives(sim::cases::f5_forced_beside_running());
}

#[test]
fn f6_heal_waits_for_members_lost_from_etcd() {
    survives(sim::cases::f6_members_incomplete());
}

#[test]
fn f8_heal_in_place_never_makes_a_second_primary() {
    survives(sim::cases::f8_heal_beside_running());
}

#[test]
fn l1_removed_member_keeps_its_commits() {
    survives(sim::cases::l1_removed_member());
}

/// The commit high-water mark: with its writer removed from `members/` and down, the election
/// over the members left (all below the mark) is blocked until the writer is back, which then
/// wins; the election that ignores the mark is caught by the MARK invariant.
#[test]
fn mark_blocks_an_election_below_it_while_its_writer_is_removed() {
    let c = sim::cases::mark_removed_writer();
    let out = World::run(&c.schedule, Mutant::None);
    let report = runner::report(&c.schedule, &out);
    if std::env::var_os("SIM_TRACE").is_some() {
        println!("{report}");
    }
    assert!(out.violation.is_none(), "{report}");
    assert!(out.recovered, "not recovered: {report}");
    let winners: Vec<&String> = out
        .trace
        .iter()
        .filter(|l| l.contains("recorded the recovery winner"))
        .collect();
    assert!(
        !winners.is_empty() && winners.iter().all(|l| l.contains("winner g-1")),
        "the removed writer g-1 must be the only winner: {report}"
    );
    let bad = World::run(&c.schedule, Mutant::IgnoreMark);
    let bad_report = runner::report(&c.schedule, &bad);
    assert!(
        bad.violation
            .as_ref()
            .is_some_and(|v| v.invariant == "MARK"),
        "an election ignoring the mark is not caught: {bad_report}"
    );
}
