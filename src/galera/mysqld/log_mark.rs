//! Progress of a starting mariadbd read from its log lines ([`LogMark`], pure), and the
//! mark moved forward as lines arrive.

use tokio::sync::watch;

/// Progress of a starting mariadbd, read from its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogMark {
    Starting,
    /// Part of the Primary Component (state transfer requested or not needed).
    InPrimary,
    Synced,
}

/// What a log line tells about progress (pure).
pub fn log_mark(line: &str) -> Option<LogMark> {
    if line.contains("Synchronized with group, ready for connections")
        || line.contains("Server status change joined -> synced")
    {
        Some(LogMark::Synced)
    } else if line.contains("Server status change connected -> joiner")
        || line.contains("Server status change connected -> joined")
        || line.contains("Server status change initialized -> joined")
        || line.contains("Shifting JOINER -> JOINED")
    {
        Some(LogMark::InPrimary)
    } else {
        None
    }
}

/// Move the progress mark forward if `line` shows progress (never backwards).
pub(super) fn advance(tx: &watch::Sender<LogMark>, line: &str) {
    if let Some(m) = log_mark(line) {
        tx.send_if_modified(|cur| {
            let newer = m > *cur;
            if newer {
                *cur = m;
            }
            newer
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_marks() {
        assert_eq!(
            log_mark("[Note] WSREP: Server status change connected -> joiner"),
            Some(LogMark::InPrimary)
        );
        assert_eq!(
            log_mark("[Note] WSREP: Synchronized with group, ready for connections"),
            Some(LogMark::Synced)
        );
        assert_eq!(log_mark("[Note] InnoDB: started"), None);
    }
}
