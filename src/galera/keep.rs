//! `resync`: what happens to a refused node's diverged datadir. Kept aside by default (moved,
//! by one rename, to `<kept dir>/<uuid>_<seqno>_<UTC time>` on the same filesystem), deleted
//! only on an explicit `resync NAME --discard` (docs/operations.md §6, docs/design.md §3.1).
//!
//! The kept copy cannot live inside the datadir: both SST methods delete what they do not know
//! there (rsync `--delete`, mariabackup's cleanup). It lives beside it, on the same volume:
//! the kept dir defaults to `galera-kept` next to the datadir, and the volume is mounted one
//! level above the datadir (k8s/statefulset.yaml). [`migrate_volume_layout`] moves a datadir
//! of the old layout (the volume mounted at the datadir itself) into the subdirectory.
//!
//! The decisions are pure functions of measured numbers ([`keep_problem`], [`kept_name`],
//! [`kept_root`], [`discarded_from`], [`migration_entries`]); the I/O around them is thin.

use std::path::{Component, Path, PathBuf};

use crate::position::Position;

/// The kept dir's name beside the datadir when `--kept-dir` is not set.
pub const DEFAULT_KEPT_DIR: &str = "galera-kept";
/// Written into a kept copy: the record of the resync that moved it there (JSON).
pub const KEPT_RECORD: &str = "galera-sidecar.kept.json";
/// Beside the datadir while an old-layout datadir is being moved into it.
pub const MIGRATING: &str = ".galera-sidecar-migrating";

/// The directory kept copies go to: `--kept-dir`, else `galera-kept` beside the datadir
/// (pure). Refused: a relative path, or one inside the datadir (an SST deletes it there).
pub fn kept_root(datadir: &Path, configured: Option<&Path>) -> Result<PathBuf, String> {
    let root = match configured {
        Some(p) => p.to_path_buf(),
        None => match datadir.parent() {
            Some(parent) => parent.join(DEFAULT_KEPT_DIR),
            None => {
                return Err(format!(
                    "the datadir {} has no parent directory to keep a copy beside it; set \
                     --kept-dir / GALERA_KEPT_DIR",
                    datadir.display()
                ))
            }
        },
    };
    if configured.is_some() && !root.is_absolute() {
        return Err(format!(
            "{} is not an absolute path; set --kept-dir / GALERA_KEPT_DIR to a directory on the \
             datadir's volume",
            root.display()
        ));
    }
    if within(&root, datadir) {
        return Err(format!(
            "{} is inside the datadir {}: an SST deletes whatever it does not know there; set \
             --kept-dir / GALERA_KEPT_DIR to a directory beside the datadir, on the same volume",
            root.display(),
            datadir.display()
        ));
    }
    Ok(root)
}

/// Is `p` equal to or below `dir` (lexically, `.`/`..` resolved)?
fn within(p: &Path, dir: &Path) -> bool {
    fn norm(p: &Path) -> Vec<String> {
        let mut v: Vec<String> = vec![];
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    v.pop();
                }
                Component::Normal(s) => v.push(s.to_string_lossy().into_owned()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        v
    }
    let (p, d) = (norm(p), norm(dir));
    p.len() >= d.len() && p[..d.len()] == d[..]
}

/// The kept copy's directory name: `<uuid>_<seqno>_<UTC time>` (pure), e.g.
/// `d73a50d3-…_42_20261207T153717Z`: what it held and when, sortable by time per history.
pub fn kept_name(position: &Position, now: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64);
    // 2026-12-07T15:37:17Z -> 20261207T153717Z
    let time: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    match position {
        Position::Known { uuid, seqno } => format!("{uuid}_{seqno}_{time}"),
        Position::Unknown => format!("unknown_{time}"),
        Position::Fresh => format!("fresh_{time}"),
    }
}

/// What the entrypoint measured before keeping a datadir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// `st_dev` of the datadir and of the kept dir (or its nearest existing ancestor).
    pub datadir_dev: u64,
    pub kept_dev: u64,
    /// Bytes the datadir occupies on disk.
    pub datadir_bytes: u64,
    /// Bytes free for an unprivileged user on that filesystem.
    pub free_bytes: u64,
    /// The target directory already exists.
    pub target_exists: bool,
}

