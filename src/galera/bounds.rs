//! Every wait, timeout and log interval of the entrypoint, named in one place: what it
//! bounds and why it is that long.

use std::time::Duration;

/// One local `SHOW STATUS LIKE 'wsrep%'` (or a `SET GLOBAL`): a server that takes longer is
/// treated as not answering this time.
pub const STATUS_QUERY: Duration = Duration::from_secs(2);
/// One TCP connect to a peer's Galera port (evidence of a running mariadbd, or of none).
pub const PORT_PROBE: Duration = Duration::from_secs(1);
/// The pace of the startup decision loop, the recovery queue and the running loop when
/// nothing wakes them earlier (the running loop is woken at once by etcd's watch).
pub const PASS: Duration = Duration::from_secs(1);
/// How often a wait that goes on says what it waits for.
pub const SAY_EVERY: Duration = Duration::from_secs(5);
/// How often an unchanged startup decision is said again.
pub const DECISION_SAY_EVERY: Duration = Duration::from_secs(10);
/// How often a refused node says again that it still refuses, and the least time between two
/// measurements of a datadir a resync could not keep.
pub const REFUSED_SAY_EVERY: Duration = Duration::from_secs(30);
/// How long a node waits for the membership lock before re-deciding.
pub const LOCK_WAIT: Duration = Duration::from_secs(600);
/// How long a bootstrapped mariadbd may take to be Synced before it is stopped.
pub const BOOTSTRAP_SYNCED: Duration = Duration::from_secs(600);
/// How long a Synced bootstrap keeps retrying to record itself in etcd before leaving it to
/// the running loop (mariadbd keeps running either way).
pub const RECORD_BOOTSTRAP: Duration = Duration::from_secs(120);
/// One `mariadbd --version` at start (the binary's version, for the census and the join rule).
pub const VERSION_QUERY: Duration = Duration::from_secs(30);
/// One `mariadb-upgrade` run: it checks every table, so a large datadir takes long; killed
/// past this (mariadbd keeps running; the run is retried).
pub const UPGRADE_RUN: Duration = Duration::from_secs(3600);
/// How long after a failed `mariadb-upgrade` the running loop runs it again.
pub const UPGRADE_RETRY: Duration = Duration::from_secs(60);
