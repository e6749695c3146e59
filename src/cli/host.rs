//! Checks against this host: a program option names an executable, and the fix for a listen
//! address that cannot be bound.

use std::path::PathBuf;

use super::ConfigError;

/// Where `program` would be run from: itself when it names a path (contains `/`), else the
/// first executable file of that name on `PATH`.
pub fn find_program(program: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.as_os_str().is_empty() {
        return None;
    }
    if program.to_string_lossy().contains('/') {
        return executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
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
