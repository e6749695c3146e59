//! Initialisation of a wiped datadir: `mariadb-install-db`, then the users through a helper
//! `mariadbd --bootstrap`, then `init.ok`.

use std::process::Command;
use std::time::Duration;

use tracing::info;

use super::binaries::Binaries;
use super::classify::{wipe, INIT_STARTED};
use super::markers::{user_ids, write_init_ok};
use super::users::UsersSql;
use crate::galera::mysqld::Reaper;

impl Binaries {
    /// Wipe and initialise: `mariadb-install-db --wsrep-on=OFF`, then the users through a
    /// helper mariadbd without networking or wsrep (`--bootstrap`, SQL on stdin so no
    /// password is on a command line), then `init.ok`.
    pub async fn initialise(&self, reaper: &Reaper, users: &UsersSql) -> anyhow::Result<()> {
        let dd = &self.datadir;
        let owner = user_ids(&self.user);
        wipe(dd).map_err(|e| anyhow::anyhow!("cannot empty {}: {e}", dd.display()))?;
        std::fs::create_dir_all(dd)?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(dd, Some(u), Some(g))?;
        }
        std::fs::write(dd.join(INIT_STARTED), b"")?;
        let mut c = self.base(&self.install_db);
        c.arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", dd.display()))
            .args(["--skip-test-db", "--wsrep-on=OFF"]);
        run_checked(reaper, "mariadb-install-db", c, None).await?;
        let mut c = self.base(&self.mysqld);
        c.arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", dd.display()))
            .args(["--bootstrap", "--wsrep-on=OFF", "--skip-networking"]);
        run_checked(
            reaper,
            "mariadbd --bootstrap (users)",
            c,
            Some(users.0.clone().into_bytes()),
        )
        .await?;
        write_init_ok(dd, owner)?;
        let _ = std::fs::remove_file(dd.join(INIT_STARTED));
        info!(
            "datadir {} initialised (users created, init.ok written)",
            dd.display()
        );
        Ok(())
    }
}

/// Run a helper command to completion; a non-zero exit is an error quoting its last lines.
async fn run_checked(
    reaper: &Reaper,
    name: &str,
    cmd: Command,
    input: Option<Vec<u8>>,
) -> anyhow::Result<()> {
    let (code, out, err) = reaper
        .output(name, cmd, input, Duration::from_secs(600))
        .await?;
    if code != 0 {
        anyhow::bail!(
            "{name} failed (exit {code}): {}",
            crate::galera::mysqld::output_tail(&out, &err, 5)
        );
    }
    Ok(())
}
