//! The command line: every command of docs/design.md §1, every option with its `GALERA_*` environment
//! variable, parsed by clap (derive) and validated into typed values.
//!
//! Parsing errors and invalid values exit with code 2 and one line naming the option and the
//! problem (clap does this for syntax; [`ConfigError`] does it for the checks clap cannot make).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A configuration problem: exit code 2, one line naming the option and the problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {option}: {problem}")]
pub struct ConfigError {
    pub option: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(option: &'static str, problem: impl Into<String>) -> Self {
        Self {
            option,
            problem: problem.into(),
        }
    }
}

/// Parse a duration such as `2s`, `500ms`, `10m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); use e.g. 2s, 500ms, 10m"))
}

#[derive(Debug, Parser)]
#[command(
    name = "galera-sidecar",
    version,
    about = "Self-assembling, self-healing MariaDB Galera on Kubernetes, coordinated through etcd",
    long_about = "galera-sidecar is the entrypoint of a MariaDB Galera container (`galera`), its \
                  liveness/readiness probes (`checker`), the haproxy sidecar that routes all SQL \
                  to one healthy leader (`haproxy`), and the operator's tools (`status`, \
                  `set-state`, `force-bootstrap`, `resync`, `remove-member`). All coordination \
                  goes through etcd under /galera/<cluster-name>/."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options every command uses.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// etcd endpoints, comma-separated (http:// or https://)
    #[arg(
        long,
        global = true,
        env = "GALERA_ETCD_ENDPOINTS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub etcd_endpoints: Vec<String>,
    /// Cluster name: the etcd prefix is /galera/<cluster-name>/
    #[arg(
        long,
        global = true,
        env = "GALERA_CLUSTER_NAME",
        default_value = "k8scluster"
    )]
    pub cluster_name: String,
    /// This node's name (stable; in a StatefulSet the pod name) [default: the host name]
    #[arg(long, global = true, env = "GALERA_NODE_NAME")]
    pub node_name: Option<String>,
    /// This node's address [default: $POD_IP, else the host's address]
    #[arg(long, global = true, env = "GALERA_NODE_ADDRESS")]
    pub node_address: Option<String>,
    /// Log format
    #[arg(
        long,
        global = true,
        env = "GALERA_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// CA certificate to verify etcd's server certificate
    #[arg(long, global = true, env = "GALERA_ETCD_CA_FILE")]
    pub etcd_ca_file: Option<PathBuf>,
    /// Client certificate for etcd (with --etcd-key-file)
    #[arg(long, global = true, env = "GALERA_ETCD_CERT_FILE")]
    pub etcd_cert_file: Option<PathBuf>,
    /// Client key for etcd (with --etcd-cert-file)
    #[arg(long, global = true, env = "GALERA_ETCD_KEY_FILE")]
    pub etcd_key_file: Option<PathBuf>,
    /// etcd user name (with --etcd-password-file)
    #[arg(long, global = true, env = "GALERA_ETCD_USERNAME")]
    pub etcd_username: Option<String>,
    /// File holding the etcd user's password
    #[arg(long, global = true, env = "GALERA_ETCD_PASSWORD_FILE")]
    pub etcd_password_file: Option<PathBuf>,
    /// Timeout of every etcd call
    #[arg(long, global = true, env = "GALERA_ETCD_TIMEOUT", value_parser = parse_duration,
          default_value = "5s")]
    pub etcd_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Container entrypoint: prepare the datadir, decide, run and supervise mariadbd
    Galera(GaleraOpts),
    /// Liveness/readiness probes (exec) and their HTTP server
    Checker {
        #[command(subcommand)]
        probe: CheckerCommand,
    },
    /// Run haproxy and keep its config following the etcd leader
    Haproxy(HaproxyCommand),
    /// The cluster as etcd and the nodes see it
    Status {
        /// One JSON document instead of a table
        #[arg(long)]
        json: bool,
        /// The members' SQL port, where `status` asks each node for its live wsrep state
        /// (as the monitor user, GALERA_MONITOR_USER / GALERA_MONITOR_PASSWORD)
        #[arg(long, env = "GALERA_SQL_PORT", default_value_t = 33306)]
        sql_port: u16,
        /// Bound of each node's live query (they run concurrently)
        #[arg(long, env = "GALERA_SQL_TIMEOUT", value_parser = parse_duration, default_value = "1s")]
        sql_timeout: Duration,
        /// Show only the etcd view; do not ask the nodes
        #[arg(long)]
        no_live: bool,
        #[command(flatten)]
        mysql: MysqlOpts,
    },
    /// Set the cluster state (BUILDING, STEADY or RECOVERY)
    SetState {
        /// The new state, case-insensitive
        state: String,
        /// Allow RECOVERY while nodes are registered
        #[arg(long)]
        force: bool,
    },
    /// One-shot: in the current or next recovery, NAME bootstraps. Bound to NAME's reported
    /// position (ignored if it moves) and expiring; prints the known positions and the loss.
    ForceBootstrap {
        /// The node that bootstraps
        name: String,
        /// How long the request stands (e.g. 30m, 1h)
        #[arg(long, env = "GALERA_EXPIRES", value_parser = parse_duration, default_value = "1h")]
        expires: Duration,
        /// Allow a fresh (empty), unknown or foreign datadir to start the cluster: the other
        /// nodes' data is then refused, never overwritten, and the cluster starts from NAME's
        #[arg(long)]
        accept_data_loss: bool,
    },
    /// One-shot: a refused node moves its diverged datadir aside on its volume (kept, the
    /// default) or deletes it (--discard), and rejoins by SST. Bound to the position it was
    /// refused with, expiring; exit 1 and nothing written when NAME is not refused. The kept
    /// copy and what it held show in `status`; docs/operations.md §6 says how to delete it
    Resync {
        /// The refused node
        name: String,
        /// How long the request stands (e.g. 30m, 1h)
        #[arg(long, env = "GALERA_EXPIRES", value_parser = parse_duration, default_value = "1h")]
        expires: Duration,
        /// Keep the datadir: move it to <kept dir>/<uuid>_<seqno>_<UTC time> on the same
        /// volume (the default). The node refuses, changing nothing, when the kept dir is on
        /// another filesystem or the volume lacks room for the SST beside the copy
        #[arg(long, conflicts_with = "discard")]
        keep: bool,
        /// Delete the datadir instead of keeping it (its diverged data is then lost for good)
        #[arg(long)]
        discard: bool,
    },
    /// Move leadership to NAME (or the first eligible node in name order) with the graceful
    /// move haproxy makes on every leader change; waits until it is done, refused or timed out
    Switchover {
        /// The node that becomes leader (Synced, Primary, not a donor, on the cluster's uuid)
        #[arg(long)]
        to: Option<String>,
        /// How long to wait for the move (1s to 10m); the request is withdrawn after it
        #[arg(long, value_parser = parse_duration, default_value = "30s")]
        timeout: Duration,
        /// Move the leader although a maintenance pause is on
        #[arg(long)]
        during_pause: bool,
    },
    /// Pause the automatic cluster decisions (recovery election, bootstrap, heal, the leader
    /// giving up leadership) for DURATION; mariadbd keeps running, probes keep telling the truth
    Pause {
        /// How long the pause lasts (1s to 7d); it ends by itself
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Duration,
        /// Why (shown by `status` and in the entrypoints' logs)
        #[arg(long)]
        reason: String,
        /// Who pauses [default: $USER@hostname]
        #[arg(long)]
        by: Option<String>,
    },
    /// End a maintenance pause now
    Resume,
    /// Would restarting NAME now rejoin by IST, keep quorum and leave a leader? Exit 0 yes,
    /// 1 no, 2 bad input; one sentence saying why
    CanRestart {
        /// The node to restart
        name: String,
    },
    /// Forget a member after a scale-down, so recovery stops waiting for it
    RemoveMember {
        /// The member to forget
        name: String,
        /// Remove it even though it is registered (running) right now
        #[arg(long)]
        force: bool,
    },
}

