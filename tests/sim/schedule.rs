//! Schedules: the faults and operator commands of one run, generated from a random seed (so
//! the same random seed replays it) and printed as Rust values (so a shrunk schedule can be
//! pasted into a test).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a hand-made request (bypassing the CLI) is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// A bare value of an older version: no binding, no expiry.
    Legacy,
    /// Bound to the reported position, but already expired.
    Expired,
    /// Bound to a position the node does not hold.
    WrongPosition,
    /// Well-formed and valid (a force accepting data loss; a resync bound to the reported
    /// position of a node that may not be refused).
    Valid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// kill -9 of the container; the kubelet restarts it `down_for` s later. `prepared`: the
    /// crash leaves prepared transactions (the position cannot be recovered); `lose_pvc`: the
    /// volume is lost while it is down.
    Crash {
        node: usize,
        down_for: i64,
        prepared: bool,
        lose_pvc: bool,
    },
    /// SIGSTOP of the entrypoint for `secs` (mariadbd keeps running).
    Pause {
        node: usize,
        secs: i64,
    },
    /// The Galera network splits: nodes on the same side stay connected.
    Partition {
        sides: Vec<u8>,
    },
    Heal,
    /// etcd restored from nothing: no keys, no leases, revisions from 1.
    EtcdWipe,
    /// One key deleted behind the product's back (the `pick`-th key present).
    LoseKey {
        pick: usize,
    },
    /// `galera-sidecar force-bootstrap NODE --expires SECS [--accept-data-loss]`.
    Force {
        node: usize,
        expires: i64,
        accept: bool,
    },
    /// `galera-sidecar resync NODE --expires SECS`.
    Resync {
        node: usize,
        expires: i64,
    },
    /// `galera-sidecar set-state RECOVERY [--force]`.
    SetRecovery {
        force: bool,
    },
    /// `galera-sidecar remove-member NODE [--force]`.
    RemoveMember {
        node: usize,
        force: bool,
    },
    /// A force-bootstrap request written by hand.
    RawForce {
        node: usize,
        raw: Raw,
    },
    /// A resync request written by hand.
    RawResync {
        node: usize,
        raw: Raw,
    },
    /// `GALERA_CLUSTER_SIZE` changed on every entrypoint (a scale-down's rolling update).
    /// Only in hand-written replays: the generator does not draw it.
    ClusterSize {
        size: usize,
    },
}

/// One run: the cluster size, its length and what happens when.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    pub n: usize,
    pub steps: u32,
    pub events: Vec<(u32, Event)>,
}

/// Steps at the end without faults, to see whether the cluster recovers.
pub const QUIET: u32 = 90;

pub fn generate(seed: u64) -> Schedule {
    let mut r = StdRng::seed_from_u64(seed);
    let n = r.random_range(3..=5usize);
    let steps = 260 + QUIET;
    let mut events = vec![];
    // The first build takes a few steps; faults start after it.
    for t in 15..steps - QUIET {
        if !r.random_bool(0.09) {
            continue;
        }
        if r.random_bool(0.12) {
            // A full outage: every node killed, restarted in some order.
            for node in 0..n {
                events.push((t, crash(&mut r, node)));
            }
            continue;
        }
        events.push((t, event(&mut r, n)));
    }
    // The network heals for the quiet end.
    events.push((steps - QUIET, Event::Heal));
    Schedule {
        seed,
        n,
        steps,
        events,
    }
}

fn crash(r: &mut StdRng, node: usize) -> Event {
    Event::Crash {
        node,
        down_for: r.random_range(1..=40),
        prepared: r.random_bool(0.08),
        lose_pvc: r.random_bool(0.06),
    }
}

fn raw(r: &mut StdRng) -> Raw {
    [Raw::Legacy, Raw::Expired, Raw::WrongPosition, Raw::Valid][r.random_range(0..4)]
}

fn event(r: &mut StdRng, n: usize) -> Event {
    let node = r.random_range(0..n);
    match r.random_range(0..100) {
        0..=21 => crash(r, node),
        22..=31 => Event::Pause {
            node,
            secs: r.random_range(2..=30),
        },
        32..=38 => Event::Partition {
            sides: (0..n).map(|_| r.random_range(0..3u8)).collect(),
        },
        39..=46 => Event::Heal,
        47..=50 => Event::EtcdWipe,
        51..=55 => Event::LoseKey {
            pick: r.random_range(0..64),
        },
        56..=68 => Event::Force {
            node,
            expires: [2, 30, 600][r.random_range(0..3)],
            accept: r.random_bool(0.3),
        },
        69..=78 => Event::Resync {
            node,
            expires: [2, 60, 600][r.random_range(0..3)],
        },
        79..=83 => Event::SetRecovery {
            force: r.random_bool(0.5),
        },
        84..=87 => Event::RemoveMember {
            node,
            force: r.random_bool(0.3),
        },
        88..=93 => Event::RawForce { node, raw: raw(r) },
        _ => Event::RawResync { node, raw: raw(r) },
    }
}
