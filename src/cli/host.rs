//! Checks against this host: a program option names an executable, and the fix for a listen
//! address that cannot be bound.

use std::path::PathBuf;

use super::ConfigError;

/// Where `program` would be run from: itself when it names a path (contains `/`) and is an
/// executable file, else the first executable of that name on `PATH` (the `which` crate).
pub fn find_program(program: &std::path::Path) -> Option<PathBuf> {
    if program.as_os_str().is_empty() {
        return None;
    }
    which::which(program).ok()
}

/// A program option must name an executable: checked at start, so a typo or a missing
/// package is one clear line (exit 2) instead of a failure in the middle of the sequence.
pub fn validate_program(
    option: &'static str,
    env: &str,
    program: &std::path::Path,
    what: &str,
) -> Result<(), ConfigError> {
    if find_program(program).is_some() {
        return Ok(());
    }
    Err(ConfigError::new(
        option,
        format!(
            "{} is not an executable file{}; install {what} or set {option} / {env} to its path",
            program.display(),
            if program.to_string_lossy().contains('/') {
                ""
            } else {
                " on PATH"
            }
        ),
    ))
}

/// The fix to print after a failed bind of a listen address set by `option`.
pub fn listen_fix(e: &std::io::Error, option: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another process already listens there: stop it, or choose another address with {option}"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("no interface has that address: set {option} to an address of this host")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "a port below 1024 needs privileges (CAP_NET_BIND_SERVICE): choose another port with {option}"
        ),
        _ => format!("check {option}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[test]
    fn find_program_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let cases: [(&Path, bool); 6] = [
            (Path::new("sh"), true),
            (Path::new("/bin/sh"), true),
            (Path::new("no-such-program-anywhere"), false),
            (Path::new("/no/such/path/sh"), false),
            (Path::new(""), false),
            (&plain, false),
        ];
        for (program, found) in cases {
            assert_eq!(find_program(program).is_some(), found, "{program:?}");
        }
    }
}
