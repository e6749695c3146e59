//! Rolling version upgrades (pure, table-tested): MariaDB version strings; whether the
//! datadir needs `mariadb-upgrade` (the version it records against the binary's); when the
//! running loop runs it; the rule for joining a leader of another version; the `status`
//! flag of a cluster running several versions. The I/O is in `mariadb_upgrade.rs`.
//!
//! The version rule (docs/operations.md §14, docs/design.md §3): MariaDB supports a Galera
//! cluster of mixed versions only during a rolling upgrade from one long-term (LTS) series to
//! the next — 10.5 with 10.6, 10.6 with 10.11, 10.11 with 11.4, 11.4 with 11.8. Series are
//! counted in [`LTS`] steps; a short-term series (10.7–10.10, 11.0–11.3, 11.5–11.7) counts as
//! the LTS that follows it. A joiner whose series is more than one step from the leader's,
//! older or newer, waits instead of joining.

use std::collections::BTreeMap;
use std::fmt;

use crate::galera::bounds::UPGRADE_RETRY;

/// A MariaDB version: `major.minor.patch` (the suffix, e.g. `-MariaDB-0+deb12u1`, dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// The version in `text` as MariaDB writes it: `10.11.19-MariaDB-0+deb12u1`
    /// (`VERSION()`), `10.6.16-MariaDB` (`mysql_upgrade_info`), or `mariadbd  Ver
    /// 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu ...` (`mariadbd --version`): the first
    /// word that starts with `N.N.N`, the `5.5.5-` prefix of the client protocol skipped.
    pub fn parse(text: &str) -> Option<Version> {
        version_word(text).and_then(|w| leading(&w))
    }

    /// The release series, `major.minor`.
    pub fn series(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// The LTS step of this version's series: the index in [`LTS`] of the first long-term
    /// series at or after it; past the table, one step beyond its last.
    pub fn lts_step(&self) -> usize {
        LTS.iter()
            .position(|s| *s >= self.series())
            .unwrap_or(LTS.len())
    }

    /// How many LTS steps apart two versions are.
    pub fn steps_from(&self, other: &Version) -> usize {
        self.lts_step().abs_diff(other.lts_step())
    }
}

/// MariaDB's long-term series, oldest first (before 10.7 every series was maintained for
/// years). MariaDB documents Galera rolling upgrades from one of these to the next. Extend
/// it with each new LTS: a version past the last counts as one step beyond it.
pub const LTS: [(u32, u32); 11] = [
    (5, 5),
    (10, 0),
    (10, 1),
    (10, 2),
    (10, 3),
    (10, 4),
    (10, 5),
    (10, 6),
    (10, 11),
    (11, 4),
    (11, 8),
];

/// How many times the running loop runs `mariadb-upgrade` for one mariadbd start (the first
/// run and the retries after a failure).
pub const ATTEMPTS: u32 = 3;

/// The word of `text` that holds the version (e.g. `10.11.19-MariaDB-0+deb12u1`), as
/// published in the census.
pub fn version_word(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '\0')
        .map(|w| w.strip_prefix("5.5.5-").unwrap_or(w))
        .find(|w| leading(w).is_some())
        .map(str::to_string)
}

/// `N.N.N` at the start of `w`, followed by nothing or a non-digit.
fn leading(w: &str) -> Option<Version> {
    let mut parts = [0u32; 3];
    let mut rest = w;
    for (i, part) in parts.iter_mut().enumerate() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        *part = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        if i < 2 {
            rest = rest.strip_prefix('.')?;
        }
    }
    let [major, minor, patch] = parts;
    Some(Version {
        major,
        minor,
        patch,
    })
}

/// A version as `status` shows it: `major.minor.patch`, else the text as published.
pub fn short(text: &str) -> String {
    Version::parse(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|| text.to_string())
}

/// Does the datadir need `mariadb-upgrade`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeDue {
    /// Yes: the datadir records an older series than mariadbd's.
    Due(String),
    /// No, and why.
    NotDue(String),
}