/// How to reach the local (or a given) MySQL server.
#[derive(Debug, Clone, Args)]
pub struct MysqlOpts {
    /// MySQL unix socket [default: the socket of --defaults-file, else /run/mysqld/mysqld.sock]
    #[arg(long, env = "GALERA_MYSQL_SOCKET")]
    pub mysql_socket: Option<PathBuf>,
    /// MySQL host (TCP) instead of the socket
    #[arg(long, env = "GALERA_MYSQL_HOST")]
    pub mysql_host: Option<String>,
    /// MySQL port (TCP)
    #[arg(long, env = "GALERA_MYSQL_PORT", default_value_t = 3306)]
    pub mysql_port: u16,
    /// The local server's reserved port (MariaDB's extra_port, with its own
    /// extra_max_connections): the probes and the entrypoint's status queries connect there
    /// over TCP as the monitor user, so clients filling max_connections cannot lock them out.
    /// 0: none (the socket) [default: extra_port of --defaults-file, else none]
    #[arg(long, env = "GALERA_EXTRA_PORT")]
    pub extra_port: Option<u16>,
    /// The my.cnf given to mariadbd (its socket, port, datadir and pid file are read from it)
    #[arg(long, env = "GALERA_DEFAULTS_FILE")]
    pub defaults_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct GaleraOpts {
    /// The datadir
    #[arg(long, env = "GALERA_DATADIR", default_value = "/var/lib/mysql")]
    pub datadir: PathBuf,
    /// Where `resync` keeps a diverged datadir (moved there by one rename: it must be on the
    /// datadir's filesystem, outside the datadir) [default: galera-kept beside the datadir]
    #[arg(long, env = "GALERA_KEPT_DIR")]
    pub kept_dir: Option<PathBuf>,
    /// Members expected at the first build
    #[arg(long, env = "GALERA_CLUSTER_SIZE", default_value_t = 3)]
    pub cluster_size: usize,
    /// The mariadbd binary
    #[arg(long, env = "GALERA_MYSQLD", default_value = "mariadbd")]
    pub mysqld: PathBuf,
    /// The mariadb-install-db binary
    #[arg(long, env = "GALERA_INSTALL_DB", default_value = "mariadb-install-db")]
    pub install_db: PathBuf,
    /// Addresses or DNS names of the other members, probed before a brand-new bootstrap
    #[arg(long, env = "GALERA_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// TTL of this node's etcd lease (registration, queue, lock, leadership)
    #[arg(long, env = "GALERA_LEASE_TTL", value_parser = parse_duration, default_value = "10s")]
    pub lease_ttl: Duration,
    /// Directory of the state file shared with the probes
    #[arg(long, env = "GALERA_STATE_DIR", default_value = "/run/galera-sidecar")]
    pub state_dir: PathBuf,
    /// The user mariadbd runs as
    #[arg(long, env = "GALERA_MYSQL_USER", default_value = "mysql")]
    pub mysql_user: String,
    /// Galera replication port of every node
    #[arg(long, env = "GALERA_GALERA_PORT", default_value_t = 4567)]
    pub galera_port: u16,
    /// Longest time the lock is held by one join before it is released anyway
    #[arg(long, env = "GALERA_LOCK_HOLD_TIMEOUT", value_parser = parse_duration, default_value = "120s")]
    pub lock_hold_timeout: Duration,
    /// After SIGTERM, the drain's one budget before stopping mariadbd: the --drain-wait-ist wait
    /// and a leader's hand-over (a new leader elected, haproxy moved off this node) share it
    #[arg(long, env = "GALERA_DRAIN_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub drain_timeout: Duration,
    /// Part of the drain kept for haproxy to reload onto the new leader once it is elected
    /// (the wait for a new leader gets the rest of what --drain-timeout has left)
    #[arg(long, env = "GALERA_DRAIN_SWITCH_WINDOW", value_parser = parse_duration, default_value = "3s")]
    pub drain_switch_window: Duration,
    /// On SIGTERM, first wait until this node's restart would rejoin by IST and keep quorum
    /// (`can-restart`); bounded by --drain-timeout less --drain-switch-window and 1 s, kept for
    /// a leader's hand-over, then stop anyway
    #[arg(long, env = "GALERA_DRAIN_WAIT_IST", value_parser = clap::builder::BoolishValueParser::new())]
    pub drain_wait_ist: bool,
    /// Run every node but the leader with `read_only=ON` (as root; the leader gets OFF before
    /// it campaigns or takes a switchover over). Users with SUPER or READ_ONLY ADMIN (root)
    /// still write (docs/leader.md, "Read-only followers")
    #[arg(long, env = "GALERA_READ_ONLY_FOLLOWERS", value_parser = clap::builder::BoolishValueParser::new())]
    pub read_only_followers: bool,
    /// How long a clean mariadbd stop may take before SIGKILL
    #[arg(long, env = "GALERA_STOP_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub stop_timeout: Duration,
    #[command(flatten)]
    pub mysql: MysqlOpts,
}

#[derive(Debug, Subcommand)]
pub enum CheckerCommand {
    /// Exec probe: exit 0 = ready, 1 = not ready; one-line reason on stdout
    Readiness(CheckerOpts),
    /// Exec probe: exit 0 = alive, 1 = must be restarted; one-line reason on stdout
    Liveness(CheckerOpts),
    /// HTTP server: GET /readiness, /liveness (200/503, reason in body), /metrics
    Serve {
        /// Listen address
        #[arg(long, env = "GALERA_CHECKER_LISTEN", default_value = "0.0.0.0:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        opts: CheckerOpts,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CheckerOpts {
    /// Directory of the entrypoint's state file
    #[arg(long, env = "GALERA_STATE_DIR", default_value = "/run/galera-sidecar")]
    pub state_dir: PathBuf,
    /// The datadir (sst_in_progress, pid file) [default: the datadir of --defaults-file, else
    /// /var/lib/mysql]
    #[arg(long, env = "GALERA_DATADIR")]
    pub datadir: Option<PathBuf>,
    /// Time budget of one probe; every SQL call gets less than this
    #[arg(long, env = "GALERA_TIMEOUT", value_parser = parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// A Joined node without progress for this long is dead
    #[arg(long, env = "GALERA_STUCK_JOIN_TIMEOUT", value_parser = parse_duration, default_value = "10m")]
    pub stuck_join_timeout: Duration,
    /// Consecutive refused/timed-out connections (phase running) before liveness fails
    #[arg(long, env = "GALERA_LIVENESS_FAILURES", default_value_t = 3)]
    pub liveness_failures: u32,
    /// The state file's etcd view older than this is stale: read etcd instead
    #[arg(long, env = "GALERA_STATE_MAX_AGE", value_parser = parse_duration, default_value = "30s")]
    pub state_max_age: Duration,
    #[command(flatten)]
    pub mysql: MysqlOpts,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HaproxyCommand {
    #[command(subcommand)]
    pub sub: Option<HaproxySub>,
    #[command(flatten)]
    pub opts: HaproxyOpts,
}

#[derive(Debug, Subcommand)]
pub enum HaproxySub {
    /// Exec probe: a leader is known and haproxy routes to it
    Readiness(HaproxyOpts),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthCheck {
    /// HTTP GET /readiness against each node's `checker serve`
    Httpchk,
    /// haproxy's mysql-check (needs a password-less 'haproxy'@'%' user; passes on donors)
    MysqlCheck,
}

#[derive(Debug, Clone, Args)]
pub struct HaproxyOpts {
    /// haproxy's SQL listen address
    #[arg(long, env = "GALERA_LISTEN", default_value = "0.0.0.0:3306")]
    pub listen: SocketAddr,
    /// The nodes' SQL port
    #[arg(long, env = "GALERA_BACKEND_PORT", default_value_t = 33306)]
    pub backend_port: u16,
    /// Health check of the backend
    #[arg(
        long,
        env = "GALERA_HEALTH_CHECK",
        value_enum,
        default_value = "httpchk"
    )]
    pub health_check: HealthCheck,
    /// Each node's `checker serve` port
    #[arg(long, env = "GALERA_CHECK_PORT", default_value_t = 8080)]
    pub check_port: u16,
    /// The rendered haproxy config
    #[arg(
        long,
        env = "GALERA_HAPROXY_CONFIG",
        default_value = "/etc/haproxy/haproxy.cfg"
    )]
    pub haproxy_config: PathBuf,
    /// A template to render instead of the built-in one
    #[arg(long, env = "GALERA_TEMPLATE")]
    pub template: Option<PathBuf>,
    /// The haproxy binary
    #[arg(long, env = "GALERA_HAPROXY_BIN", default_value = "haproxy")]
    pub haproxy_bin: PathBuf,
    /// Directory for haproxy's sockets and the last good config
    #[arg(
        long,
        env = "GALERA_HAPROXY_RUN_DIR",
        default_value = "/run/galera-haproxy"
    )]
    pub run_dir: PathBuf,
    /// haproxy stats/admin listen address (none when empty)
    #[arg(long, env = "GALERA_STATS_LISTEN")]
    pub stats_listen: Option<SocketAddr>,
    /// A second, read-only client port (none when empty): connections are balanced
    /// (leastconn) over the members other than the leader that pass their health check, the
    /// leader taking them only when none does. Reads there may lag the leader's commits unless
    /// the session sets wsrep_sync_wait (docs/leader.md, "The read port")
    #[arg(long, env = "GALERA_READ_LISTEN")]
    pub read_listen: Option<SocketAddr>,
    /// haproxy's `hard-stop-after`: an old worker left by a reload is killed after this long
    #[arg(long, env = "GALERA_HARD_STOP_AFTER", value_parser = parse_duration, default_value = "30s")]
    pub hard_stop_after: Duration,
    /// On SIGTERM, how long haproxy may finish its sessions (soft stop) before a hard stop
    #[arg(long, env = "GALERA_STOP_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub stop_timeout: Duration,
}

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

