//! The simulated world and its clock: one step is one second. Each step applies the
//! schedule's events, restarts due processes, renews and expires leases, settles the Galera
//! components, lets Primary Components commit, then runs one iteration of every live,
//! unpaused entrypoint in a random order — checking the invariants after each.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use galera_sidecar::etcd::ClusterState;
use galera_sidecar::galera::plan::decide;
use galera_sidecar::galera::recovery::{elect, Election};

use super::etcd::{Etcd, NAMES};
use super::findings::{Boot, Fork, Overwrite};
use super::galera::{CommitId, Galera, Transfer};
use super::invariants::Violation;
use super::node::{Entry, Node};
use super::product::Mutant;
use super::schedule::Schedule;

/// Unix time of step 0.
pub const EPOCH: i64 = 1_800_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub n: usize,
    pub cluster_size: usize,
    pub ttl: i64,
    pub mutant: Mutant,
}

/// What a run did (summed over runs for the report).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub commits: u64,
    pub bootstraps: u64,
    pub elections: u64,
    pub joins: u64,
    pub refusals: u64,
    pub resyncs: u64,
    pub accepted_losses: u64,
    pub heals: u64,
    pub cli_refused: u64,
    pub cli_written: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.commits += o.commits;
        self.bootstraps += o.bootstraps;
        self.elections += o.elections;
        self.joins += o.joins;
        self.refusals += o.refusals;
        self.resyncs += o.resyncs;
        self.accepted_losses += o.accepted_losses;
        self.heals += o.heals;
        self.cli_refused += o.cli_refused;
        self.cli_written += o.cli_written;
    }
}

pub struct World {
    pub cfg: Config,
    pub step: u32,
    pub now: i64,
    pub etcd: Etcd,
    pub g: Galera,
    pub nodes: Vec<Node>,
    /// The component node i's mariadbd is in (None: not running).
    pub comp_of: Vec<Option<u32>>,
    /// The newest acknowledged commits (one per branch) that must stay in some datadir.
    pub frontier: BTreeSet<CommitId>,
    pub rng: StdRng,
    pub trace: Vec<String>,
    pub violation: Option<Violation>,
    pub stats: Stats,
    /// Bootstraps from a position some datadir had gone past (branches of one uuid).
    pub forks: Vec<Fork>,
    /// Datadirs overwritten by state transfers.
    pub overwrites: Vec<Overwrite>,
    /// Recovery records (ids) that replaced a record whose winner had bootstrapped meanwhile.
    pub raced: Vec<String>,
    /// Recovery records (ids) whose winner bootstrapped.
    pub booted: Vec<String>,
    /// Every bootstrap, with the nodes whose mariadbd ran beside it.
    pub boots: Vec<Boot>,
    /// Nodes the operator removed from `members/`.
    pub removed: BTreeSet<usize>,
    /// Recovery records (ids) elected on a queue entry older than its node's datadir.
    pub stale_elected: Vec<String>,
}

/// The outcome of one run.
pub struct Outcome {
    pub violation: Option<Violation>,
    pub trace: Vec<String>,
    pub recovered: bool,
    pub stats: Stats,
    /// Each node's place at the end (what a stuck cluster waits for).
    pub end: Vec<String>,
}

impl World {
    pub fn new(s: &Schedule, mutant: Mutant) -> World {
        let cfg = Config {
            n: s.n,
            cluster_size: s.n,
            ttl: 10,
            mutant,
        };
        World {
            cfg,
            step: 0,
            now: EPOCH,
            etcd: Etcd::new(),
            g: Galera::new(s.n),
            nodes: (0..s.n).map(Node::new).collect(),
            comp_of: vec![None; s.n],
            frontier: BTreeSet::new(),
            rng: StdRng::seed_from_u64(s.seed ^ 0x5151_5eed),
            trace: vec![],
            violation: None,
            stats: Stats::default(),
            forks: vec![],
            overwrites: vec![],
            raced: vec![],
            booted: vec![],
            boots: vec![],
            removed: BTreeSet::new(),
            stale_elected: vec![],
        }
    }

