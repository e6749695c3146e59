//! The probes (docs/design.md §4): readiness and liveness verdicts as pure rules ([`rules`]), the
//! gathering of their inputs ([`probe`]), the exec front end (here) and the HTTP one
//! ([`serve`], with [`metrics`]). The contract with the entrypoint is [`crate::state_file`].

pub mod metrics;
pub mod probe;
pub mod rules;
pub mod serve;

use std::time::Duration;

use crate::cli::{CheckerCommand, CheckerOpts, GlobalOpts};
use probe::{Prober, EXEC_MEMORY};
use rules::{Probe, Rule, Verdict};

/// Run a checker command. Returns the process exit code (0 pass, 1 fail; a configuration
/// error is returned as `ConfigError`, exit 2).
pub async fn main(global: &GlobalOpts, cmd: &CheckerCommand) -> anyhow::Result<u8> {
    match cmd {
        CheckerCommand::Readiness(o) => exec(global, o, Probe::Readiness).await,
        CheckerCommand::Liveness(o) => exec(global, o, Probe::Liveness).await,
        CheckerCommand::Serve { listen, opts } => {
            serve::serve(Prober::new(global, opts)?, *listen).await
        }
    }
}

/// One exec probe: gather, decide, print one line, exit 0/1.
async fn exec(global: &GlobalOpts, o: &CheckerOpts, probe: Probe) -> anyhow::Result<u8> {
    let prober = Prober::new(global, o)?;
    // gather() bounds its own calls; this outer bound only guards against a bug.
    let budget = o.timeout + Duration::from_millis(500);
    let v = match tokio::time::timeout(budget, prober.gather()).await {
        Ok(g) => match probe {
            Probe::Readiness => rules::readiness(&g.obs),
            Probe::Liveness => prober.liveness(&g.obs, EXEC_MEMORY),
        },
        // Never restart a node because the checker itself was slow.
        Err(_) => Verdict {
            probe,
            ok: probe == Probe::Liveness,
            rule: Rule::MysqlError,
            reason: format!("the checker did not finish within {budget:?}"),
        },
    };
    println!("{v}");
    Ok(v.exit_code())
}