/// Validate global options clap cannot check by itself.
pub fn validate_global(g: &GlobalOpts) -> Result<(), ConfigError> {
    validate_cluster_name(&g.cluster_name)?;
    if g.etcd_endpoints.iter().all(|e| e.trim().is_empty()) {
        return Err(ConfigError::new("--etcd-endpoints", "no endpoint given"));
    }
    for e in &g.etcd_endpoints {
        let e = e.trim();
        let rest = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"))
            .unwrap_or(e);
        if rest.is_empty() || rest.contains('/') || rest.contains(' ') {
            return Err(ConfigError::new(
                "--etcd-endpoints",
                format!("`{e}` is not an endpoint; use http://HOST:PORT or https://HOST:PORT"),
            ));
        }
    }
    if let Some(n) = &g.node_name {
        validate_node_name(n).map_err(|p| ConfigError::new("--node-name", p))?;
    }
    if g.etcd_cert_file.is_some() != g.etcd_key_file.is_some() {
        return Err(ConfigError::new(
            "--etcd-cert-file",
            "--etcd-cert-file and --etcd-key-file go together",
        ));
    }
    if g.etcd_username.is_some() != g.etcd_password_file.is_some() {
        return Err(ConfigError::new(
            "--etcd-username",
            "--etcd-username and --etcd-password-file go together",
        ));
    }
    for (opt, f) in [
        ("--etcd-ca-file", &g.etcd_ca_file),
        ("--etcd-cert-file", &g.etcd_cert_file),
        ("--etcd-key-file", &g.etcd_key_file),
        ("--etcd-password-file", &g.etcd_password_file),
    ] {
        if let Some(f) = f {
            if !f.is_file() {
                return Err(ConfigError::new(
                    opt,
                    format!("{} is not a readable file", f.display()),
                ));
            }
        }
    }
    if let Some(f) = &g.etcd_password_file {
        let pw = std::fs::read_to_string(f).map_err(|e| {
            ConfigError::new(
                "--etcd-password-file",
                format!(
                    "{} cannot be read ({e}); mount the etcd password secret there",
                    f.display()
                ),
            )
        })?;
        if pw.trim_end_matches(['\n', '\r']).is_empty() {
            return Err(ConfigError::new(
                "--etcd-password-file",
                format!(
                    "{} is empty; put the password of --etcd-username in it",
                    f.display()
                ),
            ));
        }
    }
    if g.etcd_timeout.is_zero() {
        return Err(ConfigError::new("--etcd-timeout", "must be more than 0"));
    }
    Ok(())
}

