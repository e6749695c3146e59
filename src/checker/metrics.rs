//! Prometheus metrics of `checker serve` (`/metrics`), with prometheus-client.
//!
//! Gauges come from the latest observation (the same cached one the probes use) and the
//! entrypoint's state file, rendered into a fresh registry per scrape; the verdict counters
//! live as long as the server. The entrypoint's own counters (decisions, etcd errors, lease
//! losses) are read from the state file's optional `counters` and exported as they are.
//!
//! The alert rules and the dashboard of `k8s/monitoring/` use these names; `tests/monitoring.rs`
//! checks that every name they use is exported by a real cluster.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::probe::Gathered;
use super::rules::{Memory, MysqldKey, PhaseView, Verdict};
use crate::state_file::Phase;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    probe: String,
    result: String,
    rule: String,
}

/// Verdicts served, by probe, result and rule, and observations made (kept for the server's
/// lifetime).
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    verdicts: Family<VerdictLabels, Counter>,
    observations: Counter,
}

impl Verdicts {
    /// One observation gathered (SQL query, and etcd read when needed).
    pub fn observed(&self) {
        self.observations.inc();
    }

    pub fn record(&self, v: &Verdict) {
        self.verdicts
            .get_or_create(&VerdictLabels {
                probe: v.probe.as_str().into(),
                result: v.word().replace(' ', "_"),
                rule: v.rule.as_str().into(),
            })
            .inc();
    }
}

type Labeled = Family<Vec<(String, String)>, Gauge>;

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    reg.register(name, help, g);
}

const PHASES: [Phase; 8] = [
    Phase::Preparing,
    Phase::RecoveringPosition,
    Phase::WaitingLock,
    Phase::Queued,
    Phase::Joining,
    Phase::Running,
    Phase::Refused,
    Phase::Stopping,
];

/// The consecutive failed liveness probes the kubelet's exec probes counted for the mariadbd
/// run being observed (their memory file, `checker-liveness.json`); memory of another run (a
/// restarted mariadbd) counts as none. Pure.
pub fn exec_liveness_failures(memory: &Memory, current: &MysqldKey) -> u32 {
    if memory.mysqld == *current {
        memory.failures
    } else {
        0
    }
}

