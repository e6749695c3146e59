//! How to reach the local (or a given) MySQL server, and the check of `--extra-port`.

use std::path::PathBuf;

use clap::Args;

use super::ConfigError;

/// How to reach the local (or a given) MySQL server.
#[derive(Debug, Clone, Args)]
pub struct MysqlOpts {
    /// MySQL unix socket [default: the socket of --defaults-file, else /run/mysqld/mysqld.sock]
    #[arg(long, env = "GALERA_MYSQL_SOCKET")]
    pub mysql_socket: Option<PathBuf>,
    /// MySQL host (TCP) instead of the socket
    #[arg(long, env = "GALERA_MYSQL_HOST")]
    pub mysql_host: Option<String>,
    /// MySQL port (TCP)
    #[arg(long, env = "GALERA_MYSQL_PORT", default_value_t = 3306)]
    pub mysql_port: u16,
    /// The local server's reserved port (MariaDB's extra_port, with its own
    /// extra_max_connections): the probes and the entrypoint's status queries connect there
    /// over TCP as the monitor user, so clients filling max_connections cannot lock them out.
    /// 0: none (the socket) [default: extra_port of --defaults-file, else none]
    #[arg(long, env = "GALERA_EXTRA_PORT")]
    pub extra_port: Option<u16>,
    /// The my.cnf given to mariadbd (its socket, port, datadir and pid file are read from it)
    #[arg(long, env = "GALERA_DEFAULTS_FILE")]
    pub defaults_file: Option<PathBuf>,
}

/// `--extra-port` must agree with the server (pure): a port given explicitly that differs from
/// the non-zero `extra_port` of the defaults file (where mariadbd takes it from) would point
/// the probes where nothing listens; and it cannot be the SQL port itself.
pub fn validate_extra_port(
    o: &MysqlOpts,
    cnf: Option<&crate::mycnf::MyCnf>,
) -> Result<(), ConfigError> {
    let Some(p) = o.extra_port.filter(|p| *p != 0) else {
        return Ok(());
    };
    let file = o
        .defaults_file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    if let Some(q) = cnf
        .and_then(|c| c.extra_port())
        .filter(|q| *q != 0 && *q != p)
    {
        return Err(ConfigError::new(
            "--extra-port",
            format!(
                "{p}, but {file} sets extra_port = {q}, where mariadbd listens; unset \
                 --extra-port / GALERA_EXTRA_PORT to follow the my.cnf, or change both"
            ),
        ));
    }
    let sql_port = match (&o.mysql_host, cnf.and_then(|c| c.port())) {
        (Some(_), _) | (None, None) => o.mysql_port,
        (None, Some(port)) => port,
    };
    if p == sql_port {
        return Err(ConfigError::new(
            "--extra-port",
            format!(
                "{p} is the SQL port; the reserved port is another one (MariaDB's extra_port), \
                 e.g. {}",
                p.saturating_add(1)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_port_table() {
        use crate::mycnf::MyCnf;
        let o = |extra: Option<u16>, host: Option<&str>| MysqlOpts {
            mysql_socket: None,
            mysql_host: host.map(String::from),
            mysql_port: 3306,
            extra_port: extra,
            defaults_file: Some("/etc/my.cnf".into()),
        };
        let with = MyCnf::parse("[mysqld]\nport=33306\nextra_port=33307\n");
        let without = MyCnf::parse("[mysqld]\nport=33306\n");
        // (flag, --mysql-host, my.cnf, ok?)
        let cases = [
            (None, None, Some(&with), true),
            (Some(0), None, Some(&with), true),
            (Some(33307), None, Some(&with), true),
            (Some(33308), None, Some(&with), false),
            (Some(33308), None, Some(&without), true),
            (Some(33306), None, Some(&without), false),
            (Some(3306), None, None, false),
            (Some(3306), None, Some(&without), true),
            (Some(3306), Some("h"), Some(&without), false),
        ];
        for (flag, host, cnf, ok) in cases {
            let r = validate_extra_port(&o(flag, host), cnf);
            assert_eq!(r.is_ok(), ok, "{flag:?} {host:?} {cnf:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.option, "--extra-port");
            }
        }
    }
}
