//! The operator commands' writes: `set-state`, `force-bootstrap`, `resync`, `remove-member`,
//! `switchover` and `pause`.
//!
//! Each is one transaction fenced on the belief the command acted on (a key unchanged since it
//! was read, a node not registered, a refusal still standing…): when the fence fails nothing
//! is written and the function returns `false`, so the caller can say what changed meanwhile.
//! The callers build no transaction themselves.

use etcd_client::{Compare, CompareOp, Txn};

use super::snapshot::ClusterSnapshot;
use super::{absent, delete_op, present, put_op, unchanged_since, ClusterState, Etcd, EtcdError};

/// Condition: the keys carrying `name`'s reported position (its census entry and its queued
/// position) did not change since `revision`.
fn position_unchanged(etcd: &Etcd, name: &str, revision: i64) -> Vec<Compare> {
    let k = &etcd.keys;
    vec![
        unchanged_since(&k.census(name), revision),
        unchanged_since(&k.position(name), revision),
    ]
}

/// `set-state`: put `P/state` = `new`. Fence: `P/state` is still as it was read — the same
/// mod_revision `read_mod_revision`, or still absent when `None` — and, when `require_no_nodes`,
/// no key under `nodes/` (no node registered). Returns whether it wrote.
pub async fn put_state_if_unchanged(
    etcd: &Etcd,
    new: ClusterState,
    read_mod_revision: Option<i64>,
    require_no_nodes: bool,
) -> Result<bool, EtcdError> {
    let key = etcd.keys.state();
    let mut when = vec![match read_mod_revision {
        Some(rev) => Compare::mod_revision(key.clone(), CompareOp::Equal, rev),
        None => absent(&key),
    }];
    if require_no_nodes {
        when.push(etcd.no_nodes());
    }
    let txn = Txn::new()
        .when(when)
        .and_then(vec![put_op(&key, new.as_str(), None)]);
    Ok(etcd.txn(txn).await?.succeeded)
}

/// `force-bootstrap NAME`: put `P/force-bootstrap` = `value` (no lease). Fence: `name`'s
/// census entry and queued position unchanged since `revision` (the position the request is
/// bound to still stands), and no key under `nodes/` (no node registered). Returns whether it
/// wrote.
pub async fn put_force_request(
    etcd: &Etcd,
    name: &str,
    revision: i64,
    value: &str,
) -> Result<bool, EtcdError> {
    let key = etcd.keys.force_bootstrap();
    put_bound_request(etcd, &key, name, revision, etcd.no_nodes(), value).await
}

/// `resync NAME`: put `P/resync/NAME` = `value` (no lease). Fence: `name`'s census entry and
/// queued position unchanged since `revision` (the position the request is bound to still
/// stands), and `P/refused/NAME` present (the node is still refused). Returns whether it
/// wrote.
pub async fn put_resync_request(
    etcd: &Etcd,
    name: &str,
    revision: i64,
    value: &str,
) -> Result<bool, EtcdError> {
    let still_refused = present(&etcd.keys.refused(name));
    put_bound_request(
        etcd,
        &etcd.keys.resync(name),
        name,
        revision,
        still_refused,
        value,
    )
    .await
}

/// Put the operator's request `value` at `key` (no lease), bound to `name`'s reported
/// position: fenced on that position unchanged since `revision`, and on `also`.
async fn put_bound_request(
    etcd: &Etcd,
    key: &str,
    name: &str,
    revision: i64,
    also: Compare,
    value: &str,
) -> Result<bool, EtcdError> {
    let mut when = position_unchanged(etcd, name, revision);
    when.push(also);
    let txn = Txn::new()
        .when(when)
        .and_then(vec![put_op(key, value, None)]);
    Ok(etcd.txn(txn).await?.succeeded)
}

/// `remove-member NAME`: delete `P/members/NAME`. Fence: the member key exists; and, with
/// `stopped_at: Some(revision)` (without `--force`), `P/nodes/NAME` is absent (the node is not
/// registered) and its census entry did not change since `revision` (the mariadbd seen not
/// running there is still not running). `None` (`--force`) checks only that it is a member.
/// Returns whether it deleted.
pub async fn remove_member_if_unchanged(
    etcd: &Etcd,
    name: &str,
    stopped_at: Option<i64>,
) -> Result<bool, EtcdError> {
    let member = etcd.keys.member(name);
    let mut when = vec![present(&member)];
    if let Some(revision) = stopped_at {
        when.push(absent(&etcd.keys.node(name)));
        when.push(unchanged_since(&etcd.keys.census(name), revision));
    }
    let txn = Txn::new().when(when).and_then(vec![delete_op(&member)]);
    Ok(etcd.txn(txn).await?.succeeded)
}

/// Condition: no switchover under way (absent, or one whose target refused and left it to
/// expire: the very one `read` saw, same mod_revision).
fn switchover_absent_or_refused(etcd: &Etcd, read: &ClusterSnapshot) -> Compare {
    let key = etcd.keys.switchover();
    match &read.switchover {
        Some(r) => Compare::mod_revision(key, CompareOp::Equal, r.mod_revision),
        None => absent(&key),
    }
}

/// `switchover`: put `P/switchover` = `value` under `lease`. Fence: `P/switchover` is as
/// `read` saw it (absent, or the same refused request, same mod_revision), and `P/leader` is
/// still the leader `read` saw (same mod_revision; not checked when `read` had no leader).
/// Returns whether it wrote.
pub async fn put_switchover_request(
    etcd: &Etcd,
    read: &ClusterSnapshot,
    value: &str,
    lease: i64,
) -> Result<bool, EtcdError> {
    let k = &etcd.keys;
    let leader = read.leader.as_ref().map(|l| l.unchanged(&k.leader()));
    let mut when = vec![switchover_absent_or_refused(etcd, read)];
    when.extend(leader);
    let txn = Txn::new()
        .when(when)
        .and_then(vec![put_op(&k.switchover(), value, Some(lease))]);
    Ok(etcd.txn(txn).await?.succeeded)
}

/// `pause`: put `P/pause` = `value` under `lease`. Fence: `P/pause` is as `read` saw it —
/// absent when `read` had none, else not changed since `read.revision` (a pause whose `until`
/// passed but whose key etcd still keeps is replaced). Returns whether it wrote.
pub async fn put_pause(
    etcd: &Etcd,
    read: &ClusterSnapshot,
    value: &str,
    lease: i64,
) -> Result<bool, EtcdError> {
    let key = etcd.keys.pause();
    let when = match &read.pause {
        Some(_) => unchanged_since(&key, read.revision),
        None => absent(&key),
    };
    let txn = Txn::new()
        .when(vec![when])
        .and_then(vec![put_op(&key, value, Some(lease))]);
    Ok(etcd.txn(txn).await?.succeeded)
}
