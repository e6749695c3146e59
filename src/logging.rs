//! Logging setup: tracing to stderr, as text or one JSON object per line.
//!
//! The filter comes from `GALERA_LOG` (e.g. `debug`, `galera_sidecar=debug`), default `info`.
//! Probes print their verdict on stdout; logs never go there.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_env("GALERA_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("{default_level},h2=warn,tower=warn,hyper=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A log throttle: a message is due when it differs from the last one said, or when `every`
/// passed since — so a state that lasts is repeated now and then, not every pass.
#[derive(Debug)]
pub struct Throttle {
    every: std::time::Duration,
    last: Option<(String, std::time::Instant)>,
}

impl Throttle {
    pub fn new(every: std::time::Duration) -> Self {
        Throttle { every, last: None }
    }

    /// Whether to log `message` now (and remember it when so).
    pub fn due(&mut self, message: &str) -> bool {
        let now = std::time::Instant::now();
        let due = match &self.last {
            Some((m, at)) => m != message || now.duration_since(*at) >= self.every,
            None => true,
        };
        if due {
            self.last = Some((message.to_string(), now));
        }
        due
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::Throttle;
    use std::time::Duration;

    #[test]
    fn says_a_new_message_at_once_and_a_repeat_only_after_the_interval() {
        let mut t = Throttle::new(Duration::from_secs(3600));
        assert!(t.due("a"));
        assert!(!t.due("a"), "a repeat inside the interval is not due");
        assert!(t.due("b"), "a different message is due at once");
        assert!(t.due("a"));
        let mut fast = Throttle::new(Duration::ZERO);
        assert!(fast.due("a"));
        assert!(
            fast.due("a"),
            "after the interval the same message is due again"
        );
    }
}