/// Where `program` would be run from: itself when it names a path (contains `/`), else the
/// first executable file of that name on `PATH`.
pub fn find_program(program: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.as_os_str().is_empty() {
        return None;
    }
    if program.to_string_lossy().contains('/') {
        return executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// A program option must name an executable: checked at start, so a typo or a missing
/// package is one clear line (exit 2) instead of a failure in the middle of the sequence.
pub fn validate_program(
    option: &'static str,
    env: &str,
    program: &std::path::Path,
    what: &str,
) -> Result<(), ConfigError> {
    if find_program(program).is_some() {
        return Ok(());
    }
    Err(ConfigError::new(
        option,
        format!(
            "{} is not an executable file{}; install {what} or set {option} / {env} to its path",
            program.display(),
            if program.to_string_lossy().contains('/') {
                ""
            } else {
                " on PATH"
            }
        ),
    ))
}

/// The fix to print after a failed bind of a listen address set by `option`.
pub fn listen_fix(e: &std::io::Error, option: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another process already listens there: stop it, or choose another address with {option}"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("no interface has that address: set {option} to an address of this host")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "a port below 1024 needs privileges (CAP_NET_BIND_SERVICE): choose another port with {option}"
        ),
        _ => format!("check {option}"),
    }
}

/// The datadir must be a directory or not exist yet (it is created); a file there, or a
/// file in its path, is a mount or typo problem that must not be mistaken for anything else.
pub fn validate_datadir(datadir: &std::path::Path) -> Result<(), ConfigError> {
    let mut p = Some(datadir);
    while let Some(cur) = p {
        if let Ok(m) = std::fs::metadata(cur) {
            if m.is_dir() {
                return Ok(());
            }
            return Err(ConfigError::new(
                "--datadir",
                if cur == datadir {
                    format!(
                        "{} is a file, not a directory; point --datadir / GALERA_DATADIR at the \
                         data volume's directory (nothing was changed)",
                        datadir.display()
                    )
                } else {
                    format!(
                        "{} cannot be a directory: {} is a file; point --datadir / \
                         GALERA_DATADIR at the data volume's directory (nothing was changed)",
                        datadir.display(),
                        cur.display()
                    )
                },
            ));
        }
        p = cur.parent();
    }
    Ok(())
}

