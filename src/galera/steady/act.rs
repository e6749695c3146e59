//! The running loop's executor: does a [`Plan`]'s steps in order, each through one fenced
//! etcd operation (`etcd::store`) or one local write, and says what came of it. It decides
//! nothing beyond what a step's outcome implies: after a failed etcd write the pass's other
//! etcd steps are skipped (the next pass re-decides on a fresh view); after a take-over the
//! pass ends its etcd steps (the new leadership comes back through the watch).

use std::time::Duration;

use tracing::{info, warn};

use super::decide::{Plan, Step, NON_PRIMARY_GRACE};
use super::View;
use crate::etcd::{ClusterSnapshot, EtcdError};
use crate::galera::mariadb_upgrade::Runner;
use crate::galera::node::Node;
use crate::galera::read_only::{read_only_change, Followers};
use crate::galera::rules::MARK_INTERVAL_SECS;

/// What the pass asks of the loop once its steps are done.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Go on with the next pass.
    Continue,
    /// Stop mariadbd to take part in the recovery, and exit (the kubelet restarts).
    Leave(String),
}

/// The loop's state an executor updates.
pub struct Pass<'a> {
    /// The snapshot the plan was decided on.
    pub snap: Option<&'a ClusterSnapshot>,
    pub view: &'a mut View,
    pub followers: &'a mut Followers,
    /// This loop's `mariadb-upgrade` runs.
    pub upgrade: &'a mut Runner,
    pub woken_by: &'a str,
    pub non_primary_for: Duration,
    /// A local status was read at least once since the loop began.
    pub ever_status: bool,
    /// A local status was read this pass.
    pub status_now: bool,
}

/// Do `plan`'s steps; an etcd error is returned after the local steps are done.
pub async fn execute(
    node: &mut Node,
    plan: &Plan,
    pass: &mut Pass<'_>,
) -> (After, Option<EtcdError>) {
    let mut etcd_error = None;
    let mut took_over = false;
    for step in &plan.steps {
        if step.skipped(etcd_error.is_some(), took_over) {
            continue;
        }
        if !step.routine() {
            node.state.decision(step.kind());
        }
        match step_once(node, step, pass).await {
            Ok(Outcome::Done) => {}
            Ok(Outcome::TookOver) => took_over = true,
            Ok(Outcome::Leave(why)) => return (After::Leave(why), None),
            Err(e) => etcd_error = Some(e),
        }
    }
    if etcd_error.is_none() && !took_over {
        if let Some(l) = plan.leader {
            node.state.current.leader = l;
        }
    }
    node.state.current.leader = node.state.current.leader && pass.ever_status;
    if pass.status_now {
        let leader = node.state.current.leader;
        let _ = apply_read_only(node, pass.followers, leader).await;
    }
    (After::Continue, etcd_error)
}

enum Outcome {
    Done,
    TookOver,
    Leave(String),
}

