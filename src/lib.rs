//! galera-sidecar: a MariaDB Galera cluster on Kubernetes that assembles itself, recovers after
//! a full outage without losing a committed transaction, tells Kubernetes the truth about each
//! node's health, and keeps haproxy pointed at one healthy writer — coordinated through etcd.
//!
//! Layout (functional core, imperative shell):
//! - [`cli`]: options and env vars → validated, typed configuration;
//! - [`etcd`]: THE shared coordination state (keys, snapshot, leases, lock, txns, watch);
//! - [`position`]: Galera positions (`uuid:seqno`), shared by etcd records and the entrypoint;
//! - [`mysql`]: the wsrep status query used by the entrypoint, the checker and `status`;
//! - [`galera`]: the container entrypoint (pure decisions in `plan`/`recovery`, I/O around them);
//! - [`checker`]: readiness/liveness rules (pure) and the probes that apply them;
//! - [`haproxy`]: config rendering (pure) and the haproxy child that follows the leader;
//! - [`status`]: `status`, `set-state` and the operator's one-shot commands;
//! - [`restart_gate`]: `can-restart NAME` (IST, quorum, leader), pure;
//! - [`exit`]: the exit codes and which error gives which;
//! - [`shutdown`]: SIGTERM/SIGINT → one cancellation token for each service;
//! - [`state_file`]: the entrypoint → probes contract (phase, pid, etcd view), atomic JSON;
//! - [`files`], [`names`], [`net_addr`]: the lowest layer (atomic file writes, node-name
//!   validation, hosts and `host:port` strings with IPv6 in brackets).

pub mod checker;
pub mod cli;
pub mod etcd;
pub mod exit;
pub mod files;
pub mod galera;
pub mod haproxy;
pub mod logging;
pub mod mycnf;
pub mod mysql;
pub mod names;
pub mod net_addr;
pub mod pause;
pub mod position;
pub mod restart_gate;
pub mod secrets;
pub mod shutdown;
pub mod state_file;
pub mod status;
pub mod switchover;
