//! The monitor user kept in step with its Secret while the node runs.
//!
//! The running loop asks the local server for its wsrep status as the monitor user. Before each
//! query it re-reads `GALERA_MONITOR_USER` / `GALERA_MONITOR_PASSWORD` (or their `_FILE`), so a
//! rotated, mounted Secret is picked up without a restart. When the server refuses the Secret's
//! password (access denied) and root's password is known (`GALERA_ROOT_PASSWORD`, re-read at
//! that moment too), the entrypoint re-applies the monitor user from the Secret as root: the
//! same user for both hosts it is created with (`'%'` and `'localhost'`), `CREATE USER IF NOT
//! EXISTS` then `ALTER USER … IDENTIFIED BY`. Galera replicates the change to every node.
//!
//! [`decide`] (pure, table-tested) says whether to do it now; the shell ([`MonitorSession`])
//! rate-limits the attempts ([`RETRY_EVERY`]) and logs one line per decision. No secret ever
//! reaches a log line or a command line: the statements go over the SQL protocol, and a server
//! error quoting them is redacted.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::node::Node;
use crate::mysql::{self, Credentials, MysqlError, WsrepStatus};

/// At most one attempt to re-apply the monitor user per this interval.
pub const RETRY_EVERY: Duration = Duration::from_secs(30);

/// How long a password that worked in this process, and that the Secret still holds, may be
/// refused before it is re-applied anyway. Shorter than that, another node most likely applied
/// a newer Secret that has not reached this pod's mounted files yet (the kubelet updates each
/// pod's Secret volume on its own schedule, usually within a minute or two): re-applying the
/// old password would undo the rotation.
pub const STALE_GRACE: Duration = Duration::from_secs(300);

/// Root's password, as far as this decision is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootPassword {
    Known,
    NotSet,
    /// `GALERA_ROOT_PASSWORD_FILE` names a file that cannot be read (the reason, no content).
    Unreadable(String),
}

/// What the running loop knows when the Secret's monitor password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The Secret's password is not the one that last authenticated in this process (or none
    /// has yet): the Secret changed, or the server never had it.
    pub secret_is_new: bool,
    /// How long the Secret's current password has been refused.
    pub refused_for: Duration,
    pub root: RootPassword,
    /// Time since the last attempt to re-apply the user (None: never).
    pub since_last_attempt: Option<Duration>,
}

/// What to do about a refused monitor password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Re-apply the monitor user from the Secret now, as root; why.
    Apply(String),
    /// Not now; why (stable text: logged once while it holds).
    Wait(String),
    /// Not possible; why and what to do (stable text: logged once while it holds).
    CannotApply(String),
}

/// Decide about a refused monitor password (pure).
pub fn decide(r: &Refused) -> Action {
    match &r.root {
        RootPassword::NotSet => {
            return Action::CannotApply(
                "GALERA_ROOT_PASSWORD is not set, so the entrypoint cannot re-apply it: set the \
                 monitor user's password by hand (docs/operations.md, monitor password rotation)"
                    .into(),
            )
        }
        RootPassword::Unreadable(e) => {
            return Action::CannotApply(format!(
                "root's password cannot be read ({e}), so the entrypoint cannot re-apply it"
            ))
        }
        RootPassword::Known => {}
    }
    if r.since_last_attempt.is_some_and(|d| d < RETRY_EVERY) {
        return Action::Wait(format!(
            "the last attempt to re-apply it failed; retrying at most every {}s",
            RETRY_EVERY.as_secs()
        ));
    }
    if r.secret_is_new {
        return Action::Apply(
            "the Secret holds a password not yet seen to work (rotated Secret, or a datadir \
             created with another one)"
                .into(),
        );
    }
    if r.refused_for < STALE_GRACE {
        return Action::Wait(format!(
            "the password that worked is refused now while the Secret still holds it: another \
             node probably applied a newer Secret not yet mounted here; not re-applying it \
             before {}s",
            STALE_GRACE.as_secs()
        ));
    }
    Action::Apply(format!(
        "it has been refused for {}s with the Secret unchanged, and the Secret is the source of \
         truth",
        r.refused_for.as_secs()
    ))
}

