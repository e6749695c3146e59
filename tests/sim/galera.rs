//! The simulated Galera: datadirs, the commit history, and Primary Components.
//!
//! Every commit has an identity (its parent and seqno), so "this datadir holds that commit"
//! is an ancestry check, and two histories that share a uuid but diverged are told apart.
//! A component is the set of running, mutually connected nodes sharing a uuid; it is Primary
//! when it holds a strict majority of its previous view (a crash or a partition splits it;
//! `pc.recovery` is off: once every member is gone nobody is Primary until a bootstrap).
//! Non-Primary pieces of the same view re-form a Primary when they reconnect as a majority;
//! a non-Primary node reconnecting to the Primary of its uuid catches up by IST (or aborts
//! when it is ahead: "states diverged").

use std::collections::{BTreeMap, BTreeSet};

use galera_sidecar::etcd::snapshot::Fork;
use galera_sidecar::position::Position;

/// No commit (a fresh datadir).
pub type CommitId = u32;

#[derive(Debug, Clone, Copy)]
pub struct Commit {
    pub parent: Option<CommitId>,
    pub seqno: i64,
    pub uuid: u32,
}

/// A datadir: its newest commit (None: fresh), whether its position cannot be recovered
/// (prepared transactions after a crash), and its recovery mark.
#[derive(Debug, Clone, Default)]
pub struct Datadir {
    pub head: Option<CommitId>,
    pub prepared: bool,
    pub mark: Option<String>,
    /// `galera-sidecar.forks.log`: the forced recoveries this datadir's history went through.
    pub forks: Vec<Fork>,
}

#[derive(Debug, Clone)]
pub struct Comp {
    pub uuid: u32,
    pub head: CommitId,
    pub members: BTreeSet<usize>,
    pub primary: bool,
    /// The last Primary view this component descends from, and its size.
    pub view: u32,
    pub view_size: usize,
}

/// A datadir overwritten or caught up by a state transfer.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub node: usize,
    /// What the datadir reported before.
    pub before: Position,
    pub uuid: u32,
    pub seqno: i64,
    /// The component's newest commit, which the datadir now holds.
    pub head: CommitId,
    pub sst: bool,
    /// By the entrypoint's join (else Galera's own rejoin after a partition).
    pub join: bool,
}

#[derive(Default)]
pub struct Galera {
    pub commits: Vec<Commit>,
    pub uuids: Vec<String>,
    pub comps: BTreeMap<u32, Comp>,
    next_comp: u32,
    next_view: u32,
    /// Network side per node: nodes on the same side are connected.
    pub side: Vec<u8>,
    /// Something changed since the components were last settled.
    pub dirty: bool,
}

impl Galera {
    pub fn new(n: usize) -> Galera {
        Galera {
            side: vec![0; n],
            ..Default::default()
        }
    }

    pub fn new_uuid(&mut self) -> u32 {
        let i = self.uuids.len() as u32;
        self.uuids
            .push(format!("{:08x}-5e1d-4000-8000-{:012x}", 0x6b3a_0000 + i, i));
        i
    }

    /// A brand-new history: a new uuid and its first state (seqno 0).
    pub fn genesis(&mut self) -> CommitId {
        let uuid = self.new_uuid();
        self.push(Commit {
            parent: None,
            seqno: 0,
            uuid,
        })
    }

    fn push(&mut self, c: Commit) -> CommitId {
        self.commits.push(c);
        (self.commits.len() - 1) as CommitId
    }

    pub fn commit_after(&mut self, parent: CommitId) -> CommitId {
        let p = self.commits[parent as usize];
        self.push(Commit {
            parent: Some(parent),
            seqno: p.seqno + 1,
            uuid: p.uuid,
        })
    }

    /// The newest commit both histories contain.
    pub fn common(&self, a: CommitId, b: CommitId) -> Option<CommitId> {
        let mut a = Some(a);
        while let Some(x) = a {
            if self.contains(b, x) {
                return Some(x);
            }
            a = self.commits[x as usize].parent;
        }
        None
    }

    /// Does `head`'s history contain `c`?
    pub fn contains(&self, head: CommitId, c: CommitId) -> bool {
        let want = self.commits[c as usize].seqno;
        let mut h = Some(head);
        while let Some(x) = h {
            let cx = self.commits[x as usize];
            if x == c {
                return true;
            }
            if cx.seqno <= want {
                return false;
            }
            h = cx.parent;
        }
        false
    }

    pub fn position_of(&self, c: CommitId) -> Position {
        let cm = self.commits[c as usize];
        Position::known(&self.uuids[cm.uuid as usize], cm.seqno)
    }

    /// The position `--wsrep-recover` finds in a datadir.
    pub fn recovered(&self, d: &Datadir) -> Position {
        match d.head {
            None => Position::Fresh,
            Some(_) if d.prepared => Position::Unknown,
            Some(h) => self.position_of(h),
        }
    }

    fn view(&mut self) -> u32 {
        self.next_view += 1;
        self.next_view
    }

    /// A bootstrap (`--wsrep-new-cluster`) from `head`: a new Primary Component of one.
    pub fn bootstrap(&mut self, node: usize, head: CommitId) -> u32 {
        let id = self.next_comp;
        self.next_comp += 1;
        let view = self.view();
        self.dirty = true;
        self.comps.insert(
            id,
            Comp {
                uuid: self.commits[head as usize].uuid,
                head,
                members: [node].into(),
                primary: true,
                view,
                view_size: 1,
            },
        );
        id
    }

