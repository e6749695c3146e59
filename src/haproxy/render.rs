//! Rendering the haproxy config (pure): the leader's address and the options → config text.
//!
//! The built-in template is `haproxy.cfg.j2` next to this file (compiled in); `--template`
//! names a file to render instead. Templates are minijinja (Jinja2 syntax) with semi-strict
//! undefined variables, so a typo in a template is an error naming it, not an empty string.
//!
//! Template variables: `leader` (absent when no leader is known) with `leader.server` (the
//! haproxy server name), `leader.host`, `leader.port`, `leader.address` (`host:port`,
//! `ipv6@addr:port` for an IPv6 address: [`server_address`]);
//! `backups` (a list, empty without a leader), each with `node` (the member's name) and the
//! same four fields as `leader`;
//! `listen`, `health_check` (`httpchk` | `mysql-check`), `check_port`, `backend_port`,
//! `admin_socket`, `hard_stop_after`, `stats_listen` and `read_listen` (absent when not set),
//! `template_name`.
//!
//! The leader's address is taken as written in `P/leader` (an IP, normally the pod IP; a DNS
//! name is resolved by haproxy when it loads the config, and one that does not resolve fails
//! `haproxy -c`, so the running config is kept). Values that are not a plain address are
//! refused: they would be pasted into a config file.
//!
//! **The leader is the normal server; the other members are `backup` servers.** Every member
//! (`P/members/<name>`, permanent, the node's latest registered address) but the leader is
//! listed as a checked `backup`, sorted by node name ([`backups`], pure), so every haproxy
//! sidecar renders the same servers in the same order from the same etcd values. Without
//! `option allbackups` haproxy sends everything to the first healthy backup only, and only
//! while the leader is marked down: when the leader's health check fails `fall` times in a row
//! (`on-marked-down shutdown-sessions` ends its sessions), new connections go to one node at
//! health-check speed instead of being refused until the leader's lease expires; when the
//! leader is marked up again, `on-marked-up shutdown-backup-sessions` ends the sessions on the
//! backup, so one haproxy never keeps writers on two nodes. Eligibility is the health check's:
//! with `httpchk` (the default) a backup takes traffic only while its `/readiness` passes —
//! the rules of election (Synced, not a donor, Primary, uuid = `P/uuid`); with `mysql-check`
//! only while it answers the MySQL handshake (a donor or a non-Primary node passes).
//!
//! Why members and not the registered nodes (`nodes/`): `members/` changes only when a node
//! joins for the first time, changes its address or is removed, so a rolling restart reloads
//! haproxy only when the leader moves (a reload with the same leader leaves the pooled
//! sessions of the old worker to `hard-stop-after`); which of them is eligible right now is
//! what the health check answers anyway, at its own speed rather than at etcd's.
//!
//! The cost, bounded: two haproxies that disagree about the leader's health (a flaky path,
//! different check timing) send writes to two nodes — the leader and the first backup —
//! until the etcd leader moves or the checks agree again (at most the check interval × `fall`
//! plus the lease TTL for a dead leader). Galera is multi-master, so both writers commit, but
//! concurrent writes to the same rows may fail certification (deadlock error, the client
//! retries). docs/leader.md, "Backup servers", walks through it. When the etcd leader
//! changes, the new config names the new leader as the normal server; if it was the first
//! backup, haproxy already routes to it and its sessions stay.
//!
//! **The read port** (`--read-listen`, optional) is the same servers the other way round: a
//! second frontend whose backend `galera_read` balances connections (`leastconn`) over the
//! members other than the leader, all normal servers with the same health check, and lists
//! the leader as its only `backup` — it takes reads only while no other member passes. With
//! `httpchk` that is Synced, not a donor, Primary, the cluster's uuid. Galera applies
//! replicated write-sets asynchronously, so a read there may not see a commit the leader has
//! just acknowledged unless the session sets `wsrep_sync_wait` (docs/leader.md, "The read port").

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use crate::cli::HealthCheck;

/// The built-in template.
pub const BUILTIN_TEMPLATE: &str = include_str!("haproxy.cfg.j2");

/// The leader as haproxy addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Leader {
    /// haproxy server name (letters, digits, `.`, `-`, `_`, `:` only).
    pub server: String,
    /// Host (IP or DNS name) as found in `P/leader`, without brackets, an IP address in
    /// canonical form.
    pub host: String,
    pub port: u16,
    /// What goes on the `server` line: `host:port` (`ipv6@addr:port` for IPv6).
    pub address: String,
}

