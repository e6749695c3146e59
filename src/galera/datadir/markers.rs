//! Our marker files in the datadir (`init.ok`, the recovery record it joined, the forks its
//! history went through), written atomically and owned by mariadbd's user.

use std::path::Path;

use super::classify::INIT_OK;

/// Written once the node is Synced in a cluster recovered under a `P/recovery` record: the
/// record's id. Proof that whatever this datadir holds beyond the recorded winner's position
/// came from the recovered cluster (the only Primary Component of that history), so a restart
/// before STEADY is not "ahead of the winner". An SST copies it with the data it describes;
/// `resync` wipes it with the data.
pub const RECOVERY_JOINED: &str = "galera-sidecar.recovery";

/// The recovery record this datadir joined ([`RECOVERY_JOINED`]), if any.
pub fn recovery_joined(datadir: &Path) -> Option<String> {
    let s = std::fs::read_to_string(datadir.join(RECOVERY_JOINED)).ok()?;
    let id = s.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Record that this datadir joined the cluster recovered under record `id`.
pub fn write_recovery_joined(
    datadir: &Path,
    id: &str,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    write_mark(datadir, RECOVERY_JOINED, id, owner)
}

/// The forced recoveries this datadir's history went through (one JSON array): which branch
/// of its uuid it holds (see `branches`). Wiped with the data by a resync. Named `*.log` so
/// that an SST keeps it: a mariabackup SST deletes the joiner's top-level files except a few
/// patterns (`*.log` among them), an rsync SST keeps every top-level file; the entrypoint
/// writes the cluster's forks into it before the transfer.
pub const FORKS: &str = "galera-sidecar.forks.log";

/// The forks this datadir lists ([`FORKS`]); none when the file is absent. An unreadable or
/// corrupt file is an error naming the file: without it this datadir's branch is unknown.
pub fn forks(datadir: &Path) -> Result<Vec<crate::etcd::snapshot::Fork>, String> {
    let p = datadir.join(FORKS);
    match std::fs::read_to_string(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(t) => serde_json::from_str(t.trim()).map_err(|e| {
            format!(
                "{} is not a list of forks ({e}): it records which branch of the cluster's \
                 history this datadir holds after a forced recovery. Restore it from a copy, or \
                 — only if this datadir never went through a forced recovery — delete it",
                p.display()
            )
        }),
    }
}

/// Record the forks this datadir's history went through.
pub fn write_forks(
    datadir: &Path,
    forks: &[crate::etcd::snapshot::Fork],
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let line = serde_json::to_string(forks).map_err(std::io::Error::other)?;
    write_mark(datadir, FORKS, &line, owner)
}

/// Write `init.ok` (with the time, for people).
pub fn write_init_ok(datadir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    write_mark(
        datadir,
        INIT_OK,
        &crate::etcd::unix_now().to_string(),
        owner,
    )
}

/// One of our marker files in the datadir: `line`, written atomically, mode 0640, owned by
/// mariadbd's user (`owner`) so that it can be copied by an SST and wiped with the data.
fn write_mark(
    datadir: &Path,
    name: &str,
    line: &str,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let p = datadir.join(name);
    crate::files::write_atomic(&p, format!("{line}\n").as_bytes(), 0o640)?;
    if let Some((u, g)) = owner {
        let _ = std::os::unix::fs::chown(&p, Some(u), Some(g));
    }
    Ok(())
}

/// The uid and gid of the user mariadbd runs as, when we run as root.
pub fn user_ids(user: &str) -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}
