//! The gate's ruling on joining the running cluster: same uuid and branch as what its
//! registered nodes publish, a history at least as long as this datadir's, and no unknown
//! datadir that a forced recovery or a recovery it missed may have left ahead.

use super::bootstrap::others_registered;
use super::histories::{two_branches, two_histories};
use super::{Evidence, Verdict, AHEAD_CONFIRM_SECS, PUBLICATION_MARGIN_SECS};
use crate::etcd::snapshot::Fork;
use crate::galera::branches::{forks_of, known_forks, split};
use crate::galera::recovery::ahead_of_winner;
use crate::position::Position;

pub(super) fn join(ev: &Evidence) -> Verdict {
    let snap = ev.snap;
    if *ev.local == Position::Fresh {
        return Verdict::Allow("fresh datadir: joins by SST, nothing to overwrite".into());
    }
    let registered = others_registered(ev);
    if registered.is_empty() {
        return Verdict::Refuse(
            "no node is registered: there is no running cluster to join".into(),
        );
    }
    let mine = ev.local.uuid();
    if let (Some(u), Some(c)) = (mine, &snap.uuid) {
        if u != c {
            return Verdict::Refuse(two_histories(ev.me, ev.local, c, snap));
        }
    }
    // The running cluster's actual uuid and history length, as its registered nodes publish.
    let known = known_forks(snap);
    let mut published: Vec<(&str, i64, i64)> = vec![];
    for r in &registered {
        let running = snap
            .census
            .get(*r)
            .and_then(|c| c.running.as_ref().map(|p| (p, c.at)));
        let Some((p, at)) = running else {
            return Verdict::Wait(format!(
                "{r} is registered but has not published its cluster's actual uuid yet"
            ));
        };
        if let (Some(u), Some(theirs)) = (mine, p.uuid()) {
            if u != theirs {
                return Verdict::Refuse(two_histories(ev.me, ev.local, theirs, snap));
            }
        }
        if let Some(fork) = split(ev.local, ev.forks, p, forks_of(snap, r), &known) {
            return Verdict::Refuse(two_branches(ev, r, p, fork));
        }
        published.push((r, p.seqno().unwrap_or(-1), at));
    }
    let unknown = matches!(
        ev.local,
        Position::Unknown | Position::Known { seqno: -1, .. }
    );
    if unknown {
        // Where an unknown datadir stands on the history is unknown too: it is on the running
        // cluster's line only if it went through exactly the same forced recoveries.
        let theirs = crate::galera::branches::cluster_forks(snap, ev.me);
        let of_uuid = |f: &&Fork| mine.is_none_or(|u| u == f.uuid);
        let differ = theirs
            .iter()
            .filter(of_uuid)
            .find(|f| !ev.forks.iter().any(|m| m.id == f.id))
            .map(|f| {
                (
                    f,
                    "the running cluster went through it, this datadir did not",
                )
            })
            .or_else(|| {
                ev.forks
                    .iter()
                    .filter(of_uuid)
                    .find(|m| !theirs.iter().any(|f| f.id == m.id))
                    .map(|f| {
                        (
                            f,
                            "this datadir went through it, the running cluster did not",
                        )
                    })
            });
        if let Some((f, how)) = differ {
            return Verdict::Refuse(format!(
                "this datadir's position is unknown (it could not be recovered) and the forced \
                 recovery {} continued cluster {} from seqno {} ({how}): it may hold commits \
                 past that point that the running cluster lacks, and joining would overwrite \
                 them by SST. Find its position, then keep it or discard it (docs/operations.md, \
                 \"A datadir of unknown position\")",
                f.id, f.uuid, f.seqno
            ));
        }
    }
    if let Some(rec) = &snap.recovery {
        if unknown && rec.winner != ev.me && ev.joined_recovery != Some(rec.id().as_str()) {
            return Verdict::Refuse(format!(
                "this datadir's position is unknown (it could not be recovered) and it did not take \
                 part in the recovery {} bootstrapped at {}: it may hold commits that cluster lacks, \
                 and joining would overwrite them by SST. Find its position, then keep it or discard \
                 it (docs/operations.md, \"A datadir of unknown position\")",
                rec.winner, rec.position
            ));
        }
        if let Some(ahead) = ahead_of_winner(rec, ev.me, ev.local, ev.joined_recovery) {
            return Verdict::Refuse(format!(
                "this node is {ahead} transaction(s) ahead of {} which bootstrapped the recovery at {}; \
                 joining would discard them by SST. This node holds the newer commits: keep them \
                 (docs/operations.md, \"A node ahead of the recovered cluster\")",
                rec.winner, rec.position
            ));
        }
    }
    if let Some(mine_seqno) = ev.local.seqno() {
        let since = ev.local_since + PUBLICATION_MARGIN_SECS;
        let recent: Vec<&(&str, i64, i64)> =
            published.iter().filter(|(_, _, at)| *at >= since).collect();
        let Some(longest) = recent.iter().max_by_key(|(_, s, _)| *s) else {
            return Verdict::Wait(format!(
                "waiting for {} to publish the cluster's position after this node's last run \
                 (to check its history is at least as long as this datadir's seqno {mine_seqno})",
                registered.join(",")
            ));
        };
        if mine_seqno > longest.1 && longest.2 < ev.local_since + AHEAD_CONFIRM_SECS {
            return Verdict::Wait(format!(
                "this datadir's seqno {mine_seqno} is above the running cluster's published {} ({}); \
                 waiting for a later publication to confirm before refusing",
                longest.1, longest.0
            ));
        }
        if mine_seqno > longest.1 {
            return Verdict::Refuse(format!(
                "this node is {} transaction(s) ahead of the running cluster ({} at seqno {}); joining \
                 would discard them by SST. This node holds the newer commits: keep them \
                 (docs/operations.md, \"A node ahead of the recovered cluster\")",
                mine_seqno - longest.1,
                longest.0,
                longest.1
            ));
        }
    }
    Verdict::Allow(match ev.local {
        Position::Unknown => {
            "position unknown: the running cluster is the only known history".into()
        }
        _ => format!(
            "same history as the running cluster, not ahead of it ({})",
            ev.local
        ),
    })
}
