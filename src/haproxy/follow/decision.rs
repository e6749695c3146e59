//! The pure decisions of the follow loop: what etcd's view means for the running config
//! ([`decide`]: keep, refuse or apply) and which configs haproxy may start with
//! ([`start_candidates`]).

use std::collections::BTreeMap;

use super::view::EtcdView;
use crate::haproxy::render::{backups, describe_backups, Backup, Leader};

/// What to do with a leader value from etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do; the reason is logged.
    Keep(String),
    /// Keep the running config and report this problem.
    Refuse(String),
    /// Validate and load this config.
    Apply {
        leader: Leader,
        backups: Vec<Backup>,
        config: String,
        reason: String,
    },
}

pub(super) fn describe(l: Option<&Leader>) -> String {
    l.map(|l| l.address.clone())
        .unwrap_or_else(|| "no leader".into())
}

/// Decide what etcd's view (`leader` None: no `P/leader`) means for the running config (pure):
/// the leader as the normal server, the other members as backups in name order. `routed` and
/// `routed_backups`: what the running config names (for the reason only; the bytes decide).
pub fn decide(
    running_cfg: &str,
    routed: Option<&Leader>,
    routed_backups: &[Backup],
    leader: Option<&str>,
    members: &BTreeMap<String, String>,
    backend_port: u16,
    render: impl Fn(&Leader, &[Backup]) -> Result<String, String>,
) -> Decision {
    let Some(value) = leader else {
        return Decision::Keep(format!(
            "no leader in etcd: keeping the running config ({}; backups {})",
            describe(routed),
            describe_backups(routed_backups)
        ));
    };
    let leader = match Leader::parse(value, backend_port) {
        Ok(l) => l,
        Err(e) => {
            return Decision::Refuse(format!(
                "ignoring P/leader: {e}; keeping the running config ({})",
                describe(routed)
            ))
        }
    };
    let (backups, skipped) = backups(&leader, members, backend_port);
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (ignored: {})", skipped.join("; "))
    };
    let config = match render(&leader, &backups) {
        Ok(c) => c,
        Err(e) => {
            return Decision::Refuse(format!(
                "cannot render the config for leader {}: {e}; keeping the running config ({})",
                leader.address,
                describe(routed)
            ))
        }
    };
    let servers = format!("backups in order {}{skipped}", describe_backups(&backups));
    if config == running_cfg {
        return Decision::Keep(format!(
            "leader {}, {servers}: rendered config unchanged, no reload",
            leader.address
        ));
    }
    let same = |a: &Leader| a.host == leader.host && a.port == leader.port;
    let reason = match routed {
        Some(r) if same(r) && routed_backups != backups.as_slice() => {
            format!(
                "leader {} unchanged, backups changed from {} to {} (P/members changed)",
                leader.address,
                describe_backups(routed_backups),
                describe_backups(&backups)
            ) + &skipped
        }
        Some(r) if same(r) => format!(
            "leader {} unchanged but the rendered config differs (template or options); {servers}",
            leader.address
        ),
        other => {
            // The first backup already takes the traffic wherever the old leader is marked
            // down: making it the normal server moves nothing there.
            let was = match routed_backups.first() {
                Some(b) if b.host == leader.host && b.port == leader.port => {
                    " (it was the first backup: where the old leader is marked down haproxy \
                     already routes to it, no second move)"
                }
                _ => "",
            };
            format!(
                "leader changed from {} to {}{was}; {servers}",
                describe(other),
                leader.address
            )
        }
    };
    Decision::Apply {
        leader,
        backups,
        config,
        reason,
    }
}

/// A config haproxy may start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCandidate {
    pub leader: Option<Leader>,
    /// The backups it names (empty for the persisted config: not recorded; the bytes decide).
    pub backups: Vec<Backup>,
    pub config: String,
    /// Where it comes from, for the log.
    pub source: String,
}

