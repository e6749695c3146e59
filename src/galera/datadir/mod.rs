//! The datadir: fresh / interrupted SST / has data, `init.ok`, initialisation (install-db and
//! the users), grastate.dat edits, and the local position (`--wsrep-recover`).
//!
//! Data is sacred: only a datadir that is *fresh* (empty, or an initialisation we started and
//! did not finish) or an *interrupted SST* is ever wiped. A datadir with data is never wiped
//! here — not even without `init.ok`; the only other wipe is an operator's `resync`, which
//! by default moves the datadir aside first (`keep.rs`).
//!
//! The parts:
//! - `classify.rs`: what the datadir holds ([`DatadirKind`], `classify`) and `wipe`;
//! - `markers.rs`: our marker files (`init.ok`, the recovery joined, the forks) and the owner
//!   they are written for;
//! - `grastate_dat.rs`: reading grastate.dat and setting `safe_to_bootstrap`;
//! - `binaries.rs`: how to run mariadbd helpers ([`Binaries`]), the provider options they show;
//! - `recover.rs`: the local position by `mariadbd --wsrep-recover`;
//! - `init.rs`: initialisation (`mariadb-install-db`, then the users by `mariadbd --bootstrap`);
//! - `users.rs`: the users' SQL ([`Users`], [`UsersSql`]) and the monitor user's statements.

mod binaries;
mod classify;
mod grastate_dat;
mod init;
mod markers;
mod recover;
mod users;

pub use binaries::Binaries;
pub use classify::{classify, wipe, DatadirKind, INIT_OK, INIT_STARTED, SST_IN_PROGRESS};
pub use grastate_dat::{read_grastate, set_safe_to_bootstrap};
pub use markers::{
    forks, recovery_joined, user_ids, write_forks, write_init_ok, write_recovery_joined, FORKS,
    RECOVERY_JOINED,
};
pub use users::{monitor_user_statements, SecretSql, Users, UsersSql};
