//! The config file of the follow loop: the template's source, the render options from the
//! command line, and installing a rendered config (written beside the target, validated with
//! `haproxy -c`, moved into place).

use std::path::{Path, PathBuf};

use crate::cli::HaproxyOpts;
use crate::files::write_atomic;
use crate::haproxy::process::check_config;
use crate::haproxy::render::{RenderOptions, BUILTIN_TEMPLATE};
use crate::haproxy::state::{Paths, FILE_MODE};

/// The template's source: the built-in one, or `--template` read afresh (so an edited
/// template — e.g. a ConfigMap — is used from the next render on).
pub(super) fn template_source(opts: &HaproxyOpts) -> Result<String, String> {
    match &opts.template {
        None => Ok(BUILTIN_TEMPLATE.to_string()),
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| format!("--template {}: {e}", p.display()))
        }
    }
}

pub(super) fn render_options(opts: &HaproxyOpts, paths: &Paths) -> RenderOptions {
    RenderOptions {
        listen: opts.listen,
        health_check: opts.health_check,
        check_port: opts.check_port,
        backend_port: opts.backend_port,
        admin_socket: paths.admin_socket.display().to_string(),
        hard_stop_after: format!("{}ms", opts.hard_stop_after.as_millis()),
        stats_listen: opts.stats_listen,
        read_listen: opts.read_listen,
        template_name: opts
            .template
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the built-in template".into()),
    }
}

/// Where a config is written before `haproxy -c` accepts it.
fn candidate_path(config: &Path) -> PathBuf {
    let mut s = config.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

/// Write `config` next to `target`, validate it, and move it into place.
pub(super) async fn install_config(bin: &Path, target: &Path, config: &str) -> Result<(), String> {
    let cand = candidate_path(target);
    write_atomic(&cand, config.as_bytes(), FILE_MODE)
        .map_err(|e| format!("cannot write {}: {e}", cand.display()))?;
    if let Err(e) = check_config(bin, &cand).await {
        let _ = std::fs::remove_file(&cand);
        return Err(e);
    }
    std::fs::rename(&cand, target)
        .map_err(|e| format!("cannot move {} into place: {e}", cand.display()))
}