/// Why the datadir cannot be kept, or `None` when it can (pure). Keeping is a rename on the
/// same filesystem (O(1), no copy); the SST that follows writes a full new datadir beside the
/// kept one, so the free space must hold at least the datadir's size again.
pub fn keep_problem(m: &Measured, name: &str, datadir: &Path, kept: &Path) -> Option<String> {
    let fix = format!(
        "nothing was moved; or `galera-sidecar resync {name} --discard` to delete the datadir \
         instead (docs/operations.md §6)"
    );
    if m.datadir_dev != m.kept_dev {
        return Some(format!(
            "cannot keep the datadir: the kept dir {} is on another filesystem than the datadir \
             {} (moving would be a full copy): mount the volume one level above the datadir \
             (k8s/statefulset.yaml) or set --kept-dir / GALERA_KEPT_DIR to a directory on the \
             datadir's volume; {fix}",
            kept.display(),
            datadir.display()
        ));
    }
    if m.target_exists {
        return Some(format!(
            "cannot keep the datadir: {} already exists; {fix}",
            kept.display()
        ));
    }
    if m.free_bytes < m.datadir_bytes {
        return Some(format!(
            "cannot keep the datadir: {} free on its filesystem, but the SST that follows needs \
             about {} (the datadir's size) beside the kept copy: free space (delete old kept \
             copies, docs/operations.md §6) or grow the volume; {fix}",
            bytes(m.free_bytes),
            bytes(m.datadir_bytes)
        ));
    }
    None
}

/// A byte count for people: `512 B`, `3.2 MiB`, `10.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The first seqno of the discarded datadir's history that the running cluster does not hold
/// (pure): 0 for another history (all of it), the cluster's seqno + 1 for the same uuid ahead
/// of it; `None` when the numbers do not say (same uuid not ahead: two branches, or the
/// cluster's position unknown).
pub fn discarded_from(datadir: &Position, cluster: Option<&Position>) -> Option<i64> {
    let (
        Position::Known { uuid, seqno },
        Some(Position::Known {
            uuid: cu,
            seqno: cs,
        }),
    ) = (datadir, cluster)
    else {
        return None;
    };
    if uuid != cu {
        Some(0)
    } else if cs < seqno {
        Some(cs + 1)
    } else {
        None
    }
}

/// The running cluster's position as the registered nodes publish it (their census `running`
/// on the cluster's uuid, the highest seqno), else the commit high-water mark (pure).
pub fn cluster_position(snap: &crate::etcd::ClusterSnapshot) -> Option<Position> {
    let uuid = crate::galera::safety::cluster_uuid(snap)?;
    let live = snap
        .census
        .iter()
        .filter(|(n, _)| snap.nodes.contains_key(*n))
        .filter_map(|(_, c)| match &c.running {
            Some(Position::Known { uuid: u, seqno }) if *u == uuid => Some(*seqno),
            _ => None,
        })
        .max();
    let mark = snap
        .hwm
        .as_ref()
        .filter(|m| m.uuid == uuid)
        .map(|m| m.seqno);
    live.or(mark).map(|s| Position::known(&uuid, s))
}

/// The entries of the volume root to move into the datadir, when the volume root holds an
/// old-layout datadir (the volume used to be mounted at the datadir itself), or `None` (pure).
///
/// `datadir_entries`: the datadir's entries (`None`: it does not exist). `root_entries`: the
/// entries of the datadir's parent. It migrates only when the datadir is missing or empty
/// and the parent holds a datadir's own files (`grastate.dat`, `init.ok` or `ibdata1`), or
/// a migration was interrupted ([`MIGRATING`] exists). Never moved: `lost+found`, the
/// datadir itself, the kept dir, the migration's own directory.
pub fn migration_entries(
    datadir_name: &str,
    kept_name: Option<&str>,
    datadir_entries: Option<&[String]>,
    root_entries: &[String],
) -> Option<Vec<String>> {
    let empty = datadir_entries.is_none_or(|e| e.iter().all(|n| n == "lost+found"));
    let has = |n: &str| root_entries.iter().any(|x| x == n);
    let old_layout = ["grastate.dat", crate::galera::datadir::INIT_OK, "ibdata1"]
        .iter()
        .any(|n| has(n));
    if !empty || !(old_layout || has(MIGRATING)) {
        return None;
    }
    Some(
        root_entries
            .iter()
            .filter(|n| {
                let n = n.as_str();
                n != "lost+found" && n != datadir_name && Some(n) != kept_name && n != MIGRATING
            })
            .cloned()
            .collect(),
    )
}

