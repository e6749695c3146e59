//! The users (pure): the SQL that creates them at initialisation ([`Users`], [`UsersSql`]),
//! and the statements that re-apply the monitor user from its Secret ([`SecretSql`]).

/// The SQL that creates the users (contains secrets: only ever written to a child's stdin).
pub struct UsersSql(pub(super) String);

impl std::fmt::Debug for UsersSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsersSql(<redacted>)")
    }
}

/// Quote a string as an SQL literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Statements that hold secrets (only ever sent over the SQL protocol, never logged).
pub struct SecretSql(Vec<String>);

impl std::fmt::Debug for SecretSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSql({} statements, <redacted>)", self.0.len())
    }
}

impl SecretSql {
    pub fn statements(&self) -> &[String] {
        &self.0
    }
}

/// Re-apply the monitor user from its Secret (pure): the two hosts [`Users::sql`] creates it
/// for, created if missing (a renamed user) and given the Secret's password. USAGE only, as
/// at initialisation.
pub fn monitor_user_statements(user: &str, password: &str) -> SecretSql {
    let (u, pw) = (lit(user), lit(password));
    SecretSql(
        ["'%'", "'localhost'"]
            .iter()
            .flat_map(|host| {
                [
                    format!("CREATE USER IF NOT EXISTS {u}@{host} IDENTIFIED BY {pw}"),
                    format!("ALTER USER {u}@{host} IDENTIFIED BY {pw}"),
                ]
            })
            .collect(),
    )
}

/// The passwords and names of the users to create.
#[derive(Debug, Clone, Default)]
pub struct Users {
    pub root_password: Option<String>,
    pub monitor: Option<(String, String)>,
    pub sst: Option<(String, String)>,
}

impl Users {
    /// From `GALERA_*` env (or `*_FILE`).
    pub fn from_env() -> Result<Users, crate::cli::ConfigError> {
        use crate::secrets::read;
        let pair = |u: &'static str,
                    p: &'static str|
         -> Result<Option<(String, String)>, crate::cli::ConfigError> {
            match (read(u)?, read(p)?) {
                (Some(u), Some(p)) => Ok(Some((u, p))),
                (None, None) => Ok(None),
                (Some(_), None) => Err(crate::cli::ConfigError::new(
                    p,
                    "is required when the user is set",
                )),
                (None, Some(_)) => Err(crate::cli::ConfigError::new(
                    u,
                    "is required when the password is set",
                )),
            }
        };
        Ok(Users {
            root_password: read("GALERA_ROOT_PASSWORD")?,
            monitor: pair("GALERA_MONITOR_USER", "GALERA_MONITOR_PASSWORD")?,
            sst: pair("GALERA_SST_USER", "GALERA_SST_PASSWORD")?,
        })
    }

    /// The SQL for `mariadbd --bootstrap` (pure).
    pub fn sql(&self) -> UsersSql {
        let mut s = String::from("FLUSH PRIVILEGES;\n");
        s.push_str("DROP USER IF EXISTS ''@'localhost';\n");
        if let Some(pw) = &self.root_password {
            s.push_str(&format!(
                "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY {pw};\n\
                 GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
                 ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD({pw});\n",
                pw = lit(pw)
            ));
        }
        if let Some((u, pw)) = &self.monitor {
            // SHOW GLOBAL STATUS needs no privilege: USAGE only.
            s.push_str(&format!(
                "CREATE USER IF NOT EXISTS {u}@'%' IDENTIFIED BY {pw};\n\
                 CREATE USER IF NOT EXISTS {u}@'localhost' IDENTIFIED BY {pw};\n\
                 GRANT USAGE ON *.* TO {u}@'%';\nGRANT USAGE ON *.* TO {u}@'localhost';\n",
                u = lit(u),
                pw = lit(pw)
            ));
        }
        if let Some((u, pw)) = &self.sst {
            s.push_str(&format!(
                "CREATE USER IF NOT EXISTS {u}@'localhost' IDENTIFIED BY {pw};\n\
                 GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO {u}@'localhost';\n",
                u = lit(u),
                pw = lit(pw)
            ));
        }
        s.push_str(
            "CREATE USER IF NOT EXISTS 'mysql'@'localhost' IDENTIFIED VIA unix_socket;\n\
             GRANT ALL PRIVILEGES ON *.* TO 'mysql'@'localhost' WITH GRANT OPTION;\n",
        );
        UsersSql(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_sql_quotes_and_grants() {
        let u = Users {
            root_password: Some("r'oo\\t".into()),
            monitor: Some(("mon".into(), "p".into())),
            sst: Some(("sst".into(), "s".into())),
        };
        let UsersSql(sql) = u.sql();
        assert!(sql.starts_with("FLUSH PRIVILEGES;"));
        assert!(sql.contains("IDENTIFIED BY 'r''oo\\\\t'"), "{sql}");
        assert!(sql.contains("GRANT USAGE ON *.* TO 'mon'@'%'"));
        assert!(!sql.contains("GRANT ALL PRIVILEGES ON *.* TO 'mon'"));
        assert!(sql.contains("BINLOG MONITOR ON *.* TO 'sst'@'localhost'"));
        assert!(format!("{:?}", u.sql()).contains("redacted"));
    }

    #[test]
    fn monitor_user_statements_cover_both_hosts() {
        let sql = monitor_user_statements("mon", "n'ew");
        assert_eq!(
            sql.statements(),
            [
                "CREATE USER IF NOT EXISTS 'mon'@'%' IDENTIFIED BY 'n''ew'",
                "ALTER USER 'mon'@'%' IDENTIFIED BY 'n''ew'",
                "CREATE USER IF NOT EXISTS 'mon'@'localhost' IDENTIFIED BY 'n''ew'",
                "ALTER USER 'mon'@'localhost' IDENTIFIED BY 'n''ew'",
            ]
        );
        // The hosts are the ones the datadir's initialisation creates the user for.
        let UsersSql(init) = Users {
            monitor: Some(("mon".into(), "p".into())),
            ..Default::default()
        }
        .sql();
        for host in ["'mon'@'%'", "'mon'@'localhost'"] {
            assert!(
                init.contains(&format!("CREATE USER IF NOT EXISTS {host}")),
                "{init}"
            );
        }
        assert!(!format!("{sql:?}").contains("ew"));
    }
}
