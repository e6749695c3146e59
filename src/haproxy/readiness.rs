//! `galera-sidecar haproxy readiness`: the exec probe of the haproxy container.
//!
//! Ready (exit 0) when a leader is known and haproxy routes to it: the leader comes from the
//! running sidecar's `status.json` (the etcd leader its watch last saw, else the leader its
//! running config names) or, when there is no status, from the persisted `last-good.json`;
//! haproxy's runtime socket (`show servers state`) must list that leader as a server and
//! its health check must pass (operational state running). One line on stdout saying why;
//! exit 1 otherwise. The probe opens no etcd session: the sidecar's watch already did.

use super::process::socket_command;
use super::render::Leader;
use super::state::{read_last_good, Paths, Status};
use crate::cli::HaproxyOpts;

/// One server of `show servers state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub name: String,
    pub addr: String,
    pub port: Option<u16>,
    /// 0 stopped (check failing), 1 starting, 2 running, 3 stopping.
    pub op_state: u8,
    /// Non-zero: maintenance / drain set by an operator.
    pub admin_state: u32,
}

/// Parse `show servers state` (format 1: a version line, a `# field…` header, rows); columns
/// are found by name in the header.
pub fn parse_servers_state(text: &str) -> Result<Vec<ServerState>, String> {
    let header = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .ok_or_else(|| format!("no header in `show servers state`: {}", text.trim()))?;
    let cols: Vec<&str> = header.split_whitespace().collect();
    let idx = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("`show servers state` has no column {name}"))
    };
    let (be, name, addr, op, admin, port) = (
        idx("be_name")?,
        idx("srv_name")?,
        idx("srv_addr")?,
        idx("srv_op_state")?,
        idx("srv_admin_state")?,
        idx("srv_port")?,
    );
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if l.starts_with('#') || f.len() < cols.len() {
            continue;
        }
        out.push(ServerState {
            backend: f[be].to_string(),
            name: f[name].to_string(),
            addr: f[addr].to_string(),
            port: f[port].parse().ok(),
            op_state: f[op].parse().unwrap_or(0),
            admin_state: f[admin].parse().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Which leader should haproxy route to, and where that knowledge came from.
pub fn known_leader(
    status: Option<&Status>,
    last_good: Option<&Leader>,
    backend_port: u16,
) -> Result<(Leader, &'static str), String> {
    if let Some(s) = status {
        if let Some(v) = &s.etcd_leader {
            let l = Leader::parse(v, backend_port)
                .map_err(|e| format!("etcd's leader value is unusable: {e}"))?;
            return Ok((l, "etcd"));
        }
        if let Some(r) = &s.routed {
            return Ok((r.clone(), "the persisted config (no leader in etcd now)"));
        }
        if s.etcd_seen {
            return Err("no leader: etcd has none and no config names one".into());
        }
    }
    match last_good {
        Some(l) => Ok((l.clone(), "the persisted config")),
        None => Err("no leader known: etcd not read yet and no persisted config".into()),
    }
}

/// Is `s` the server for `leader` (pure): its name, or its address and port. haproxy prints
/// an IPv6 `srv_addr` bare and canonical (`fd00::5`), so addresses are compared as addresses.
pub fn routes_to(s: &ServerState, leader: &Leader) -> bool {
    s.name == leader.server
        || (crate::net_addr::same_host(&s.addr, &leader.host) && s.port == Some(leader.port))
}

/// The verdict: `Ok(reason)` = ready, `Err(reason)` = not ready.
pub fn verdict(
    status: Option<&Status>,
    last_good: Option<&Leader>,
    servers: Result<&[ServerState], &str>,
    backend_port: u16,
) -> Result<String, String> {
    let (leader, source) = known_leader(status, last_good, backend_port)?;
    if let Some(s) = status {
        if let Some(r) = &s.routed {
            if r.host != leader.host || r.port != leader.port {
                return Err(format!(
                    "haproxy still routes to {} but the leader is {} ({})",
                    r.address,
                    leader.address,
                    s.last_error.as_deref().unwrap_or("switch in progress")
                ));
            }
        }
    }
    let servers = servers.map_err(|e| format!("haproxy runtime socket: {e}"))?;
    let matching: Vec<&ServerState> = servers.iter().filter(|s| routes_to(s, &leader)).collect();
    if matching.is_empty() {
        return Err(format!(
            "leader {} (from {source}) is not a server in haproxy's running config",
            leader.address
        ));
    }
    if let Some(up) = matching
        .iter()
        .find(|s| s.op_state == 2 && s.admin_state == 0)
    {
        return Ok(format!(
            "haproxy routes to leader {} (from {source}): {}/{} UP",
            leader.address, up.backend, up.name
        ));
    }
    let s = matching[0];
    let why = match (s.admin_state, s.op_state) {
        (a, _) if a != 0 => "in maintenance/drain".to_string(),
        (_, 0) => "DOWN (its health check fails)".to_string(),
        (_, 1) => "starting".to_string(),
        (_, 3) => "stopping".to_string(),
        (_, o) => format!("in state {o}"),
    };
    Err(format!(
        "leader {} (from {source}): {}/{} is {why}",
        leader.address, s.backend, s.name
    ))
}

/// Run the probe: print one line, return the exit code.
pub async fn main(opts: &HaproxyOpts) -> anyhow::Result<u8> {
    let paths = Paths::new(&opts.run_dir);
    let status = match Status::read(&paths) {
        Ok(s) => s,
        Err(e) => {
            println!("not ready: {e}");
            return Ok(1);
        }
    };
    let last_good = read_last_good(&paths)
        .ok()
        .flatten()
        .and_then(|(m, _)| m.leader);
    let answer = socket_command(&paths.admin_socket, "show servers state")
        .await
        .map_err(|e| format!("{e:#}"))
        .and_then(|t| parse_servers_state(&t));
    let servers = answer.as_deref().map_err(|e| e.as_str());
    match verdict(
        status.as_ref(),
        last_good.as_ref(),
        servers,
        opts.backend_port,
    ) {
        Ok(r) => {
            println!("ready: {r}");
            Ok(0)
        }
        Err(r) => {
            println!("not ready: {r}");
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n3 galera 1 127.0.60.2 127.0.60.2 2 0 1 1 0 8 2 0 6 0 0 0 - 33306 - 0 8080 - - 8080\n\n";

    fn srv(name: &str, op: u8, admin: u32) -> ServerState {
        ServerState {
            backend: "galera".into(),
            name: name.into(),
            addr: name.into(),
            port: Some(33306),
            op_state: op,
            admin_state: admin,
        }
    }

    fn leader(a: &str) -> Leader {
        Leader::parse(a, 33306).expect("leader")
    }

    /// `show servers state` of haproxy 2.6 for a config rendered from IPv6 members.
    const STATE_V6: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n3 galera 1 fd00::5 fd00::5 2 0 1 1 1 1 0 2 0 0 0 0 - 33306 - 0 0 - - 0\n3 galera 2 fd00::6 fd00::6 2 0 1 1 1 1 0 2 0 0 0 0 - 33306 - 0 0 - - 0\n\n";

    #[test]
    fn parses_servers_state() {
        assert_eq!(
            parse_servers_state(STATE),
            Ok(vec![srv("127.0.60.2", 2, 0)])
        );
        assert_eq!(
            parse_servers_state(STATE_V6),
            Ok(vec![srv("fd00::5", 2, 0), srv("fd00::6", 2, 0)])
        );
        assert!(parse_servers_state("Unknown command\n").is_err());
    }

    #[test]
    fn routes_to_table() {
        let at = |name: &str, addr: &str, port: u16| ServerState {
            addr: addr.into(),
            port: Some(port),
            ..srv(name, 2, 0)
        };
        // (server in haproxy, leader value in etcd, is it the leader's server)
        let cases = [
            (at("10.0.0.5", "10.0.0.5", 33306), "10.0.0.5", true),
            (at("fd00::5", "fd00::5", 33306), "fd00::5", true),
            (at("fd00::5", "fd00::5", 33306), "[fd00::5]", true),
            (at("fd00::5", "fd00::5", 33306), "FD00:0::5", true),
            // Renamed by a custom template: matched by address and port.
            (at("leader", "fd00::5", 33306), "[fd00::5]:33306", true),
            (at("leader", "fd00::5", 3307), "fd00::5", false),
            (at("fd00::6", "fd00::6", 33306), "fd00::5", false),
            (at("leader", "10.0.0.5", 33306), "fd00::5", false),
        ];
        for (s, value, want) in cases {
            assert_eq!(routes_to(&s, &leader(value)), want, "{s:?} {value}");
        }
    }

    #[test]
    fn verdicts() {
        let st = |etcd: Option<&str>, routed: Option<&str>, seen: bool| Status {
            etcd_leader: etcd.map(String::from),
            routed: routed.map(leader),
            etcd_seen: seen,
            ..Status::default()
        };
        let up = [srv("10.0.0.5", 2, 0)];
        let down = [srv("10.0.0.5", 0, 0)];
        let maint = [srv("10.0.0.5", 2, 1)];
        let other = [srv("10.0.0.6", 2, 0)];
        let up6 = [srv("fd00::5", 2, 0)];
        let l5 = leader("10.0.0.5");
        type Case<'a> = (
            &'a str,
            Option<Status>,
            Option<&'a Leader>,
            Result<&'a [ServerState], &'a str>,
            bool,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "etcd leader UP",
                Some(st(Some("10.0.0.5"), Some("10.0.0.5"), true)),
                None,
                Ok(&up),
                true,
                "UP",
            ),
            (
                "etcd leader DOWN",
                Some(st(Some("10.0.0.5"), Some("10.0.0.5"), true)),
                None,
                Ok(&down),
                false,
                "health check fails",
            ),
            (
                "maintenance",
                Some(st(Some("10.0.0.5"), Some("10.0.0.5"), true)),
                None,
                Ok(&maint),
                false,
                "maintenance",
            ),
            (
                "routes elsewhere",
                Some(st(Some("10.0.0.6"), Some("10.0.0.5"), true)),
                None,
                Ok(&up),
                false,
                "still routes to 10.0.0.5:33306",
            ),
            (
                "leader not in config",
                Some(st(Some("10.0.0.5"), None, true)),
                None,
                Ok(&other),
                false,
                "not a server",
            ),
            (
                "no leader in etcd, persisted routes",
                Some(st(None, Some("10.0.0.5"), true)),
                None,
                Ok(&up),
                true,
                "persisted",
            ),
            (
                "no leader anywhere",
                Some(st(None, None, true)),
                None,
                Ok(&up),
                false,
                "no leader",
            ),
            (
                "etcd not read, last good",
                Some(st(None, None, false)),
                Some(&l5),
                Ok(&up),
                true,
                "persisted",
            ),
            (
                "no status, last good",
                None,
                Some(&l5),
                Ok(&up),
                true,
                "persisted",
            ),
            ("nothing", None, None, Ok(&up), false, "no leader known"),
            (
                "socket down",
                Some(st(Some("10.0.0.5"), Some("10.0.0.5"), true)),
                None,
                Err("connect refused"),
                false,
                "runtime socket",
            ),
            (
                "IPv6 leader UP",
                Some(st(Some("fd00::5"), Some("[fd00::5]:33306"), true)),
                None,
                Ok(&up6),
                true,
                "ipv6@fd00::5:33306 (from etcd): galera/fd00::5 UP",
            ),
            (
                "garbage leader",
                Some(st(Some("a b"), None, true)),
                None,
                Ok(&up),
                false,
                "unusable",
            ),
        ];
        for (name, status, lg, servers, ready, needle) in cases {
            let v = verdict(status.as_ref(), lg, servers, 33306);
            let text = match &v {
                Ok(t) | Err(t) => t.clone(),
            };
            assert_eq!(v.is_ok(), ready, "{name}: {text}");
            assert!(text.contains(needle), "{name}: `{text}` lacks `{needle}`");
        }
    }

    /// An IPv6 node address survives the whole way: given as `[fd00::5]`, published bare in
    /// `P/leader` and `P/members/`, rendered on a `server` line, printed back by haproxy's
    /// `show servers state` (bare `srv_addr`), and matched by the readiness probe.
    #[test]
    fn ipv6_round_trip_to_readiness() {
        use crate::haproxy::render::{backups, render, RenderOptions, BUILTIN_TEMPLATE};
        let published = crate::net_addr::parse_node_address("[fd00::5]").expect("address");
        assert_eq!(published, "fd00::5");
        let l = leader(&published);
        let members: std::collections::BTreeMap<String, String> = [
            ("g-0", published.as_str()),
            ("g-1", "fd00::6"),
            ("g-2", "10.0.0.7"),
        ]
        .into_iter()
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect();
        let (b, skipped) = backups(&l, &members, 33306);
        assert!(skipped.is_empty(), "{skipped:?}");
        let o = RenderOptions {
            listen: "[::]:3306".parse().expect("addr"),
            health_check: crate::cli::HealthCheck::Httpchk,
            check_port: 8080,
            backend_port: 33306,
            admin_socket: "/run/galera-haproxy/admin.sock".into(),
            hard_stop_after: "30s".into(),
            stats_listen: None,
            read_listen: None,
            template_name: "built-in".into(),
        };
        let cfg = render(BUILTIN_TEMPLATE, Some(&l), &b, &o).expect("render");
        let servers: Vec<&str> = cfg
            .lines()
            .map(str::trim)
            .filter(|x| x.starts_with("server "))
            .collect();
        assert_eq!(
            servers,
            [
                "server fd00::5 ipv6@fd00::5:33306 check port 8080",
                "server fd00::6 ipv6@fd00::6:33306 check port 8080 backup",
                "server 10.0.0.7 10.0.0.7:33306 check port 8080 backup",
            ],
            "{cfg}"
        );
        assert!(cfg.contains("bind ipv6@:::3306\n"), "{cfg}");
        // What haproxy prints for that config (names and bare addresses as on the lines).
        let state = parse_servers_state(STATE_V6).expect("state");
        let status = Status {
            etcd_leader: Some(published.clone()),
            routed: Some(l.clone()),
            etcd_seen: true,
            ..Status::default()
        };
        let v = verdict(Some(&status), None, Ok(&state), 33306);
        assert_eq!(
            v,
            Ok("haproxy routes to leader ipv6@fd00::5:33306 (from etcd): galera/fd00::5 UP".into())
        );
    }
}