// ---- I/O -------------------------------------------------------------------------------

fn entries(dir: &Path) -> std::io::Result<Option<Vec<String>>> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(rd) => Ok(Some(
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        )),
    }
}

/// Move an old-layout datadir (its files directly in the volume root, the datadir's parent)
/// into the datadir: every entry renamed into [`MIGRATING`] beside it, then that directory
/// renamed to the datadir — an interruption leaves [`MIGRATING`], and the next start finishes
/// the move. Returns what it did (one log line), `None` when there was nothing to migrate.
pub fn migrate_volume_layout(
    datadir: &Path,
    kept_root: Option<&Path>,
    owner: Option<(u32, u32)>,
) -> anyhow::Result<Option<String>> {
    let (Some(root), Some(dd_name)) = (datadir.parent(), datadir.file_name()) else {
        return Ok(None);
    };
    let dd_name = dd_name.to_string_lossy().into_owned();
    let Some(root_entries) = entries(root)? else {
        return Ok(None);
    };
    let kept_name = kept_root
        .filter(|k| k.parent() == Some(root))
        .and_then(|k| k.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let dd_entries = entries(datadir)?;
    let Some(moving) = migration_entries(
        &dd_name,
        kept_name.as_deref(),
        dd_entries.as_deref(),
        &root_entries,
    ) else {
        return Ok(None);
    };
    let staging = root.join(MIGRATING);
    if !staging.exists() {
        std::fs::create_dir(&staging)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", staging.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o750))?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(&staging, Some(u), Some(g))?;
        }
    }
    for n in &moving {
        std::fs::rename(root.join(n), staging.join(n)).map_err(|e| {
            anyhow::anyhow!(
                "moving {} into {} for the new volume layout: {e}",
                root.join(n).display(),
                staging.display()
            )
        })?;
    }
    if dd_entries.is_some() {
        // Empty (or only lost+found, which a subdirectory never has): replaced by the move.
        let lf = datadir.join("lost+found");
        if lf.exists() {
            std::fs::remove_dir(&lf)?;
        }
        std::fs::remove_dir(datadir)?;
    }
    std::fs::rename(&staging, datadir)?;
    Ok(Some(format!(
        "volume layout: moved the datadir's {} entries from the volume root {} into the datadir \
         {} (the volume is now mounted above the datadir, so that `resync` can keep a copy \
         beside it; renames on one filesystem, nothing copied)",
        moving.len(),
        root.display(),
        datadir.display()
    )))
}

/// The bytes a directory tree occupies on disk (allocated blocks), without following links.
pub fn disk_usage(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let m = e.metadata()?;
            total = total.saturating_add(m.blocks().saturating_mul(512));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(total)
}

/// The nearest existing ancestor of `p` (itself included).
fn existing_ancestor(p: &Path) -> Option<&Path> {
    p.ancestors().find(|a| a.exists())
}

