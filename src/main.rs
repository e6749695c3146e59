//! `galera-sidecar`: parse the command line, start logging, dispatch — nothing else.

use std::process::ExitCode;

use clap::Parser;
use galera_sidecar::cli::{self, Cli, Command};
use galera_sidecar::{
    checker, etcd, exit, galera, haproxy, logging, pause, restart_gate, status, switchover,
};

fn main() -> ExitCode {
    // A syntax error or an invalid value: exit 2 with one line naming the option (and the
    // environment variable when the value came from one).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            match cli::parse_error_line(&e, &args, |v| std::env::var_os(v).is_some()) {
                Some(line) => {
                    eprintln!("{line}");
                    return ExitCode::from(exit::USAGE);
                }
                None => e.exit(),
            }
        }
    };
    // Exec probes run every few seconds on every node: one thread is all they need, and
    // their stderr stays quiet.
    let exec_probe = matches!(
        &cli.command,
        Command::Checker {
            probe: cli::CheckerCommand::Readiness(_) | cli::CheckerCommand::Liveness(_)
        }
    );
    let quiet = exec_probe || matches!(&cli.command, Command::Haproxy(h) if h.sub.is_some());
    logging::init(cli.global.log_format, if quiet { "warn" } else { "info" });
    if let Err(e) = cli::validate_global(&cli.global) {
        eprintln!("{e}");
        return ExitCode::from(exit::USAGE);
    }
    let built = if exec_probe {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let result = rt.block_on(dispatch(&cli));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = exit::for_error(&e);
            if code == exit::USAGE {
                eprintln!("{e}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}

async fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    let connect = || async {
        let cfg = g.etcd_config();
        etcd::Etcd::connect(&cfg, &g.cluster_name).await
    };
    match &cli.command {
        Command::Galera(opts) => galera::main(g, opts).await,
        Command::Checker { probe } => checker::main(g, probe).await,
        Command::Haproxy(h) => haproxy::main(g, h).await,
        Command::Status {
            json,
            sql_port,
            sql_timeout,
            no_live,
            mysql: _,
        } => {
            let live = status::LiveOpts {
                sql_port: *sql_port,
                timeout: *sql_timeout,
                skip: *no_live,
            };
            status::main(&connect().await?, g, &live, *json).await
        }
        Command::SetState { state, force } => {
            println!(
                "{}",
                status::set_state(&connect().await?, state, *force).await?
            );
            Ok(0)
        }
        Command::ForceBootstrap {
            name,
            expires,
            accept_data_loss,
        } => {
            println!(
                "{}",
                status::force_bootstrap(&connect().await?, name, *expires, *accept_data_loss)
                    .await?
            );
            Ok(0)
        }
        Command::Resync {
            name,
            expires,
            keep: _,
            discard,
        } => {
            println!(
                "{}",
                status::resync(&connect().await?, name, *expires, *discard).await?
            );
            Ok(0)
        }
        Command::Switchover {
            to,
            timeout,
            during_pause,
        } => {
            println!(
                "{}",
                switchover::switchover(&connect().await?, to.as_deref(), *timeout, *during_pause)
                    .await?
            );
            Ok(0)
        }
        Command::Pause {
            duration,
            reason,
            by,
        } => {
            println!(
                "{}",
                pause::pause(&connect().await?, *duration, reason, by.as_deref()).await?
            );
            Ok(0)
        }
        Command::Resume => {
            println!("{}", pause::resume(&connect().await?).await?);
            Ok(0)
        }
        Command::CanRestart { name } => {
            let (code, sentence) = restart_gate::command(&connect().await?, name).await?;
            println!("{sentence}");
            Ok(code)
        }
        Command::RemoveMember { name, force } => {
            println!(
                "{}",
                status::remove_member(&connect().await?, name, *force).await?
            );
            Ok(0)
        }
    }
}
