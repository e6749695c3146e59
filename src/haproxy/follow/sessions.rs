//! Ending the sessions old workers still hold on the old leader after a move: parsing
//! `show sess`, choosing which sessions to end ([`to_end`], pure) and ending them by id
//! through the master CLI, checked and retried ([`end_old_sessions`]).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use tracing::{info, warn};

use crate::haproxy::process::{parse_show_proc, socket_command};

/// How long a session an old worker holds on the old leader may live after a move: enough
/// for a connection accepted just before the move to finish its handshake and first
/// statements, and well inside the drained leader's `--drain-switch-window` (3 s by default),
/// so its sessions are ended by haproxy before it stops.
pub const OLD_SESSION_GRACE: Duration = Duration::from_secs(1);

/// `show sess` listings per old worker when ending its sessions: each but the last is
/// followed by a `shutdown session` for what is still to end; the last only checks.
const SHUTDOWN_ROUNDS: usize = 4;

/// One session of `show sess`: its id, where it goes and how old it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub backend: String,
    pub server: String,
    /// `age=` as haproxy prints it (whole seconds); `None` when unreadable.
    pub age: Option<Duration>,
    /// haproxy's connection to the server failed and it waits to retry (server-side state
    /// TAR or CER in `scb=[state,…]`): the server refuses or is gone, no handshake can be
    /// under way.
    pub retrying: bool,
}

/// The server-side stream connector's state from `scb=[<state>,<flags>,fd=<n>]`.
fn server_side_state(field: &str) -> Option<u32> {
    field.strip_prefix('[')?.split(',').next()?.parse().ok()
}

/// Parse haproxy's human time (`0s`, `59s`, `1m2s`, `3h`, `2d4h`) into a duration.
pub fn parse_age(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then(|| Duration::from_secs(total))
}

/// Parse `show sess` (`0x…: proto=tcpv4 src=… fe=… be=… srv=… … age=… …`, one session a
/// line).
pub fn parse_show_sess(text: &str) -> Vec<Session> {
    text.lines()
        .filter_map(|l| {
            let (id, rest) = l.split_once(": ")?;
            if !id.starts_with("0x") {
                return None;
            }
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_string)
            };
            Some(Session {
                id: id.to_string(),
                backend: field("be=")?,
                server: field("srv=")?,
                age: field("age=").as_deref().and_then(parse_age),
                // haproxy 2.6: SC_ST_TAR = 3 (turn-around before a retry), SC_ST_CER = 6
                // (connection error).
                retrying: matches!(
                    field("scb=").as_deref().and_then(server_side_state),
                    Some(3 | 6)
                ),
            })
        })
        .collect()
}

/// Which of an old worker's sessions to end now (pure): those on a server other than `keep`
/// (sessions without a server, such as the CLI's own, are left alone) and, when `min_age` is
/// given, only those surely at least that old — haproxy's whole-second age may exceed the
/// true age by up to a second — or whose connection to the old server already failed (a
/// crashed leader: ending them at once lets the client retry on the new one). Returns them
/// and how many others are too young yet.
pub fn to_end<'a>(
    sessions: &'a [Session],
    keep: &str,
    min_age: Option<Duration>,
) -> (Vec<&'a Session>, usize) {
    let mut now = Vec::new();
    let mut young = 0;
    for s in sessions
        .iter()
        .filter(|s| s.server != keep && !s.server.starts_with('<'))
    {
        let old_enough = match (min_age, s.age) {
            (None, _) => true,
            _ if s.retrying => true,
            (Some(min), Some(age)) => age >= min + Duration::from_secs(1),
            (Some(_), None) => false,
        };
        if old_enough {
            now.push(s);
        } else {
            young += 1;
        }
    }
    (now, young)
}

/// What ending the old leader's sessions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Sessions ended (acknowledged by haproxy, and gone at the next listing).
    pub ended: usize,
    /// Sessions left because they are younger than asked.
    pub young: usize,
    /// Sessions still open after every attempt.
    pub left: usize,
}