/// Cluster names become an etcd path segment: letters, digits, `-`, `_`, `.`.
pub fn validate_cluster_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::new(
            "--cluster-name",
            format!(
                "`{name}` is not a valid cluster name (letters, digits, - _ . only, 1-128 chars)"
            ),
        ));
    }
    Ok(())
}

pub use crate::names::validate_node_name;

impl GlobalOpts {
    /// The node name: the flag, else the host name.
    pub fn resolved_node_name(&self) -> Result<String, ConfigError> {
        match &self.node_name {
            Some(n) => Ok(n.clone()),
            None => {
                let h = nix::unistd::gethostname()
                    .map_err(|e| ConfigError::new("--node-name", format!("no host name: {e}")))?;
                let h = h.to_string_lossy().into_owned();
                validate_node_name(&h).map_err(|p| {
                    ConfigError::new("--node-name", format!("host name unusable, set it: {p}"))
                })?;
                Ok(h)
            }
        }
    }

    /// The node address: the flag, else `POD_IP`, else the address the host name resolves to.
    pub fn resolved_node_address(&self) -> Result<String, ConfigError> {
        if let Some(a) = &self.node_address {
            if a.trim().is_empty() || a.contains(' ') || a.contains('/') {
                return Err(ConfigError::new(
                    "--node-address",
                    format!("`{a}` is not an address"),
                ));
            }
            return Ok(a.clone());
        }
        if let Ok(ip) = std::env::var("POD_IP") {
            if !ip.trim().is_empty() {
                return Ok(ip.trim().to_string());
            }
        }
        let host = nix::unistd::gethostname()
            .map_err(|e| ConfigError::new("--node-address", format!("no host name: {e}")))?
            .to_string_lossy()
            .into_owned();
        use std::net::ToSocketAddrs;
        let addr = (host.as_str(), 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.find(|a| a.is_ipv4()))
            .ok_or_else(|| {
                ConfigError::new(
                    "--node-address",
                    format!("host name `{host}` does not resolve; set --node-address or POD_IP"),
                )
            })?;
        Ok(addr.ip().to_string())
    }
}

