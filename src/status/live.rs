//! The `status` command: ask each node for its live wsrep state (concurrently, each bounded),
//! build the report and print it as a table or one JSON document.

use std::collections::BTreeMap;
use std::time::Duration;

use super::render::render_table;
use super::report::{report, report_with_live, LiveResult, LiveState, MemberRow};
use crate::etcd::Etcd;

/// How `status` asks the nodes for their live state.
#[derive(Debug, Clone)]
pub struct LiveOpts {
    /// The members' SQL port.
    pub sql_port: u16,
    /// Bound of one node's connection and query.
    pub timeout: Duration,
    /// Do not ask the nodes.
    pub skip: bool,
}

/// Ask every node with an address for its wsrep status, concurrently, each bounded by
/// `timeout`. Keyed by node name; an `Err` says why the node did not answer.
pub async fn query_live(
    rows: &[MemberRow],
    creds: &crate::mysql::Credentials,
    port: u16,
    timeout: Duration,
) -> BTreeMap<String, LiveResult> {
    let asks = rows.iter().filter_map(|m| {
        let address = m.address.clone()?;
        let name = m.name.clone();
        let creds = creds.clone();
        Some(async move {
            let ep = crate::mysql::Endpoint::Tcp {
                host: address,
                port,
            };
            let r = crate::mysql::wsrep_status(&ep, &creds, timeout)
                .await
                .map(|s| LiveState::from_wsrep(&s))
                .map_err(|e| e.to_string());
            (name, r)
        })
    });
    futures::future::join_all(asks).await.into_iter().collect()
}

/// `status`: print the table or the JSON document.
pub async fn main(
    etcd: &Etcd,
    global: &crate::cli::GlobalOpts,
    live_opts: &LiveOpts,
    json: bool,
) -> anyhow::Result<u8> {
    let snap = etcd.snapshot().await?;
    let rows = report(&global.cluster_name, &snap).members;
    let creds = crate::mysql::Credentials::monitor_from_env()?;
    let (live, skipped) = if live_opts.skip {
        (BTreeMap::new(), Some("--no-live".to_string()))
    } else if creds.user.is_none() {
        (
            BTreeMap::new(),
            Some("GALERA_MONITOR_USER is not set; set it and GALERA_MONITOR_PASSWORD (or _FILE) to see each node's wsrep state".to_string()),
        )
    } else {
        (
            query_live(&rows, &creds, live_opts.sql_port, live_opts.timeout).await,
            None,
        )
    };
    let mut r = report_with_live(&global.cluster_name, &snap, &live);
    r.live_skipped = skipped;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render_table(&r));
    }
    Ok(0)
}