/// Measure what [`keep_problem`] decides on.
pub fn measure(datadir: &Path, kept_root: &Path, target: &Path) -> anyhow::Result<Measured> {
    use std::os::unix::fs::MetadataExt;
    let dd =
        std::fs::metadata(datadir).map_err(|e| anyhow::anyhow!("{}: {e}", datadir.display()))?;
    let anc = existing_ancestor(kept_root)
        .ok_or_else(|| anyhow::anyhow!("{}: no existing ancestor", kept_root.display()))?;
    let kept = std::fs::metadata(anc).map_err(|e| anyhow::anyhow!("{}: {e}", anc.display()))?;
    let vfs = nix::sys::statvfs::statvfs(anc)
        .map_err(|e| anyhow::anyhow!("statvfs {}: {e}", anc.display()))?;
    #[allow(clippy::unnecessary_cast)]
    let free = (vfs.blocks_available() as u64).saturating_mul(vfs.fragment_size() as u64);
    Ok(Measured {
        datadir_dev: dd.dev(),
        kept_dev: kept.dev(),
        datadir_bytes: disk_usage(datadir)
            .map_err(|e| anyhow::anyhow!("measuring {}: {e}", datadir.display()))?,
        free_bytes: free,
        target_exists: target.exists(),
    })
}

