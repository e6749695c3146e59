//! The one line printed for a command-line error clap found, naming the environment variable
//! the bad value came from.

use super::Cli;

/// The one line to print for a command-line error clap found (syntax or invalid value): clap's
/// own first line, without its "For more information" tip, plus the environment variable the
/// value came from when it was not given on the command line — an SRE who never typed
/// `--etcd-timeout` must see that `GALERA_ETCD_TIMEOUT` is the culprit. `None` for help and
/// version requests, which clap prints itself.
pub fn parse_error_line(
    e: &clap::Error,
    args: &[String],
    env_is_set: impl Fn(&str) -> bool,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::CommandFactory;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let rendered = e.render().to_string();
    let mut line = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("error: invalid command line")
        .to_string();
    // clap's tips come on later lines; the one line must still say what to write instead.
    match e.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(s)) => line.push_str(&format!(" (did you mean `{s}`?)")),
        Some(ContextValue::Strings(s)) if !s.is_empty() => {
            line.push_str(&format!(" (did you mean `{}`?)", s.join("` or `")))
        }
        _ if e.kind() == ErrorKind::UnknownArgument => {
            line.push_str(" (see `galera-sidecar help` for the options)")
        }
        _ => {}
    }
    match e.get(ContextKind::SuggestedSubcommand) {
        Some(ContextValue::String(s)) => line.push_str(&format!(" (did you mean `{s}`?)")),
        Some(ContextValue::Strings(s)) if !s.is_empty() => {
            line.push_str(&format!(" (did you mean `{}`?)", s.join("` or `")))
        }
        _ if e.kind() == ErrorKind::InvalidSubcommand => {
            line.push_str(" (see `galera-sidecar help` for the commands)")
        }
        _ => {}
    }
    // clap lists the accepted values on a later line; one line must still say what to write.
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        if !valid.is_empty() && !line.contains("possible values") {
            line.push_str(&format!(" (possible values: {})", valid.join(", ")));
        }
    }
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        // e.g. "--etcd-timeout <ETCD_TIMEOUT>"
        let flag = arg.split_whitespace().next().unwrap_or_default();
        let on_command_line = args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if let (Some(long), false) = (flag.strip_prefix("--"), on_command_line) {
            if let Some(var) = env_of(&Cli::command(), long).filter(|v| env_is_set(v)) {
                line.push_str(&format!(
                    " (the value comes from the environment variable {var})"
                ));
            }
        }
    }
    Some(line)
}

/// The environment variable of the option `--long`, in this command or any subcommand.
fn env_of(cmd: &clap::Command, long: &str) -> Option<String> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .or_else(|| cmd.get_subcommands().find_map(|s| env_of(s, long)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn parse_errors_are_one_line_naming_the_env_var_when_it_is_the_source() {
        let parse = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let e = Cli::try_parse_from(&args).expect_err("invalid");
            (e, args)
        };
        // From the command line: the flag is named, not the env var.
        let (e, args) = parse(&["galera-sidecar", "--etcd-timeout", "soon", "status"]);
        let line = parse_error_line(&e, &args, |_| true).expect("a line");
        assert!(
            line.contains("--etcd-timeout") && line.contains("soon"),
            "{line}"
        );
        assert!(
            !line.contains("GALERA_ETCD_TIMEOUT") && !line.contains('\n'),
            "{line}"
        );
        // A subcommand's option with an env var.
        let (e, args) = parse(&["galera-sidecar", "galera", "--lease-ttl", "x"]);
        let line = parse_error_line(&e, &args[..2], |v| v == "GALERA_LEASE_TTL").expect("line");
        assert!(
            line.ends_with("environment variable GALERA_LEASE_TTL)"),
            "{line}"
        );
        // Help is clap's business.
        let (e, args) = parse(&["galera-sidecar", "--help"]);
        assert_eq!(parse_error_line(&e, &args, |_| false), None);
    }
}
