//! One step of the running loop's plan ([`Step`]): what it does, its kind for the `decisions`
//! metric, its words for the plan's sentence, and the executor's sequencing rule.

use crate::etcd::snapshot::{CensusEntry, Fork, Mark};
use crate::etcd::store::Registration;
use crate::galera::rules::MootForce;

/// One step of a plan, done in order by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// First Synced: rewrite init.ok (local).
    WriteInitOk,
    /// Stop mariadbd cleanly and exit for the kubelet to restart into the recovery queue.
    Leave(String),
    /// Make this node Primary in place (`pc.bootstrap=YES`), fenced like a bootstrap.
    HealInPlace(String),
    /// Register (with the census when due).
    Register(Registration),
    /// Delete `nodes/<me>` (held under this lease).
    Deregister(String),
    /// Re-publish the census entry (nothing else to register).
    PublishCensus(CensusEntry),
    /// `P/uuid` lost with etcd's data: restore it from the running cluster (create-if-absent).
    RestoreUuid(String),
    /// This node healed in place and is registered: its `P/bootstrap` record goes.
    ClearHealRecord,
    /// A pending forced recovery is moot: delete it.
    DropMootForce(MootForce),
    /// Every member registered: `P/state` → STEADY, fenced on the state and an empty queue.
    SetSteady {
        expected: Option<String>,
        why: String,
    },
    /// A switchover names this node and it may take over: leadership in one transaction.
    TakeOver(String),
    /// A switchover names this node and it refuses: the reason goes into the request.
    RefuseSwitchover(String),
    /// Not campaigning yet, or keeping leadership against a rule: said, throttled.
    Note(String),
    /// No leader and eligible: create `P/leader` under this lease.
    Campaign,
    /// Leader and no longer eligible: delete `P/leader` if still this entry.
    Resign(String),
    /// The leader's commit high-water mark (`first`: of a new line, said once).
    WriteMark { mark: Mark, first: bool },
    /// Mark the datadir as having joined the recovered cluster under this record (local).
    WriteRecoveryMark(String),
    /// List forks the registered peers' history has and the datadir lacks (local).
    AddForks(Vec<Fork>),
    /// Synced, and the datadir records an older release series than mariadbd's: start
    /// `mariadb-upgrade` in the background (local; `galera::mariadb_upgrade`).
    Upgrade(String),
}

impl Step {
    /// Does this step write to etcd (skipped once an etcd write of the pass failed)?
    pub fn writes_etcd(&self) -> bool {
        !matches!(
            self,
            Step::WriteInitOk
                | Step::Leave(_)
                | Step::HealInPlace(_)
                | Step::Note(_)
                | Step::WriteRecoveryMark(_)
                | Step::AddForks(_)
                | Step::Upgrade(_)
        )
    }

    /// The step's kind, as the `decisions` metric counts it.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::WriteInitOk => "init-ok",
            Step::Leave(_) => "leave-for-recovery",
            Step::HealInPlace(_) => "heal-in-place",
            Step::Register(_) => "register",
            Step::Deregister(_) => "deregister",
            Step::PublishCensus(_) => "census",
            Step::RestoreUuid(_) => "restore-uuid",
            Step::ClearHealRecord => "clear-heal-record",
            Step::DropMootForce(_) => "force-moot",
            Step::SetSteady { .. } => "steady",
            Step::TakeOver(_) => "switchover",
            Step::RefuseSwitchover(_) => "refuse-switchover",
            Step::Note(_) => "hold",
            Step::Campaign => "campaign",
            Step::Resign(_) => "resign",
            Step::WriteMark { .. } => "mark",
            Step::WriteRecoveryMark(_) => "recovery-mark",
            Step::AddForks(_) => "add-forks",
            Step::Upgrade(_) => "mariadb-upgrade",
        }
    }

    /// Is this step skipped, after an etcd write of the same pass failed (`etcd_failed`) or a
    /// take-over won (`took_over`)? Then the pass's other etcd writes wait for the next pass,
    /// which decides on a fresh view (pure; the executor and the simulation both follow it).
    pub fn skipped(&self, etcd_failed: bool, took_over: bool) -> bool {
        self.writes_etcd() && (etcd_failed || took_over)
    }

    /// Routine bookkeeping, left out of the plan's sentence and the `decisions` metric (it
    /// recurs every few seconds).
    pub fn routine(&self) -> bool {
        matches!(
            self,
            Step::PublishCensus(_) | Step::WriteMark { first: false, .. }
        )
    }

    /// The step in words, for the plan's sentence.
    pub fn describe(&self) -> String {
        match self {
            Step::WriteInitOk => "first Synced: init.ok rewritten".into(),
            Step::Leave(why) => format!("leave for the recovery: {why}"),
            Step::HealInPlace(why) => format!("heal in place: {why}"),
            Step::Register(_) => "register (Synced or Donor, Primary)".into(),
            Step::Deregister(why) => format!("deregister: {why}"),
            Step::PublishCensus(_) => "census refresh".into(),
            Step::RestoreUuid(u) => format!("restore P/uuid = {u} from the running cluster"),
            Step::ClearHealRecord => "healed in place and registered: clear the record".into(),
            Step::DropMootForce(m) => m.why.clone(),
            Step::SetSteady { why, .. } => format!("STEADY: {why}"),
            Step::TakeOver(why) => format!("take leadership over: {why}"),
            Step::RefuseSwitchover(why) => format!("refuse the switchover: {why}"),
            Step::Note(n) => n.clone(),
            Step::Campaign => "campaign: eligible and no leader".into(),
            Step::Resign(why) => format!("give up leadership: {why}"),
            Step::WriteMark { mark, .. } => {
                format!("commit high-water mark {}:{}", mark.uuid, mark.seqno)
            }
            Step::WriteRecoveryMark(id) => format!("mark the datadir as joined to {id}"),
            Step::AddForks(f) => format!("list {} fork(s) in the datadir", f.len()),
            Step::Upgrade(why) => format!("run mariadb-upgrade: {why}"),
        }
    }
}
