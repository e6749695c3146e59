//! Where a server listens ([`Endpoint`], the local one's reserved port included), where a
//! login goes and falls back to, and who logs in ([`Credentials`]).

use std::path::PathBuf;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Socket(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// The local server's reserved TCP port (MariaDB's `extra_port`). A login without a user
    /// (root by unix_socket authentication, which works only over the socket) goes to
    /// `normal` instead, and so does any login when nothing listens on the reserved port.
    Reserved {
        host: String,
        port: u16,
        normal: Box<Endpoint>,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(p) => write!(f, "socket {}", p.display()),
            Endpoint::Tcp { host, port } => {
                write!(f, "{}", crate::net_addr::host_port(host, *port))
            }
            Endpoint::Reserved { host, port, .. } => {
                write!(
                    f,
                    "{} (extra_port)",
                    crate::net_addr::host_port(host, *port)
                )
            }
        }
    }
}

impl Endpoint {
    /// Where a login with `creds` goes (pure): the reserved port for a named user, the normal
    /// endpoint for a login without a user.
    pub fn route(&self, creds: &Credentials) -> Endpoint {
        match self {
            Endpoint::Reserved { normal, .. } if creds.user.is_none() => normal.route(creds),
            Endpoint::Reserved { host, port, .. } => Endpoint::Tcp {
                host: host.clone(),
                port: *port,
            },
            other => other.clone(),
        }
    }

    /// The endpoint to try when [`Endpoint::route`] refused the connection: the normal one
    /// behind a reserved port (a reserved port nobody listens on must not make a live server
    /// look dead), else none.
    pub(super) fn fallback(&self, creds: &Credentials) -> Option<Endpoint> {
        match self {
            Endpoint::Reserved { normal, .. } if creds.user.is_some() => Some(normal.route(creds)),
            _ => None,
        }
    }
}

/// Who to log in as. No user: `root` over the socket (unix_socket authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Credentials {
    /// The monitor user from `GALERA_MONITOR_USER` / `GALERA_MONITOR_PASSWORD` (or `_FILE`).
    pub fn monitor_from_env() -> Result<Credentials, crate::cli::ConfigError> {
        Ok(Credentials {
            user: crate::secrets::read("GALERA_MONITOR_USER")?,
            password: crate::secrets::read("GALERA_MONITOR_PASSWORD")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_credentials() {
        let normal = Endpoint::Socket("/s.sock".into());
        let r = Endpoint::Reserved {
            host: "10.0.0.5".into(),
            port: 33307,
            normal: Box::new(normal.clone()),
        };
        let monitor = Credentials {
            user: Some("monitor".into()),
            password: Some("p".into()),
        };
        let nobody = Credentials::default();
        let tcp = Endpoint::Tcp {
            host: "10.0.0.5".into(),
            port: 33307,
        };
        assert_eq!(r.route(&monitor), tcp);
        // root by unix_socket works only over the socket.
        assert_eq!(r.route(&nobody), normal);
        assert_eq!(r.fallback(&monitor), Some(normal.clone()));
        assert_eq!(r.fallback(&nobody), None);
        assert_eq!(normal.route(&monitor), normal);
        assert_eq!(normal.fallback(&monitor), None);
        assert_eq!(r.to_string(), "10.0.0.5:33307 (extra_port)");
    }

    #[test]
    fn display_table() {
        let tcp = |h: &str| Endpoint::Tcp {
            host: h.into(),
            port: 3306,
        };
        let reserved = |h: &str| Endpoint::Reserved {
            host: h.into(),
            port: 33307,
            normal: Box::new(Endpoint::Socket("/s.sock".into())),
        };
        let cases = [
            (tcp("10.0.0.5"), "10.0.0.5:3306"),
            (tcp("fd00::2"), "[fd00::2]:3306"),
            (tcp("[fd00::2]"), "[fd00::2]:3306"),
            (tcp("g-0.db"), "g-0.db:3306"),
            (reserved("::1"), "[::1]:33307 (extra_port)"),
            (reserved("127.0.0.1"), "127.0.0.1:33307 (extra_port)"),
            (Endpoint::Socket("/s.sock".into()), "socket /s.sock"),
        ];
        for (ep, want) in cases {
            assert_eq!(ep.to_string(), want);
        }
    }
}
