//! Secrets from the environment: `GALERA_ROOT_PASSWORD`, `GALERA_MONITOR_USER`,
//! `GALERA_MONITOR_PASSWORD`, `GALERA_SST_USER`, `GALERA_SST_PASSWORD`, or the same names with
//! `_FILE` appended naming a file. Never from a flag, never on a child's command line.

use std::path::Path;

use crate::cli::ConfigError;

/// Every secret variable (and its `_FILE` twin): removed from the environment of every child,
/// so a password never shows in `/proc/<pid>/environ` of mariadbd, its SST scripts or helpers.
pub const SECRET_VARS: [&str; 5] = [
    "GALERA_ROOT_PASSWORD",
    "GALERA_MONITOR_USER",
    "GALERA_MONITOR_PASSWORD",
    "GALERA_SST_USER",
    "GALERA_SST_PASSWORD",
];

/// Remove the secret variables (and `*_FILE`) from a child's environment.
pub fn scrub_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for v in SECRET_VARS {
        cmd.env_remove(v);
        cmd.env_remove(format!("{v}_FILE"));
    }
    cmd
}

/// Read secret `NAME` from `NAME` or from the file named by `NAME_FILE` (a trailing newline is
/// dropped). Both set, an unreadable or empty file: a configuration error naming the variable.
pub fn read(name: &'static str) -> Result<Option<String>, ConfigError> {
    read_from(name, |k| std::env::var(k).ok())
}

/// [`read`] with an injectable environment, for tests.
pub fn read_from(
    name: &'static str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let direct = env(name);
    let file_var = format!("{name}_FILE");
    let file = env(&file_var);
    match (direct, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            name,
            format!("both {name} and {file_var} are set; set one"),
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let content = std::fs::read_to_string(Path::new(&path)).map_err(|e| {
                ConfigError::new(
                    name,
                    format!(
                        "{file_var}={path} cannot be read ({e}); mount the secret there, or \
                         unset {file_var}"
                    ),
                )
            })?;
            let v = content.strip_suffix('\n').unwrap_or(&content);
            let v = v.strip_suffix('\r').unwrap_or(v);
            if v.is_empty() {
                return Err(ConfigError::new(
                    name,
                    format!("{file_var}={path} is empty; put the secret in it (one line)"),
                ));
            }
            Ok(Some(v.to_string()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn direct_file_both_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").expect("write");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let p = f.display().to_string();
        assert_eq!(
            read_from("X", env(&[("X", "a".into())])).ok().flatten(),
            Some("a".into())
        );
        assert_eq!(
            read_from("X", env(&[("X_FILE", p.clone())])).ok().flatten(),
            Some("s3cret".into())
        );
        assert!(read_from("X", env(&[("X", "a".into()), ("X_FILE", p)])).is_err());
        assert_eq!(read_from("X", env(&[])).ok().flatten(), None);
        let e = read_from("X", env(&[("X_FILE", "/nonexistent/pw".into())])).expect_err("missing");
        assert!(e.to_string().contains("X_FILE"), "{e}");
        let e = read_from("X", env(&[("X_FILE", empty.display().to_string())])).expect_err("empty");
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
