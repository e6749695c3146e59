//! The local position by `mariadbd --wsrep-recover` (with grastate.dat as the fallback).

use std::time::Duration;

use tracing::warn;

use super::binaries::Binaries;
use super::grastate_dat::read_grastate;
use crate::galera::grastate::{self, RecoverOutput};
use crate::galera::mysqld::Reaper;
use crate::position::Position;

impl Binaries {
    /// `mariadbd --wsrep-recover` → the local position (docs/design.md §3.2).
    pub async fn recover_position(&self, reaper: &Reaper) -> anyhow::Result<(Position, String)> {
        let mut c = self.base(&self.mysqld);
        c.arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", self.datadir.display()))
            .args([
                "--wsrep-recover",
                "--disable-log-error",
                "--wsrep-cluster-address=gcomm://",
            ]);
        let (code, out, err) = reaper
            .output(
                "mariadbd --wsrep-recover",
                c,
                None,
                Duration::from_secs(600),
            )
            .await?;
        let text = format!("{out}\n{err}");
        let rec = grastate::parse_recover_output(&text);
        let gs = match read_grastate(&self.datadir) {
            Ok(g) => g,
            Err(e) => {
                warn!(
                    "{e}: grastate.dat ignored and kept as it is; the position comes from \
                     --wsrep-recover (if that finds none, the position is unknown and a recovery \
                     waits for `galera-sidecar force-bootstrap <node>`)"
                );
                None
            }
        };
        let pos = grastate::local_position(&rec, gs.as_ref());
        let how = match &rec {
            RecoverOutput::Recovered(p) => format!("--wsrep-recover: {p}"),
            RecoverOutput::PreparedTransactions(l) => format!("--wsrep-recover failed: {l}"),
            RecoverOutput::NoPosition => {
                let tail: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("ERROR"))
                    .take(3)
                    .collect();
                format!(
                    "--wsrep-recover found no position (exit {code}): {}",
                    tail.join(" | ")
                )
            }
        };
        Ok((pos, how))
    }
}