/// Move the datadir to `target` (one rename) and leave an empty datadir owned by mariadbd's
/// user; write `record` into the kept copy. The kept dir is created when missing.
pub fn move_aside(
    datadir: &Path,
    kept_root: &Path,
    target: &Path,
    record: &str,
    owner: Option<(u32, u32)>,
) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !kept_root.exists() {
        std::fs::create_dir_all(kept_root)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", kept_root.display()))?;
        std::fs::set_permissions(kept_root, std::fs::Permissions::from_mode(0o750))?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(kept_root, Some(u), Some(g))?;
        }
    }
    std::fs::rename(datadir, target).map_err(|e| {
        anyhow::anyhow!(
            "cannot move {} to {}: {e}; nothing was moved",
            datadir.display(),
            target.display()
        )
    })?;
    let rec = target.join(KEPT_RECORD);
    if let Err(e) = crate::files::write_atomic(&rec, format!("{record}\n").as_bytes(), 0o640) {
        tracing::warn!(
            "cannot write {} ({e}); the kept copy is complete",
            rec.display()
        );
    }
    std::fs::create_dir(datadir)
        .map_err(|e| anyhow::anyhow!("cannot re-create {}: {e}", datadir.display()))?;
    std::fs::set_permissions(datadir, std::fs::Permissions::from_mode(0o750))?;
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(datadir, Some(u), Some(g))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "d73a50d3-e6f3-11f1-9d39-1b11d34b826c";
    const V: &str = "aaaaaaaa-e6f3-11f1-9d39-1b11d34b826c";

    #[test]
    fn kept_root_table() {
        let dd = Path::new("/var/lib/mysql-volume/mysql-data");
        let cases: &[(Option<&str>, Result<&str, &str>)] = &[
            (None, Ok("/var/lib/mysql-volume/galera-kept")),
            (
                Some("/var/lib/mysql-volume/old"),
                Ok("/var/lib/mysql-volume/old"),
            ),
            (Some("kept"), Err("not an absolute path")),
            (
                Some("/var/lib/mysql-volume/mysql-data/kept"),
                Err("inside the datadir"),
            ),
            (
                Some("/var/lib/mysql-volume/mysql-data"),
                Err("inside the datadir"),
            ),
            (
                Some("/var/lib/mysql-volume/x/../mysql-data/k"),
                Err("inside the datadir"),
            ),
            (
                Some("/var/lib/mysql-volume/mysql-data2"),
                Ok("/var/lib/mysql-volume/mysql-data2"),
            ),
        ];
        for (conf, want) in cases {
            let got = kept_root(dd, conf.map(Path::new));
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, Path::new(w), "{conf:?}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{conf:?}: {g}"),
                _ => panic!("{conf:?}: want {want:?}, got {got:?}"),
            }
        }
        assert!(kept_root(Path::new("/"), None).is_err());
        // A relative datadir (relative to the working directory) keeps beside it.
        assert_eq!(
            kept_root(Path::new("data"), None),
            Ok(PathBuf::from(DEFAULT_KEPT_DIR))
        );
        assert_eq!(
            kept_root(Path::new("w/data"), None),
            Ok(PathBuf::from("w/galera-kept"))
        );
    }

    #[test]
    fn kept_name_table() {
        // 2026-12-07T15:37:17Z
        let t = 1_796_657_837;
        assert_eq!(
            kept_name(&Position::known(U, 42), t),
            format!("{U}_42_20261207T153717Z")
        );
        assert_eq!(kept_name(&Position::Unknown, t), "unknown_20261207T153717Z");
        assert_eq!(kept_name(&Position::Fresh, t), "fresh_20261207T153717Z");
        assert!(!kept_name(&Position::known(U, -1), t).contains('/'));
    }

    #[test]
    fn keep_problem_table() {
        let ok = Measured {
            datadir_dev: 7,
            kept_dev: 7,
            datadir_bytes: 100,
            free_bytes: 100,
            target_exists: false,
        };
        let dd = Path::new("/v/mysql-data");
        let k = Path::new("/v/galera-kept/x");
        let cases: Vec<(Measured, Option<&str>)> = vec![
            (ok.clone(), None),
            (
                Measured {
                    free_bytes: 10 << 30,
                    ..ok.clone()
                },
                None,
            ),
            (
                Measured {
                    kept_dev: 8,
                    ..ok.clone()
                },
                Some("another filesystem"),
            ),
            (
                Measured {
                    free_bytes: 99,
                    ..ok.clone()
                },
                Some("99 B free"),
            ),
            (
                Measured {
                    target_exists: true,
                    ..ok.clone()
                },
                Some("already exists"),
            ),
        ];
        for (m, want) in cases {
            let got = keep_problem(&m, "g-1", dd, k);
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) => {
                    assert!(g.contains(w), "{m:?}: {g}");
                    assert!(g.contains("resync g-1 --discard"), "names the way out: {g}");
                    assert!(g.contains("nothing was moved"), "{g}");
                }
                _ => panic!("{m:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn bytes_table() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(10 << 30), "10.0 GiB");
    }

    #[test]
    fn discarded_from_table() {
        let k = Position::known;
        assert_eq!(discarded_from(&k(U, 9), Some(&k(V, 30))), Some(0));
        assert_eq!(discarded_from(&k(U, 9), Some(&k(U, 5))), Some(6));
        assert_eq!(discarded_from(&k(U, 9), Some(&k(U, 9))), None);
        assert_eq!(discarded_from(&k(U, 9), Some(&k(U, 12))), None);
        assert_eq!(discarded_from(&k(U, 9), None), None);
        assert_eq!(discarded_from(&Position::Unknown, Some(&k(U, 1))), None);
    }

    #[test]
    fn cluster_position_prefers_the_registered_nodes_running_position() {
        use crate::etcd::snapshot::{CensusEntry, Mark, NodeEntry};
        let mut s = crate::etcd::ClusterSnapshot {
            uuid: Some(U.into()),
            ..Default::default()
        };
        assert_eq!(cluster_position(&s), None, "nothing published");
        s.hwm = Some(Mark {
            uuid: U.into(),
            seqno: 7,
            at: 1,
            by: "g-0".into(),
            forks: vec![],
        });
        assert_eq!(
            cluster_position(&s),
            Some(Position::known(U, 7)),
            "the mark"
        );
        let census = |running: Position| CensusEntry {
            position: running.clone(),
            address: "a".into(),
            at: 1,
            running: Some(running),
            forks: vec![],
            cached_downto: None,
            stray_writes: 0,
            version: None,
        };
        s.census.insert("g-0".into(), census(Position::known(U, 9)));
        s.census
            .insert("g-1".into(), census(Position::known(U, 12)));
        s.census
            .insert("g-2".into(), census(Position::known(V, 50)));
        for n in ["g-0", "g-2"] {
            s.nodes.insert(
                n.into(),
                NodeEntry {
                    address: "a".into(),
                    lease: 1,
                },
            );
        }
        // g-1 is not registered (not in the Primary Component), g-2 runs another uuid.
        assert_eq!(cluster_position(&s), Some(Position::known(U, 9)));
    }

    #[test]
    fn migration_entries_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let old = s(&["lost+found", "grastate.dat", "ibdata1", "mysql", "init.ok"]);
        let moved = Some(s(&["grastate.dat", "ibdata1", "mysql", "init.ok"]));
        let k = Some("galera-kept");
        // Old layout, datadir missing or empty: everything but lost+found moves.
        assert_eq!(migration_entries("mysql-data", k, None, &old), moved);
        assert_eq!(migration_entries("mysql-data", k, Some(&[]), &old), moved);
        // The datadir holds data: never.
        assert_eq!(
            migration_entries("mysql-data", k, Some(&s(&["ibdata1"])), &old),
            None
        );
        // No datadir files at the root (the new layout, a test's node dir): never.
        let new = s(&[
            "lost+found",
            "mysql-data",
            "galera-kept",
            "my.cnf",
            "error.log",
        ]);
        assert_eq!(migration_entries("mysql-data", k, None, &new), None);
        // The datadir, the kept dir and the staging dir stay where they are.
        let mixed = s(&["grastate.dat", "mysql-data", "galera-kept", MIGRATING]);
        assert_eq!(
            migration_entries("mysql-data", k, Some(&[]), &mixed),
            Some(s(&["grastate.dat"]))
        );
        // An interrupted migration resumes even when the markers have moved already.
        let resumed = s(&[MIGRATING, "mysql", "lost+found"]);
        assert_eq!(
            migration_entries("mysql-data", k, None, &resumed),
            Some(s(&["mysql"]))
        );
    }

    #[test]
    fn migrate_moves_an_old_layout_and_resumes() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path();
        std::fs::create_dir(root.join("lost+found")).expect("mkdir");
        std::fs::create_dir(root.join("mysql")).expect("mkdir");
        std::fs::write(root.join("mysql/user.frm"), "x").expect("w");
        std::fs::write(root.join("grastate.dat"), "seqno: 5").expect("w");
        // Interrupted: one entry already in the staging directory.
        std::fs::create_dir(root.join(MIGRATING)).expect("mkdir");
        std::fs::write(root.join(MIGRATING).join("ibdata1"), "i").expect("w");
        let dd = root.join("mysql-data");
        let kept = root.join(DEFAULT_KEPT_DIR);
        let said = migrate_volume_layout(&dd, Some(&kept), None).expect("migrate");
        assert!(said.is_some_and(|s| s.contains("2 entries")));
        let mut left: Vec<String> = entries(root).expect("ls").unwrap_or_default();
        left.sort();
        assert_eq!(left, ["lost+found", "mysql-data"]);
        let mut inside: Vec<String> = entries(&dd).expect("ls").unwrap_or_default();
        inside.sort();
        assert_eq!(inside, ["grastate.dat", "ibdata1", "mysql"]);
        assert_eq!(
            std::fs::read_to_string(dd.join("mysql/user.frm")).expect("r"),
            "x"
        );
        // Done: a second start changes nothing.
        assert_eq!(
            migrate_volume_layout(&dd, Some(&kept), None).expect("again"),
            None
        );
    }

    #[test]
    fn move_aside_keeps_everything_and_empties_the_datadir() {
        let d = tempfile::tempdir().expect("tempdir");
        let dd = d.path().join("data");
        std::fs::create_dir_all(dd.join("t")).expect("mkdir");
        std::fs::write(dd.join("t/rows.ibd"), "rows").expect("w");
        let root = d.path().join(DEFAULT_KEPT_DIR);
        let target = root.join(kept_name(&Position::known(U, 3), 0));
        let m = measure(&dd, &root, &target).expect("measure");
        assert_eq!(m.datadir_dev, m.kept_dev);
        assert!(!m.target_exists);
        assert_eq!(keep_problem(&m, "g-1", &dd, &target), None);
        move_aside(&dd, &root, &target, "{}", None).expect("move");
        assert_eq!(
            std::fs::read_to_string(target.join("t/rows.ibd")).expect("kept"),
            "rows"
        );
        assert!(target.join(KEPT_RECORD).exists());
        assert_eq!(entries(&dd).expect("ls"), Some(vec![]));
        assert!(measure(&dd, &root, &target).expect("m").target_exists);
    }
}