impl Leader {
    /// Parse the value of `P/leader`: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6
    /// address (no port: `fd00::5:3307` is an address), split by [`crate::net_addr`]; an IP
    /// address is kept in its canonical form, the one haproxy prints in `show servers state`.
    /// The value ends up in a config file, so anything but a plain address is refused.
    pub fn parse(value: &str, default_port: u16) -> Result<Leader, String> {
        let v = value.trim();
        if v.is_empty() {
            return Err("empty leader value".into());
        }
        let (host, port) = crate::net_addr::split_host_port(v)?;
        let host = crate::net_addr::canonical_host(host);
        let port = port.unwrap_or(default_port);
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c));
        if !valid_host {
            return Err(format!(
                "`{v}` is not an address (want an IP or DNS name, optionally :port)"
            ));
        }
        if port == 0 {
            return Err(format!("`{v}`: port 0"));
        }
        Ok(Leader {
            server: host.clone(),
            address: server_address(&host, port),
            host,
            port,
        })
    }
}

/// What goes on a `server` line for `host` and `port` (pure): haproxy's explicit `ipv6@` prefix
/// for an IPv6 address (`ipv6@fd00::5:33306`, which `haproxy -c` accepts as it does
/// `[fd00::5]:33306`), `host:port` otherwise.
pub fn server_address(host: &str, port: u16) -> String {
    if crate::net_addr::is_ipv6(host) {
        format!("ipv6@{}:{port}", crate::net_addr::unbracket(host))
    } else {
        crate::net_addr::host_port(host, port)
    }
}

/// A backup server: a member other than the leader, as haproxy addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Backup {
    /// The member's node name (`P/members/<node>`).
    pub node: String,
    pub server: String,
    pub host: String,
    pub port: u16,
    pub address: String,
}

impl Backup {
    fn from_leader(node: &str, l: Leader) -> Backup {
        Backup {
            node: node.to_string(),
            server: l.server,
            host: l.host,
            port: l.port,
            address: l.address,
        }
    }
}

/// The backup servers, in the order haproxy tries them (pure): every member but the leader,
/// sorted by node name (`members`: `P/members/<name>` → address). A member whose address is
/// the leader's is the leader; one whose address is not a plain address, or is an earlier
/// member's, is skipped. Returns the backups and one sentence per skipped member.
pub fn backups(
    leader: &Leader,
    members: &BTreeMap<String, String>,
    backend_port: u16,
) -> (Vec<Backup>, Vec<String>) {
    let mut out: Vec<Backup> = Vec::new();
    let mut skipped = Vec::new();
    // BTreeMap: ascending node name, the same order on every sidecar.
    for (node, value) in members {
        let m = match Leader::parse(value, backend_port) {
            Ok(m) => m,
            Err(e) => {
                skipped.push(format!("member {node}: {e}"));
                continue;
            }
        };
        if m.server == leader.server || (m.host == leader.host && m.port == leader.port) {
            continue;
        }
        if let Some(first) = out.iter().find(|b| b.server == m.server) {
            skipped.push(format!(
                "member {node}: address {} is also member {}'s",
                m.address, first.node
            ));
            continue;
        }
        out.push(Backup::from_leader(node, m));
    }
    (out, skipped)
}

/// `a, b` (node@address), or `none`.
pub fn describe_backups(b: &[Backup]) -> String {
    if b.is_empty() {
        return "none".into();
    }
    b.iter()
        .map(|b| format!("{}@{}", b.node, b.address))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything the template sees besides the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    pub listen: SocketAddr,
    pub health_check: HealthCheck,
    pub check_port: u16,
    pub backend_port: u16,
    pub admin_socket: String,
    pub hard_stop_after: String,
    pub stats_listen: Option<SocketAddr>,
    /// The read port's listen address (no read frontend when `None`).
    pub read_listen: Option<SocketAddr>,
    /// Where the template came from (`built-in` or its path), for the header comment.
    pub template_name: String,
}

/// A socket address as haproxy's `bind` wants it.
fn bind_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("ipv6@{}:{}", v6.ip(), v6.port()),
    }
}

