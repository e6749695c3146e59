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

/// Notes that recur, each throttled on its own: a note is due when it was not said within
/// `every` (unlike [`Throttle`], two notes alternating do not make each other due).
#[derive(Debug)]
pub struct Notes {
    every: std::time::Duration,
    said: std::collections::HashMap<String, std::time::Instant>,
}

impl Notes {
    pub fn new(every: std::time::Duration) -> Self {
        Notes {
            every,
            said: Default::default(),
        }
    }

    /// Whether to say `note` now (and remember when it was said).
    pub fn due(&mut self, note: &str) -> bool {
        let now = std::time::Instant::now();
        let every = self.every;
        // Forget notes not said for a while: the map stays as small as what recurs.
        self.said.retain(|_, at| now.duration_since(*at) < every);
        if self.said.contains_key(note) {
            return false;
        }
        self.said.insert(note.to_string(), now);
        true
    }
}

/// A periodic line for a wait that goes on: due at most once per `every`. [`Every::now`] is
/// due at once (then every `every`), [`Every::after`] only once `every` has passed.
#[derive(Debug)]
pub struct Every {
    every: std::time::Duration,
    last: Option<std::time::Instant>,
}

impl Every {
    /// Due at the first call.
    pub fn now(every: std::time::Duration) -> Self {
        Every { every, last: None }
    }

    /// First due once `every` has passed.
    pub fn after(every: std::time::Duration) -> Self {
        Every {
            every,
            last: Some(std::time::Instant::now()),
        }
    }

    /// Whether to say it now (and remember that it was said when so).
    pub fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= self.every);
        if due {
            self.last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::{Every, Throttle};
    use std::time::Duration;

    #[test]
    fn notes_are_throttled_each_on_its_own() {
        let mut n = super::Notes::new(Duration::from_secs(3600));
        assert!(n.due("a"));
        assert!(n.due("b"));
        assert!(!n.due("a"), "b in between does not make a due again");
        assert!(!n.due("b"));
        let mut fast = super::Notes::new(Duration::ZERO);
        assert!(fast.due("a"));
        assert!(fast.due("a"));
    }

    #[test]
    fn every_is_due_at_its_pace() {
        let mut at_once = Every::now(Duration::from_secs(3600));
        assert!(at_once.due());
        assert!(!at_once.due(), "not again inside the interval");
        let mut later = Every::after(Duration::from_secs(3600));
        assert!(!later.due(), "not before the first interval passed");
        let mut fast = Every::after(Duration::ZERO);
        assert!(fast.due());
        assert!(fast.due());
    }

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
