//! Rendering the haproxy config (pure): the leader's address and the options → config text.
//!
//! The built-in template is `haproxy.cfg.j2` next to this file (compiled in); `--template`
//! names a file to render instead. Templates are minijinja (Jinja2 syntax) with semi-strict
//! undefined variables, so a typo in a template is an error naming it, not an empty string.
//!
//! Template variables: `leader` (absent when no leader is known) with `leader.server` (the
//! haproxy server name), `leader.host`, `leader.port`, `leader.address` (`host:port`);
//! `listen`, `health_check` (`httpchk` | `mysql-check`), `check_port`, `backend_port`,
//! `admin_socket`, `hard_stop_after`, `stats_listen` (absent when not set), `template_name`.
//!
//! The leader's address is taken as written in `P/leader` (an IP, normally the pod IP; a DNS
//! name is resolved by haproxy when it loads the config, and one that does not resolve fails
//! `haproxy -c`, so the running config is kept). Values that are not a plain address are
//! refused: they would be pasted into a config file.
//!
//! **Only the leader is a server — no `backup` servers for the other nodes.** Listing the other
//! registered nodes as backups would let each haproxy fail over on its own health checks
//! before etcd moves, but (1) two haproxies that disagree about the leader's health (a flaky
//! path, different check timing) then send writes to two nodes — the second writer docs/design.md §5
//! exists to prevent; (2) the config would depend on `nodes/`, so every registration change
//! during a rolling restart would reload haproxy while the leader stays the same; (3) the gain
//! is small: a leader that stops being eligible gives leadership up at once (its `checker
//! serve` fails at the same moment), so only a leader whose entrypoint dies outright waits for
//! its lease to expire (the lease TTL). Until a new leader is elected, connections are refused
//! and clients retry — the honest answer when nobody is known to be a safe writer.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::cli::HealthCheck;

/// The built-in template.
pub const BUILTIN_TEMPLATE: &str = include_str!("haproxy.cfg.j2");

/// The leader as haproxy addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Leader {
    /// haproxy server name (letters, digits, `.`, `-`, `_`, `:` only).
    pub server: String,
    /// Host (IP or DNS name) as found in `P/leader`, without brackets.
    pub host: String,
    pub port: u16,
    /// What goes on the `server` line: `host:port` (`ipv6@addr:port` for IPv6).
    pub address: String,
}

impl Leader {
    /// Parse the value of `P/leader`: `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
    /// The value ends up in a config file, so anything but a plain address is refused.
    pub fn parse(value: &str, default_port: u16) -> Result<Leader, String> {
        let v = value.trim();
        if v.is_empty() {
            return Err("empty leader value".into());
        }
        let (host, port) = if let Ok(sa) = v.parse::<SocketAddr>() {
            (sa.ip().to_string(), sa.port())
        } else if let Ok(ip) = v.parse::<IpAddr>() {
            (ip.to_string(), default_port)
        } else if let Some((h, p)) = v.rsplit_once(':') {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("`{v}`: `{p}` is not a port"))?;
            (h.to_string(), port)
        } else {
            (v.to_string(), default_port)
        };
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
        let is_v6 = host.parse::<std::net::Ipv6Addr>().is_ok();
        let address = if is_v6 {
            format!("ipv6@{host}:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Leader {
            server: host.clone(),
            host,
            port,
            address,
        })
    }
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
    listen: String,
    health_check: HealthCheck,
    check_port: u16,
    backend_port: u16,
    admin_socket: &'a str,
    hard_stop_after: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats_listen: Option<String>,
    template_name: &'a str,
}

/// Render `template` (minijinja source) for `leader` (None: no leader known).
pub fn render(
    template: &str,
    leader: Option<&Leader>,
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
        listen: bind_addr(&opts.listen),
        health_check: opts.health_check,
        check_port: opts.check_port,
        backend_port: opts.backend_port,
        admin_socket: &opts.admin_socket,
        hard_stop_after: &opts.hard_stop_after,
        stats_listen: opts.stats_listen.as_ref().map(bind_addr),
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
        let cfg = render(BUILTIN_TEMPLATE, Some(&l), &opts(HealthCheck::Httpchk)).expect("render");
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
        assert!(!cfg.contains("backup"), "{cfg}");
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
        let cfg = render(BUILTIN_TEMPLATE, Some(&l), &o).expect("render");
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
        let cfg = render(BUILTIN_TEMPLATE, None, &opts(HealthCheck::Httpchk)).expect("render");
        assert!(!cfg.contains("\n    server "), "{cfg}");
        assert!(cfg.contains("No leader known"));
    }

    #[test]
    fn rendering_is_deterministic() {
        let l = Leader::parse("10.0.0.5", 33306).expect("leader");
        let o = opts(HealthCheck::Httpchk);
        assert_eq!(
            render(BUILTIN_TEMPLATE, Some(&l), &o),
            render(BUILTIN_TEMPLATE, Some(&l), &o)
        );
    }

    #[test]
    fn template_errors_are_named() {
        let o = opts(HealthCheck::Httpchk);
        let e = render("{% if %}", None, &o).expect_err("syntax error");
        assert!(e.contains("template built-in"), "{e}");
        let e = render("{{ leadr.server }}", None, &o).expect_err("undefined");
        assert!(e.contains("undefined"), "{e}");
        let l = Leader::parse("10.0.0.5", 33306).expect("leader");
        assert_eq!(
            render(
                "server {{ leader.server }} {{ leader.address }}",
                Some(&l),
                &o
            ),
            Ok("server 10.0.0.5 10.0.0.5:33306".to_string())
        );
    }
}