/// `show sess` of an old worker: `Ok(None)` when the worker is gone (its sessions with it).
async fn list_sessions(master_socket: &Path, pid: u32) -> anyhow::Result<Option<Vec<Session>>> {
    let text = socket_command(master_socket, &format!("@!{pid} show sess")).await?;
    if text.contains("Can't find the target") {
        return Ok(None);
    }
    Ok(Some(parse_show_sess(&text)))
}

/// End the sessions old worker `pid` holds on any server but `keep` (see [`to_end`] for
/// `min_age`). haproxy refuses `shutdown sessions server` on an old worker's stopped proxy,
/// so each session is ended by its id; a new listing then checks it is gone, and what is
/// still there is asked again (bounded).
async fn end_worker_sessions(
    master_socket: &Path,
    pid: u32,
    keep: &str,
    min_age: Option<Duration>,
) -> Sweep {
    let mut sweep = Sweep::default();
    // Sessions haproxy acknowledged a `shutdown session` for.
    let mut asked: HashSet<String> = HashSet::new();
    let mut still: HashSet<String> = HashSet::new();
    for round in 1..=SHUTDOWN_ROUNDS {
        let listed = match list_sessions(master_socket, pid).await {
            Ok(Some(l)) => l,
            Ok(None) => Vec::new(), // the worker is gone, and its sessions with it
            Err(e) => {
                warn!("old worker {pid}: cannot list its sessions: {e:#}");
                break;
            }
        };
        let (targets, young) = to_end(&listed, keep, min_age);
        sweep.young = young;
        still = targets.iter().map(|s| s.id.clone()).collect();
        if targets.is_empty() || round == SHUTDOWN_ROUNDS {
            break;
        }
        for s in targets {
            let again = asked.contains(&s.id);
            let cmd = format!("@!{pid} shutdown session {}", s.id);
            match socket_command(master_socket, &cmd).await {
                Ok(ans) if ans.trim().is_empty() && again => warn!(
                    "a session on old leader {}/{} outlived `shutdown session` (old worker \
                     {pid}): asked again",
                    s.backend, s.server
                ),
                Ok(ans) if ans.trim().is_empty() => {
                    info!(
                        "ended a session still open on old leader {}/{} (old worker {pid}, \
                         age {})",
                        s.backend,
                        s.server,
                        s.age
                            .map_or_else(|| "?".to_string(), |a| format!("{}s", a.as_secs()))
                    );
                    asked.insert(s.id.clone());
                }
                // It ended by itself since the listing.
                Ok(ans) if ans.contains("No such session") => {}
                Ok(ans) => warn!("`{cmd}`: {}", ans.trim()),
                Err(e) => warn!("`{cmd}`: {e:#}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sweep.ended = asked.iter().filter(|id| !still.contains(*id)).count();
    sweep.left = still.len();
    if sweep.left > 0 {
        warn!(
            "old worker {pid}: {} session(s) on an old leader still open after {} attempts; \
             hard-stop-after ends them at the latest",
            sweep.left,
            SHUTDOWN_ROUNDS - 1
        );
    }
    sweep
}

/// End the sessions old workers still hold on any server but `keep`: all of them
/// (`min_age` None) or only those at least `min_age` old. Logs each ended session.
pub async fn end_old_sessions(
    master_socket: &Path,
    keep: &str,
    min_age: Option<Duration>,
) -> Sweep {
    let procs = match socket_command(master_socket, "show proc").await {
        Ok(t) => parse_show_proc(&t),
        Err(e) => {
            warn!("cannot list haproxy's old workers: {e:#}");
            return Sweep::default();
        }
    };
    let mut total = Sweep::default();
    for p in procs.iter().filter(|p| p.kind == "worker" && p.reloads > 0) {
        let s = end_worker_sessions(master_socket, p.pid, keep, min_age).await;
        total.ended += s.ended;
        total.young += s.young;
        total.left += s.left;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn show_sess_parses() {
        // As haproxy 2.6 prints them (trimmed after scb=).
        let text = "0x55d0c1f0e600: proto=tcpv4 src=127.0.0.1:54322 fe=galera_sql be=galera srv=127.0.60.2 ts=00 epoch=0 age=5s calls=3 rate=0 cpu=0 lat=0 rq[f=48c40000h,i=0,an=00h,rx=7h59m,wx=,ax=] rp[f=80448000h,i=0,an=00h,rx=7h59m,wx=,ax=] scf=[8,0h,fd=14] scb=[8,1h,fd=15] exp=7h59m\n\
                    0x55d0c1f0f000: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 age=1m3s scb=[8,1h,fd=-1]\n\
                    0x55d0c1f0f100: proto=tcpv4 src=127.0.0.1:54324 fe=galera_sql be=galera srv=127.0.60.2 age=? scb=[3,1h,fd=-1]\n\
                    0x55d0c1f0f200: proto=tcpv4 src=127.0.0.1:54326 fe=galera_sql be=galera srv=127.0.60.2 age=0s scb=[6,1h,fd=-1]\n\
                    0x55d0c1f0f300: proto=tcpv4 src=127.0.0.1:54328 fe=galera_sql be=galera srv=127.0.60.2 age=0s scb=[5,1h,fd=16]\n\n";
        let s = |id: &str, be: &str, srv: &str, age: Option<u64>, retrying: bool| Session {
            id: id.into(),
            backend: be.into(),
            server: srv.into(),
            age: age.map(Duration::from_secs),
            retrying,
        };
        assert_eq!(
            parse_show_sess(text),
            vec![
                s("0x55d0c1f0e600", "galera", "127.0.60.2", Some(5), false),
                s("0x55d0c1f0f000", "<NONE>", "<none>", Some(63), false),
                s("0x55d0c1f0f100", "galera", "127.0.60.2", None, true),
                s("0x55d0c1f0f200", "galera", "127.0.60.2", Some(0), true),
                // Connecting (CON): may be a live server about to answer.
                s("0x55d0c1f0f300", "galera", "127.0.60.2", Some(0), false),
            ]
        );
    }

    #[test]
    fn ages() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0s", Some(0)),
            ("59s", Some(59)),
            ("1m", Some(60)),
            ("1m2s", Some(62)),
            ("3h4m", Some(3 * 3600 + 240)),
            ("2d4h", Some(2 * 86_400 + 4 * 3600)),
            ("?", None),
            ("", None),
            ("5", None),
            ("5x", None),
            ("s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_age(text), want.map(Duration::from_secs), "{text:?}");
        }
    }

    #[test]
    fn which_sessions_end() {
        let s = |id: &str, srv: &str, age: Option<u64>| Session {
            id: id.into(),
            backend: "galera".into(),
            server: srv.into(),
            age: age.map(Duration::from_secs),
            retrying: false,
        };
        let mut refused = s("refused", "10.0.0.5", Some(0));
        refused.retrying = true;
        let list = vec![
            s("pinned", "10.0.0.5", Some(40)),
            s("two-s", "10.0.0.5", Some(2)),
            s("one-s", "10.0.0.5", Some(1)),
            s("fresh", "10.0.0.5", Some(0)),
            s("unknown-age", "10.0.0.5", None),
            refused,
            s("older-leader", "10.0.0.4", Some(9)),
            s("on-the-leader", "10.0.0.6", Some(50)),
            s("cli", "<none>", Some(50)),
        ];
        let ids = |v: Vec<&Session>| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        // Right after the move: only sessions surely at least 1 s old (haproxy's whole
        // seconds may round a 0.2 s old session up to "1s").
        // A session whose connection to the old server failed ends at once too.
        let (now, young) = to_end(&list, "10.0.0.6", Some(Duration::from_secs(1)));
        assert_eq!(ids(now), ["pinned", "two-s", "refused", "older-leader"]);
        assert_eq!(young, 3);
        // The last pass: everything off the leader; never the CLI's own session.
        let (now, young) = to_end(&list, "10.0.0.6", None);
        assert_eq!(
            ids(now),
            [
                "pinned",
                "two-s",
                "one-s",
                "fresh",
                "unknown-age",
                "refused",
                "older-leader"
            ]
        );
        assert_eq!(young, 0);
    }
}
