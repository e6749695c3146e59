//! The commit high-water mark in the automatic recovery election, end to end: real etcd, real
//! Galera nodes run by the entrypoint. A member holding the newest commits is removed by
//! mistake (a scale-down from 3 to 2 while it was down); the election over the two remaining
//! members would bootstrap below the mark the leader recorded. It is blocked, with the
//! sentence in the entrypoint's log and in `status`, and nothing bootstraps; when the removed
//! node comes back it takes part, wins, and every row survives. This file uses subnet
//! 127.0.190.x.

mod common;

use std::time::Duration;

use common::galera::Cluster;

const STEADY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a decision may take to show (a node queued, a log line).
const DECISION_TIMEOUT: Duration = Duration::from_secs(120);

/// Assert, printing every node's log when it fails.
macro_rules! ensure {
    ($c:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            panic!("{}\n{}", format!($($arg)+), $c.logs());
        }
    };
}

fn member<'a>(s: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    s["members"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["name"] == name))
}

fn queued(s: &serde_json::Value, name: &str) -> bool {
    member(s, name).is_some_and(|m| m["queued"] == true)
}

/// The seqno of a queued node's position, as `status` shows it.
fn queued_seqno(s: &serde_json::Value, name: &str) -> Option<i64> {
    member(s, name)?["position"]
        .as_str()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

fn last_committed(c: &Cluster, i: usize) -> i64 {
    c.nodes[i]
        .wsrep("last_committed")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}'s last committed seqno\n{}", c.nodes[i].name, c.logs()))
}

