//! grastate.dat in the datadir: read and parsed, and `safe_to_bootstrap` set with every other
//! byte kept.

use std::path::Path;

use tracing::info;

use crate::galera::grastate::{self, GraState};

/// Read and parse grastate.dat; `Ok(None)` when absent.
pub fn read_grastate(datadir: &Path) -> Result<Option<GraState>, String> {
    let p = datadir.join("grastate.dat");
    match std::fs::read_to_string(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(t) => grastate::parse_grastate(&t)
            .map(Some)
            .map_err(|e| format!("{}: {e}", p.display())),
    }
}

/// Set `safe_to_bootstrap: 1` in grastate.dat, every other byte kept, written atomically.
pub fn set_safe_to_bootstrap(datadir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let p = datadir.join("grastate.dat");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let edited = grastate::with_safe_to_bootstrap(&text, true);
    if edited != text {
        crate::files::write_atomic(&p, edited.as_bytes(), 0o660)?;
        if let Some((u, g)) = owner {
            let _ = std::os::unix::fs::chown(&p, Some(u), Some(g));
        }
        info!("grastate.dat: safe_to_bootstrap set to 1 (other lines kept)");
    }
    Ok(())
}
