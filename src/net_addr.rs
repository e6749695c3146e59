//! Hosts and `host:port` strings (pure, the lowest layer: imports nothing of the crate). An
//! IPv6 address is stored bare (`fd00::2`) and written in brackets wherever a port follows it
//! or a bare one would be ambiguous with `host:port` (`[fd00::2]:4567`, `--wsrep-node-address`).
//! Every place that builds or splits a `host:port` string goes through these functions.

use std::net::{IpAddr, Ipv6Addr};

/// Is `host` an IPv6 address, bare or in brackets (`fd00::2`, `[fd00::2]`)?
pub fn is_ipv6(host: &str) -> bool {
    unbracket(host).parse::<Ipv6Addr>().is_ok()
}

/// `host` without the brackets around it (`[fd00::2]` → `fd00::2`); anything else as it is.
pub fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host` in brackets when it is an IPv6 address (`fd00::2` → `[fd00::2]`); an IPv4 address, a
/// DNS name or a host already in brackets as it is. A colon never occurs in an IPv4 address or
/// a DNS name, so any host with one is taken for IPv6.
pub fn bracket(host: &str) -> String {
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `host:port`: `10.0.0.2:4567`, `[fd00::2]:4567`, `galera-0.db:4567`.
pub fn host_port(host: &str, port: u16) -> String {
    format!("{}:{port}", bracket(host))
}

/// Split `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address into the host (bare,
/// without brackets) and the port if one is written. A bare IPv6 address has no port: its last
/// group is part of the address (`fd00::2:4567` is an address). An error says what is wrong.
pub fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let port_of = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("`{s}`: `{p}` is not a port"))
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{s}`: `[` without `]`"))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "`{s}`: `{host}` in brackets is not an IPv6 address"
            ));
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, Some(port_of(p)?))),
                None => Err(format!("`{s}`: `{after}` after `]` is not `:port`")),
            },
        };
    }
    if s.parse::<Ipv6Addr>().is_ok() {
        return Ok((s, None));
    }
    match s.split_once(':') {
        None => Ok((s, None)),
        Some(("", _)) => Err(format!("`{s}`: no host before `:`")),
        Some((h, p)) if !p.contains(':') => Ok((h, Some(port_of(p)?))),
        Some(_) => Err(format!(
            "`{s}` is not an address (an IPv6 address with a port is written `[addr]:port`)"
        )),
    }
}

/// `s` (`host`, `host:port`, `[v6]`, `[v6]:port`) with `port` when it has none, IPv6 in
/// brackets: `10.0.0.1` → `10.0.0.1:4567`, `fd00::1` → `[fd00::1]:4567`, `h:5000` as it is.
/// A value that does not split ([`split_host_port`]) is returned unchanged, for the program
/// it is given to to report.
pub fn with_default_port(s: &str, port: u16) -> String {
    match split_host_port(s) {
        Ok((host, p)) => host_port(host, p.unwrap_or(port)),
        Err(_) => s.to_string(),
    }
}

/// An IP address in its one canonical form (`FD00:0::2` and `[fd00::2]` → `fd00::2`,
/// `::ffff:10.0.0.1` → `10.0.0.1`); a DNS name as it is.
pub fn canonical_host(host: &str) -> String {
    match unbracket(host).parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => host.to_string(),
    }
}

/// Do two hosts name the same address: equal IP addresses however written (brackets, zeros,
/// case), or equal names ignoring case?
pub fn same_host(a: &str, b: &str) -> bool {
    match (
        unbracket(a).parse::<IpAddr>(),
        unbracket(b).parse::<IpAddr>(),
    ) {
        (Ok(x), Ok(y)) => x.to_canonical() == y.to_canonical(),
        (Err(_), Err(_)) => unbracket(a).eq_ignore_ascii_case(unbracket(b)),
        _ => false,
    }
}

/// A node address as given (`--node-address`, `POD_IP`) → the form it is stored and
/// published in: an IP address in canonical form without brackets (`[fd00::2]` → `fd00::2`),
/// or a DNS name (letters, digits, `-`, `.`, `_`, at most 253). A port, a path, spaces or an
/// IPv6 zone (`%eth0`) are refused, with the reason.
pub fn parse_node_address(raw: &str) -> Result<String, String> {
    let a = raw.trim();
    if a.is_empty() {
        return Err("empty address".into());
    }
    if let Ok(ip) = unbracket(a).parse::<IpAddr>() {
        if a.starts_with('[') && !ip.is_ipv6() {
            return Err(format!(
                "`{a}`: only an IPv6 address is written in brackets"
            ));
        }
        if ip.is_unspecified() {
            return Err(format!(
                "`{a}` is the unspecified address, not this node's address"
            ));
        }
        return Ok(ip.to_canonical().to_string());
    }
    if a.contains('%') {
        return Err(format!(
            "`{a}`: an address with an IPv6 zone (`%...`) means nothing on the other nodes; \
             use the pod's global or unique-local address"
        ));
    }
    if a.contains(':') || a.contains('[') {
        return Err(format!(
            "`{a}` is not an IP address or a host name (no port: the Galera port is \
             --galera-port)"
        ));
    }
    let name_ok = a.len() <= 253
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !name_ok {
        return Err(format!(
            "`{a}` is not an IP address or a host name (letters, digits, - . _ only)"
        ));
    }
    Ok(a.to_string())
}

/// The address to use among those the host name resolves to (in resolver order): the first
/// IPv4 address that is not loopback, else the first IPv6 address that is neither loopback nor
/// link-local (an IPv6-only host), else the first IPv4 loopback, else the first IPv6 loopback
/// or link-local address. The unspecified address never; IPv4-mapped IPv6 counts as IPv4.
pub fn choose_host_address(resolved: &[IpAddr]) -> Option<IpAddr> {
    let rank = |ip: &IpAddr| -> Option<u8> {
        match ip.to_canonical() {
            ip if ip.is_unspecified() => None,
            IpAddr::V4(v4) if !v4.is_loopback() => Some(0),
            IpAddr::V6(v6) if !v6.is_loopback() && !v6.is_unicast_link_local() => Some(1),
            IpAddr::V4(_) => Some(2),
            IpAddr::V6(_) => Some(3),
        }
    };
    resolved
        .iter()
        .filter_map(|ip| rank(ip).map(|r| (r, ip.to_canonical())))
        .min_by_key(|(r, _)| *r)
        .map(|(_, ip)| ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_and_host_port_table() {
        // (host, bracket, host_port(host, 4567), is_ipv6)
        let cases = [
            ("10.0.0.2", "10.0.0.2", "10.0.0.2:4567", false),
            ("fd00::2", "[fd00::2]", "[fd00::2]:4567", true),
            ("[fd00::2]", "[fd00::2]", "[fd00::2]:4567", true),
            ("::1", "[::1]", "[::1]:4567", true),
            (
                "galera-0.db.svc",
                "galera-0.db.svc",
                "galera-0.db.svc:4567",
                false,
            ),
            ("localhost", "localhost", "localhost:4567", false),
        ];
        for (host, b, hp, v6) in cases {
            assert_eq!(bracket(host), b, "{host}");
            assert_eq!(host_port(host, 4567), hp, "{host}");
            assert_eq!(is_ipv6(host), v6, "{host}");
        }
    }

    #[test]
    fn unbracket_table() {
        for (input, want) in [
            ("[fd00::2]", "fd00::2"),
            ("fd00::2", "fd00::2"),
            ("10.0.0.2", "10.0.0.2"),
            ("[fd00::2]:1", "[fd00::2]:1"),
            ("[", "["),
        ] {
            assert_eq!(unbracket(input), want, "{input}");
        }
    }

    #[test]
    fn split_host_port_table() {
        type Want<'a> = Result<(&'a str, Option<u16>), ()>;
        let cases: &[(&str, Want)] = &[
            ("10.0.0.2", Ok(("10.0.0.2", None))),
            ("10.0.0.2:4567", Ok(("10.0.0.2", Some(4567)))),
            ("g-0.db.svc:3306", Ok(("g-0.db.svc", Some(3306)))),
            ("g-0", Ok(("g-0", None))),
            ("fd00::2", Ok(("fd00::2", None))),
            // A bare IPv6 address has no port: its last group is part of it.
            ("fd00::2:4567", Ok(("fd00::2:4567", None))),
            ("[fd00::2]", Ok(("fd00::2", None))),
            ("[fd00::2]:4567", Ok(("fd00::2", Some(4567)))),
            ("[::1]:0", Ok(("::1", Some(0)))),
            ("10.0.0.2:x", Err(())),
            ("10.0.0.2:70000", Err(())),
            ("10.0.0.2:", Err(())),
            (":4567", Err(())),
            ("[fd00::2", Err(())),
            ("[fd00::2]x", Err(())),
            ("[fd00::2]:x", Err(())),
            ("[10.0.0.2]:1", Err(())),
            ("a:b:c", Err(())),
        ];
        for (input, want) in cases {
            let got = split_host_port(input);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{input}"),
                (Err(()), Err(_)) => {}
                _ => panic!("{input}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn with_default_port_table() {
        for (input, want) in [
            ("10.0.0.1", "10.0.0.1:4567"),
            ("10.0.0.3:5000", "10.0.0.3:5000"),
            ("fd00::1", "[fd00::1]:4567"),
            ("[fd00::1]", "[fd00::1]:4567"),
            ("[fd00::1]:5000", "[fd00::1]:5000"),
            ("g-1.db.svc", "g-1.db.svc:4567"),
            ("a:b:c", "a:b:c"),
        ] {
            assert_eq!(with_default_port(input, 4567), want, "{input}");
        }
    }

    #[test]
    fn canonical_and_same_host_table() {
        for (input, want) in [
            ("FD00:0:0::2", "fd00::2"),
            ("[fd00::2]", "fd00::2"),
            ("::ffff:10.0.0.1", "10.0.0.1"),
            ("10.0.0.1", "10.0.0.1"),
            ("G-0.db", "G-0.db"),
        ] {
            assert_eq!(canonical_host(input), want, "{input}");
        }
        // (a, b, same)
        for (a, b, same) in [
            ("fd00::2", "fd00::2", true),
            ("fd00::2", "[fd00::2]", true),
            ("FD00:0::2", "fd00::2", true),
            ("::ffff:10.0.0.1", "10.0.0.1", true),
            ("fd00::2", "fd00::3", false),
            ("10.0.0.1", "10.0.0.2", false),
            ("g-0.DB", "g-0.db", true),
            ("g-0", "10.0.0.1", false),
        ] {
            assert_eq!(same_host(a, b), same, "{a} {b}");
        }
    }

    #[test]
    fn node_address_table() {
        type Want<'a> = Result<&'a str, &'a str>;
        let cases: &[(&str, Want)] = &[
            ("10.0.0.2", Ok("10.0.0.2")),
            (" 10.0.0.2\n", Ok("10.0.0.2")),
            ("fd00::2", Ok("fd00::2")),
            ("[fd00::2]", Ok("fd00::2")),
            ("FD00:0:0::2", Ok("fd00::2")),
            ("::ffff:10.0.0.2", Ok("10.0.0.2")),
            ("galera-0.galera.db.svc", Ok("galera-0.galera.db.svc")),
            ("", Err("empty")),
            ("  ", Err("empty")),
            ("[10.0.0.2]", Err("only an IPv6")),
            ("0.0.0.0", Err("unspecified")),
            ("::", Err("unspecified")),
            ("10.0.0.2:4567", Err("no port")),
            ("[fd00::2]:4567", Err("no port")),
            ("fe80::1%eth0", Err("zone")),
            ("[fd00::2", Err("not an IP")),
            ("a b", Err("letters, digits")),
            ("a/b", Err("letters, digits")),
            ("a;b", Err("letters, digits")),
        ];
        for (input, want) in cases {
            let got = parse_node_address(input);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{input:?}"),
                (Err(needle), Err(e)) => assert!(e.contains(needle), "{input:?}: {e}"),
                _ => panic!("{input:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn host_address_choice_table() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        // (resolved in resolver order, chosen)
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["10.0.0.2", "fd00::2"], Some("10.0.0.2")),
            (&["fd00::2", "10.0.0.2"], Some("10.0.0.2")),
            (&["127.0.1.1", "fd00::2"], Some("fd00::2")),
            (&["fd00::2"], Some("fd00::2")),
            (&["fe80::1", "fd00::2"], Some("fd00::2")),
            (&["::1", "fe80::1", "2001:db8::5"], Some("2001:db8::5")),
            (&["127.0.1.1", "::1"], Some("127.0.1.1")),
            (&["::1", "127.0.1.1"], Some("127.0.1.1")),
            (&["::1"], Some("::1")),
            (&["::ffff:10.0.0.9", "fd00::2"], Some("10.0.0.9")),
            (&["10.0.0.2", "10.0.0.3"], Some("10.0.0.2")),
            (&["0.0.0.0", "::"], None),
            (&[], None),
        ];
        for (resolved, want) in cases {
            let resolved: Vec<IpAddr> = resolved.iter().map(|s| ip(s)).collect();
            assert_eq!(choose_host_address(&resolved), want.map(ip), "{resolved:?}");
        }
    }
}