    pub fn log(&mut self, i: usize, what: String) {
        self.trace
            .push(format!("t={} {}: {what}", self.step, NAMES[i]));
    }

    /// Run a schedule to its end or its first violation.
    pub fn run(s: &Schedule, mutant: Mutant) -> Outcome {
        let mut w = World::new(s, mutant);
        let mut events = s.events.iter().peekable();
        while w.step < s.steps && w.violation.is_none() {
            w.step += 1;
            w.now += 1;
            while let Some((_, e)) = events.next_if(|(t, _)| *t <= w.step) {
                w.apply(e);
            }
            w.tick();
        }
        let recovered = w.violation.is_none() && w.recovered();
        let end = (0..w.cfg.n).map(|i| w.end_state(i)).collect();
        Outcome {
            end,
            violation: w.violation,
            trace: w.trace,
            recovered,
            stats: w.stats,
        }
    }

    /// What node `i` is doing, in a few words.
    fn end_state(&mut self, i: usize) -> String {
        let snap = self.etcd.snapshot();
        let n = &self.nodes[i];
        match &n.entry {
            Entry::Running => {
                let primary = self.comp_of[i]
                    .and_then(|c| self.g.comps.get(&c))
                    .is_some_and(|c| c.primary);
                if primary {
                    "running"
                } else {
                    "running non-Primary"
                }
                .into()
            }
            Entry::Refused { .. } => "refused".into(),
            Entry::Queued { .. } => match elect(&snap, self.cfg.cluster_size, self.now) {
                Election::Waiting { .. } => "queued: waiting".into(),
                Election::Blocked { reason } => {
                    format!(
                        "queued: blocked: {}",
                        reason.chars().take(160).collect::<String>()
                    )
                }
                Election::Recorded(r) => format!("queued: recorded {}", r.id()),
                Election::Winner { name, .. } => format!("queued: {name} elected"),
            },
            Entry::Deciding { .. } => {
                let reachable = self.reachable(i, &snap);
                let n = &self.nodes[i];
                let o = super::product::observation(
                    &snap,
                    n.name,
                    &n.position,
                    &reachable,
                    &[],
                    n.data.mark.as_deref(),
                    &n.data.forks,
                    n.since,
                    self.now,
                    self.cfg.cluster_size,
                    self.quiet_secs(),
                );
                let s = decide(&o).sentence();
                format!("deciding: {}", s.chars().take(60).collect::<String>())
            }
            e => format!("{e:?}").chars().take(20).collect(),
        }
    }

    /// STEADY, every node running in one Primary Component and registered.
    fn recovered(&mut self) -> bool {
        let snap = self.etcd.snapshot();
        snap.known_state() == Some(ClusterState::Steady)
            && snap.nodes.len() == self.cfg.n
            && self
                .g
                .primaries()
                .first()
                .is_some_and(|(_, c)| c.members.len() == self.cfg.n)
    }

    fn tick(&mut self) {
        let now = self.now;
        for i in 0..self.cfg.n {
            if let Entry::Down { restart_at } = self.nodes[i].entry {
                if restart_at <= now {
                    self.start_process(i);
                }
            }
        }
        for n in &self.nodes {
            if !n.is_down() && n.paused_until <= now {
                self.etcd.keepalive(n.lease, now, self.cfg.ttl);
            }
        }
        self.etcd.expire(now);
        self.settle();
        self.commits();
        self.check();
        let mut order: Vec<usize> = (0..self.cfg.n).collect();
        order.shuffle(&mut self.rng);
        for i in order {
            if self.violation.is_some() {
                return;
            }
            if self.nodes[i].paused_until > now {
                continue;
            }
            self.node_step(i);
            self.settle();
            self.check();
        }
    }

