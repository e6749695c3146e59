//! How to run mariadbd helpers ([`Binaries`]): the programs, the defaults file, the datadir
//! and the user; mariadbd's version (`--version`) and the effective provider options
//! (`mariadbd --verbose --help`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::galera::mysqld::Reaper;

/// How to run mariadbd helpers.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub mysqld: PathBuf,
    pub install_db: PathBuf,
    pub defaults_file: Option<PathBuf>,
    pub datadir: PathBuf,
    pub user: String,
}

impl Binaries {
    pub(super) fn base(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        crate::secrets::scrub_env(&mut c);
        if let Some(f) = &self.defaults_file {
            c.arg(format!("--defaults-file={}", f.display()));
        }
        c
    }

    /// mariadbd's version (`mariadbd --version`): the word that holds it, e.g.
    /// `10.11.19-MariaDB-0+deb12u1`.
    pub async fn version(&self, reaper: &Reaper) -> anyhow::Result<String> {
        let mut c = Command::new(&self.mysqld);
        crate::secrets::scrub_env(&mut c);
        c.arg("--version");
        let (code, out, err) = reaper
            .output(
                "mariadbd --version",
                c,
                None,
                crate::galera::bounds::VERSION_QUERY,
            )
            .await?;
        crate::galera::upgrade::version_word(&out).ok_or_else(|| {
            let said = format!("{out} {err}");
            anyhow::anyhow!(
                "`{} --version` (exit {code}) printed no version: {:?}",
                self.mysqld.display(),
                said.trim()
            )
        })
    }

    /// The effective provider options (`mariadbd --verbose --help`).
    pub async fn configured_provider_options(
        &self,
        reaper: &Reaper,
    ) -> anyhow::Result<Option<String>> {
        let mut c = self.base(&self.mysqld);
        c.args(["--verbose", "--help"]);
        let (_, out, _) = reaper
            .output(
                "mariadbd --verbose --help",
                c,
                None,
                Duration::from_secs(60),
            )
            .await?;
        Ok(crate::galera::mysqld::provider_options_from_help(&out))
    }
}