#[test]
fn election_below_the_mark_waits_for_the_removed_holder() {
    let mut c = Cluster::new(190, 3);
    c.start_all();
    c.check("first bootstrap", || c.wait_steady(3, STEADY_TIMEOUT));
    c.write_rows(0, 1, 10);
    let uuid = c.status()["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("no uuid in status\n{}", c.logs()))
        .to_string();

    // g-0 crashes; g-1 leaves cleanly: g-2 goes on alone (a clean leave keeps its quorum) and
    // commits rows 11..20 that only its datadir holds. Being the only node, it leads and
    // records the commit high-water mark.
    c.nodes[0].kill9();
    c.check("g-0 evicted", || c.wait_until_registered(2));
    // Out of Galera's view too (evs.suspect_timeout): a clean leave of g-1 before that would
    // leave g-2 with a dead peer and no quorum.
    c.check("g-0 out of the view", || {
        common::wait_until("cluster size 2 on g-1 and g-2", DECISION_TIMEOUT, || {
            [1, 2]
                .iter()
                .all(|i| c.nodes[*i].wsrep("cluster_size").as_deref() == Some("2"))
        })
    });
    c.nodes[1].sigterm(STOP_TIMEOUT);
    c.check("g-2 alone", || c.wait_until_registered(1));
    c.check("g-2 Primary alone", || {
        common::wait_until("g-2 Primary with cluster size 1", DECISION_TIMEOUT, || {
            c.nodes[2].wsrep("cluster_size").as_deref() == Some("1")
                && c.nodes[2].wsrep("cluster_status").as_deref() == Some("Primary")
        })
    });
    c.write_rows(2, 11, 10);
    let last = last_committed(&c, 2);
    c.check("the mark reaches g-2's last commit", || {
        c.wait_status("hwm current", DECISION_TIMEOUT, |s| {
            s["hwm"]["seqno"].as_i64() == Some(last) && s["hwm"]["by"] == "g-2"
        })
    });
    c.nodes[2].kill9();
    c.check("nobody registered", || c.wait_until_registered(0));

    // The mistake: g-2 is removed (a scale-down to 2 that took the wrong node), and the two
    // remaining nodes run with --cluster-size 2.
    let out = c.cli(&["remove-member", "g-2"]);
    ensure!(
        c,
        out.status.success(),
        "remove-member g-2: {}",
        common::stderr(&out)
    );
    for n in c.nodes.iter_mut() {
        n.cluster_size = 2;
    }
    let offsets = c.log_offsets();
    c.start(0);
    c.start(1);
    c.check("g-0 and g-1 queued", || {
        c.wait_status("g-0 and g-1 queued", DECISION_TIMEOUT, |s| {
            queued(s, "g-0") && queued(s, "g-1")
        })
    });
    let s = c.status();
    let best = ["g-0", "g-1"]
        .iter()
        .filter_map(|n| queued_seqno(&s, n).map(|q| (q, *n)))
        .max_by_key(|(q, n)| (*q, std::cmp::Reverse(*n)))
        .unwrap_or_else(|| panic!("queued positions in status: {s}"));
    ensure!(
        c,
        best.0 < last,
        "{} at {} is not below the mark {last}",
        best.1,
        best.0
    );
    let would = format!(
        "{} would win at seqno {}, below the commit high-water mark",
        best.1, best.0
    );
    let lose = format!(
        "would lose at least {} committed transaction(s), which g-2 may hold",
        last - best.0
    );
    let todo = format!(
        "Bring g-2 back (start its entrypoint: once it queues holding those commits, the recovery \
         goes on), or accept the loss: `galera-sidecar force-bootstrap {} --accept-data-loss`",
        best.1
    );
    c.check("the election says why it is blocked", || {
        common::wait_until("the blocked election in a log", DECISION_TIMEOUT, || {
            [0, 1].iter().any(|i| {
                let log = c.nodes[*i].log();
                log.contains("recovery blocked: ") && log.contains(&would)
            })
        })
    });
    let log = c.nodes[0].log() + &c.nodes[1].log();
    for want in [
        would.as_str(),
        lose.as_str(),
        &format!("{uuid}:{last}, written by g-2 at "),
        "g-2 is not a member any more (removed with `remove-member`",
        "Nothing bootstraps.",
        todo.as_str(),
    ] {
        ensure!(c, log.contains(want), "the blocked sentence lacks {want:?}");
    }
    let flags = c.status()["flags"].to_string();
    println!("status flags while blocked: {flags}");
    ensure!(
        c,
        flags.contains("recovery blocked: ") && flags.contains(&would) && flags.contains(&lose),
        "status does not show the blocked election: {flags}"
    );
    // Still blocked a while later: nobody bootstrapped, no record, no mariadbd serves.
    std::thread::sleep(Duration::from_secs(10));
    let s = c.status();
    ensure!(
        c,
        c.bootstrappers_since(&offsets).is_empty(),
        "bootstrapped below the mark: {:?}",
        c.bootstrappers_since(&offsets)
    );
    ensure!(c, s["recovery"].is_null(), "a winner was recorded: {s}");
    ensure!(c, c.registered() == 0, "someone registered: {s}");
    ensure!(
        c,
        c.count_rows(0).is_none() && c.count_rows(1).is_none(),
        "a mariadbd serves"
    );

    // g-2 comes back: it is not a member, but it holds every commit the mark records, so it
    // takes part, wins, and the others join it.
    c.start(2);
    c.check("recovered with g-2's commits", || {
        c.wait_steady(3, STEADY_TIMEOUT)
    });
    ensure!(
        c,
        c.bootstrappers_since(&offsets) == vec!["g-2".to_string()],
        "bootstrapped: {:?}",
        c.bootstrappers_since(&offsets)
    );
    ensure!(
        c,
        c.nodes[2]
            .log()
            .contains("g-2 is not a member, but it is the queued node holding every commit"),
        "the winner's reason"
    );
    c.check("all synced", || c.wait_all_synced(3, STEADY_TIMEOUT));
    for i in 0..3 {
        ensure!(
            c,
            c.count_rows(i) == Some(20),
            "{} holds {:?} rows",
            c.nodes[i].name,
            c.count_rows(i)
        );
        let ids = c.nodes[i].sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM t.rows");
        let want = (1..=20)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        ensure!(
            c,
            ids.as_deref() == Some(want.as_str()),
            "{}'s rows: {ids:?}",
            c.nodes[i].name
        );
        ensure!(
            c,
            c.nodes[i].wsrep("cluster_state_uuid").as_deref() == Some(uuid.as_str()),
            "{} runs another cluster",
            c.nodes[i].name
        );
    }
    let s = c.status();
    ensure!(
        c,
        member(&s, "g-2").is_some_and(|m| m["member"] == true),
        "g-2 is a member again: {s}"
    );
}
