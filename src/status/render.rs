//! The `status` report as a table for people, values from etcd shown with control
//! characters escaped.

use super::flags::resynced_range;
use super::report::StatusReport;
use crate::position::Position;

/// `s` with control characters (escape sequences, newlines) shown escaped.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Render the report as a table for people.
pub fn render_table(r: &StatusReport) -> String {
    let mut out = String::new();
    // One line per call; values from etcd are shown with control characters escaped, so a
    // stray escape sequence or newline in a value cannot repaint the operator's terminal or
    // forge table lines.
    macro_rules! say {
        ($($arg:tt)*) => {{
            out.push_str(&printable(&format!($($arg)*)));
            out.push('\n');
        }};
    }
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    say!("cluster    {} (etcd revision {})", r.cluster, r.revision);
    say!("state      {}", dash(&r.state));
    say!("uuid       {}", dash(&r.uuid));
    let leader = match (&r.leader, &r.leader_name) {
        (Some(a), Some(n)) => format!("{n} ({a})"),
        (Some(a), None) => a.clone(),
        _ => "-".into(),
    };
    say!("leader     {leader}");
    if let Some(p) = &r.pause {
        say!(
            "pause      by {} since {} until {}: {} (automatic recovery, bootstrap, heal and \
             leader hand-over for health are frozen; `galera-sidecar resume` ends it)",
            p.by,
            p.since,
            p.until,
            p.reason
        );
    }
    if let Some(sw) = &r.switchover {
        say!(
            "switchover to {} from {}, issued at {}, until {}{}",
            sw.to,
            sw.from,
            sw.issued_at,
            sw.expires_at,
            sw.refused
                .as_ref()
                .map(|w| format!(" — refused: {w}"))
                .unwrap_or_default()
        );
    }
    if let Some(m) = &r.hwm {
        say!(
            "hwm        {}:{} (commit high-water mark, written by {} at {})",
            m.uuid,
            m.seqno,
            m.by,
            m.at
        );
    }
    say!(
        "lock       {}",
        r.lock_holder
            .as_deref()
            .map(|h| format!("held by {h}"))
            .unwrap_or_else(|| "free".into())
    );
    if let Some(b) = &r.bootstrap {
        say!(
            "bootstrap  {} from {} ({}, at {})",
            b.node,
            b.position,
            b.reason,
            b.at
        );
    }
    if let Some(rc) = &r.recovery {
        say!(
            "recovery   winner {} at {} ({}; decided by {})",
            rc.winner,
            rc.position,
            rc.reason,
            rc.decided_by
        );
    }
    if let Some(fb) = &r.force_bootstrap {
        say!(
            "force-bootstrap {} bound to {}, issued at {}, expires at {}{}{}",
            fb.node,
            fb.position
                .as_ref()
                .map(Position::to_string)
                .unwrap_or_else(|| "no position".into()),
            fb.issued_at,
            fb.expires_at,
            if fb.accept_data_loss {
                ", data loss accepted"
            } else {
                ""
            },
            match &r.force_bootstrap_ignored {
                Some(_) => " (IGNORED, see flags)",
                None => "",
            }
        );
    }
    for (n, rs) in &r.resynced {
        say!(
            "resynced   {n} at {}: discarded {}; {}",
            rs.at,
            resynced_range(rs),
            rs.kept
                .as_ref()
                .map(|p| format!("kept at {p} on {n}'s volume"))
                .unwrap_or_else(|| "deleted (--discard)".into())
        );
    }
    for h in &r.histories {
        say!(
            "history    {} at seqno {} on {}{}",
            h.uuid,
            h.seqno,
            h.nodes.join(","),
            if h.running.is_empty() {
                String::new()
            } else {
                format!(" (running on {})", h.running.join(","))
            }
        );
    }
    out.push('\n');
    // As wide as the longest address (an IPv6 address is up to 39 characters), at least 16.
    let aw = r
        .members
        .iter()
        .filter_map(|m| m.address.as_ref().map(|a| a.chars().count()))
        .max()
        .unwrap_or(0)
        .max(16);
    say!(
        "{:<16} {:<aw$} {:<7} {:<10} {:<6} {:<7} {:<44} {:<9} LIVE",
        "NAME",
        "ADDRESS",
        "MEMBER",
        "REGISTERED",
        "LEADER",
        "QUEUED",
        "POSITION",
        "VERSION"
    );
    for m in &r.members {
        let live = match (&m.live, &m.live_error) {
            (Some(l), _) => format!(
                "{} {} size={} committed={}{}",
                l.local_state,
                l.cluster_status,
                l.cluster_size
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                l.last_committed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                if l.ready { "" } else { " not-ready" }
            ),
            (None, Some(e)) if e.contains("Connection refused") => {
                "no answer (connection refused)".to_string()
            }
            (None, Some(e)) => format!("no answer: {e}"),
            (None, None) => "-".into(),
        };
        let yn = |b: bool| if b { "yes" } else { "no" };
        say!(
            "{:<16} {:<aw$} {:<7} {:<10} {:<6} {:<7} {:<44} {:<9} {}",
            m.name,
            dash(&m.address),
            yn(m.member),
            yn(m.registered),
            yn(m.leader),
            yn(m.queued),
            dash(&m.position.clone().or_else(|| m.reported.clone())),
            dash(&m.version.as_deref().map(crate::galera::upgrade::short)),
            live
        );
    }
    if let Some(why) = &r.live_skipped {
        say!("(live state not shown: {why})");
    }
    if !r.flags.is_empty() {
        out.push('\n');
        say!("flags:");
        for f in &r.flags {
            say!("  ! {f}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::fixtures::{all_synced, base, U, V};
    use crate::status::{report, report_with_live};

    #[test]
    fn unanswered_live_shows_why_and_skipped_is_said() {
        let mut l = all_synced();
        l.insert("g-2".into(), Err("cannot connect to 10.0.0.3:33306".into()));
        let mut r = report_with_live("c", &base(), &l);
        assert_eq!(
            r.members[2].live_error.as_deref(),
            Some("cannot connect to 10.0.0.3:33306")
        );
        assert!(r.members[2].live.is_none());
        r.live_skipped = Some("no monitor user".into());
        let t = render_table(&r);
        assert!(
            t.contains("no answer: cannot connect to 10.0.0.3:33306"),
            "{t}"
        );
        assert!(t.contains("live state not shown: no monitor user"), "{t}");
        let j = serde_json::to_value(&r).expect("json");
        assert_eq!(j["members"][0]["live"]["local_state"], "Synced");
        assert_eq!(
            j["members"][2]["live_error"],
            "cannot connect to 10.0.0.3:33306"
        );
    }

    #[test]
    fn ipv6_addresses_keep_the_columns_aligned() {
        let mut s = base();
        for (n, a) in [
            ("g-0", "fd00:10:244:1::1"),
            ("g-1", "fd00:10:244:2::2"),
            ("g-2", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"),
        ] {
            s.members.insert(n.into(), a.into());
            if let Some(e) = s.nodes.get_mut(n) {
                e.address = a.into();
            }
        }
        if let Some(l) = s.leader.as_mut() {
            l.address = "fd00:10:244:1::1".into();
        }
        let t = render_table(&report("c", &s));
        assert!(t.contains("g-0 (fd00:10:244:1::1)"), "{t}");
        let col = |line: &str| line.find("MEMBER").or_else(|| line.find("yes"));
        let header = t.lines().find(|l| l.starts_with("NAME")).expect("header");
        for row in t.lines().filter(|l| l.starts_with("g-")) {
            assert_eq!(col(row), col(header), "\n{header}\n{row}");
        }
    }

    #[test]
    fn table_mentions_everything() {
        let t = render_table(&report("c", &base()));
        for want in ["STEADY", U, "g-0 (10.0.0.1)", "g-2", "free"] {
            assert!(t.contains(want), "{want} missing in\n{t}");
        }
    }

    #[test]
    fn versions_show_as_a_column_and_a_mix_as_a_flag() {
        use crate::status::fixtures::census;
        let with = |versions: &[(&str, &str)]| {
            let mut s = base();
            for (n, v) in versions {
                census(&mut s, n, Position::known(U, 7), true);
                if let Some(c) = s.census.get_mut(*n) {
                    c.version = Some(v.to_string());
                }
            }
            report("c", &s)
        };
        /// (each node's name and version, words in the table, words of the flag or none)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], Option<&'a str>);
        let cases: &[Case] = &[
            (
                &[
                    ("g-0", "10.11.19-MariaDB-0+deb12u1"),
                    ("g-1", "10.11.19-MariaDB"),
                ],
                &["VERSION", "10.11.19"],
                None,
            ),
            (
                &[("g-0", "10.11.19-MariaDB"), ("g-2", "10.6.16-MariaDB")],
                &["10.11.19", "10.6.16"],
                Some("mixed mariadbd versions: 10.6.16 on g-2; 10.11.19 on g-0"),
            ),
            (
                &[("g-0", "11.4.2-MariaDB"), ("g-1", "10.6.16-MariaDB")],
                &["11.4.2"],
                Some("more than one release series apart"),
            ),
        ];
        for (versions, shown, flag) in cases {
            let r = with(versions);
            let t = render_table(&r);
            for want in *shown {
                assert!(t.contains(want), "{want} missing in\n{t}");
            }
            let got = r
                .flags
                .iter()
                .find(|f| f.contains("mixed mariadbd versions"));
            match (flag, got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(g.contains(w), "{g:?} lacks {w:?}"),
                _ => panic!("{versions:?}: flags {:?}", r.flags),
            }
            let j = serde_json::to_value(&r).expect("json");
            assert_eq!(j["members"][0]["version"], versions[0].1, "{j}");
        }
        // A member without a census entry shows no version.
        let t = render_table(&with(&[("g-0", "10.11.19-MariaDB")]));
        let g2 = t.lines().find(|l| l.starts_with("g-2")).expect("g-2's row");
        assert!(g2.contains(" - "), "{g2}");
    }

    #[test]
    fn resynced_records_show_as_a_line_and_a_flag() {
        use crate::etcd::snapshot::ResyncedRecord;
        let rec = |first: Option<i64>, kept: Option<&str>| ResyncedRecord {
            position: Position::known(V, 9),
            first_seqno: first,
            cluster: None,
            kept: kept.map(str::to_string),
            at: 1_700_000_000,
            reason: "two histories".into(),
        };
        let cases = [
            (
                rec(Some(0), Some("/v/galera-kept/x")),
                format!("history {V} through seqno 9, none of it"),
                true,
            ),
            (
                rec(Some(7), Some("/v/k/y")),
                format!("{V}:7..=9 (3 transaction(s)"),
                true,
            ),
            (rec(None, None), format!("a datadir at {V}:9"), false),
        ];
        for (r, words, flagged) in cases {
            let mut s = base();
            s.resynced.insert("g-2".into(), r.clone());
            let rep = report("c", &s);
            let t = render_table(&rep);
            assert!(t.contains("resynced   g-2 at 1700000000"), "{t}");
            assert!(t.contains(&words), "{words} missing in\n{t}");
            match &r.kept {
                Some(p) => assert!(t.contains(&format!("kept at {p}")), "{t}"),
                None => assert!(t.contains("deleted (--discard)"), "{t}"),
            }
            let flag = rep
                .flags
                .iter()
                .any(|f| f.contains("g-2's diverged datadir"));
            assert_eq!(flag, flagged, "{:?}", rep.flags);
            let json = serde_json::to_value(&rep).expect("json");
            assert_eq!(json["resynced"]["g-2"]["at"], 1_700_000_000, "{json}");
        }
    }
}