/// The configs to try at start, best first (pure). `first_view`: `None` when etcd did not
/// answer in time, else what it holds. Returns the candidates and the problems met.
pub fn start_candidates(
    first_view: Option<&EtcdView>,
    persisted: Option<(Option<Leader>, String)>,
    backend_port: u16,
    render: impl Fn(Option<&Leader>, &[Backup]) -> Result<String, String>,
) -> (Vec<StartCandidate>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    match first_view.map(|v| (v.leader.as_deref(), &v.members)) {
        Some((Some(v), members)) => match Leader::parse(v, backend_port) {
            Ok(l) => {
                let (b, skipped) = backups(&l, members, backend_port);
                problems.extend(skipped.into_iter().map(|s| format!("ignoring {s}")));
                match render(Some(&l), &b) {
                    Ok(config) => out.push(StartCandidate {
                        source: format!(
                            "etcd leader {}, backups in order {}",
                            l.address,
                            describe_backups(&b)
                        ),
                        leader: Some(l),
                        backups: b,
                        config,
                    }),
                    Err(e) => problems.push(format!("cannot render for leader {}: {e}", l.address)),
                }
            }
            Err(e) => problems.push(format!("ignoring P/leader: {e}")),
        },
        Some((None, _)) => problems.push("etcd has no leader".into()),
        None => problems.push("etcd did not answer".into()),
    }
    if let Some((leader, config)) = persisted {
        out.push(StartCandidate {
            source: format!(
                "the persisted last good config ({})",
                describe(leader.as_ref())
            ),
            leader,
            backups: Vec::new(),
            config,
        });
    }
    match render(None, &[]) {
        Ok(config) => out.push(StartCandidate {
            leader: None,
            backups: Vec::new(),
            config,
            source: "a config without leader (connections refused until one is elected)".into(),
        }),
        Err(e) => problems.push(format!("cannot render the no-leader config: {e}")),
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haproxy::follow::fixtures::members;

    /// The decision for `running`, `routed` and the etcd value `view` (no backups) is `want`:
    /// `kind:text`, kind one of keep / refuse / apply, text a part of its reason.
    fn assert_outcome(
        case: &str,
        running: &str,
        routed: Option<&Leader>,
        view: Option<&str>,
        want: &str,
    ) {
        let d = decide(
            running,
            routed,
            &[],
            view,
            &BTreeMap::new(),
            33306,
            fake_render,
        );
        let got = match &d {
            Decision::Keep(r) => format!("keep:{r}"),
            Decision::Refuse(r) => format!("refuse:{r}"),
            Decision::Apply { reason, .. } => format!("apply:{reason}"),
        };
        let (kind, text) = want.split_once(':').expect("case");
        assert!(got.starts_with(kind), "{case}: {got}");
        assert!(got.contains(text), "{case}: `{got}` lacks `{text}`");
    }

    fn fake_render(l: &Leader, b: &[Backup]) -> Result<String, String> {
        if l.host == "10.9.9.9" {
            return Err("boom".into());
        }
        let mut s = format!("server {}\n", l.address);
        for b in b {
            s.push_str(&format!("server {} backup\n", b.address));
        }
        Ok(s)
    }

    #[test]
    fn decisions() {
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let running = "server 10.0.0.5:33306\n";
        type Case<'a> = (&'a str, Option<&'a Leader>, Option<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            // (name, routed, etcd value, expected decision kind + text)
            (
                "same leader re-put",
                Some(&l5),
                Some("10.0.0.5"),
                "keep:unchanged, no reload",
            ),
            (
                "same leader with port",
                Some(&l5),
                Some("10.0.0.5:33306"),
                "keep:unchanged",
            ),
            (
                "leader deleted",
                Some(&l5),
                None,
                "keep:no leader in etcd: keeping the running config (10.0.0.5:33306; backups none)",
            ),
            (
                "new leader",
                Some(&l5),
                Some("10.0.0.6"),
                "apply:leader changed from 10.0.0.5:33306 to 10.0.0.6:33306",
            ),
            (
                "first leader",
                None,
                Some("10.0.0.6"),
                "apply:leader changed from no leader to 10.0.0.6:33306",
            ),
            (
                "garbage value",
                Some(&l5),
                Some("x y"),
                "refuse:ignoring P/leader",
            ),
            (
                "render fails",
                Some(&l5),
                Some("10.9.9.9"),
                "refuse:cannot render",
            ),
        ];
        for (name, routed, view, want) in cases {
            assert_outcome(name, running, routed, view, want);
        }
        // Same leader, different bytes (template changed): apply, saying why.
        let d = decide(
            "old text",
            Some(&l5),
            &[],
            Some("10.0.0.5"),
            &BTreeMap::new(),
            33306,
            fake_render,
        );
        assert!(
            matches!(&d, Decision::Apply { reason, .. } if reason.contains("unchanged but the rendered config differs")),
            "{d:?}"
        );
    }

    #[test]
    fn ipv6_leader_values() {
        let l = Leader::parse("fd00::5", 33306).expect("leader");
        let running = fake_render(&l, &[]).expect("render");
        assert_eq!(running, "server ipv6@fd00::5:33306\n");
        // (etcd value, want kind + text): the same address however written is the same leader.
        for (value, want) in [
            ("fd00::5", "keep:unchanged, no reload"),
            ("[fd00::5]", "keep:unchanged, no reload"),
            ("[fd00::5]:33306", "keep:unchanged, no reload"),
            ("FD00:0::5", "keep:unchanged, no reload"),
            (
                "fd00::6",
                "apply:leader changed from ipv6@fd00::5:33306 to ipv6@fd00::6:33306",
            ),
            ("[fd00::5", "refuse:ignoring P/leader"),
        ] {
            assert_outcome(value, &running, Some(&l), Some(value), want);
        }
    }

    #[test]
    fn decisions_with_backups() {
        let three = members(&[
            ("g-0", "10.0.0.5"),
            ("g-1", "10.0.0.6"),
            ("g-2", "10.0.0.7"),
        ]);
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let (b5, _) = backups(&l5, &three, 33306);
        let running = fake_render(&l5, &b5).expect("render");
        // (case, etcd leader, members, want kind, want text, want backups of an apply)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            BTreeMap<String, String>,
            &'a str,
            &'a str,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "same leader, same members",
                Some("10.0.0.5"),
                three.clone(),
                "keep",
                "leader 10.0.0.5:33306, backups in order g-1@10.0.0.6:33306, g-2@10.0.0.7:33306: rendered config unchanged",
                "",
            ),
            (
                "the first backup becomes leader: no second move",
                Some("10.0.0.6"),
                three.clone(),
                "apply",
                "leader changed from 10.0.0.5:33306 to 10.0.0.6:33306 (it was the first backup: \
                 where the old leader is marked down haproxy already routes to it, no second \
                 move); backups in order g-0@10.0.0.5:33306, g-2@10.0.0.7:33306",
                "g-0@10.0.0.5:33306, g-2@10.0.0.7:33306",
            ),
            (
                "the second backup becomes leader",
                Some("10.0.0.7"),
                three.clone(),
                "apply",
                "leader changed from 10.0.0.5:33306 to 10.0.0.7:33306; backups in order g-0@10.0.0.5:33306, g-1@10.0.0.6:33306",
                "g-0@10.0.0.5:33306, g-1@10.0.0.6:33306",
            ),
            (
                "a member joins",
                Some("10.0.0.5"),
                {
                    let mut m = three.clone();
                    m.insert("g-3".into(), "10.0.0.8".into());
                    m
                },
                "apply",
                "leader 10.0.0.5:33306 unchanged, backups changed from g-1@10.0.0.6:33306, g-2@10.0.0.7:33306 to g-1@10.0.0.6:33306, g-2@10.0.0.7:33306, g-3@10.0.0.8:33306 (P/members changed)",
                "g-1@10.0.0.6:33306, g-2@10.0.0.7:33306, g-3@10.0.0.8:33306",
            ),
            (
                "a member removed, one unusable",
                Some("10.0.0.5"),
                members(&[("g-0", "10.0.0.5"), ("g-1", "10.0.0.6"), ("g-2", "a b")]),
                "apply",
                "backups changed from g-1@10.0.0.6:33306, g-2@10.0.0.7:33306 to g-1@10.0.0.6:33306 (P/members changed) (ignored: member g-2:",
                "g-1@10.0.0.6:33306",
            ),
            (
                "leader gone: keep leader and backups",
                None,
                three.clone(),
                "keep",
                "no leader in etcd: keeping the running config (10.0.0.5:33306; backups g-1@10.0.0.6:33306, g-2@10.0.0.7:33306)",
                "",
            ),
        ];
        for (case, leader, m, kind, text, want_backups) in cases {
            let d = decide(&running, Some(&l5), &b5, leader, &m, 33306, fake_render);
            let (got_kind, got) = match &d {
                Decision::Keep(r) => ("keep", r.clone()),
                Decision::Refuse(r) => ("refuse", r.clone()),
                Decision::Apply {
                    reason,
                    backups,
                    config,
                    ..
                } => {
                    assert_eq!(describe_backups(backups), want_backups, "{case}");
                    assert!(config.contains(" backup\n") || backups.is_empty(), "{case}");
                    ("apply", reason.clone())
                }
            };
            assert_eq!(got_kind, kind, "{case}: {got}");
            assert!(got.contains(text), "{case}: `{got}` lacks `{text}`");
        }
    }

    #[test]
    fn start_candidates_in_order() {
        let l5 = Leader::parse("10.0.0.5", 33306).expect("leader");
        let r = |l: Option<&Leader>, b: &[Backup]| -> Result<String, String> {
            Ok(l.map(|l| {
                format!(
                    "{}{}",
                    l.address,
                    b.iter().map(|b| format!("+{}", b.node)).collect::<String>()
                )
            })
            .unwrap_or_else(|| "empty".into()))
        };
        let view = |l: Option<&str>| EtcdView {
            leader: l.map(str::to_string),
            members: members(&[
                ("g-0", "10.0.0.5"),
                ("g-1", "10.0.0.6"),
                ("g-2", "10.0.0.7"),
            ]),
        };
        let persisted = || Some((Some(l5.clone()), "persisted".to_string()));
        let sources = |c: &[StartCandidate]| c.iter().map(|c| c.config.clone()).collect::<Vec<_>>();

        let (c, p) = start_candidates(Some(&view(Some("10.0.0.6"))), persisted(), 33306, r);
        assert_eq!(
            sources(&c),
            ["10.0.0.6:33306+g-0+g-2", "persisted", "empty"]
        );
        assert_eq!(
            describe_backups(&c[0].backups),
            "g-0@10.0.0.5:33306, g-2@10.0.0.7:33306"
        );
        assert!(p.is_empty());

        let (c, p) = start_candidates(Some(&view(None)), persisted(), 33306, r);
        assert_eq!(sources(&c), ["persisted", "empty"]);
        assert_eq!(p, ["etcd has no leader"]);

        let (c, p) = start_candidates(None, persisted(), 33306, r);
        assert_eq!(sources(&c), ["persisted", "empty"]);
        assert_eq!(c[0].leader, Some(l5.clone()));
        assert_eq!(p, ["etcd did not answer"]);

        let (c, _) = start_candidates(None, None, 33306, r);
        assert_eq!(sources(&c), ["empty"]);

        let (c, p) = start_candidates(Some(&view(Some("a b"))), None, 33306, r);
        assert_eq!(sources(&c), ["empty"]);
        assert!(p[0].contains("ignoring P/leader"), "{p:?}");
    }
}
