//! Applying a schedule's events: faults (crashes, lost volumes, paused entrypoints,
//! partitions, etcd wipes and lost keys) and operator commands (through the CLI or by hand).

use super::schedule::Event;
use super::world::World;

impl World {
    /// Apply one scheduled event.
    pub fn apply(&mut self, e: &Event) {
        let text = match e {
            Event::Crash {
                node,
                down_for,
                prepared,
                lose_pvc,
            } => {
                if self.nodes[*node].is_down() {
                    return;
                }
                self.crash(*node, *down_for, *prepared);
                if *lose_pvc {
                    self.nodes[*node].data = Default::default();
                    self.rebaseline_held("a volume was lost");
                }
                format!("{e:?}")
            }
            Event::Pause { node, secs } => {
                if self.nodes[*node].is_down() {
                    return;
                }
                self.nodes[*node].paused_until = self.now + secs;
                format!("{e:?}")
            }
            Event::Partition { sides } => {
                self.g.side = sides.clone();
                self.g.dirty = true;
                format!("{e:?}")
            }
            Event::Heal => {
                self.g.side = vec![0; self.cfg.n];
                self.g.dirty = true;
                format!("{e:?}")
            }
            Event::EtcdWipe => {
                self.etcd.wipe();
                format!("{e:?}")
            }
            Event::LoseKey { pick } => {
                let keys = self.etcd.keys();
                if keys.is_empty() {
                    return;
                }
                let k = keys[pick % keys.len()];
                self.etcd.lose(&k);
                format!("LoseKey {k:?}")
            }
            Event::Force {
                node,
                expires,
                accept,
            } => {
                let r = self.cli_force(*node, *expires, *accept);
                self.cli(e, r)
            }
            Event::Resync { node, expires } => {
                let r = self.cli_resync(*node, *expires);
                self.cli(e, r)
            }
            Event::SetRecovery { force } => {
                let r = self.cli_set_recovery(*force);
                self.cli(e, r)
            }
            Event::RemoveMember { node, force } => {
                let r = self.cli_remove_member(*node, *force);
                if r.is_ok() {
                    self.removed.insert(*node);
                }
                self.cli(e, r)
            }
            Event::RawForce { node, raw } => format!("{e:?}: {}", self.raw_force(*node, *raw)),
            Event::RawResync { node, raw } => {
                format!("{e:?}: {}", self.raw_resync(*node, *raw))
            }
            Event::ClusterSize { size } => {
                self.cfg.cluster_size = *size;
                format!("{e:?}")
            }
        };
        self.trace.push(format!("t={} EVENT {text}", self.step));
        self.check();
    }

    fn cli(&mut self, e: &Event, r: Result<String, String>) -> String {
        match r {
            Ok(s) => {
                self.stats.cli_written += 1;
                format!("{e:?}: {s}")
            }
            Err(s) => {
                self.stats.cli_refused += 1;
                format!("{e:?}: refused by the CLI: {s}")
            }
        }
    }
}
