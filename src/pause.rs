//! `pause --for DURATION --reason TEXT` / `resume`: a maintenance pause of the automatic
//! cluster decisions.
//!
//! The pause is `P/pause` = {reason, by, since, until} under a lease of DURATION, so it ends
//! by itself even if nobody resumes; it counts only while `until` is ahead too (etcd extends
//! leases across its own restarts). While it is on, the entrypoints do not elect a recovery
//! winner, bootstrap, heal in place, leave for a recovery, or give up leadership for health;
//! `switchover` needs `--during-pause`. It does not block what keeps data and clients safe:
//! a node's own clean shutdown and its SIGTERM hand-over, a join to a running Primary
//! Component, registration, the probes, and filling a leader key that is empty (a leader that
//! is gone cannot be kept).

use std::time::Duration;

use anyhow::bail;

use crate::cli::ConfigError;
use crate::etcd::snapshot::{ClusterSnapshot, Pause};
use crate::etcd::{requests, Etcd};

/// The longest pause accepted: longer is almost certainly a typo (`--for 30d` for 30m).
pub const MAX_PAUSE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The pause in force at `now`, if any.
pub fn active(snap: &ClusterSnapshot, now: i64) -> Option<&Pause> {
    snap.pause.as_ref().filter(|p| p.until > now)
}

/// One sentence for logs and refusals: who paused, why, until when.
pub fn sentence(p: &Pause, now: i64) -> String {
    format!(
        "paused by {} ({}) for {} more",
        p.by,
        p.reason,
        humantime::format_duration(Duration::from_secs((p.until - now).max(0) as u64))
    )
}

/// The same sentence with the end as a time, not a countdown: a line that stays the same while
/// the pause lasts (the running loop says it again only when it changes).
pub fn sentence_until(p: &Pause) -> String {
    let until = std::time::UNIX_EPOCH + Duration::from_secs(p.until.max(0) as u64);
    format!(
        "paused by {} ({}) until {}",
        p.by,
        p.reason,
        humantime::format_rfc3339_seconds(until)
    )
}

/// `--for` and `--reason` checked (pure): the error names the option and the fix.
pub fn validate(duration: Duration, reason: &str) -> Result<(), ConfigError> {
    if duration.is_zero() {
        return Err(ConfigError::new(
            "--for",
            "a pause of 0s ends before it starts: give e.g. 30m",
        ));
    }
    if duration > MAX_PAUSE {
        return Err(ConfigError::new(
            "--for",
            format!(
                "{} is longer than the longest pause ({}); pause again when it ends",
                humantime::format_duration(duration),
                humantime::format_duration(MAX_PAUSE)
            ),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ConfigError::new(
            "--reason",
            "say why (it is shown to whoever finds the cluster paused)",
        ));
    }
    if reason.len() > 200 || reason.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "--reason",
            "one line of at most 200 characters",
        ));
    }
    Ok(())
}

/// `$USER@hostname`.
fn default_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

/// `pause`: refused while a pause is on (resume first); otherwise written under a lease of
/// `duration`, fenced on the key being absent.
pub async fn pause(
    etcd: &Etcd,
    duration: Duration,
    reason: &str,
    by: Option<&str>,
) -> anyhow::Result<String> {
    validate(duration, reason)?;
    let by = by.map(str::to_string).unwrap_or_else(default_by);
    let snap = etcd.snapshot().await?;
    let now = crate::etcd::unix_now();
    if let Some(p) = active(&snap, now) {
        bail!(
            "already {}: nothing changed (run `galera-sidecar resume` first to set another)",
            sentence(p, now)
        );
    }
    let p = Pause {
        reason: reason.trim().to_string(),
        by,
        since: now,
        until: now + duration.as_secs().max(1) as i64,
        lease: 0,
    };
    let lease = etcd.grant_lease(duration).await?;
    // A pause whose `until` passed but whose key etcd still keeps is replaced.
    if !requests::put_pause(etcd, &snap, &serde_json::to_string(&p)?, lease).await? {
        let _ = etcd.revoke_lease(lease).await;
        bail!("someone else paused or resumed meanwhile; nothing changed: run `galera-sidecar status`");
    }
    Ok(format!(
        "cluster paused by {} until {} ({} from now): {}. No recovery election, bootstrap, heal \
         or leadership hand-over for health until then; mariadbd keeps running. \
         `galera-sidecar resume` ends it early",
        p.by,
        p.until,
        humantime::format_duration(duration),
        p.reason
    ))
}

/// `resume`: end the pause now (its lease is revoked: the key goes with it).
pub async fn resume(etcd: &Etcd) -> anyhow::Result<String> {
    let snap = etcd.snapshot().await?;
    let now = crate::etcd::unix_now();
    let Some(p) = snap.pause.as_ref() else {
        bail!("the cluster is not paused: nothing to resume");
    };
    if p.lease != 0 {
        etcd.revoke_lease(p.lease).await?;
    }
    // A key without a lease (written by hand) is deleted.
    etcd.delete(&etcd.keys.pause()).await?;
    Ok(format!(
        "resumed: the pause by {} ({}) ended {}; automatic decisions run again",
        p.by,
        p.reason,
        if p.until > now {
            format!(
                "{} early",
                humantime::format_duration(Duration::from_secs((p.until - now) as u64))
            )
        } else {
            "(it had run out)".to_string()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_table() {
        let m = Duration::from_secs(60);
        let cases: Vec<(Duration, &str, Option<&str>)> = vec![
            (m * 30, "disk swap", None),
            (MAX_PAUSE, "long work", None),
            (Duration::ZERO, "x", Some("--for")),
            (MAX_PAUSE + Duration::from_secs(1), "x", Some("--for")),
            (m, "   ", Some("--reason")),
            (m, "two\nlines", Some("--reason")),
        ];
        for (d, reason, want) in cases {
            let got = validate(d, reason).err().map(|e| e.to_string());
            match (want, got) {
                (None, None) => {}
                (Some(opt), Some(e)) => assert!(e.contains(opt), "{d:?} {reason:?}: {e}"),
                (want, got) => panic!("{d:?} {reason:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn active_only_until_the_end() {
        let mut s = ClusterSnapshot::default();
        assert!(active(&s, 100).is_none());
        s.pause = Some(Pause {
            reason: "r".into(),
            by: "ops@h".into(),
            since: 50,
            until: 200,
            lease: 1,
        });
        assert!(active(&s, 100).is_some());
        assert!(
            active(&s, 200).is_none(),
            "a pause etcd kept past its end is over"
        );
        let line = sentence(active(&s, 100).unwrap(), 100);
        assert!(
            line.contains("ops@h") && line.contains("(r)") && line.contains("1m 40s"),
            "{line}"
        );
    }
}