/// `--extra-port` must agree with the server (pure): a port given explicitly that differs from
/// the non-zero `extra_port` of the defaults file (where mariadbd takes it from) would point
/// the probes where nothing listens; and it cannot be the SQL port itself.
pub fn validate_extra_port(
    o: &MysqlOpts,
    cnf: Option<&crate::mycnf::MyCnf>,
) -> Result<(), ConfigError> {
    let Some(p) = o.extra_port.filter(|p| *p != 0) else {
        return Ok(());
    };
    let file = o
        .defaults_file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    if let Some(q) = cnf
        .and_then(|c| c.extra_port())
        .filter(|q| *q != 0 && *q != p)
    {
        return Err(ConfigError::new(
            "--extra-port",
            format!(
                "{p}, but {file} sets extra_port = {q}, where mariadbd listens; unset \
                 --extra-port / GALERA_EXTRA_PORT to follow the my.cnf, or change both"
            ),
        ));
    }
    let sql_port = match (&o.mysql_host, cnf.and_then(|c| c.port())) {
        (Some(_), _) | (None, None) => o.mysql_port,
        (None, Some(port)) => port,
    };
    if p == sql_port {
        return Err(ConfigError::new(
            "--extra-port",
            format!(
                "{p} is the SQL port; the reserved port is another one (MariaDB's extra_port), \
                 e.g. {}",
                p.saturating_add(1)
            ),
        ));
    }
    Ok(())
}

