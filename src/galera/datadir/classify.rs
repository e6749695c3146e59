//! What the datadir holds (fresh, an interrupted SST, data), read from the files in it, and
//! wiping its content.

use std::path::Path;

/// Marks a complete, initialised datadir (rewritten after every join).
pub const INIT_OK: &str = "init.ok";
/// Written before `mariadb-install-db`, removed once `init.ok` exists.
pub const INIT_STARTED: &str = ".galera-sidecar-init-started";
/// Created by MariaDB's SST scripts during a transfer.
pub const SST_IN_PROGRESS: &str = "sst_in_progress";

/// What the datadir holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatadirKind {
    /// Empty, missing, or an initialisation we started and did not finish.
    Fresh,
    /// An SST was interrupted: the content is a partial copy of the donor.
    InterruptedSst,
    /// Data; `init_ok` says whether it is marked complete.
    HasData { init_ok: bool },
}

/// Entries that do not count as data (volume artefacts).
fn ignorable(name: &str) -> bool {
    name == "lost+found" || name == INIT_STARTED
}

/// Classify the datadir (an unreadable one is an error naming it, never "fresh").
pub fn classify(datadir: &Path) -> Result<DatadirKind, String> {
    let entries = match std::fs::read_dir(datadir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DatadirKind::Fresh),
        Err(e) => {
            return Err(format!(
                "datadir {} cannot be read ({e}); fix its permissions (the entrypoint runs as root, mariadbd as mysql)",
                datadir.display()
            ))
        }
        Ok(e) => e,
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    if has(SST_IN_PROGRESS) {
        return Ok(DatadirKind::InterruptedSst);
    }
    if has(INIT_STARTED) && !has(INIT_OK) {
        return Ok(DatadirKind::Fresh);
    }
    if names.iter().all(|n| ignorable(n)) {
        return Ok(DatadirKind::Fresh);
    }
    Ok(DatadirKind::HasData {
        init_ok: has(INIT_OK),
    })
}

/// Remove the datadir's content (keeping the directory and `lost+found`).
pub fn wipe(datadir: &Path) -> std::io::Result<()> {
    if !datadir.exists() {
        return Ok(());
    }
    for e in std::fs::read_dir(datadir)? {
        let e = e?;
        if e.file_name() == "lost+found" {
            continue;
        }
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let d = tempfile::tempdir().expect("tempdir");
        let dd = d.path().join("data");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "missing");
        std::fs::create_dir(&dd).expect("mkdir");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "empty");
        std::fs::create_dir(dd.join("lost+found")).expect("mkdir");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "lost+found only");
        std::fs::write(dd.join(INIT_STARTED), "").expect("w");
        std::fs::write(dd.join("ibdata1"), "x").expect("w");
        assert_eq!(classify(&dd), Ok(DatadirKind::Fresh), "interrupted init");
        std::fs::write(dd.join(INIT_OK), "").expect("w");
        assert_eq!(classify(&dd), Ok(DatadirKind::HasData { init_ok: true }));
        std::fs::remove_file(dd.join(INIT_STARTED)).expect("rm");
        std::fs::remove_file(dd.join(INIT_OK)).expect("rm");
        assert_eq!(
            classify(&dd),
            Ok(DatadirKind::HasData { init_ok: false }),
            "data without init.ok"
        );
        std::fs::write(dd.join(SST_IN_PROGRESS), "").expect("w");
        assert_eq!(classify(&dd), Ok(DatadirKind::InterruptedSst));
    }

    #[test]
    fn wipe_keeps_lost_and_found() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("lost+found")).expect("mkdir");
        std::fs::create_dir(d.path().join("mysql")).expect("mkdir");
        std::fs::write(d.path().join("mysql/user.frm"), "x").expect("w");
        std::fs::write(d.path().join("ibdata1"), "x").expect("w");
        wipe(d.path()).expect("wipe");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("lost+found")]);
    }
}
