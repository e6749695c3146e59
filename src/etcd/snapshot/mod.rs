//! `ClusterSnapshot`: a typed view of everything under the prefix, read at one revision.
//!
//! Pure: built from raw key-values, so the parsing rules are tested without etcd. A value that
//! does not parse is dropped with a warning (kept in `warnings`), never a panic.
//!
//! The record types the snapshot holds are in `records.rs` (re-exported here).

mod records;

use std::collections::BTreeMap;

use serde::Serialize;

pub use records::{
    BootstrapRecord, CensusEntry, ClusterState, ForceRequest, Fork, LeaderEntry, LockEntry, Mark,
    NodeEntry, Pause, QueueEntry, RecoveryRecord, ResyncRequest, ResyncedRecord, StateValue,
    SwitchoverRequest,
};

use super::keys::{KeyRef, Keys};
use crate::position::{is_uuid, Position};

/// One key-value as read from etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKv {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub lease: i64,
}

impl RawKv {
    pub fn value_str(&self) -> Result<&str, String> {
        std::str::from_utf8(&self.value).map_err(|_| "value is not UTF-8".to_string())
    }
}

/// Everything under the prefix at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterSnapshot {
    pub revision: i64,
    pub cluster_id: u64,
    pub state: Option<StateValue>,
    pub uuid: Option<String>,
    pub leader: Option<LeaderEntry>,
    pub lock: Option<LockEntry>,
    pub bootstrap: Option<BootstrapRecord>,
    pub recovery: Option<RecoveryRecord>,
    pub force_bootstrap: Option<ForceRequest>,
    pub nodes: BTreeMap<String, NodeEntry>,
    pub queue: BTreeMap<String, QueueEntry>,
    pub members: BTreeMap<String, String>,
    pub refused: BTreeMap<String, String>,
    pub resync: BTreeMap<String, ResyncRequest>,
    /// `P/resynced/<name>`: the last resync of each node (what it discarded, where it is kept).
    pub resynced: BTreeMap<String, ResyncedRecord>,
    pub census: BTreeMap<String, CensusEntry>,
    /// `P/forks/<id>`: every forced recovery that continued a uuid from a position.
    pub forks: BTreeMap<String, Fork>,
    /// `P/hwm`: the commit high-water mark.
    pub hwm: Option<Mark>,
    /// `P/switchover`: a pending leader hand-over.
    pub switchover: Option<SwitchoverRequest>,
    /// `P/pause`: the maintenance pause, while it lasts.
    pub pause: Option<Pause>,
    /// Values that did not parse, one sentence each.
    pub warnings: Vec<String>,
}

/// An address value (`nodes/`, `members/`, `leader`): an IP address without a port is taken
/// in the canonical form this sidecar publishes (`[fd00::2]`, `FD00:0::2` → `fd00::2`), so that
/// addresses compare equal as strings; anything else as written.
fn parse_address(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.contains(char::is_whitespace) || v.contains('/') {
        return Err(format!("`{v}` is not an address"));
    }
    Ok(match crate::net_addr::split_host_port(v) {
        Ok((host, None)) => crate::net_addr::canonical_host(host),
        _ => v.to_string(),
    })
}

fn parse_name(v: &str) -> Result<String, String> {
    crate::names::validate_node_name(v.trim()).map(|_| v.trim().to_string())
}

/// A force-bootstrap request: the JSON record, or a bare node name (written by hand or by an
/// older version), which carries no binding and no expiry and is therefore never obeyed.
fn parse_force_request(v: &str) -> Result<ForceRequest, String> {
    if v.trim_start().starts_with('{') {
        return serde_json::from_str(v).map_err(|e| format!("not a force-bootstrap request: {e}"));
    }
    Ok(ForceRequest {
        node: parse_name(v)?,
        position: None,
        issued_at: 0,
        expires_at: 0,
        accept_data_loss: false,
    })
}

/// A resync request: the JSON record, or a bare unix time (an older version's), which carries
/// no binding and no expiry and is therefore never obeyed.
fn parse_resync_request(v: &str) -> Result<ResyncRequest, String> {
    if v.trim_start().starts_with('{') {
        return serde_json::from_str(v).map_err(|e| format!("not a resync request: {e}"));
    }
    Ok(ResyncRequest {
        position: None,
        issued_at: v.trim().parse().unwrap_or(0),
        expires_at: 0,
        discard: false,
    })
}

