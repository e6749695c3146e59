//! Stray writes and `--read-only-followers` (pure rules; the steady loop does the I/O).
//!
//! All SQL is meant to reach the leader through haproxy. A node that is not the leader and
//! still commits its own clients' transactions (`wsrep_local_commits` grows) is reached
//! directly, or through the read port: a client bypasses haproxy's write port, and
//! concurrent writes to the same rows on two nodes fail certification (deadlock errors).
//!
//! How stray writes are counted: the running loop samples `wsrep_local_commits` every pass
//! and adds the growth since the previous sample to a counter when the node was not the
//! leader then, and had not been the leader for [`LEADER_GRACE`]. It publishes the counter
//! (since its mariadbd started) in its census entry, and `status` flags any node whose
//! counter is above zero. The node itself knows when it led, so no other node has to guess
//! from two census entries written at different times which commits happened under which
//! leader; and a counter that only grows while mariadbd runs is honest about "since when".
//! The grace keeps out the commits a former leader still makes on sessions haproxy routed to
//! it before a move (they are ended about a second after it).
//!
//! `--read-only-followers`: a node that is not the leader runs with `read_only=ON`, the leader
//! with `read_only=OFF`. A node about to become the leader (campaign, switchover take-over)
//! turns it off first, so it accepts writes as soon as haproxy routes to it; if it does not
//! win, the same pass turns it on again. `read_only` does not stop users with `SUPER` or
//! `READ_ONLY ADMIN` (root), nor replication.

use std::time::Duration;

/// How long after it last led a node's own commits are not counted as stray writes.
pub const LEADER_GRACE: Duration = Duration::from_secs(5);

/// The `read_only` a node should run with: `None` when the option is off (never touched).
pub fn desired_read_only(option: bool, leader: bool) -> Option<bool> {
    option.then_some(!leader)
}

/// The `SET GLOBAL read_only` to issue, if any, given what was last set (`None`: not yet).
pub fn read_only_change(option: bool, leader: bool, set: Option<bool>) -> Option<bool> {
    let want = desired_read_only(option, leader)?;
    (set != Some(want)).then_some(want)
}

/// How many of the commits between two samples of `wsrep_local_commits` are stray writes:
/// all of them when the node was not the leader at the previous sample and last led at least
/// [`LEADER_GRACE`] ago (`since_led`: `None` = never led while this mariadbd ran), else none.
/// A counter that went back (another mariadbd) or an unknown sample counts nothing.
pub fn stray_delta(
    previous: Option<u64>,
    now: Option<u64>,
    leader: bool,
    since_led: Option<Duration>,
) -> u64 {
    let (Some(p), Some(n)) = (previous, now) else {
        return 0;
    };
    if leader || since_led.is_some_and(|d| d < LEADER_GRACE) {
        return 0;
    }
    n.saturating_sub(p)
}

/// The running loop's memory for both.
#[derive(Debug, Default)]
pub struct Followers {
    /// The `read_only` value this loop last set successfully (`None`: not yet).
    pub set: Option<bool>,
    /// `wsrep_local_commits` at the previous sample.
    pub last_commits: Option<u64>,
    /// When this node was last seen leading.
    pub last_led: Option<tokio::time::Instant>,
    /// Commits counted as stray writes since this mariadbd started.
    pub stray_writes: u64,
}

impl Followers {
    /// Take one sample of `wsrep_local_commits`; `leader`: this node led at the previous pass.
    pub fn sample(&mut self, commits: Option<u64>, leader: bool) -> u64 {
        let now = tokio::time::Instant::now();
        let since = self.last_led.map(|t| now.duration_since(t));
        let delta = stray_delta(self.last_commits, commits, leader, since);
        if leader {
            self.last_led = Some(now);
        }
        if commits.is_some() {
            self.last_commits = commits;
        }
        self.stray_writes += delta;
        delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_table() {
        // (option, leader, last set) → SET to issue
        let cases = [
            (false, false, None, None),
            (false, true, None, None),
            (false, false, Some(true), None),
            (true, false, None, Some(true)),
            (true, true, None, Some(false)),
            (true, false, Some(true), None),
            (true, true, Some(false), None),
            // promotion and demotion
            (true, true, Some(true), Some(false)),
            (true, false, Some(false), Some(true)),
        ];
        for (option, leader, set, want) in cases {
            assert_eq!(
                read_only_change(option, leader, set),
                want,
                "option {option}, leader {leader}, set {set:?}"
            );
        }
        assert_eq!(desired_read_only(true, false), Some(true));
        assert_eq!(desired_read_only(false, false), None);
    }

    #[test]
    fn stray_delta_table() {
        let s = Duration::from_secs;
        // (previous, now, leader, since led) → stray commits
        let cases = [
            (None, Some(10), false, None, 0),
            (Some(10), None, false, None, 0),
            (Some(10), Some(10), false, None, 0),
            (Some(10), Some(13), false, None, 3),
            (Some(10), Some(13), true, None, 0),
            (Some(10), Some(13), false, Some(s(1)), 0),
            (Some(10), Some(13), false, Some(s(5)), 3),
            (Some(10), Some(13), false, Some(s(60)), 3),
            (Some(10), Some(4), false, None, 0),
        ];
        for (p, n, leader, since, want) in cases {
            assert_eq!(
                stray_delta(p, n, leader, since),
                want,
                "{p:?} -> {n:?}, leader {leader}, since led {since:?}"
            );
        }
    }

    #[test]
    fn followers_count_only_while_not_leading() {
        let mut f = Followers::default();
        assert_eq!(f.sample(Some(5), false), 0);
        assert_eq!(f.sample(Some(7), false), 2);
        assert_eq!(f.sample(Some(20), true), 0);
        // just stopped leading: within the grace
        assert_eq!(f.sample(Some(22), false), 0);
        assert_eq!(f.stray_writes, 2);
    }
}
