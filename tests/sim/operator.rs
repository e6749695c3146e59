//! The operator's commands as the CLI runs them (`src/status/`: each request bound to the
//! node's reported position at issue time and expiring; refused — nothing written — when the
//! CLI's own checks fail), and hand-made values that bypass the CLI.

use galera_sidecar::etcd::snapshot::{ForceRequest, ResyncRequest};
use galera_sidecar::etcd::ClusterState;
use galera_sidecar::galera::safety::{self, force_request_problem};
use galera_sidecar::position::Position;

use super::etcd::{state, Cond, Dir, Key, Op, Val, NAMES};
use super::schedule::Raw;
use super::world::World;

impl World {
    fn reported(&mut self, node: usize) -> Option<Position> {
        let snap = self.etcd.snapshot();
        safety::reported_positions(&snap)
            .get(NAMES[node])
            .map(|p| (*p).clone())
    }

    /// `force-bootstrap`: Err is the CLI's refusal.
    pub fn cli_force(&mut self, node: usize, expires: i64, accept: bool) -> Result<String, String> {
        let snap = self.etcd.snapshot();
        let name = NAMES[node];
        let position = self.reported(node);
        if !snap.members.contains_key(name) && position.is_none() {
            return Err(format!("{name} is neither a member nor reporting"));
        }
        if !snap.nodes.is_empty() {
            return Err("nodes are registered: a cluster runs".into());
        }
        let running: Vec<&String> = snap
            .census
            .iter()
            .filter(|(n, c)| n.as_str() != name && c.running.is_some())
            .map(|(n, _)| n)
            .collect();
        if !running.is_empty() {
            return Err(format!("the mariadbd of {running:?} runs"));
        }
        let req = ForceRequest {
            node: name.into(),
            position: position.clone(),
            issued_at: self.now,
            expires_at: self.now + expires.max(1),
            accept_data_loss: accept,
        };
        let cluster = safety::cluster_uuid(&snap);
        let problem = match &position {
            None if !accept => Some(format!("{name} has not reported its position")),
            _ => force_request_problem(&req, position.as_ref(), cluster.as_deref(), self.now),
        };
        if let Some(p) = problem {
            return Err(p);
        }
        let rev = snap.revision;
        let conds = [
            Cond::KeyUnchangedSince(Key::Census(node), rev),
            Cond::KeyUnchangedSince(Key::Pos(node), rev),
            Cond::Empty(Dir::Nodes),
        ];
        let bound = format!("{req:?}");
        match self
            .etcd
            .txn(&conds, vec![Op::Put(Key::Force, Val::Force(req), 0)])
        {
            Ok(true) => Ok(format!("written: {bound}")),
            _ => Err("changed meanwhile".into()),
        }
    }

    /// `resync`: Err is the CLI's refusal.
    pub fn cli_resync(&mut self, node: usize, expires: i64) -> Result<String, String> {
        let snap = self.etcd.snapshot();
        let name = NAMES[node];
        if !snap.refused.contains_key(name) {
            return Err(format!("{name} is not refused"));
        }
        let Some(position) = self.reported(node) else {
            return Err(format!("{name} reports no position"));
        };
        let req = ResyncRequest {
            position: Some(position),
            issued_at: self.now,
            expires_at: self.now + expires.max(1),
            discard: false,
        };
        let rev = snap.revision;
        let conds = [
            Cond::KeyUnchangedSince(Key::Census(node), rev),
            Cond::KeyUnchangedSince(Key::Pos(node), rev),
            Cond::Present(Key::Refused(node)),
        ];
        let bound = format!("{req:?}");
        match self.etcd.txn(
            &conds,
            vec![Op::Put(Key::Resync(node), Val::Resync(req), 0)],
        ) {
            Ok(true) => Ok(format!("written: {bound}")),
            _ => Err("changed meanwhile".into()),
        }
    }

    /// `set-state RECOVERY`: refused while nodes are registered unless forced.
    pub fn cli_set_recovery(&mut self, force: bool) -> Result<String, String> {
        let mut conds = vec![match self.etcd.get(&Key::State) {
            Some(kv) => Cond::ModRev(Key::State, kv.modrev),
            None => Cond::Absent(Key::State),
        }];
        if !force {
            conds.push(Cond::Empty(Dir::Nodes));
        }
        let put = Op::Put(Key::State, state(ClusterState::Recovery), 0);
        match self.etcd.txn(&conds, vec![put]) {
            Ok(true) => Ok("state RECOVERY".into()),
            _ => Err("nodes are registered".into()),
        }
    }

    /// `remove-member`: refused while the node is registered unless forced.
    pub fn cli_remove_member(&mut self, node: usize, force: bool) -> Result<String, String> {
        let mut conds = vec![Cond::Present(Key::Member(node))];
        if !force {
            conds.push(Cond::Absent(Key::Node(node)));
            let snap = self.etcd.snapshot();
            let running = snap
                .census
                .get(NAMES[node])
                .is_some_and(|c| c.running.is_some());
            if running {
                return Err("its mariadbd runs (census)".into());
            }
            conds.push(Cond::KeyUnchangedSince(Key::Census(node), snap.revision));
        }
        match self.etcd.txn(&conds, vec![Op::Del(Key::Member(node))]) {
            Ok(true) => Ok("member removed".into()),
            _ => Err("not a member, or registered".into()),
        }
    }

    /// A position the node does not hold.
    fn elsewhere(&mut self, node: usize) -> Position {
        match self.reported(node) {
            Some(Position::Known { uuid, seqno }) => Position::known(&uuid, seqno + 2),
            _ => Position::known("0badc0de-0000-4000-8000-000000000001", 7),
        }
    }

    pub fn raw_force(&mut self, node: usize, raw: Raw) -> String {
        let now = self.now;
        let position = self.reported(node);
        let req = match raw {
            Raw::Legacy => ForceRequest {
                node: NAMES[node].into(),
                position: None,
                issued_at: 0,
                expires_at: 0,
                accept_data_loss: false,
            },
            Raw::Expired => ForceRequest {
                node: NAMES[node].into(),
                position,
                issued_at: now - 100,
                expires_at: now - 1,
                accept_data_loss: false,
            },
            Raw::WrongPosition => ForceRequest {
                node: NAMES[node].into(),
                position: Some(self.elsewhere(node)),
                issued_at: now,
                expires_at: now + 120,
                accept_data_loss: false,
            },
            Raw::Valid => ForceRequest {
                node: NAMES[node].into(),
                position: None,
                issued_at: now,
                expires_at: now + 120,
                accept_data_loss: true,
            },
        };
        let text = format!("{req:?}");
        let _ = self.etcd.put(Key::Force, Val::Force(req), 0);
        text
    }

    pub fn raw_resync(&mut self, node: usize, raw: Raw) -> String {
        let now = self.now;
        let position = self.reported(node);
        let req = match raw {
            Raw::Legacy => ResyncRequest {
                position: None,
                issued_at: now,
                expires_at: 0,
                discard: false,
            },
            Raw::Expired => ResyncRequest {
                position,
                issued_at: now - 100,
                expires_at: now - 1,
                discard: false,
            },
            Raw::WrongPosition => ResyncRequest {
                position: Some(self.elsewhere(node)),
                issued_at: now,
                expires_at: now + 120,
                discard: false,
            },
            Raw::Valid => ResyncRequest {
                position,
                issued_at: now,
                expires_at: now + 120,
                discard: false,
            },
        };
        let text = format!("{req:?}");
        let _ = self.etcd.put(Key::Resync(node), Val::Resync(req), 0);
        text
    }
}
