//! Prometheus metrics of `checker serve` (`/metrics`), with prometheus-client.
//!
//! Gauges come from the latest observation (the same cached one the probes use) and the
//! entrypoint's state file, rendered into a fresh registry per scrape; the verdict counters
//! live as long as the server. The entrypoint's own counters (decisions, etcd errors, lease
//! losses) are read from the state file's optional `counters` and exported as they are.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::probe::Gathered;
use super::rules::{PhaseView, Verdict};
use super::state_file::Phase;

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

/// The text exposition of every metric for this observation.
pub fn render(g: &Gathered, verdicts: &Verdicts) -> String {
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
    gauge(
        &mut reg,
        "galera_leader",
        "1 when this node holds P/leader",
        st.map(|s| s.leader as i64).unwrap_or(0),
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
    use crate::checker::state_file::{Counters, StateFile};
    use crate::mysql::WsrepStatus;
    use std::time::Duration;

    #[test]
    fn renders_state_wsrep_verdicts_and_counters() {
        let wsrep = WsrepStatus::from_rows([
            ("wsrep_local_state", "2"),
            ("wsrep_cluster_size", "3"),
            ("wsrep_last_committed", "42"),
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
                now: 0,
            },
            state: Some(StateFile {
                leader: true,
                counters,
                etcd: crate::checker::state_file::EtcdView {
                    paused_until: Some(60),
                    ..Default::default()
                },
                ist_possible: Some(false),
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
        let text = render(&g, &v);
        for want in [
            "galera_state{state=\"STEADY\"} 1",
            "galera_state{state=\"RECOVERY\"} 0",
            "galera_phase{phase=\"running\"} 1",
            "galera_leader 1",
            "galera_paused 1",
            "galera_ist_possible 0",
            "wsrep_local_state 2",
            "wsrep_cluster_size 3",
            "wsrep_last_committed 42",
            "galera_uuid_mismatch 1",
            "galera_etcd_view_age_seconds 4",
            "galera_probe_verdicts_total{probe=\"readiness\",result=\"not_ready\",rule=\"local-state\"} 1",
            "galera_decisions_total{kind=\"join\"} 2",
            "galera_etcd_errors_total 7",
            "galera_lease_losses_total 0",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        // Without the entrypoint's answer the gauge is absent, not a false 0.
        let mut g = g;
        g.state = None;
        assert!(!render(&g, &v).contains("galera_ist_possible"));
    }
}