impl GaleraOpts {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster_size == 0 {
            return Err(ConfigError::new("--cluster-size", "must be at least 1"));
        }
        if self.lease_ttl < Duration::from_secs(2) {
            return Err(ConfigError::new("--lease-ttl", "must be at least 2s"));
        }
        if self.drain_switch_window > self.drain_timeout {
            return Err(ConfigError::new(
                "--drain-switch-window",
                format!(
                    "{:?} is longer than --drain-timeout {:?}, of which it is a part",
                    self.drain_switch_window, self.drain_timeout
                ),
            ));
        }
        if let Some(f) = &self.mysql.defaults_file {
            if !f.is_file() {
                return Err(ConfigError::new(
                    "--defaults-file",
                    format!(
                        "{} does not exist or is not a file; mount the my.cnf there or set \
                         --defaults-file / GALERA_DEFAULTS_FILE to its path",
                        f.display()
                    ),
                ));
            }
        }
        let cnf = self
            .mysql
            .defaults_file
            .as_ref()
            .and_then(|f| crate::mycnf::MyCnf::read(f).ok());
        validate_extra_port(&self.mysql, cnf.as_ref())?;
        validate_datadir(&self.datadir)?;
        crate::galera::keep::kept_root(&self.datadir, self.kept_dir.as_deref())
            .map_err(|p| ConfigError::new("--kept-dir", p))?;
        validate_program(
            "--mysqld",
            "GALERA_MYSQLD",
            &self.mysqld,
            "MariaDB (mariadbd)",
        )?;
        validate_program(
            "--install-db",
            "GALERA_INSTALL_DB",
            &self.install_db,
            "MariaDB (mariadb-install-db)",
        )?;
        for p in &self.peers {
            if p.trim().is_empty() || p.contains(' ') {
                return Err(ConfigError::new(
                    "--peers",
                    format!("`{p}` is not an address"),
                ));
            }
        }
        Ok(())
    }
}

