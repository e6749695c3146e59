//! The local server's endpoint (pure): `--mysql-socket` / `--mysql-host`, the defaults
//! file's socket, and the reserved port (`extra_port`) with its host.

use std::path::PathBuf;

use super::endpoint::Endpoint;

/// The default socket when neither a flag nor the defaults file names one.
pub const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// The local server's endpoint (reads `--defaults-file`; see [`resolve_local`]).
pub fn local_endpoint(o: &crate::cli::MysqlOpts) -> Endpoint {
    let cnf = o
        .defaults_file
        .as_ref()
        .and_then(|f| crate::mycnf::MyCnf::read(f).ok());
    resolve_local(o, cnf.as_ref())
}

/// The reserved port: `--extra-port` when given (0: none), else the `extra_port` of the
/// defaults file; none when the server does not listen on TCP at all (`skip_networking`).
/// Pure.
pub fn reserved_port(o: &crate::cli::MysqlOpts, cnf: Option<&crate::mycnf::MyCnf>) -> Option<u16> {
    let skip_networking = cnf
        .and_then(|c| c.get("skip_networking"))
        .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "off" | "false"));
    let port = match o.extra_port {
        Some(p) => p,
        None => cnf.and_then(|c| c.extra_port()).unwrap_or(0),
    };
    (port != 0 && !skip_networking).then_some(port)
}

/// The host the reserved port is reached at: `--mysql-host`, else the defaults file's first
/// `bind-address` unless it is a wildcard, else `127.0.0.1`. Pure.
pub fn reserved_host(o: &crate::cli::MysqlOpts, cnf: Option<&crate::mycnf::MyCnf>) -> String {
    if let Some(h) = &o.mysql_host {
        return h.clone();
    }
    cnf.and_then(|c| c.bind_address())
        .and_then(|b| b.split(',').map(str::trim).find(|a| !a.is_empty()))
        .filter(|a| !matches!(*a, "0.0.0.0" | "::" | "*" | "[::]"))
        .map(|a| crate::net_addr::unbracket(a).to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// The local server's endpoint (pure). The normal one is `--mysql-socket`, else
/// `--mysql-host`/`--mysql-port`, else the socket of the defaults file, else
/// [`DEFAULT_SOCKET`]; with a reserved port ([`reserved_port`]) logins with a user go there
/// instead ([`Endpoint::Reserved`]).
pub fn resolve_local(o: &crate::cli::MysqlOpts, cnf: Option<&crate::mycnf::MyCnf>) -> Endpoint {
    let normal = if let Some(s) = &o.mysql_socket {
        Endpoint::Socket(s.clone())
    } else if let Some(h) = &o.mysql_host {
        Endpoint::Tcp {
            host: h.clone(),
            port: o.mysql_port,
        }
    } else {
        Endpoint::Socket(PathBuf::from(
            cnf.and_then(|c| c.socket()).unwrap_or(DEFAULT_SOCKET),
        ))
    };
    match reserved_port(o, cnf) {
        Some(port) => Endpoint::Reserved {
            host: reserved_host(o, cnf),
            port,
            normal: Box::new(normal),
        },
        None => normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(socket: Option<&str>, host: Option<&str>, extra: Option<u16>) -> crate::cli::MysqlOpts {
        crate::cli::MysqlOpts {
            mysql_socket: socket.map(PathBuf::from),
            mysql_host: host.map(String::from),
            mysql_port: 3306,
            extra_port: extra,
            defaults_file: None,
        }
    }

    #[test]
    fn local_endpoint_table() {
        use crate::mycnf::MyCnf;
        let sock = |p: &str| Endpoint::Socket(p.into());
        let reserved = |host: &str, port: u16, normal: Endpoint| Endpoint::Reserved {
            host: host.into(),
            port,
            normal: Box::new(normal),
        };
        let plain = MyCnf::parse("[mysqld]\nsocket=/s.sock\nbind-address=0.0.0.0\n");
        let extra =
            MyCnf::parse("[mysqld]\nsocket=/s.sock\nbind-address=10.0.0.5,::1\nextra_port=33307\n");
        let extra_any = MyCnf::parse("[mysqld]\nbind-address=::\nextra-port=33307\n");
        let no_net = MyCnf::parse("[mysqld]\nextra_port=33307\nskip-networking\n");
        let no_net_off = MyCnf::parse("[mysqld]\nextra_port=33307\nskip-networking=OFF\n");
        let cases = [
            // Without a reserved port: as before.
            (opts(None, None, None), None, sock(DEFAULT_SOCKET)),
            (opts(None, None, None), Some(&plain), sock("/s.sock")),
            (
                opts(Some("/a.sock"), Some("h"), None),
                Some(&plain),
                sock("/a.sock"),
            ),
            (
                opts(None, Some("h"), None),
                Some(&plain),
                Endpoint::Tcp {
                    host: "h".into(),
                    port: 3306,
                },
            ),
            // extra_port of the my.cnf, at its first bind address.
            (
                opts(None, None, None),
                Some(&extra),
                reserved("10.0.0.5", 33307, sock("/s.sock")),
            ),
            // A wildcard bind address: loopback. The socket flag stays the normal endpoint.
            (
                opts(Some("/a.sock"), None, None),
                Some(&extra_any),
                reserved("127.0.0.1", 33307, sock("/a.sock")),
            ),
            // The flag: 0 turns it off, a port turns it on, --mysql-host is its host.
            (opts(None, None, Some(0)), Some(&extra), sock("/s.sock")),
            (
                opts(None, None, Some(4000)),
                Some(&plain),
                reserved("127.0.0.1", 4000, sock("/s.sock")),
            ),
            (
                opts(None, Some("h"), Some(4000)),
                None,
                reserved(
                    "h",
                    4000,
                    Endpoint::Tcp {
                        host: "h".into(),
                        port: 3306,
                    },
                ),
            ),
            // A server without TCP has no reserved port.
            (opts(None, None, None), Some(&no_net), sock(DEFAULT_SOCKET)),
            (
                opts(None, None, None),
                Some(&no_net_off),
                reserved("127.0.0.1", 33307, sock(DEFAULT_SOCKET)),
            ),
        ];
        for (o, cnf, want) in cases {
            assert_eq!(resolve_local(&o, cnf), want, "{o:?} {cnf:?}");
        }
    }
}