    /// `pc.bootstrap=YES` on a member of component `id`: it becomes Primary, a new view.
    pub fn make_primary(&mut self, id: u32) {
        let view = self.view();
        self.dirty = true;
        if let Some(c) = self.comps.get_mut(&id) {
            c.primary = true;
            c.view = view;
            c.view_size = c.members.len();
        }
    }

    /// `node` enters component `id` (already transferred); a new Primary view.
    pub fn enter(&mut self, id: u32, node: usize) {
        let view = self.view();
        self.dirty = true;
        if let Some(c) = self.comps.get_mut(&id) {
            c.members.insert(node);
            c.view = view;
            c.view_size = c.members.len();
        }
    }

    /// Recompute the components after crashes, stops and network changes. `running[i]`:
    /// node i's mariadbd runs. Returns the state transfers of merges and the nodes whose
    /// mariadbd aborted (ahead of the Primary it reconnected to).
    pub fn settle(&mut self, running: &[bool], comp_of: &mut [Option<u32>]) -> Settled {
        let mut out = Settled::default();
        if !self.dirty {
            return out;
        }
        self.dirty = false;
        // Splits: a piece stays Primary with a strict majority of the view it leaves.
        let ids: Vec<u32> = self.comps.keys().copied().collect();
        for id in ids {
            let intact = self.comps.get(&id).is_some_and(|c| {
                let side = self.side_of(c);
                c.members
                    .iter()
                    .all(|m| running[*m] && Some(self.side[*m]) == side)
            });
            if intact {
                continue;
            }
            let Some(c) = self.comps.get(&id).cloned() else {
                continue;
            };
            let alive: Vec<usize> = c.members.iter().copied().filter(|m| running[*m]).collect();
            let mut pieces: BTreeMap<u8, BTreeSet<usize>> = BTreeMap::new();
            for m in alive {
                pieces.entry(self.side[m]).or_default().insert(m);
            }
            if pieces.len() == 1 && pieces.values().next() == Some(&c.members) {
                continue;
            }
            self.comps.remove(&id);
            for piece in pieces.into_values() {
                let primary = c.primary && piece.len() * 2 > c.members.len();
                let (view, view_size) = if primary {
                    (self.view(), piece.len())
                } else {
                    (c.view, c.view_size)
                };
                let nid = self.next_comp;
                self.next_comp += 1;
                for m in &piece {
                    comp_of[*m] = Some(nid);
                }
                self.comps.insert(
                    nid,
                    Comp {
                        members: piece,
                        primary,
                        view,
                        view_size,
                        ..c.clone()
                    },
                );
            }
        }
        // Merges, until none applies.
        while let Some((a, b)) = self.mergeable() {
            self.merge(a, b, comp_of, &mut out);
        }
        self.comps.retain(|_, c| !c.members.is_empty());
        out
    }

    fn side_of(&self, c: &Comp) -> Option<u8> {
        c.members.iter().next().map(|m| self.side[*m])
    }

    /// The next merge: a non-Primary piece reaching the Primary Component of its uuid joins
    /// it; failing that, non-Primary pieces of one view reunite (and re-form a Primary when
    /// they are a majority of it).
    fn mergeable(&self) -> Option<(u32, u32)> {
        let connected = |a: &Comp, b: &Comp| a.uuid == b.uuid && self.side_of(a) == self.side_of(b);
        for (ia, a) in self.comps.iter().filter(|(_, c)| c.primary) {
            for (ib, b) in &self.comps {
                if !b.primary && connected(a, b) {
                    return Some((*ia, *ib));
                }
            }
        }
        for (ia, a) in &self.comps {
            for (ib, b) in &self.comps {
                if ia < ib && !a.primary && !b.primary && a.view == b.view && connected(a, b) {
                    return Some((*ia, *ib));
                }
            }
        }
        None
    }

    fn merge(&mut self, a: u32, b: u32, comp_of: &mut [Option<u32>], out: &mut Settled) {
        let (Some(ca), Some(cb)) = (self.comps.get(&a).cloned(), self.comps.remove(&b)) else {
            return;
        };
        if ca.primary {
            let top = self.commits[ca.head as usize].seqno;
            let theirs = self.commits[cb.head as usize].seqno;
            for m in cb.members {
                if theirs > top {
                    comp_of[m] = None;
                    out.aborted.push(m);
                    continue;
                }
                out.transfers.push(Transfer {
                    node: m,
                    before: self.position_of(cb.head),
                    uuid: ca.uuid,
                    seqno: top,
                    head: ca.head,
                    sst: false,
                    join: false,
                });
                comp_of[m] = Some(a);
                self.enter(a, m);
            }
            return;
        }
        let view = self.view();
        if let Some(c) = self.comps.get_mut(&a) {
            c.members.extend(cb.members.iter().copied());
            for m in &cb.members {
                comp_of[*m] = Some(a);
            }
            if c.members.len() * 2 > c.view_size {
                c.primary = true;
                c.view = view;
                c.view_size = c.members.len();
            }
        }
    }

    /// Number of Primary Components with members.
    pub fn primaries(&self) -> Vec<(u32, &Comp)> {
        self.comps
            .iter()
            .filter(|(_, c)| c.primary && !c.members.is_empty())
            .map(|(i, c)| (*i, c))
            .collect()
    }
}

/// What settling the components did.
#[derive(Debug, Default)]
pub struct Settled {
    pub transfers: Vec<Transfer>,
    pub aborted: Vec<usize>,
}