impl CheckerOpts {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new("--timeout", "must be more than 0"));
        }
        if self.liveness_failures == 0 {
            return Err(ConfigError::new(
                "--liveness-failures",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn resync_keep_and_discard_conflict() {
        let parse =
            |a: &[&str]| Cli::try_parse_from([&["galera-sidecar", "resync", "g-1"], a].concat());
        let ok = |a: &[&str]| match parse(a).map(|c| c.command) {
            Ok(Command::Resync { keep, discard, .. }) => Some((keep, discard)),
            _ => None,
        };
        assert_eq!(ok(&[]), Some((false, false)), "keeping is the default");
        assert_eq!(ok(&["--keep"]), Some((true, false)));
        assert_eq!(ok(&["--discard"]), Some((false, true)));
        let e = parse(&["--keep", "--discard"])
            .err()
            .map(|e| (e.exit_code(), e.to_string()));
        assert!(
            e.as_ref()
                .is_some_and(|(c, t)| *c == 2 && t.contains("--discard")),
            "{e:?}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn cluster_names() {
        for ok in ["k8scluster", "prod-eu.1", "a_b"] {
            assert!(validate_cluster_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "with space", "x*"] {
            assert!(validate_cluster_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names() {
        assert!(validate_node_name("galera-0").is_ok());
        assert!(validate_node_name("").is_err());
        assert!(validate_node_name("a/b").is_err());
    }

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

    #[test]
    fn extra_port_table() {
        use crate::mycnf::MyCnf;
        let o = |extra: Option<u16>, host: Option<&str>| MysqlOpts {
            mysql_socket: None,
            mysql_host: host.map(String::from),
            mysql_port: 3306,
            extra_port: extra,
            defaults_file: Some("/etc/my.cnf".into()),
        };
        let with = MyCnf::parse("[mysqld]\nport=33306\nextra_port=33307\n");
        let without = MyCnf::parse("[mysqld]\nport=33306\n");
        // (flag, --mysql-host, my.cnf, ok?)
        let cases = [
            (None, None, Some(&with), true),
            (Some(0), None, Some(&with), true),
            (Some(33307), None, Some(&with), true),
            (Some(33308), None, Some(&with), false),
            (Some(33308), None, Some(&without), true),
            (Some(33306), None, Some(&without), false),
            (Some(3306), None, None, false),
            (Some(3306), None, Some(&without), true),
            (Some(3306), Some("h"), Some(&without), false),
        ];
        for (flag, host, cnf, ok) in cases {
            let r = validate_extra_port(&o(flag, host), cnf);
            assert_eq!(r.is_ok(), ok, "{flag:?} {host:?} {cnf:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.option, "--extra-port");
            }
        }
    }

    #[test]
    fn endpoints_are_checked() {
        let cli = Cli::try_parse_from([
            "galera-sidecar",
            "--etcd-endpoints",
            "http://127.0.0.1:2379,http://x/y",
            "status",
        ])
        .expect("parses");
        let err = validate_global(&cli.global).expect_err("bad endpoint");
        assert_eq!(err.option, "--etcd-endpoints");
    }
}