/// The text exposition of every metric for this observation; `liveness_failures` is
/// [`exec_liveness_failures`] of the exec probes' memory.
pub fn render(g: &Gathered, verdicts: &Verdicts, liveness_failures: u32) -> String {
    let mut reg = Registry::default();
    let o = &g.obs;

    let states = Labeled::default();
    let current = o.etcd.state.clone().unwrap_or_default();
    for s in ["BUILDING", "STEADY", "RECOVERY"] {
        states
            .get_or_create(&vec![("state".into(), s.into())])
            .set((current == s) as i64);
    }
    if !current.is_empty() && !["BUILDING", "STEADY", "RECOVERY"].contains(&current.as_str()) {
        states
            .get_or_create(&vec![("state".into(), current.clone())])
            .set(1);
    }
    reg.register(
        "galera_state",
        "Cluster state (P/state) in this node's etcd view: 1 for the current one",
        states,
    );

    let phases = Labeled::default();
    for p in PHASES {
        phases
            .get_or_create(&vec![("phase".into(), p.as_str().into())])
            .set((o.phase == PhaseView::Known(p)) as i64);
    }
    reg.register(
        "galera_phase",
        "The entrypoint's phase: 1 for the current one (all 0 without a state file)",
        phases,
    );

    let st = g.state.as_ref();
    gauge(
        &mut reg,
        "galera_paused",
        "1 while a maintenance pause (galera-sidecar pause) is on, as of the entrypoint's last etcd view",
        st.and_then(|s| s.etcd.paused_until)
            .is_some_and(|until| until > o.now) as i64,
    );
    if let Some(ist) = st.and_then(|s| s.ist_possible) {
        gauge(
            &mut reg,
            "galera_ist_possible",
            "1 when restarting this node now would rejoin by IST (a donor's gcache still holds \
             its next seqno), 0 when it would cost a full SST (galera-sidecar can-restart)",
            ist as i64,
        );
    }
    if let Some(t) = st.and_then(|s| s.tls_expires_at) {
        gauge(
            &mut reg,
            "galera_tls_certificate_expiry_timestamp_seconds",
            "Unix time the Galera certificate mariadbd has loaded expires (--galera-tls-dir; \
             renewals are reloaded without a restart)",
            t,
        );
    }
    gauge(
        &mut reg,
        "galera_leader",
        "1 when this node holds P/leader (as of the state file: see galera_state_file_age_seconds)",
        st.map(|s| s.leader as i64).unwrap_or(0),
    );
    if let Some(s) = st {
        gauge(
            &mut reg,
            "galera_state_file_age_seconds",
            "Seconds since the entrypoint last wrote the state file (every second while running): \
             a large age means the entrypoint is gone or stuck and its galera_leader is stale",
            o.now.saturating_sub(s.updated_at).max(0),
        );
    }
    gauge(
        &mut reg,
        "galera_liveness_failures",
        "Consecutive liveness probes of the exec probe (the kubelet's) that could not connect to \
         this mariadbd run; the probe fails at --liveness-failures",
        liveness_failures as i64,
    );
    gauge(
        &mut reg,
        "galera_mysql_up",
        "1 when the wsrep status query succeeded",
        o.wsrep.is_ok() as i64,
    );
    if let Some(age) = o.etcd.age {
        gauge(
            &mut reg,
            "galera_etcd_view_age_seconds",
            "Age of the etcd view the probes decide with",
            age.as_secs() as i64,
        );
    }
    if let Ok(w) = &o.wsrep {
        if let Some(v) = w.local_state() {
            gauge(
                &mut reg,
                "wsrep_local_state",
                "wsrep_local_state: 1 joining, 2 donor/desynced, 3 joined, 4 synced",
                v as i64,
            );
        }
        if let Some(v) = w.cluster_size() {
            gauge(
                &mut reg,
                "wsrep_cluster_size",
                "wsrep_cluster_size",
                v as i64,
            );
        }
        if let Some(v) = w.last_committed() {
            gauge(&mut reg, "wsrep_last_committed", "wsrep_last_committed", v);
        }
        if let Some(v) = w
            .get("local_commits")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            let c = Counter::<u64>::default();
            c.inc_by(v);
            reg.register(
                "wsrep_local_commits",
                "wsrep_local_commits: transactions committed on this node by its own clients \
                 (not replicated ones) since mariadbd started; on a node that is not the leader \
                 these are writes that bypassed the leader",
                c,
            );
        }
        let mismatch = o
            .etcd
            .uuid
            .as_ref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(w.cluster_state_uuid()));
        gauge(
            &mut reg,
            "galera_uuid_mismatch",
            "1 when wsrep_cluster_state_uuid differs from P/uuid (split brain: see status)",
            mismatch as i64,
        );
    }

    reg.register(
        "galera_probe_verdicts",
        "Verdicts served by checker serve, by probe, result and rule",
        verdicts.verdicts.clone(),
    );
    reg.register(
        "galera_checker_observations",
        "Observations gathered by checker serve (requests share one while it is fresh)",
        verdicts.observations.clone(),
    );

    let c = st.map(|s| s.counters.clone()).unwrap_or_default();
    let decisions = Family::<Vec<(String, String)>, Counter>::default();
    for (kind, n) in &c.decisions {
        decisions
            .get_or_create(&vec![("kind".into(), kind.clone())])
            .inc_by(*n);
    }
    reg.register(
        "galera_decisions",
        "Decisions taken by the entrypoint since it started, by kind (from the state file)",
        decisions,
    );
    let counter = |n: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(n);
        c
    };
    reg.register(
        "galera_etcd_errors",
        "Failed etcd calls of the entrypoint since it started (from the state file)",
        counter(c.etcd_errors),
    );
    reg.register(
        "galera_lease_losses",
        "etcd leases the entrypoint found lost and repaired (from the state file)",
        counter(c.lease_losses),
    );

    let mut out = String::new();
    if let Err(e) = encode(&mut out, &reg) {
        out = format!("# encoding failed: {e}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::rules::{EtcdViewObs, MysqldKey, Observation, Probe, Rule, ViewSource};
    use crate::mysql::WsrepStatus;
    use crate::state_file::{Counters, StateFile};
    use std::time::Duration;

    #[test]
    fn renders_state_wsrep_verdicts_and_counters() {
        let wsrep = WsrepStatus::from_rows([
            ("wsrep_local_state", "2"),
            ("wsrep_cluster_size", "3"),
            ("wsrep_last_committed", "42"),
            ("wsrep_local_commits", "17"),
            ("wsrep_cluster_state_uuid", "u-other"),
        ]);
        let mut counters = Counters::default();
        counters.decisions.insert("join".into(), 2);
        counters.etcd_errors = 7;
        let g = Gathered {
            obs: Observation {
                phase: PhaseView::Known(Phase::Running),
                sst_in_progress: false,
                etcd: EtcdViewObs {
                    uuid: Some("u1".into()),
                    state: Some("STEADY".into()),
                    age: Some(Duration::from_secs(4)),
                    source: ViewSource::StateFile,
                },
                wsrep: Ok(wsrep),
                mysqld: MysqldKey::default(),
                mysqld_exists: None,
                now: 100,
            },
            state: Some(StateFile {
                leader: true,
                counters,
                etcd: crate::state_file::EtcdView {
                    paused_until: Some(160),
                    ..Default::default()
                },
                ist_possible: Some(false),
                tls_expires_at: Some(1_867_973_018),
                updated_at: 95,
                ..Default::default()
            }),
        };
        let v = Verdicts::default();
        v.record(&Verdict {
            probe: Probe::Readiness,
            ok: false,
            rule: Rule::LocalState,
            reason: String::new(),
        });
        let text = render(&g, &v, 2);
        for want in [
            "galera_state{state=\"STEADY\"} 1",
            "galera_state{state=\"RECOVERY\"} 0",
            "galera_phase{phase=\"running\"} 1",
            "galera_leader 1",
            "galera_paused 1",
            "galera_ist_possible 0",
            "galera_tls_certificate_expiry_timestamp_seconds 1867973018",
            "wsrep_local_state 2",
            "wsrep_cluster_size 3",
            "wsrep_last_committed 42",
            "galera_uuid_mismatch 1",
            "galera_etcd_view_age_seconds 4",
            "galera_probe_verdicts_total{probe=\"readiness\",result=\"not_ready\",rule=\"local-state\"} 1",
            "galera_decisions_total{kind=\"join\"} 2",
            "galera_etcd_errors_total 7",
            "galera_lease_losses_total 0",
            "galera_state_file_age_seconds 5",
            "galera_liveness_failures 2",
            "wsrep_local_commits_total 17",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        // Without the entrypoint's answer the gauge is absent, not a false 0; without a state
        // file there is no age either.
        let mut g = g;
        g.state = None;
        let sample = |text: &str, name: &str| text.lines().any(|l| l.starts_with(name));
        let text = render(&g, &v, 0);
        assert!(!sample(&text, "galera_ist_possible"), "{text}");
        assert!(
            !sample(&text, "galera_tls_certificate_expiry_timestamp_seconds"),
            "{text}"
        );
        assert!(!sample(&text, "galera_state_file_age_seconds"), "{text}");
        assert!(text.contains("galera_liveness_failures 0"), "{text}");
        // A server that does not answer has no wsrep metrics, the others stay.
        g.obs.wsrep = Err(crate::mysql::MysqlError::Refused("test".into()));
        let text = render(&g, &v, 0);
        assert!(!sample(&text, "wsrep_local_commits"), "{text}");
        assert!(text.contains("galera_mysql_up 0"), "{text}");
    }

    #[test]
    fn exec_liveness_failures_count_only_for_the_observed_run() {
        let run = |pid, at| MysqldKey {
            pid: Some(pid),
            started_at: Some(at),
        };
        let mem = |key: MysqldKey, failures| Memory {
            mysqld: key,
            failures,
            sample: None,
        };
        for (memory, current, want) in [
            (mem(run(7, 100), 2), run(7, 100), 2),
            (mem(run(7, 100), 0), run(7, 100), 0),
            // A restarted mariadbd: another pid, or the same pid reused at another time.
            (mem(run(7, 100), 3), run(8, 200), 0),
            (mem(run(7, 100), 3), run(7, 200), 0),
            // No memory file (never probed) reads as the default memory.
            (Memory::default(), run(7, 100), 0),
            (mem(MysqldKey::default(), 1), MysqldKey::default(), 1),
        ] {
            assert_eq!(
                exec_liveness_failures(&memory, &current),
                want,
                "{memory:?} vs {current:?}"
            );
        }
    }
}