/// The datadir's recorded version (`recorded`: its `mysql_upgrade_info`, `None` when absent)
/// against mariadbd's (`binary`). Due only when the recorded series is older: within one
/// series `mariadb-upgrade` has nothing to do (it says so and leaves the file), and it refuses
/// a downgrade. A datadir that records nothing is not upgraded automatically.
pub fn upgrade_due(binary: Option<&str>, recorded: Option<&str>) -> UpgradeDue {
    use UpgradeDue::{Due, NotDue};
    let Some(b) = binary.and_then(Version::parse) else {
        return NotDue("mariadbd's version is unknown".into());
    };
    let Some(raw) = recorded else {
        return NotDue(format!(
            "the datadir records no version (no mysql_upgrade_info); mariadbd is {b}"
        ));
    };
    let Some(r) = Version::parse(raw) else {
        return NotDue(format!(
            "mysql_upgrade_info holds {:?}, not a version; mariadbd is {b}",
            raw.trim()
        ));
    };
    match r.series().cmp(&b.series()) {
        std::cmp::Ordering::Less => Due(format!("the datadir records {r}, mariadbd is {b}")),
        std::cmp::Ordering::Equal => NotDue(format!(
            "the datadir is upgraded ({r}, the series of mariadbd {b})"
        )),
        std::cmp::Ordering::Greater => NotDue(format!(
            "the datadir records {r}, newer than mariadbd {b}: a downgrade, which \
             mariadb-upgrade refuses; run this node with the datadir's version"
        )),
    }
}

/// What the running loop knows for the `mariadb-upgrade` decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// mariadbd's version (its `--version`).
    pub binary: Option<String>,
    /// The datadir's recorded version (`mysql_upgrade_info`), read while Synced.
    pub recorded: Option<String>,
    /// Runs since mariadbd started.
    pub attempts: u32,
    /// A run is going on.
    pub running: bool,
    /// When the last run ended (unix seconds).
    pub last_end: Option<i64>,
}

/// Run `mariadb-upgrade` now? Once the node is Synced (and Primary) and the datadir's series
/// is older than mariadbd's; never beside a running one; a failed run is retried after
/// [`UPGRADE_RETRY`], at most [`ATTEMPTS`] runs in all. `Some(why)` when due (pure).
pub fn run_due(synced: bool, f: &Facts, now: i64) -> Option<String> {
    if !synced || f.running || f.attempts >= ATTEMPTS {
        return None;
    }
    if f.last_end
        .is_some_and(|t| now - t < UPGRADE_RETRY.as_secs() as i64)
    {
        return None;
    }
    match upgrade_due(f.binary.as_deref(), f.recorded.as_deref()) {
        UpgradeDue::Due(why) => Some(format!("{why} (run {} of {ATTEMPTS})", f.attempts + 1)),
        UpgradeDue::NotDue(_) => None,
    }
}

/// Why this node must not join a cluster led by `leader` whose mariadbd is `leader_version`,
/// this node's being `mine`: their series more than one LTS step apart. `None` when they may
/// mix, or when either version is unknown (nothing to judge on).
pub fn join_refusal(
    mine: Option<&str>,
    leader: &str,
    leader_version: Option<&str>,
) -> Option<String> {
    let m = Version::parse(mine?)?;
    let l = Version::parse(leader_version?)?;
    if m.steps_from(&l) <= 1 {
        return None;
    }
    let rule = "Galera runs mixed versions only one long-term series apart (docs/operations.md \
                §14, \"Rolling version upgrade\")";
    Some(if m > l {
        format!(
            "mariadbd {m} here is more than one release series newer than {leader}'s {l}, the \
             leader's: {rule}. Upgrade every node to the series in between first (one node at \
             a time), or run this node with the leader's image"
        )
    } else {
        format!(
            "mariadbd {m} here is more than one release series older than {leader}'s {l}, the \
             leader's: {rule}, and a datadir is never downgraded. Run this node with the \
             leader's image"
        )
    })
}

