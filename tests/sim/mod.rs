//! A deterministic simulation of the galera-sidecar entrypoints (in the manner of
//! FoundationDB's simulator and TigerBeetle's VOPR): the product's pure decision functions
//! (`plan::decide`, `recovery::elect`, `safety::check`, the steady rules) drive N simulated
//! nodes against a simulated etcd and simulated Galera, under seeded random schedules of
//! faults and operator commands, and the safety invariants are checked after every step.
//!
//! - [`etcd`]: keys, revisions, leases, transactions, wipes, lost keys;
//! - [`galera`]: datadirs, commit histories, Primary Components;
//! - [`node`], [`entry`], [`queue`], [`steady`], [`heal`]: the entrypoint's sequence and
//!   running loop;
//! - [`operator`]: the CLI's commands and hand-made requests;
//! - [`schedule`]: seeded schedules; [`invariants`]: what must always hold;
//! - [`findings`]: violations found in the product and still open; [`cases`]: their shrunk
//!   schedules;
//! - [`world`]: the clock and the step; [`events`]: faults and commands applied;
//! - [`product`]: the functions under test (or a mutant);
//! - [`runner`]: many schedules on every core, shrinking, the report.

pub mod cases;
pub mod entry;
pub mod etcd;
pub mod events;
pub mod findings;
pub mod galera;
pub mod heal;
pub mod invariants;
pub mod node;
pub mod operator;
pub mod product;
pub mod queue;
pub mod runner;
pub mod schedule;
pub mod steady;
pub mod world;
