//! How to run mariadbd helpers ([`Binaries`]): the programs, the defaults file, the datadir
//! and the user; and the effective provider options (`mariadbd --verbose --help`).

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