/// The `status` flag of a cluster whose nodes publish different versions (`(name, version)`
/// of each census entry that has one), or `None` when they agree.
pub fn mixed_versions<'a>(
    versions: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let mut by: BTreeMap<(Option<Version>, String), Vec<&str>> = BTreeMap::new();
    for (name, text) in versions {
        let v = Version::parse(text);
        let label = v.map(|v| v.to_string()).unwrap_or_else(|| text.to_string());
        by.entry((v, label)).or_default().push(name);
    }
    if by.len() < 2 {
        return None;
    }
    let list = by
        .iter()
        .map(|((_, label), names)| format!("{label} on {}", names.join(",")))
        .collect::<Vec<_>>()
        .join("; ");
    let parsed: Vec<Version> = by.keys().filter_map(|(v, _)| *v).collect();
    let apart = parsed
        .iter()
        .any(|a| parsed.iter().any(|b| a.steps_from(b) > 1));
    Some(if apart {
        format!(
            "mixed mariadbd versions: {list}. They are more than one release series apart, \
             which Galera does not support: bring every node to one series (docs/operations.md \
             §14)"
        )
    } else {
        format!(
            "mixed mariadbd versions: {list} (a rolling upgrade in progress? finish it one node \
             at a time: docs/operations.md §14)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<Version>)] = &[
            ("10.11.19-MariaDB-0+deb12u1", Some(v(10, 11, 19))),
            ("10.6.16-MariaDB", Some(v(10, 6, 16))),
            ("10.6.16-MariaDB\n", Some(v(10, 6, 16))),
            ("10.11.19-MariaDB\0", Some(v(10, 11, 19))),
            (
                "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)",
                Some(v(10, 11, 19)),
            ),
            (
                "/usr/sbin/mariadbd  Ver 11.4.2-MariaDB-ubu2404 for debian-linux-gnu",
                Some(v(11, 4, 2)),
            ),
            ("5.5.5-10.6.16-MariaDB-log", Some(v(10, 6, 16))),
            ("11.8.1", Some(v(11, 8, 1))),
            ("10.11", None),
            ("10.x.3", None),
            ("MariaDB", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(Version::parse(text), *want, "{text:?}");
        }
        assert_eq!(
            version_word("mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu")
                .as_deref(),
            Some("10.11.19-MariaDB-0+deb12u1")
        );
        assert_eq!(short("10.6.16-MariaDB"), "10.6.16");
        assert_eq!(short("custom"), "custom");
    }

    #[test]
    fn lts_steps_table() {
        let cases: &[(&str, &str, usize)] = &[
            ("10.11.19", "10.11.2", 0),
            ("10.11.19", "10.6.16", 1),
            ("10.6.16", "10.5.9", 1),
            ("10.11.19", "10.9.3", 0),
            ("11.4.2", "10.11.19", 1),
            ("11.4.2", "11.2.1", 0),
            ("11.8.1", "11.4.2", 1),
            ("11.8.1", "10.11.19", 2),
            ("11.4.2", "10.6.16", 2),
            ("10.11.19", "10.4.30", 3),
            ("12.0.1", "11.8.1", 1),
            ("12.3.1", "13.0.1", 0),
            ("12.0.1", "11.4.2", 2),
        ];
        for (a, b, want) in cases {
            let (a, b) = (Version::parse(a).expect(a), Version::parse(b).expect(b));
            assert_eq!(a.steps_from(&b), *want, "{a} / {b}");
            assert_eq!(b.steps_from(&a), *want, "{b} / {a}");
        }
    }

    #[test]
    fn upgrade_due_table() {
        let b = Some("10.11.19-MariaDB-0+deb12u1");
        let cases: &[(Option<&str>, Option<&str>, bool, &str)] = &[
            (
                b,
                Some("10.6.16-MariaDB"),
                true,
                "the datadir records 10.6.16, mariadbd is 10.11.19",
            ),
            (b, Some("10.9.3-MariaDB\n"), true, "records 10.9.3"),
            (
                b,
                Some("10.11.19-MariaDB"),
                false,
                "the datadir is upgraded",
            ),
            (
                b,
                Some("10.11.6-MariaDB"),
                false,
                "the datadir is upgraded (10.11.6",
            ),
            (b, Some("11.4.2-MariaDB"), false, "a downgrade"),
            (b, None, false, "records no version"),
            (b, Some("garbage"), false, "not a version"),
            (
                None,
                Some("10.6.16-MariaDB"),
                false,
                "mariadbd's version is unknown",
            ),
        ];
        for (binary, recorded, due, words) in cases {
            let got = upgrade_due(*binary, *recorded);
            let (is_due, why) = match &got {
                UpgradeDue::Due(w) => (true, w),
                UpgradeDue::NotDue(w) => (false, w),
            };
            assert_eq!(is_due, *due, "{binary:?} {recorded:?}: {got:?}");
            assert!(why.contains(words), "{why:?} lacks {words:?}");
        }
    }

    #[test]
    fn run_due_table() {
        let due = Facts {
            binary: Some("10.11.19-MariaDB".into()),
            recorded: Some("10.6.16-MariaDB".into()),
            ..Default::default()
        };
        let with = |f: fn(&mut Facts)| {
            let mut x = due.clone();
            f(&mut x);
            x
        };
        let now = 1_000;
        let cases: Vec<(&str, bool, Facts, Option<&str>)> = vec![
            (
                "Synced, older datadir: the first run",
                true,
                due.clone(),
                Some("(run 1 of 3)"),
            ),
            ("not Synced yet", false, due.clone(), None),
            ("a run going on", true, with(|f| f.running = true), None),
            (
                "failed 10 s ago: not yet",
                true,
                with(|f| {
                    f.attempts = 1;
                    f.last_end = Some(990);
                }),
                None,
            ),
            (
                "failed a minute ago: again",
                true,
                with(|f| {
                    f.attempts = 1;
                    f.last_end = Some(940);
                }),
                Some("(run 2 of 3)"),
            ),
            (
                "three runs: given up",
                true,
                with(|f| {
                    f.attempts = 3;
                    f.last_end = Some(100);
                }),
                None,
            ),
            (
                "upgraded: nothing to do",
                true,
                with(|f| f.recorded = Some("10.11.19-MariaDB".into())),
                None,
            ),
            (
                "no mysql_upgrade_info",
                true,
                with(|f| f.recorded = None),
                None,
            ),
        ];
        for (case, synced, facts, want) in cases {
            let got = run_due(synced, &facts, now);
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(g.contains(w), "{case}: {g:?} lacks {w:?}"),
                _ => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn join_refusal_table() {
        let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (Some("10.11.19-MariaDB"), Some("10.11.6-MariaDB"), None),
            (Some("10.11.19-MariaDB"), Some("10.6.16-MariaDB"), None),
            (Some("10.6.16-MariaDB"), Some("10.11.19-MariaDB"), None),
            (Some("11.4.2-MariaDB"), Some("10.11.19-MariaDB"), None),
            (
                Some("11.4.2-MariaDB"),
                Some("10.6.16-MariaDB"),
                Some(
                    "mariadbd 11.4.2 here is more than one release series newer than g-0's \
                     10.6.16, the leader's",
                ),
            ),
            (
                Some("10.6.16-MariaDB"),
                Some("11.4.2-MariaDB"),
                Some(
                    "mariadbd 10.6.16 here is more than one release series older than g-0's 11.4.2",
                ),
            ),
            (None, Some("10.6.16-MariaDB"), None),
            (Some("11.4.2-MariaDB"), None, None),
            (Some("11.4.2-MariaDB"), Some("unknown"), None),
        ];
        for (mine, leader, want) in cases {
            let got = join_refusal(*mine, "g-0", *leader);
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) => {
                    assert!(g.contains(w), "{g:?} lacks {w:?}");
                    assert!(g.contains("docs/operations.md §14"), "{g}");
                }
                _ => panic!("{mine:?} / {leader:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn mixed_versions_table() {
        /// (each node's name and version, words of the flag or none)
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            (&[], None),
            (
                &[("g-0", "10.11.19-MariaDB-0+deb12u1"), ("g-1", "10.11.19-MariaDB")],
                None,
            ),
            (
                &[
                    ("g-0", "10.11.19-MariaDB"),
                    ("g-1", "10.11.19-MariaDB"),
                    ("g-2", "10.6.16-MariaDB"),
                ],
                Some("mixed mariadbd versions: 10.6.16 on g-2; 10.11.19 on g-0,g-1 (a rolling upgrade in progress?"),
            ),
            (
                &[("g-0", "11.4.2-MariaDB"), ("g-1", "10.6.16-MariaDB")],
                Some("more than one release series apart"),
            ),
            (
                &[("g-0", "10.11.19-MariaDB"), ("g-1", "custom-build")],
                Some("custom-build on g-1"),
            ),
        ];
        for (versions, want) in cases {
            let got = mixed_versions(versions.iter().copied());
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(g.contains(w), "{g:?} lacks {w:?}"),
                _ => panic!("{versions:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