    fn node_step(&mut self, i: usize) {
        match self.nodes[i].entry.clone() {
            Entry::Down { .. } => {}
            Entry::Deciding { refusal } => self.deciding(i, refusal),
            Entry::Lock { then, since } => self.take_lock(i, then, since),
            Entry::JoinLocked { guard } => self.join_locked(i, guard),
            Entry::BootLocked { guard, rec } => self.boot_locked(i, guard, rec),
            Entry::BootTxn {
                guard,
                rec,
                conds,
                ops,
                at,
            } => self.boot_txn(i, guard, rec, conds, ops, at),
            Entry::Booted {
                guard,
                replace_uuid,
                fork,
            } => self.booted(i, guard, replace_uuid, fork),
            Entry::Queued {
                queued_lease,
                pending,
            } => self.queued(i, queued_lease, pending),
            Entry::Refused { reason, .. } => self.refused(i, reason),
            Entry::Running => self.running(i),
        }
    }

    /// Galera reacts to crashes and the network; merges transfer state.
    fn settle(&mut self) {
        if !self.g.dirty {
            return;
        }
        let running: Vec<bool> = self.comp_of.iter().map(Option::is_some).collect();
        let out = self.g.settle(&running, &mut self.comp_of);
        for t in &out.transfers {
            self.transfer(t);
        }
        for m in out.aborted {
            self.log(
                m,
                "mariadbd aborted: ahead of the Primary Component it reconnected to".into(),
            );
        }
    }

    /// A state transfer lands in node `t.node`'s datadir.
    fn transfer(&mut self, t: &Transfer) {
        self.check_transfer(t);
        let d = &self.nodes[t.node].data;
        if let Some(before) = d.head {
            self.overwrites.push(Overwrite {
                before,
                reported: t.before.clone(),
                after: t.head,
                join: t.join,
            });
        }
        let catch_up = if t.sst {
            self.rng.random_range(2..=6)
        } else {
            self.rng.random_range(1..=3)
        };
        self.nodes[t.node].synced_at = self.now + catch_up;
        let d = &mut self.nodes[t.node].data;
        d.head = Some(t.head);
        d.prepared = false;
        if t.sst {
            // An SST deletes the joiner's files, the recovery mark with them (the forks file
            // is named so that it survives: it was written with the cluster's forks before).
            d.mark = None;
        }
    }

    /// Every Primary Component commits now and then; each commit is acknowledged.
    fn commits(&mut self) {
        let ids: Vec<u32> = self.g.primaries().iter().map(|(i, _)| *i).collect();
        for id in ids {
            if !self.rng.random_bool(0.35) {
                continue;
            }
            let Some(head) = self.g.comps.get(&id).map(|c| c.head) else {
                continue;
            };
            let c = self.g.commit_after(head);
            let members = match self.g.comps.get_mut(&id) {
                Some(comp) => {
                    comp.head = c;
                    comp.members.clone()
                }
                None => continue,
            };
            for m in members {
                self.nodes[m].data.head = Some(c);
            }
            self.acknowledge(c);
            self.stats.commits += 1;
        }
    }

    /// The joiner's mariadbd enters the Primary Component of one of `peers`: IST when its
    /// datadir is of that uuid and not ahead, SST otherwise; Galera aborts a joiner ahead.
    pub fn galera_join(&mut self, i: usize, peers: &[usize]) -> Result<&'static str, String> {
        let side = self.g.side[i];
        let target = peers
            .iter()
            .filter(|p| self.g.side[**p] == side)
            .filter_map(|p| self.comp_of[*p])
            .find(|c| self.g.comps.get(c).is_some_and(|c| c.primary));
        let Some(cid) = target else {
            return Err("no Primary Component among the peers".into());
        };
        let Some(c) = self.g.comps.get(&cid) else {
            return Err("gone".into());
        };
        let (uuid, top, head) = (c.uuid, self.g.commits[c.head as usize].seqno, c.head);
        let d = &self.nodes[i].data;
        let before = self.g.recovered(d);
        let ist = match d.head.map(|h| self.g.commits[h as usize]) {
            Some(mine) if !d.prepared && mine.uuid == uuid => {
                if mine.seqno > top {
                    return Err("local state seqno is greater than group seqno".into());
                }
                true
            }
            _ => false,
        };
        let t = Transfer {
            node: i,
            before,
            uuid,
            seqno: top,
            head,
            sst: !ist,
            join: true,
        };
        self.transfer(&t);
        self.comp_of[i] = Some(cid);
        self.g.enter(cid, i);
        Ok(if ist { "IST" } else { "SST" })
    }
}
