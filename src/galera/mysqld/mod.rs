//! Child processes of the entrypoint: one reaper for all of them, mariadbd's command line
//! (pure), its start, its log markers, and its clean stop.
//!
//! As PID 1 the entrypoint also inherits orphans (SST scripts' children). One task reaps
//! every exit with `waitpid(-1)` and dispatches the status to whoever waits for that pid;
//! nothing else ever waits (tokio's child wait is not used), so no status is stolen.
//!
//! The parts:
//! - `reaper.rs`: the [`Reaper`] (the one `waitpid(-1)` loop), spawning a child and running
//!   a helper command to completion;
//! - `child.rs`: a [`ChildProc`]: its exit status, signals and clean stop (SIGTERM, SIGKILL);
//! - `args.rs`: mariadbd's command line, [`MysqldArgs`] (pure);
//! - `provider.rs`: the wsrep provider options (`pc.recovery=false` merged in, read from
//!   `mariadbd --verbose --help`) (pure);
//! - `eviction.rs`: how long to wait after an unclean stop before rejoining (pure);
//! - `log_mark.rs`: the progress marks read from mariadbd's log, [`LogMark`] (pure);
//! - `spawn.rs`: starting mariadbd and following its log.

mod args;
mod child;
mod eviction;
mod log_mark;
mod provider;
mod reaper;
mod spawn;

pub use args::MysqldArgs;
pub use child::{ChildProc, ExitCode};
pub use eviction::{eviction_wait, evs_inactive_timeout};
pub use log_mark::{log_mark, LogMark};
pub use provider::{
    add_ipv6_addresses, append_option, merge_provider_options, option_value,
    provider_options_from_help,
};
pub use reaper::{output_tail, Reaper};
pub use spawn::spawn_mysqld;
