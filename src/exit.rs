//! The process's exit codes, in one place: what each means, and which error gives which.
//!
//! Every command returns `Ok(code)` for an answer (a probe's verdict, `can-restart`'s) or an
//! error; [`for_error`] maps the error to its code, so `main` holds no rule of its own.

use crate::cli::ConfigError;

/// Success; a probe: ready / alive.
pub const OK: u8 = 0;
/// A failure (the error's line names it); a probe: not ready / not alive.
pub const FAILED: u8 = 1;
/// Bad usage or configuration: one line naming the option (or variable) and the fix.
pub const USAGE: u8 = 2;
/// The entrypoint stopped mariadbd cleanly to take part in a recovery (`EX_TEMPFAIL`): the
/// kubelet restarts the container, which queues with the others.
pub const LEFT_FOR_RECOVERY: u8 = 75;

/// The exit code for a command that ended with `e`: [`USAGE`] when it is a configuration
/// error (also under added context), else [`FAILED`].
pub fn for_error(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() {
        USAGE
    } else {
        FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_their_codes() {
        let config: anyhow::Error = ConfigError::new("--lease-ttl", "must be at least 2s").into();
        assert_eq!(for_error(&config), USAGE);
        assert_eq!(
            for_error(&config.context("starting haproxy")),
            USAGE,
            "a configuration error under context is still one"
        );
        assert_eq!(for_error(&anyhow::anyhow!("etcd unreachable")), FAILED);
    }
}