async fn step_once(
    node: &mut Node,
    step: &Step,
    pass: &mut Pass<'_>,
) -> Result<Outcome, EtcdError> {
    let me = node.cfg.name.clone();
    let lease = node.lease.id();
    let empty = ClusterSnapshot::default();
    let snap = pass.snap.unwrap_or(&empty);
    match step {
        Step::WriteInitOk => {
            let owner = crate::galera::datadir::user_ids(&node.cfg.opts.mysql_user);
            if let Err(e) = crate::galera::datadir::write_init_ok(&node.cfg.opts.datadir, owner) {
                warn!("cannot rewrite init.ok: {e}");
            }
        }
        Step::Leave(why) => return Ok(Outcome::Leave(why.clone())),
        Step::HealInPlace(_) => {
            match crate::galera::heal::heal_in_place(node, pass.non_primary_for, NON_PRIMARY_GRACE)
                .await
            {
                Ok(true) => pass.view.dirty = true,
                Ok(false) => {}
                Err(e) => warn!("heal in place failed: {e:#}; re-deciding"),
            }
        }
        Step::Register(r) => {
            node.etcd.register(&me, &node.cfg.address, lease, r).await?;
            if let Some(c) = &r.census {
                node.census = Some((lease, c.clone()));
            }
            if r.registers() {
                info!("registered nodes/{me} = {}", node.cfg.address);
            }
        }
        Step::Deregister(why) => {
            node.etcd.deregister(&me).await?;
            info!("deregistered nodes/{me}: {why}");
        }
        Step::PublishCensus(census) => {
            node.etcd.publish_census(&me, census, lease).await?;
            node.census = Some((lease, census.clone()));
        }
        Step::RestoreUuid(uuid) => {
            if node
                .etcd
                .create_if_absent(&node.etcd.keys.uuid(), uuid, None)
                .await?
            {
                info!("restored P/uuid = {uuid} from the running cluster");
            }
        }
        Step::ClearHealRecord => {
            if node
                .etcd
                .delete_if_unchanged(&[node.etcd.keys.bootstrap()])
                .await?
            {
                info!("healed in place and registered: the heal-in-place record is removed");
            }
        }
        Step::DropMootForce(m) => {
            let k = &node.etcd.keys;
            let keys: Vec<String> = [(m.request, k.force_bootstrap()), (m.record, k.recovery())]
                .into_iter()
                .filter_map(|(wanted, key)| wanted.then_some(key))
                .collect();
            if node.etcd.delete_if_unchanged(&keys).await? {
                warn!("{}", m.why);
            }
        }
        Step::SetSteady { expected, why } => {
            if node.etcd.set_steady(expected.as_deref()).await? {
                info!(
                    "state {} -> STEADY: {why}",
                    expected.as_deref().unwrap_or("unset")
                );
            }
        }
        Step::TakeOver(why) => {
            let (Some(l), Some(req)) = (&snap.leader, &snap.switchover) else {
                return Ok(Outcome::Done);
            };
            // Writable before haproxy can route here (put back at the end of the pass if
            // the take-over fails); not taken over while still read-only.
            if !apply_read_only(node, pass.followers, true).await {
                info!(
                    "switchover: read_only could not be turned off; trying again at the next pass"
                );
            } else if node
                .etcd
                .take_over(l, req, &node.cfg.address, lease)
                .await?
            {
                info!("became leader ({}): {why}", node.cfg.address);
                node.state.current.leader = true;
                return Ok(Outcome::TookOver);
            } else {
                info!("switchover: the leader or the request changed meanwhile; re-deciding");
            }
        }
        Step::RefuseSwitchover(why) => {
            if let Some(req) = &snap.switchover {
                if node.etcd.refuse_switchover(req, why).await? {
                    warn!("switchover to {me} refused: {why}");
                }
            }
        }
        // Said as the plan's sentence.
        Step::Note(_) => {}
        Step::Campaign => campaign(node, pass).await?,
        Step::Resign(why) => {
            if let Some(l) = &snap.leader {
                let resigned = node.etcd.resign(l).await?;
                node.state.current.leader = false;
                if resigned {
                    info!("gave up leadership: {why}");
                }
            }
        }
        Step::WriteMark { mark, first } => {
            if let Some(l) = &snap.leader {
                if node.etcd.put_mark(l, snap.revision, mark).await? && *first {
                    info!(
                        "commit high-water mark {}:{} recorded (then every {MARK_INTERVAL_SECS} s while it moves)",
                        mark.uuid, mark.seqno
                    );
                }
            }
        }
        Step::WriteRecoveryMark(id) => {
            let owner = crate::galera::datadir::user_ids(&node.cfg.opts.mysql_user);
            match crate::galera::datadir::write_recovery_joined(&node.cfg.opts.datadir, id, owner) {
                Ok(()) => {
                    info!(
                        "marked the datadir as joined to the cluster recovered under {id}: \
                         a restart before STEADY rejoins instead of being refused as ahead"
                    );
                    pass.view.recovery_mark = Some(id.clone());
                }
                Err(e) => warn!("cannot write the recovery mark: {e}"),
            }
        }
        Step::AddForks(missing) => {
            if let Err(e) = node.add_forks(missing) {
                warn!("cannot record the cluster's forced recoveries in the datadir: {e}");
            }
        }
        // In the background: its outcome is said when it ends, and read by a later pass.
        Step::Upgrade(_) => pass.upgrade.start(node),
    }
    Ok(Outcome::Done)
}

/// Campaign: create `P/leader` with this node's address under its lease, if absent.
async fn campaign(node: &mut Node, pass: &mut Pass<'_>) -> Result<(), EtcdError> {
    // Writable before haproxy can route here (put back at the end of the pass if it loses);
    // a node still read-only does not campaign (another can, or this one at the next pass).
    if !apply_read_only(node, pass.followers, true).await {
        return Ok(());
    }
    let woken_by = pass.woken_by;
    if node
        .etcd
        .campaign(&node.cfg.address, node.lease.id())
        .await?
    {
        info!(
            "became leader ({}): eligible and no leader; campaign woken by {woken_by}",
            node.cfg.address
        );
        node.state.current.leader = true;
    } else {
        info!("campaign lost: another node became leader first (woken by {woken_by})");
    }
    Ok(())
}

/// `--read-only-followers`: `SET GLOBAL read_only` as root when what this loop last set
/// differs from what `leader` asks for (`read_only::read_only_change`); one line per change.
/// A failure (no root password, a statement that waited too long behind running
/// transactions) is logged, throttled, and tried again at the next pass. Returns false only
/// when a `SET` was needed and failed (the node may then be read-only against what `leader`
/// asks); without a root password nothing is ever set, so the node stays writable: true.
async fn apply_read_only(node: &mut Node, followers: &mut Followers, leader: bool) -> bool {
    let Some(want) = read_only_change(node.cfg.opts.read_only_followers, leader, followers.set)
    else {
        return true;
    };
    let Some(password) = node.cfg.users.root_password.clone() else {
        let note = "--read-only-followers needs the root password (GALERA_ROOT_PASSWORD): \
                    read_only left as it is";
        if node.notes.due(note) {
            warn!("{note}");
        }
        return true;
    };
    let root = crate::mysql::Credentials {
        user: Some("root".into()),
        password: Some(password),
    };
    let (value, why) = if want {
        ("ON", "not the leader")
    } else {
        ("OFF", "the leader (or about to be)")
    };
    let sql = format!("SET GLOBAL read_only={value}");
    match crate::mysql::execute(
        &node.cfg.endpoint,
        &root,
        &sql,
        crate::galera::bounds::STATUS_QUERY,
    )
    .await
    {
        Ok(()) => {
            followers.set = Some(want);
            info!("read_only={value}: this node is {why} (--read-only-followers)");
            true
        }
        Err(e) => {
            followers.set = None;
            let note = format!("cannot set read_only={value}: {e}");
            if node.notes.due(&note) {
                warn!("{note}; trying again at the next pass");
            }
            false
        }
    }
}