/// The running loop's memory about the monitor credentials.
#[derive(Default)]
pub struct MonitorSession {
    /// The credentials that last authenticated.
    last_good: Option<Credentials>,
    /// The Secret's credentials being refused, and since when.
    refused: Option<(Credentials, Instant)>,
    last_attempt: Option<Instant>,
    /// The last Wait/CannotApply line logged (logged again only when it changes).
    said: String,
}

impl MonitorSession {
    /// The local wsrep status as the Secret's monitor user, bounded by about `timeout` (plus
    /// one re-application, itself bounded, when [`decide`] says so). Without a monitor user:
    /// root over the socket, as before.
    pub async fn status(
        &mut self,
        node: &mut Node,
        timeout: Duration,
    ) -> Result<WsrepStatus, MysqlError> {
        let secret = match Credentials::monitor_from_env() {
            Ok(c) => c,
            Err(e) => {
                // Nothing is decided on a Secret that cannot be read.
                self.say(format!(
                    "monitor user: cannot re-read its Secret ({e}); keeping the credentials in use"
                ));
                return mysql::wsrep_status(&node.cfg.endpoint, &node.cfg.creds, timeout).await;
            }
        };
        if secret.user.is_none() {
            return mysql::wsrep_status(&node.cfg.endpoint, &node.cfg.creds, timeout).await;
        }
        let why = match mysql::wsrep_status(&node.cfg.endpoint, &secret, timeout).await {
            Ok(s) => {
                self.worked(node, secret);
                return Ok(s);
            }
            Err(MysqlError::AccessDenied(why)) => why,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let since = match &self.refused {
            Some((c, t)) if *c == secret => *t,
            _ => now,
        };
        self.refused = Some((secret.clone(), since));
        let (root, root_pw) = match crate::secrets::read("GALERA_ROOT_PASSWORD") {
            Ok(Some(pw)) => (RootPassword::Known, Some(pw)),
            Ok(None) => (RootPassword::NotSet, None),
            Err(e) => (RootPassword::Unreadable(e.problem), None),
        };
        let situation = Refused {
            secret_is_new: self.last_good.as_ref() != Some(&secret),
            refused_for: now.duration_since(since),
            root,
            since_last_attempt: self.last_attempt.map(|t| now.duration_since(t)),
        };
        match (decide(&situation), root_pw) {
            (Action::Apply(reason), Some(root_pw)) => {
                self.last_attempt = Some(now);
                match apply(node, &secret, &root_pw).await {
                    Ok(()) => {
                        info!(
                            "monitor user: the Secret's password was refused (access denied) and \
                             {reason}: re-applied it as root (ALTER USER for @'%' and \
                             @'localhost'; Galera replicates it)"
                        );
                        self.said.clear();
                        if let Ok(s) =
                            mysql::wsrep_status(&node.cfg.endpoint, &secret, timeout).await
                        {
                            self.worked(node, secret);
                            return Ok(s);
                        }
                    }
                    Err(e) => warn!(
                        "monitor user: the Secret's password was refused (access denied) and \
                         {reason}, but re-applying it as root failed: {e}; next attempt in {}s",
                        RETRY_EVERY.as_secs()
                    ),
                }
            }
            (Action::Apply(_), None) => {}
            (Action::Wait(reason), _) => self.say(format!(
                "monitor user: the Secret's password is refused (access denied): {reason}"
            )),
            (Action::CannotApply(reason), _) => self.say(format!(
                "monitor user: the Secret's password is refused (access denied): {reason}"
            )),
        }
        // Meanwhile the credentials that worked before keep this node's status known.
        if let Some(prev) = self.last_good.clone().filter(|p| *p != secret) {
            if let Ok(s) = mysql::wsrep_status(&node.cfg.endpoint, &prev, timeout).await {
                return Ok(s);
            }
        }
        Err(MysqlError::AccessDenied(why))
    }

    /// `creds` authenticated: remember them (the startup and heal code read `node.cfg.creds`).
    fn worked(&mut self, node: &mut Node, creds: Credentials) {
        if self.refused.is_some() && !self.said.is_empty() {
            info!("monitor user: the Secret's password authenticates again");
        }
        self.said.clear();
        self.refused = None;
        self.last_attempt = None;
        node.cfg.creds = creds.clone();
        self.last_good = Some(creds);
    }

    /// Log `line` (a warning) unless it is the line logged last.
    fn say(&mut self, line: String) {
        if line != self.said {
            warn!("{line}");
            self.said = line;
        }
    }
}

/// Re-apply the monitor user of `secret` as root (5 s bound). Errors are redacted.
async fn apply(node: &Node, secret: &Credentials, root_pw: &str) -> Result<(), MysqlError> {
    let (Some(user), Some(pw)) = (&secret.user, &secret.password) else {
        return Err(MysqlError::Server(
            "the Secret has a monitor user without a password".into(),
        ));
    };
    let root = Credentials {
        user: Some("root".into()),
        password: Some(root_pw.to_string()),
    };
    let sql = super::datadir::monitor_user_statements(user, pw);
    mysql::execute_all(
        &node.cfg.endpoint,
        &root,
        sql.statements(),
        &[pw, user, root_pw],
        Duration::from_secs(5),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(new: bool, for_s: u64, root: RootPassword, last: Option<u64>) -> Refused {
        Refused {
            secret_is_new: new,
            refused_for: Duration::from_secs(for_s),
            root,
            since_last_attempt: last.map(Duration::from_secs),
        }
    }

    #[test]
    fn decide_table() {
        use RootPassword::*;
        let unreadable = Unreadable("GALERA_ROOT_PASSWORD_FILE=/x cannot be read".into());
        // (secret is new, refused for s, root, since last attempt s) → action kind, text
        let cases = [
            // A rotated Secret (or a datadir made with another password): apply at once.
            (
                refused(true, 0, Known, None),
                "apply",
                "not yet seen to work",
            ),
            (
                refused(true, 400, Known, Some(31)),
                "apply",
                "not yet seen to work",
            ),
            // Rate limit, whatever the reason.
            (
                refused(true, 0, Known, Some(5)),
                "wait",
                "at most every 30s",
            ),
            (
                refused(false, 400, Known, Some(29)),
                "wait",
                "at most every 30s",
            ),
            // The password that worked is refused, the Secret unchanged: another node applied a
            // newer Secret — wait for ours, up to the grace, then the Secret wins.
            (
                refused(false, 0, Known, None),
                "wait",
                "not yet mounted here",
            ),
            (
                refused(false, 299, Known, Some(200)),
                "wait",
                "not yet mounted here",
            ),
            (
                refused(false, 300, Known, None),
                "apply",
                "refused for 300s",
            ),
            (
                refused(false, 301, Known, Some(100)),
                "apply",
                "source of truth",
            ),
            // Without root's password nothing can be applied.
            (
                refused(true, 0, NotSet, None),
                "cannot",
                "GALERA_ROOT_PASSWORD is not set",
            ),
            (refused(false, 900, NotSet, None), "cannot", "by hand"),
            (
                refused(true, 0, unreadable, None),
                "cannot",
                "cannot be read",
            ),
        ];
        for (input, kind, text) in cases {
            let got = decide(&input);
            let (k, t) = match &got {
                Action::Apply(t) => ("apply", t),
                Action::Wait(t) => ("wait", t),
                Action::CannotApply(t) => ("cannot", t),
            };
            assert_eq!(k, kind, "{input:?} → {got:?}");
            assert!(t.contains(text), "{input:?} → {got:?} lacks `{text}`");
        }
    }

    #[test]
    fn wait_and_cannot_texts_are_stable() {
        // Logged once while they hold: they must not change from one tick to the next.
        let a = decide(&refused(false, 10, RootPassword::Known, None));
        let b = decide(&refused(false, 200, RootPassword::Known, None));
        assert_eq!(a, b);
        let a = decide(&refused(true, 0, RootPassword::Known, Some(1)));
        let b = decide(&refused(true, 0, RootPassword::Known, Some(20)));
        assert_eq!(a, b);
    }
}