impl ClusterSnapshot {
    /// Build the typed view; unparsable values are dropped and described in `warnings`.
    pub fn from_kvs(
        keys: &Keys,
        revision: i64,
        cluster_id: u64,
        kvs: impl IntoIterator<Item = RawKv>,
    ) -> Self {
        let mut s = ClusterSnapshot {
            revision,
            cluster_id,
            ..Default::default()
        };
        for kv in kvs {
            if let Err(problem) = s.apply(keys, &kv) {
                s.warnings.push(format!("ignoring {}: {problem}", kv.key));
            }
        }
        // A queue entry needs its queue/ key: seqno/ or position/ alone is a leftover.
        s.queue.retain(|_, q| q.queued_at.is_some());
        s
    }

    fn apply(&mut self, keys: &Keys, kv: &RawKv) -> Result<(), String> {
        let Some(kind) = keys.classify(&kv.key) else {
            return Ok(());
        };
        let v = kv.value_str()?;
        match kind {
            KeyRef::State => {
                self.state = Some(match v.parse::<ClusterState>() {
                    Ok(st) => StateValue::Known(st),
                    Err(_) => StateValue::Invalid(v.to_string()),
                });
            }
            KeyRef::Uuid => {
                let u = v.trim().to_ascii_lowercase();
                if !is_uuid(&u) {
                    return Err(format!("`{v}` is not a uuid"));
                }
                self.uuid = Some(u);
            }
            KeyRef::Leader => {
                self.leader = Some(LeaderEntry {
                    address: parse_address(v)?,
                    lease: kv.lease,
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                })
            }
            KeyRef::Lock => {
                self.lock = Some(LockEntry {
                    holder: v.trim().to_string(),
                    lease: kv.lease,
                    create_revision: kv.create_revision,
                })
            }
            KeyRef::Bootstrap => {
                self.bootstrap = Some(
                    serde_json::from_str(v).map_err(|e| format!("not a bootstrap record: {e}"))?,
                )
            }
            KeyRef::Recovery => {
                self.recovery = Some(
                    serde_json::from_str(v).map_err(|e| format!("not a recovery record: {e}"))?,
                )
            }
            KeyRef::ForceBootstrap => self.force_bootstrap = Some(parse_force_request(v)?),
            KeyRef::Node(n) => {
                self.nodes.insert(
                    n.to_string(),
                    NodeEntry {
                        address: parse_address(v)?,
                        lease: kv.lease,
                    },
                );
            }
            KeyRef::Queue(n) => {
                let t: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{v}` is not a unix time"))?;
                self.queue.entry(n.to_string()).or_default().queued_at = Some(t);
            }
            KeyRef::Seqno(n) => {
                let q: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{v}` is not a seqno"))?;
                if q < -1 {
                    return Err(format!("seqno {q} is below -1"));
                }
                self.queue.entry(n.to_string()).or_default().seqno = Some(q);
            }
            KeyRef::Position(n) => {
                let p: Position = v.parse()?;
                self.queue.entry(n.to_string()).or_default().position = Some(p);
            }
            KeyRef::Member(n) => {
                self.members.insert(n.to_string(), parse_address(v)?);
            }
            KeyRef::Refused(n) => {
                self.refused.insert(n.to_string(), v.to_string());
            }
            KeyRef::Resync(n) => {
                self.resync.insert(n.to_string(), parse_resync_request(v)?);
            }
            KeyRef::Resynced(n) => {
                self.resynced.insert(
                    n.to_string(),
                    serde_json::from_str(v).map_err(|e| format!("not a resync record: {e}"))?,
                );
            }
            KeyRef::Census(n) => {
                self.census.insert(
                    n.to_string(),
                    serde_json::from_str(v).map_err(|e| format!("not a census entry: {e}"))?,
                );
            }
            KeyRef::Hwm => {
                self.hwm = Some(
                    serde_json::from_str(v).map_err(|e| format!("not a high-water mark: {e}"))?,
                )
            }
            KeyRef::Switchover => {
                let mut r: SwitchoverRequest = serde_json::from_str(v)
                    .map_err(|e| format!("not a switchover request: {e}"))?;
                r.lease = kv.lease;
                r.mod_revision = kv.mod_revision;
                self.switchover = Some(r);
            }
            KeyRef::Pause => {
                let mut p: Pause =
                    serde_json::from_str(v).map_err(|e| format!("not a pause record: {e}"))?;
                p.lease = kv.lease;
                self.pause = Some(p);
            }
            KeyRef::Fork(id) => {
                let f: Fork =
                    serde_json::from_str(v).map_err(|e| format!("not a fork record: {e}"))?;
                if f.id != id {
                    return Err(format!("the fork record names {}, not {id}", f.id));
                }
                self.forks.insert(id.to_string(), f);
            }
            KeyRef::Other(_) => {}
        }
        Ok(())
    }

