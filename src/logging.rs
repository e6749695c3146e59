//! Logging setup: tracing to stderr, as text or one JSON object per line.
//!
//! The filter comes from `GALERA_LOG` (e.g. `debug`, `galera_sidecar=debug`), default `info`.
//! Probes print their verdict on stdout; logs never go there.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_env("GALERA_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("{default_level},h2=warn,tower=warn,hyper=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
