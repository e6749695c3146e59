//! The haproxy sidecar (docs/design.md §5): keep haproxy pointed at the etcd leader.
//!
//! - [`render`]: leader + backups (the other members, by name) + options → config text (pure;
//!   built-in minijinja template);
//! - [`process`]: the master-worker haproxy child, `haproxy -c`, reloads, the CLI sockets;
//! - [`follow`]: the follow loop (start, signals) and its parts: the leader watch
//!   (`follow/view.rs`), the keep/apply decision (`follow/decision.rs`, pure), installing a
//!   config (`follow/config.rs`), the reload bookkeeping (`follow/follower.rs`), the new
//!   worker's health (`follow/health.rs`), ending the old leader's sessions
//!   (`follow/sessions.rs`);
//! - [`state`]: the files in `--run-dir` (last good config, status for the probe);
//! - [`readiness`]: `haproxy readiness`, the exec probe of the haproxy container.

pub mod follow;
pub mod process;
pub mod readiness;
pub mod render;
pub mod state;

use crate::cli::{ConfigError, GlobalOpts, HaproxyCommand, HaproxyOpts, HaproxySub};

fn validate(opts: &HaproxyOpts) -> Result<(), ConfigError> {
    if opts.backend_port == 0 {
        return Err(ConfigError::new("--backend-port", "must not be 0"));
    }
    if opts.check_port == 0 {
        return Err(ConfigError::new("--check-port", "must not be 0"));
    }
    if opts.hard_stop_after.is_zero() {
        return Err(ConfigError::new("--hard-stop-after", "must be more than 0"));
    }
    crate::cli::validate_program(
        "--haproxy-bin",
        "GALERA_HAPROXY_BIN",
        &opts.haproxy_bin,
        "haproxy",
    )?;
    if let Some(t) = &opts.template {
        if !t.is_file() {
            return Err(ConfigError::new(
                "--template",
                format!("{} is not a readable file", t.display()),
            ));
        }
    }
    Ok(())
}

/// haproxy's own message for a taken port is buried in its start-up noise: try the listen
/// addresses first and say which one is taken and how to fix it.
fn check_listen_free(opts: &HaproxyOpts) -> anyhow::Result<()> {
    let mut addrs = vec![(opts.listen, "--listen / GALERA_LISTEN")];
    if let Some(s) = opts.stats_listen {
        addrs.push((s, "--stats-listen / GALERA_STATS_LISTEN"));
    }
    if let Some(r) = opts.read_listen {
        addrs.push((r, "--read-listen / GALERA_READ_LISTEN"));
    }
    for (addr, option) in addrs {
        // SO_REUSEPORT as haproxy itself: a haproxy of ours still draining on the port does
        // not count as taken (haproxy would share it), a foreign listener does.
        let probe = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.set_reuseport(true)?;
            s.bind(addr)
        });
        if let Err(e) = probe {
            anyhow::bail!(
                "haproxy cannot listen on {addr}: {e}; {}",
                crate::cli::listen_fix(&e, option)
            );
        }
    }
    Ok(())
}

/// Run a haproxy command. Returns the process exit code.
pub async fn main(global: &GlobalOpts, cmd: &HaproxyCommand) -> anyhow::Result<u8> {
    match &cmd.sub {
        Some(HaproxySub::Readiness(opts)) => readiness::main(opts).await,
        None => {
            validate(&cmd.opts)?;
            check_listen_free(&cmd.opts)?;
            follow::run(global, &cmd.opts).await
        }
    }
}