#[derive(Serialize)]
struct Context<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    leader: Option<&'a Leader>,
    backups: &'a [Backup],
    listen: String,
    health_check: HealthCheck,
    check_port: u16,
    backend_port: u16,
    admin_socket: &'a str,
    hard_stop_after: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_listen: Option<String>,
    template_name: &'a str,
}

/// Render `template` (minijinja source) for `leader` (None: no leader known) and its backups
/// (ignored without a leader: nobody is known to be a safe writer).
pub fn render(
    template: &str,
    leader: Option<&Leader>,
    backups: &[Backup],
    opts: &RenderOptions,
) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    // Printing or reading an attribute of an undefined variable fails; `{% if leader %}` works.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    env.set_keep_trailing_newline(true);
    let tmpl = env
        .template_from_named_str("haproxy.cfg", template)
        .map_err(|e| format!("template {}: {e:#}", opts.template_name))?;
    let ctx = Context {
        leader,
        backups: if leader.is_some() { backups } else { &[] },
        listen: bind_addr(&opts.listen),
        health_check: opts.health_check,
        check_port: opts.check_port,
        backend_port: opts.backend_port,
        admin_socket: &opts.admin_socket,
        hard_stop_after: &opts.hard_stop_after,
        stats_listen: opts.stats_listen.as_ref().map(bind_addr),
        read_listen: opts.read_listen.as_ref().map(bind_addr),
        template_name: &opts.template_name,
    };
    tmpl.render(ctx)
        .map_err(|e| format!("template {}: {e:#}", opts.template_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(hc: HealthCheck) -> RenderOptions {
        RenderOptions {
            listen: "0.0.0.0:3306".parse().expect("addr"),
            health_check: hc,
            check_port: 8080,
            backend_port: 33306,
            admin_socket: "/run/galera-haproxy/admin.sock".into(),
            hard_stop_after: "30s".into(),
            stats_listen: None,
            read_listen: None,
            template_name: "built-in".into(),
        }
    }

    #[test]
    fn leader_values() {
        type Want<'a> = Result<(&'a str, u16, &'a str), ()>;
        let cases: &[(&str, Want)] = &[
            ("10.0.0.5", Ok(("10.0.0.5", 33306, "10.0.0.5:33306"))),
            (" 10.0.0.5\n", Ok(("10.0.0.5", 33306, "10.0.0.5:33306"))),
            ("10.0.0.5:3307", Ok(("10.0.0.5", 3307, "10.0.0.5:3307"))),
            (
                "galera-0.galera.db.svc",
                Ok((
                    "galera-0.galera.db.svc",
                    33306,
                    "galera-0.galera.db.svc:33306",
                )),
            ),
            ("fd00::5", Ok(("fd00::5", 33306, "ipv6@fd00::5:33306"))),
            ("[fd00::5]:3307", Ok(("fd00::5", 3307, "ipv6@fd00::5:3307"))),
            ("[fd00::5]", Ok(("fd00::5", 33306, "ipv6@fd00::5:33306"))),
            ("FD00:0::5", Ok(("fd00::5", 33306, "ipv6@fd00::5:33306"))),
            // A bare IPv6 address has no port: the last group is part of it.
            (
                "fd00::5:3307",
                Ok(("fd00::5:3307", 33306, "ipv6@fd00::5:3307:33306")),
            ),
            ("[fd00::5", Err(())),
            ("[fd00::5]:x", Err(())),
            ("[10.0.0.5]:3307", Err(())),
            ("", Err(())),
            ("10.0.0.5:x", Err(())),
            ("10.0.0.5:0", Err(())),
            ("10.0.0.5\n    server evil 1.2.3.4:1", Err(())),
            ("a b", Err(())),
            ("a;b", Err(())),
        ];
        for (input, want) in cases {
            let got = Leader::parse(input, 33306);
            match (want, got) {
                (Ok((h, p, a)), Ok(l)) => {
                    assert_eq!((l.host.as_str(), l.port, l.address.as_str()), (*h, *p, *a));
                    assert_eq!(l.server, *h, "{input:?}");
                }
                (Err(()), Err(_)) => {}
                (w, g) => panic!("{input:?}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn builtin_httpchk_names_the_leader_with_check_port() {
        let l = Leader::parse("10.0.0.5", 33306).expect("leader");
        let cfg =
            render(BUILTIN_TEMPLATE, Some(&l), &[], &opts(HealthCheck::Httpchk)).expect("render");
        assert!(
            cfg.contains("server 10.0.0.5 10.0.0.5:33306 check port 8080\n"),
            "{cfg}"
        );
        assert!(cfg.contains("option httpchk GET /readiness"), "{cfg}");
        assert!(cfg.contains("bind 0.0.0.0:3306\n"), "{cfg}");
        assert!(cfg.contains("stats socket /run/galera-haproxy/admin.sock mode 600 level admin"));
        assert!(cfg.contains("hard-stop-after 30s\n"));
        assert!(
            !cfg.contains("pidfile"),
            "pidfile must not be set (-p is ours)"
        );
        assert!(!cfg.contains(" backup\n"), "no members, no backups: {cfg}");
        assert!(!cfg.contains("listen stats"));
        assert_eq!(
            cfg.matches("\n    server ").count(),
            1,
            "only the leader is a server"
        );
    }

    #[test]
    fn builtin_mysql_check_and_stats() {
        let l = Leader::parse("10.0.0.6:3307", 33306).expect("leader");
        let mut o = opts(HealthCheck::MysqlCheck);
        o.stats_listen = Some("127.0.0.1:8404".parse().expect("addr"));
        let cfg = render(BUILTIN_TEMPLATE, Some(&l), &[], &o).expect("render");
        assert!(cfg.contains("option mysql-check user haproxy post-41"));
        assert!(
            cfg.contains("server 10.0.0.6 10.0.0.6:3307 check\n"),
            "{cfg}"
        );
        assert!(!cfg.contains("httpchk"));
        assert!(cfg.contains("listen stats"));
        assert!(cfg.contains("bind 127.0.0.1:8404"));
    }

    #[test]
    fn no_leader_renders_an_empty_backend() {
        let l = Leader::parse("10.0.0.6", 33306).expect("leader");
        let (b, _) = backups(&l, &members(&[("g-1", "10.0.0.6")]), 33306);
        // Backups without a leader are not rendered: nobody is known to be a safe writer.
        let cfg = render(BUILTIN_TEMPLATE, None, &b, &opts(HealthCheck::Httpchk)).expect("render");
        assert!(!cfg.contains("\n    server "), "{cfg}");
        assert!(cfg.contains("No leader known"));
    }

    #[test]
    fn rendering_is_deterministic() {
        let l = Leader::parse("10.0.0.5", 33306).expect("leader");
        let o = opts(HealthCheck::Httpchk);
        assert_eq!(
            render(BUILTIN_TEMPLATE, Some(&l), &[], &o),
            render(BUILTIN_TEMPLATE, Some(&l), &[], &o)
        );
    }

    #[test]
    fn template_errors_are_named() {
        let o = opts(HealthCheck::Httpchk);
        let e = render("{% if %}", None, &[], &o).expect_err("syntax error");
        assert!(e.contains("template built-in"), "{e}");
        let e = render("{{ leadr.server }}", None, &[], &o).expect_err("undefined");
        assert!(e.contains("undefined"), "{e}");
        let l = Leader::parse("10.0.0.5", 33306).expect("leader");
        assert_eq!(
            render(
                "server {{ leader.server }} {{ leader.address }}",
                Some(&l),
                &[],
                &o
            ),
            Ok("server 10.0.0.5 10.0.0.5:33306".to_string())
        );
    }

    /// The lines of the section that starts with `header` (up to the next blank line).
    fn section<'a>(cfg: &'a str, header: &str) -> Vec<&'a str> {
        cfg.split("\n\n")
            .flat_map(|block| {
                let mut lines = block.lines().skip_while(|l| *l != header);
                lines
                    .next()
                    .map(|_| lines.map(str::trim).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    }

    #[test]
    fn read_port_balances_over_the_other_members_with_the_leader_as_backup() {
        let ms = members(&[
            ("g-0", "10.0.0.5"),
            ("g-1", "10.0.0.6"),
            ("g-2", "10.0.0.7"),
        ]);
        // (case, health check, leader, read listen, want server lines of galera_read)
        type Case<'a> = (&'a str, HealthCheck, Option<&'a str>, &'a str, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "httpchk: the two others share reads, the leader is the backup",
                HealthCheck::Httpchk,
                Some("10.0.0.6"),
                "0.0.0.0:3307",
                vec![
                    "server 10.0.0.5 10.0.0.5:33306 check port 8080",
                    "server 10.0.0.7 10.0.0.7:33306 check port 8080",
                    "server 10.0.0.6 10.0.0.6:33306 check port 8080 backup",
                ],
            ),
            (
                "mysql-check, leader first by name",
                HealthCheck::MysqlCheck,
                Some("10.0.0.5"),
                "127.0.0.1:3307",
                vec![
                    "server 10.0.0.6 10.0.0.6:33306 check",
                    "server 10.0.0.7 10.0.0.7:33306 check",
                    "server 10.0.0.5 10.0.0.5:33306 check backup",
                ],
            ),
            (
                "a leader that is no member: every member reads",
                HealthCheck::Httpchk,
                Some("10.0.0.9:3306"),
                "[::1]:3307",
                vec![
                    "server 10.0.0.5 10.0.0.5:33306 check port 8080",
                    "server 10.0.0.6 10.0.0.6:33306 check port 8080",
                    "server 10.0.0.7 10.0.0.7:33306 check port 8080",
                    "server 10.0.0.9 10.0.0.9:3306 check port 8080 backup",
                ],
            ),
            (
                "no leader: no server, reads refused",
                HealthCheck::Httpchk,
                None,
                "0.0.0.0:3307",
                vec![],
            ),
        ];
        for (case, hc, leader, read, want) in cases {
            let l = leader.map(|v| Leader::parse(v, 33306).expect("leader"));
            let b = l
                .as_ref()
                .map(|l| backups(l, &ms, 33306).0)
                .unwrap_or_default();
            let mut o = opts(hc);
            let plain = render(BUILTIN_TEMPLATE, l.as_ref(), &b, &o).expect("render");
            assert!(!plain.contains("galera_read"), "{case}: {plain}");
            o.read_listen = Some(read.parse().expect("addr"));
            let cfg = render(BUILTIN_TEMPLATE, l.as_ref(), &b, &o).expect("render");
            let frontend = section(&cfg, "frontend galera_read");
            let bind = format!("bind {}", bind_addr(&o.read_listen.expect("set")));
            assert_eq!(
                frontend,
                vec![bind.as_str(), "default_backend galera_read"],
                "{case}: {cfg}"
            );
            let backend = section(&cfg, "backend galera_read");
            assert_eq!(backend.first(), Some(&"balance leastconn"), "{case}: {cfg}");
            let check = match hc {
                HealthCheck::Httpchk => "option httpchk GET /readiness",
                HealthCheck::MysqlCheck => "option mysql-check user haproxy post-41",
            };
            assert!(backend.contains(&check), "{case}: {cfg}");
            let servers: Vec<&str> = backend
                .iter()
                .copied()
                .filter(|l| l.starts_with("server "))
                .collect();
            assert_eq!(servers, want, "{case}: {cfg}");
            // The write path is the same with or without the read port.
            assert_eq!(
                section(&cfg, "backend galera"),
                section(&plain, "backend galera"),
                "{case}"
            );
            assert_eq!(
                section(&cfg, "frontend galera_sql"),
                section(&plain, "frontend galera_sql"),
                "{case}"
            );
        }
    }

    fn members(m: &[(&str, &str)]) -> BTreeMap<String, String> {
        m.iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn backups_are_the_other_members_by_name() {
        // (case, leader, members, want backups as node@address, want skipped count)
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str, usize);
        let cases: Vec<Case> = vec![
            (
                "three members, leader in the middle",
                "10.0.0.6",
                vec![
                    ("g-2", "10.0.0.7"),
                    ("g-0", "10.0.0.5"),
                    ("g-1", "10.0.0.6"),
                ],
                "g-0@10.0.0.5:33306, g-2@10.0.0.7:33306",
                0,
            ),
            (
                "sorted by name, not by address",
                "10.0.0.5",
                vec![("b", "10.0.0.2"), ("a", "10.0.0.9"), ("c", "10.0.0.5")],
                "a@10.0.0.9:33306, b@10.0.0.2:33306",
                0,
            ),
            (
                "the leader with its port is still the leader",
                "10.0.0.6:33306",
                vec![("g-0", "10.0.0.5"), ("g-1", "10.0.0.6:33306")],
                "g-0@10.0.0.5:33306",
                0,
            ),
            (
                "a leader that is not a member: every member is a backup",
                "10.0.0.9",
                vec![("g-0", "10.0.0.5"), ("g-1", "10.0.0.6")],
                "g-0@10.0.0.5:33306, g-1@10.0.0.6:33306",
                0,
            ),
            ("no members", "10.0.0.5", vec![], "none", 0),
            (
                "only the leader",
                "10.0.0.5",
                vec![("g-0", "10.0.0.5")],
                "none",
                0,
            ),
            (
                "a value that is not an address is skipped",
                "10.0.0.5",
                vec![
                    ("g-0", "10.0.0.5"),
                    ("g-1", "x\n server evil 1.2.3.4:1"),
                    ("g-2", "10.0.0.7"),
                ],
                "g-2@10.0.0.7:33306",
                1,
            ),
            (
                "two members on one address: the first by name",
                "10.0.0.5",
                vec![
                    ("g-1", "10.0.0.7"),
                    ("g-3", "10.0.0.7"),
                    ("g-2", "10.0.0.8"),
                ],
                "g-1@10.0.0.7:33306, g-2@10.0.0.8:33306",
                1,
            ),
            (
                "IPv6 and names",
                "fd00::5",
                vec![
                    ("g-0", "fd00::5"),
                    ("g-1", "[fd00::6]:3307"),
                    ("g-2", "g-2.galera.db.svc"),
                ],
                "g-1@ipv6@fd00::6:3307, g-2@g-2.galera.db.svc:33306",
                0,
            ),
        ];
        for (case, leader, m, want, want_skipped) in cases {
            let l = Leader::parse(leader, 33306).expect("leader");
            let (b, skipped) = backups(&l, &members(&m), 33306);
            assert_eq!(describe_backups(&b), want, "{case}");
            assert_eq!(skipped.len(), want_skipped, "{case}: {skipped:?}");
        }
    }

    #[test]
    fn builtin_with_backups_routes_to_one_node_at_a_time() {
        let l = Leader::parse("10.0.0.6", 33306).expect("leader");
        let m = members(&[
            ("g-0", "10.0.0.5"),
            ("g-1", "10.0.0.6"),
            ("g-2", "10.0.0.7"),
        ]);
        let (b, _) = backups(&l, &m, 33306);
        let cfg =
            render(BUILTIN_TEMPLATE, Some(&l), &b, &opts(HealthCheck::Httpchk)).expect("render");
        let servers: Vec<&str> = cfg
            .lines()
            .map(str::trim)
            .filter(|x| x.starts_with("server "))
            .collect();
        assert_eq!(
            servers,
            [
                "server 10.0.0.6 10.0.0.6:33306 check port 8080",
                "server 10.0.0.5 10.0.0.5:33306 check port 8080 backup",
                "server 10.0.0.7 10.0.0.7:33306 check port 8080 backup",
            ],
            "{cfg}"
        );
        // Only the first healthy backup takes traffic (haproxy's default without allbackups).
        assert!(!cfg.contains("allbackups"), "{cfg}");
        let defaults = cfg
            .lines()
            .find(|x| x.trim_start().starts_with("default-server"))
            .expect("default-server line");
        for want in [
            "fall 2",
            "rise 2",
            "on-marked-down shutdown-sessions",
            "on-marked-up shutdown-backup-sessions",
        ] {
            assert!(defaults.contains(want), "{defaults}");
        }
        let o = opts(HealthCheck::MysqlCheck);
        let cfg = render(BUILTIN_TEMPLATE, Some(&l), &b, &o).expect("render");
        assert!(
            cfg.contains("server 10.0.0.5 10.0.0.5:33306 check backup\n"),
            "{cfg}"
        );
    }

    #[test]
    fn two_sidecars_render_the_same_servers_from_the_same_values() {
        // Members as two sidecars may have received them (order of events differs).
        let a = [
            ("g-2", "10.0.0.7"),
            ("g-0", "10.0.0.5"),
            ("g-1", "10.0.0.6"),
        ];
        let mut b = a;
        b.reverse();
        let l = Leader::parse("10.0.0.7", 33306).expect("leader");
        let o = opts(HealthCheck::Httpchk);
        let cfg = |m: &[(&str, &str)]| {
            let (bk, _) = backups(&l, &members(m), 33306);
            render(BUILTIN_TEMPLATE, Some(&l), &bk, &o).expect("render")
        };
        assert_eq!(cfg(&a), cfg(&b));
    }
}
