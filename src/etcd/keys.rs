//! The key layout under `/galera/<cluster-name>/`, in one place (docs/design.md §2).
//!
//! Every key of the product is built here and parsed back here; nothing else formats a key.

/// The keys of one cluster. The prefix ends with `/` so `k8scluster` never matches `k8scluster2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

/// What a key under the prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef<'a> {
    State,
    Uuid,
    Leader,
    Lock,
    Bootstrap,
    Recovery,
    ForceBootstrap,
    Hwm,
    Switchover,
    Pause,
    Node(&'a str),
    Queue(&'a str),
    Seqno(&'a str),
    Position(&'a str),
    Member(&'a str),
    Refused(&'a str),
    Resync(&'a str),
    Resynced(&'a str),
    Census(&'a str),
    Fork(&'a str),
    /// Under the prefix but not a key of ours.
    Other(&'a str),
}

impl Keys {
    pub fn new(cluster_name: &str) -> Self {
        Keys {
            prefix: format!("/galera/{cluster_name}/"),
        }
    }

    /// `/galera/<cluster>/`
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn k(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    pub fn state(&self) -> String {
        self.k("state")
    }
    pub fn uuid(&self) -> String {
        self.k("uuid")
    }
    pub fn leader(&self) -> String {
        self.k("leader")
    }
    /// `hwm`: the commit high-water mark (permanent).
    pub fn hwm(&self) -> String {
        self.k("hwm")
    }
    /// `switchover`: an operator's request to hand leadership to a named node (lease-bound:
    /// it lasts as long as the command waits for it).
    pub fn switchover(&self) -> String {
        self.k("switchover")
    }
    /// `pause`: the operator's maintenance pause (lease-bound: it ends by itself).
    pub fn pause(&self) -> String {
        self.k("pause")
    }
    pub fn lock(&self) -> String {
        self.k("lock")
    }
    pub fn bootstrap(&self) -> String {
        self.k("bootstrap")
    }
    pub fn recovery(&self) -> String {
        self.k("recovery")
    }
    pub fn force_bootstrap(&self) -> String {
        self.k("force-bootstrap")
    }
    pub fn node(&self, name: &str) -> String {
        self.k(&format!("nodes/{name}"))
    }
    pub fn nodes_prefix(&self) -> String {
        self.k("nodes/")
    }
    pub fn queue(&self, name: &str) -> String {
        self.k(&format!("queue/{name}"))
    }
    pub fn queue_prefix(&self) -> String {
        self.k("queue/")
    }
    pub fn seqno(&self, name: &str) -> String {
        self.k(&format!("seqno/{name}"))
    }
    pub fn position(&self, name: &str) -> String {
        self.k(&format!("position/{name}"))
    }
    pub fn member(&self, name: &str) -> String {
        self.k(&format!("members/{name}"))
    }
    pub fn members_prefix(&self) -> String {
        self.k("members/")
    }
    pub fn refused(&self, name: &str) -> String {
        self.k(&format!("refused/{name}"))
    }
    pub fn resync(&self, name: &str) -> String {
        self.k(&format!("resync/{name}"))
    }
    /// `resynced/<name>`: what the node's last resync discarded and where it kept it (permanent).
    pub fn resynced(&self, name: &str) -> String {
        self.k(&format!("resynced/{name}"))
    }
    /// `census/<name>`: what this entrypoint reports about its datadir, for its whole life.
    pub fn census(&self, name: &str) -> String {
        self.k(&format!("census/{name}"))
    }
    pub fn census_prefix(&self) -> String {
        self.k("census/")
    }
    /// `forks/<id>`: a forced recovery that continued a uuid from a position (permanent).
    pub fn fork(&self, id: &str) -> String {
        self.k(&format!("forks/{id}"))
    }

    /// The keys a node owns under its lease and deletes on a clean exit.
    pub fn owned_by(&self, name: &str) -> Vec<String> {
        vec![
            self.node(name),
            self.queue(name),
            self.seqno(name),
            self.position(name),
            self.refused(name),
            self.census(name),
        ]
    }

    /// Parse a full key back; `None` when it is not under this cluster's prefix.
    pub fn classify<'a>(&self, key: &'a str) -> Option<KeyRef<'a>> {
        let rest = key.strip_prefix(self.prefix.as_str())?;
        Some(match rest {
            "state" => KeyRef::State,
            "uuid" => KeyRef::Uuid,
            "leader" => KeyRef::Leader,
            "lock" => KeyRef::Lock,
            "bootstrap" => KeyRef::Bootstrap,
            "recovery" => KeyRef::Recovery,
            "force-bootstrap" => KeyRef::ForceBootstrap,
            "hwm" => KeyRef::Hwm,
            "switchover" => KeyRef::Switchover,
            "pause" => KeyRef::Pause,
            _ => {
                let named = |dir: &str| {
                    rest.strip_prefix(dir)
                        .and_then(|r| r.strip_prefix('/'))
                        .filter(|n| !n.is_empty() && !n.contains('/'))
                };
                if let Some(n) = named("nodes") {
                    KeyRef::Node(n)
                } else if let Some(n) = named("queue") {
                    KeyRef::Queue(n)
                } else if let Some(n) = named("seqno") {
                    KeyRef::Seqno(n)
                } else if let Some(n) = named("position") {
                    KeyRef::Position(n)
                } else if let Some(n) = named("members") {
                    KeyRef::Member(n)
                } else if let Some(n) = named("refused") {
                    KeyRef::Refused(n)
                } else if let Some(n) = named("resync") {
                    KeyRef::Resync(n)
                } else if let Some(n) = named("resynced") {
                    KeyRef::Resynced(n)
                } else if let Some(n) = named("census") {
                    KeyRef::Census(n)
                } else if let Some(n) = named("forks") {
                    KeyRef::Fork(n)
                } else {
                    KeyRef::Other(rest)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_has_trailing_slash() {
        let k = Keys::new("k8scluster");
        assert_eq!(k.prefix(), "/galera/k8scluster/");
        assert_eq!(k.classify("/galera/k8scluster2/state"), None);
    }

    #[test]
    fn round_trip() {
        let k = Keys::new("c");
        assert_eq!(k.classify(&k.state()), Some(KeyRef::State));
        assert_eq!(k.classify(&k.uuid()), Some(KeyRef::Uuid));
        assert_eq!(k.classify(&k.leader()), Some(KeyRef::Leader));
        assert_eq!(k.classify(&k.lock()), Some(KeyRef::Lock));
        assert_eq!(k.classify(&k.hwm()), Some(KeyRef::Hwm));
        assert_eq!(k.classify(&k.switchover()), Some(KeyRef::Switchover));
        assert_eq!(k.classify(&k.pause()), Some(KeyRef::Pause));
        assert_eq!(k.classify(&k.bootstrap()), Some(KeyRef::Bootstrap));
        assert_eq!(k.classify(&k.recovery()), Some(KeyRef::Recovery));
        assert_eq!(
            k.classify(&k.force_bootstrap()),
            Some(KeyRef::ForceBootstrap)
        );
        assert_eq!(k.classify(&k.node("g-0")), Some(KeyRef::Node("g-0")));
        assert_eq!(k.classify(&k.queue("g-0")), Some(KeyRef::Queue("g-0")));
        assert_eq!(k.classify(&k.seqno("g-0")), Some(KeyRef::Seqno("g-0")));
        assert_eq!(
            k.classify(&k.position("g-0")),
            Some(KeyRef::Position("g-0"))
        );
        assert_eq!(k.classify(&k.member("g-0")), Some(KeyRef::Member("g-0")));
        assert_eq!(k.classify(&k.refused("g-0")), Some(KeyRef::Refused("g-0")));
        assert_eq!(k.classify(&k.resync("g-0")), Some(KeyRef::Resync("g-0")));
        assert_eq!(
            k.classify(&k.resynced("g-0")),
            Some(KeyRef::Resynced("g-0"))
        );
        assert_eq!(k.classify(&k.census("g-0")), Some(KeyRef::Census("g-0")));
        assert_eq!(k.classify(&k.fork("g-2@17")), Some(KeyRef::Fork("g-2@17")));
        assert_eq!(
            k.classify("/galera/c/nodes/"),
            Some(KeyRef::Other("nodes/"))
        );
        assert_eq!(
            k.classify("/galera/c/nodes/a/b"),
            Some(KeyRef::Other("nodes/a/b"))
        );
    }
}
