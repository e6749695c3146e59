//! The wsrep provider options (pure): `pc.recovery=false` merged into the configured ones,
//! the listen addresses an IPv6 node needs ([`add_ipv6_addresses`]), and the configured ones
//! read from `mariadbd --verbose --help`.

/// Add `pc.recovery=false` to the configured provider options unless they set it: a
/// command-line option replaces the my.cnf value whole, so the configured ones are kept.
pub fn merge_provider_options(configured: Option<&str>) -> String {
    let configured = configured.unwrap_or("").trim().trim_matches('"').trim();
    match (
        configured.is_empty(),
        sets_option(configured, "pc.recovery"),
    ) {
        (true, _) => "pc.recovery=false".into(),
        (false, true) => configured.into(),
        (false, false) => format!("{};pc.recovery=false", configured.trim_end_matches(';')),
    }
}

/// Does the provider options string `options` (`k=v;k=v`) set `key`?
fn sets_option(options: &str, key: &str) -> bool {
    option_value(options, key).is_some()
}

/// The value of `key` in a provider-options string (`a=1; b = 2;`), trimmed; `Some("")` for a
/// key without `=`.
pub fn option_value<'a>(options: &'a str, key: &str) -> Option<&'a str> {
    options.split(';').find_map(|o| {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        (k.trim() == key).then(|| v.trim())
    })
}

/// Append `key=value` to a provider-options string, with a `;` when it is not empty.
pub fn append_option(options: &mut String, key_value: &str) {
    let trimmed = options.trim_end().trim_end_matches(';').len();
    options.truncate(trimmed);
    if !options.is_empty() {
        options.push(';');
    }
    options.push_str(key_value);
}

/// For an IPv6 node address (`node_address` bare or in brackets), add to the merged provider
/// options `options` what Galera does not derive for IPv6 by itself, each only when the
/// options do not set it; any other address leaves them as they are:
///
/// - `gmcast.listen_addr=tcp://[::]:<galera_port>`: Galera's default is `tcp://0.0.0.0`, which
///   listens on IPv4 only (gcomm's `GMCast` constructor), so an IPv6-only pod would refuse its
///   peers.
/// - `ist.recv_addr=[addr]:<galera_port + 1>` (Galera's own port rule: the replication port
///   plus one): Galera derives it from the node address, which is only correct when the node
///   address is written in brackets (a bare `fd00::2` becomes `tcp://fd00::2:4568`, one
///   host with no port; libgalera 26.4 keeps a bare IPv6 node address whole as `base_host`).
///   `--wsrep-node-address` is bracketed ([`super::MysqldArgs`]) so the derived value would be
///   right; setting it explicitly makes the IST address independent of that derivation.
///
/// The SST receive address needs nothing: MariaDB (since 10.6.5, MDEV-26171; `wsrep_sst.cc`,
/// `wsrep_sst_prepare`) parses `wsrep_node_address` in either form and hands the SST script
/// `[addr]` for IPv6, and the scripts (`wsrep_sst_common`) take a bracketed address as IPv6
/// (socat gets `pf=ip6`). A `wsrep_sst_receive_address` in the my.cnf is used as it is.
pub fn add_ipv6_addresses(options: &str, node_address: &str, galera_port: u16) -> String {
    if !crate::net_addr::is_ipv6(node_address) {
        return options.to_string();
    }
    let host = crate::net_addr::bracket(crate::net_addr::unbracket(node_address));
    let mut out = options.to_string();
    if !sets_option(options, "gmcast.listen_addr") {
        append_option(
            &mut out,
            &format!("gmcast.listen_addr=tcp://[::]:{galera_port}"),
        );
    }
    if !sets_option(options, "ist.recv_addr") {
        let ist = match galera_port.checked_add(1) {
            Some(ist) => format!("ist.recv_addr={host}:{ist}"),
            None => format!("ist.recv_addr={host}"),
        };
        append_option(&mut out, &ist);
    }
    out
}

/// Parse `wsrep-provider-options  <value>` out of `mariadbd --verbose --help`.
pub fn provider_options_from_help(help: &str) -> Option<String> {
    help.lines().find_map(|l| {
        let rest = l.strip_prefix("wsrep-provider-options")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let v = rest.trim();
        (!v.is_empty() && v != "(No default value)").then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_options_merge_table() {
        let cases = [
            (None, "pc.recovery=false"),
            (Some(""), "pc.recovery=false"),
            (Some("gcache.size=16M"), "gcache.size=16M;pc.recovery=false"),
            (
                Some("\"gcache.size=16M;\""),
                "gcache.size=16M;pc.recovery=false",
            ),
            (
                Some("gcache.size=16M; pc.recovery = true"),
                "gcache.size=16M; pc.recovery = true",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(merge_provider_options(input), want, "{input:?}");
        }
    }

    #[test]
    fn provider_options_from_verbose_help() {
        let help = "wsrep-provider  /usr/lib/galera/libgalera_smm.so\n\
                    wsrep-provider-options                                       gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567\n\
                    wsrep-recover  FALSE\n";
        assert_eq!(
            provider_options_from_help(help).as_deref(),
            Some("gcache.size=16M;gmcast.listen_addr=tcp://127.0.0.2:4567")
        );
        assert_eq!(
            provider_options_from_help("wsrep-provider-options (No default value)\n"),
            None
        );
    }

    #[test]
    fn ipv6_addresses_table() {
        // (merged options, node address, galera port, want)
        let cases = [
            ("pc.recovery=false", "10.0.0.2", 4567, "pc.recovery=false"),
            ("pc.recovery=false", "g-0.galera.db", 4567, "pc.recovery=false"),
            (
                "pc.recovery=false",
                "fd00::2",
                4567,
                "pc.recovery=false;gmcast.listen_addr=tcp://[::]:4567;ist.recv_addr=[fd00::2]:4568",
            ),
            (
                "pc.recovery=false",
                "[fd00::2]",
                5000,
                "pc.recovery=false;gmcast.listen_addr=tcp://[::]:5000;ist.recv_addr=[fd00::2]:5001",
            ),
            (
                "gmcast.listen_addr=tcp://[fd00::2]:4567;pc.recovery=false",
                "fd00::2",
                4567,
                "gmcast.listen_addr=tcp://[fd00::2]:4567;pc.recovery=false;ist.recv_addr=[fd00::2]:4568",
            ),
            (
                "ist.recv_addr = [fd00::9]:4444;pc.recovery=false",
                "fd00::2",
                4567,
                "ist.recv_addr = [fd00::9]:4444;pc.recovery=false;gmcast.listen_addr=tcp://[::]:4567",
            ),
            (
                "gmcast.listen_addr=tcp://[::]:4567;ist.recv_addr=[fd00::2]:4568;pc.recovery=false",
                "fd00::2",
                4567,
                "gmcast.listen_addr=tcp://[::]:4567;ist.recv_addr=[fd00::2]:4568;pc.recovery=false",
            ),
            (
                "",
                "fd00::2",
                65535,
                "gmcast.listen_addr=tcp://[::]:65535;ist.recv_addr=[fd00::2]",
            ),
        ];
        for (options, node, port, want) in cases {
            assert_eq!(
                add_ipv6_addresses(options, node, port),
                want,
                "{options:?} {node}"
            );
        }
        // Composed with the merge, as the entrypoint does.
        assert_eq!(
            add_ipv6_addresses(&merge_provider_options(Some("\"gcache.size=16M;\"")), "fd00::2", 4567),
            "gcache.size=16M;pc.recovery=false;gmcast.listen_addr=tcp://[::]:4567;ist.recv_addr=[fd00::2]:4568"
        );
    }
}