    /// The state, when it is a known one.
    pub fn known_state(&self) -> Option<ClusterState> {
        match &self.state {
            Some(StateValue::Known(s)) => Some(*s),
            _ => None,
        }
    }

    /// The name of the registered node with this address, if any.
    pub fn node_named_by_address(&self, address: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|(_, n)| n.address == address)
            .map(|(name, _)| name.as_str())
    }

    /// The leader's node name, when the leader's address is a registered node's.
    pub fn leader_name(&self) -> Option<&str> {
        self.leader
            .as_ref()
            .and_then(|l| self.node_named_by_address(&l.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "6b3a1f0e-1c2d-11ef-9a7b-0242ac120002";

    fn kv(key: &str, value: &str) -> RawKv {
        RawKv {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            create_revision: 5,
            mod_revision: 6,
            lease: 0,
        }
    }

    fn snap(kvs: &[(&str, &str)]) -> ClusterSnapshot {
        let keys = Keys::new("c");
        ClusterSnapshot::from_kvs(
            &keys,
            10,
            1,
            kvs.iter().map(|(k, v)| kv(&format!("/galera/c/{k}"), v)),
        )
    }

    #[test]
    fn well_formed_values() {
        let bootstrap =
            format!(r#"{{"node":"g-0","position":"{U}:7","at":1700000000,"reason":"recovery"}}"#);
        let s = snap(&[
            ("state", "steady\n"),
            ("uuid", U),
            ("leader", "10.0.0.1"),
            ("lock", "g-1"),
            ("bootstrap", &bootstrap),
            ("nodes/g-0", "10.0.0.1"),
            ("queue/g-1", "1700000000"),
            ("seqno/g-1", "42"),
            ("position/g-1", &format!("{U}:42")),
            ("members/g-0", "10.0.0.1"),
            ("refused/g-2", "split brain"),
            ("resync/g-2", "1"),
            ("force-bootstrap", "g-1"),
        ]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.known_state(), Some(ClusterState::Steady));
        assert_eq!(s.uuid.as_deref(), Some(U));
        assert_eq!(s.leader_name(), Some("g-0"));
        assert_eq!(s.lock.as_ref().map(|l| l.holder.as_str()), Some("g-1"));
        assert_eq!(s.bootstrap.as_ref().map(|b| b.node.as_str()), Some("g-0"));
        let q = &s.queue["g-1"];
        assert_eq!(q.seqno, Some(42));
        assert_eq!(q.position, Some(Position::known(U, 42)));
        assert_eq!(s.members["g-0"], "10.0.0.1");
        // Bare values (hand-written or from an older version) parse, unbound and unexpiring.
        assert_eq!(s.resync["g-2"].expires_at, 0);
        assert_eq!(s.resync["g-2"].position, None);
        let fb = s
            .force_bootstrap
            .as_ref()
            .map(|f| (f.node.as_str(), f.expires_at));
        assert_eq!(fb, Some(("g-1", 0)));
    }

    #[test]
    fn ipv6_addresses_round_trip() {
        // (value in etcd, address in the snapshot)
        for (value, want) in [
            ("fd00::2", "fd00::2"),
            ("[fd00::2]", "fd00::2"),
            ("FD00:0:0::2\n", "fd00::2"),
            ("[fd00::2]:3307", "[fd00::2]:3307"),
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.0.1:3307", "10.0.0.1:3307"),
            ("g-0.galera.db.svc", "g-0.galera.db.svc"),
        ] {
            let s = snap(&[
                ("leader", value),
                ("nodes/g-0", value),
                ("members/g-0", value),
            ]);
            assert!(s.warnings.is_empty(), "{value:?}: {:?}", s.warnings);
            assert_eq!(s.leader.as_ref().map(|l| l.address.as_str()), Some(want));
            assert_eq!(s.nodes["g-0"].address, want, "{value:?}");
            assert_eq!(s.members["g-0"], want, "{value:?}");
            assert_eq!(s.leader_name(), Some("g-0"), "{value:?}");
        }
    }

    #[test]
    fn census_and_bound_requests() {
        let census =
            format!(r#"{{"position":"{U}:7","address":"10.0.0.1","at":5,"running":"{U}:9"}}"#);
        let fb = format!(
            r#"{{"node":"g-1","position":"{U}:7","issued_at":1,"expires_at":3601,"accept_data_loss":false}}"#
        );
        let rs = format!(r#"{{"position":"{U}:3","issued_at":1,"expires_at":3601}}"#);
        let s = snap(&[
            ("census/g-0", &census),
            (
                "census/g-1",
                r#"{"position":"unknown","address":"10.0.0.2","at":5}"#,
            ),
            ("force-bootstrap", &fb),
            ("resync/g-2", &rs),
        ]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.census["g-0"].running, Some(Position::known(U, 9)));
        assert_eq!(s.census["g-1"].position, Position::Unknown);
        assert_eq!(s.census["g-1"].running, None);
        // An older entry (no `stray_writes`, no `version`) counts none and has none; both
        // round-trip, and are left out when absent.
        assert_eq!(s.census["g-0"].stray_writes, 0);
        assert_eq!(s.census["g-0"].version, None);
        let stray = CensusEntry {
            stray_writes: 4,
            version: Some("10.11.19-MariaDB-0+deb12u1".into()),
            ..s.census["g-0"].clone()
        };
        let json = serde_json::to_string(&stray).expect("json");
        let back = &snap(&[("census/g-0", &json)]).census["g-0"];
        assert_eq!(back.stray_writes, 4);
        assert_eq!(back.version.as_deref(), Some("10.11.19-MariaDB-0+deb12u1"));
        let old = serde_json::to_string(&s.census["g-0"]).expect("json");
        assert!(!old.contains("stray") && !old.contains("version"), "{old}");
        let f = s
            .force_bootstrap
            .as_ref()
            .map(|f| (f.node.as_str(), f.position.clone()));
        assert_eq!(f, Some(("g-1", Some(Position::known(U, 7)))));
        assert_eq!(s.resync["g-2"].position, Some(Position::known(U, 3)));
        // An older request (no `discard`) keeps the datadir; `--discard` round-trips.
        assert!(!s.resync["g-2"].discard);
        let d = ResyncRequest {
            discard: true,
            ..s.resync["g-2"].clone()
        };
        let back = snap(&[("resync/g-2", &serde_json::to_string(&d).expect("json"))]);
        assert!(back.resync["g-2"].discard);
        let rec =
            format!(r#"{{"position":"{U}:7","first_seqno":5,"kept":"/v/galera-kept/x","at":9}}"#);
        let r = snap(&[("resynced/g-2", &rec)]);
        assert_eq!(r.resynced["g-2"].kept.as_deref(), Some("/v/galera-kept/x"));
        assert_eq!(r.resynced["g-2"].first_seqno, Some(5));
        let bad = snap(&[("census/g-0", "{}"), ("resync/g-1", "{oops")]);
        assert_eq!(bad.warnings.len(), 2, "{:?}", bad.warnings);
        assert!(bad.census.is_empty() && bad.resync.is_empty());
    }

    #[test]
    fn garbage_in_every_key_is_a_warning_not_a_panic() {
        let garbage = [
            ("uuid", "not-a-uuid"),
            ("leader", "two words"),
            ("bootstrap", "{oops"),
            ("recovery", "[]"),
            ("force-bootstrap", "bad/name"),
            ("nodes/g-0", ""),
            ("queue/g-1", "yesterday"),
            ("seqno/g-1", "-7"),
            ("position/g-1", "xyz:1"),
            ("members/g-0", " "),
        ];
        for (k, v) in garbage {
            let s = snap(&[(k, v)]);
            assert_eq!(s.warnings.len(), 1, "{k}={v:?}: {:?}", s.warnings);
            assert!(s.warnings[0].contains(k), "{:?}", s.warnings);
        }
        // Non-UTF-8 bytes.
        let keys = Keys::new("c");
        let mut raw = kv("/galera/c/state", "");
        raw.value = vec![0xff, 0xfe];
        let s = ClusterSnapshot::from_kvs(&keys, 1, 1, [raw]);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.state, None);
    }

    #[test]
    fn unknown_state_is_kept_as_invalid() {
        let s = snap(&[("state", "SOMETHING")]);
        assert_eq!(s.state, Some(StateValue::Invalid("SOMETHING".into())));
        assert_eq!(s.known_state(), None);
    }

    #[test]
    fn seqno_without_queue_is_not_queued() {
        let s = snap(&[("seqno/g-1", "3")]);
        assert!(s.queue.is_empty());
    }

    #[test]
    fn other_clusters_keys_are_ignored() {
        let keys = Keys::new("c");
        let s = ClusterSnapshot::from_kvs(&keys, 1, 1, [kv("/galera/c2/state", "STEADY")]);
        assert_eq!(s.state, None);
    }

    #[test]
    fn state_parse_is_case_insensitive() {
        assert_eq!("recovery".parse(), Ok(ClusterState::Recovery));
        assert_eq!(" Building ".parse(), Ok(ClusterState::Building));
        assert!("STEADY2".parse::<ClusterState>().is_err());
    }
}
