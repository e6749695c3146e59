//! The monitoring objects of `k8s/monitoring/` name only metrics the binary exports: every metric
//! name in the PrometheusRule's `expr`s and in the Grafana dashboard's queries (panels and
//! variables) is looked for in `/metrics` of each node's real `checker serve`, on a real 3-node
//! cluster run by the entrypoint (127.0.150.2–.4). The haproxy sidecar serves no metrics, so
//! the checkers are the only source. Also shown on the running cluster: exactly one node
//! exports `galera_leader 1` with a fresh state file (what GaleraNoLeader counts), and a
//! transaction committed directly on a node that is not the leader raises its
//! `wsrep_local_commits_total` (what GaleraStrayWrites watches).
//!
//! The PromQL itself is checked offline by `scripts/validate-manifests` (`promtool check rules`
//! and `promtool test rules`); this test is about the names.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::galera::{CheckerServe, Cluster};
use common::{free_port, http_get as get, metric_value as value, wait_until};

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/k8s/monitoring/prometheusrule.yaml"
);
/// Metrics exported only by nodes that encrypt replication (`--galera-tls-dir`): this test's
/// cluster does not, and `tests/tls_rotation.rs` checks them on one that does.
const TLS_ONLY: [&str; 1] = ["galera_tls_certificate_expiry_timestamp_seconds"];
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/k8s/monitoring/dashboard.json");

/// PromQL words that are not metric names: operators, modifiers and the aggregation operators
/// (keywords of the language: `count by (x) (…)` puts the clause before the parenthesis).
const KEYWORDS: [&str; 23] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "inf",
    "nan",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
];
/// Modifiers followed by a parenthesised list of label names.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers
/// `{…}`, ranges `[…]`, label lists (`by (…)`, `on (…)`, …), that are not functions or
/// aggregations (followed by `(`), keywords or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let c: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skip from an opening `open` to its matching `close` (strings inside skipped too).
    let skip_group = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        while i < c.len() {
            match c[i] {
                '"' | '\'' | '`' => {
                    let q = c[i];
                    i += 1;
                    while i < c.len() && c[i] != q {
                        i += if c[i] == '\\' { 2 } else { 1 };
                    }
                }
                ch if ch == open => depth += 1,
                ch if ch == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '{' {
            i = skip_group(i, '{', '}');
        } else if ch == '[' {
            i = skip_group(i, '[', ']');
        } else if ch == '"' || ch == '\'' || ch == '`' {
            i += 1;
            while i < c.len() && c[i] != ch {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A number or a duration (`5m`, `1e3`).
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '_') {
                i += 1;
            }
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let mut j = i;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            let call = c.get(j) == Some(&'(');
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if call {
                    i = skip_group(j, '(', ')');
                }
            } else if !call && !KEYWORDS.contains(&lower.as_str()) {
                names.insert(word);
            }
        } else if ch == '$' {
            // A variable outside a matcher (Grafana's `$__interval`): not a name.
            i += 1;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The `expr` values of a PrometheusRule (inline, or a `|` block of deeper-indented lines).
/// No YAML library in this crate: the file keeps to these two forms, and the caller checks
/// that there is one expression per alert.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(v) = trimmed.strip_prefix("expr:") {
            let v = v.trim();
            if v == "|" || v == "|-" || v == ">" || v == ">-" {
                let indent = line.len() - trimmed.len();
                let mut block = vec![];
                i += 1;
                while i < lines.len() {
                    let l = lines[i];
                    let lt = l.trim_start();
                    if !lt.is_empty() && l.len() - lt.len() <= indent {
                        break;
                    }
                    block.push(lt);
                    i += 1;
                }
                out.push(block.join("\n"));
                continue;
            }
            out.push(v.trim_matches(|c| c == '\'' || c == '"').to_string());
        }
        i += 1;
    }
    out
}

/// The dashboard's queries: every panel target's `expr` (nested rows too) and the selector of
/// every `label_values(selector, label)` variable.
fn dashboard_exprs(doc: &serde_json::Value) -> Vec<String> {
    fn panels(ps: &serde_json::Value, out: &mut Vec<String>) {
        for p in ps.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_string());
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = vec![];
    panels(&doc["panels"], &mut out);
    for v in doc["templating"]["list"].as_array().into_iter().flatten() {
        let q = v["query"]["query"].as_str().or_else(|| v["query"].as_str());
        if let Some(sel) = q
            .and_then(|q| q.strip_prefix("label_values("))
            .and_then(|q| q.rsplit_once(','))
            .map(|(sel, _)| sel)
        {
            out.push(sel.to_string());
        }
    }
    out
}

/// The sample names of a Prometheus/OpenMetrics text exposition.
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Names used but not exported.
fn missing(used: &BTreeSet<String>, exported: &BTreeSet<String>) -> Vec<String> {
    used.difference(exported).cloned().collect()
}

/// Every metric name the rules and the dashboard use, with what uses it.
fn used_names() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(RULES).expect("read the PrometheusRule");
    let exprs = rule_exprs(&rules);
    let alerts = rules.matches("- alert:").count();
    assert!(alerts > 0, "no alerts in {RULES}");
    assert_eq!(
        exprs.len(),
        alerts,
        "one expr per alert in {RULES}: {exprs:?}"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).expect("read the dashboard"))
            .expect("the dashboard is JSON");
    let dexprs = dashboard_exprs(&dash);
    assert!(dexprs.len() > 10, "dashboard queries: {dexprs:?}");
    let mut used = BTreeSet::new();
    for e in exprs.iter().chain(&dexprs) {
        let names = metric_names(e);
        assert!(!names.is_empty(), "no metric name found in `{e}`");
        used.extend(names);
    }
    used
}

#[test]
fn promql_names_are_found_and_a_missing_one_is_reported() {
    for (expr, want) in [
        ("galera_uuid_mismatch == 1", vec!["galera_uuid_mismatch"]),
        (
            r#"galera_phase{phase="refused", x=~"a{b}"} == 1"#,
            vec!["galera_phase"],
        ),
        (
            "count by (namespace, job) (galera_mysql_up)\n unless on (namespace, job)\n \
             count by (namespace, job) (galera_leader == 1 and on (namespace, pod) \
             galera_state_file_age_seconds < 15)",
            vec![
                "galera_leader",
                "galera_mysql_up",
                "galera_state_file_age_seconds",
            ],
        ),
        (
            "increase(wsrep_local_commits_total[2m]) > 0 and on (pod) galera_leader == 0",
            vec!["galera_leader", "wsrep_local_commits_total"],
        ),
        (
            r#"sum by (pod, probe) (rate(galera_probe_verdicts_total{job="$job"}[$__rate_interval])) offset 5m"#,
            vec!["galera_probe_verdicts_total"],
        ),
        (
            "max_over_time(galera_liveness_failures[15m]) >= 2e0 or absent(up)",
            vec!["galera_liveness_failures", "up"],
        ),
        (
            "a * on (pod) group_left (phase) b unless ignoring (x) c",
            vec!["a", "b", "c"],
        ),
        (
            "max without (phase) (x) > bool sum(y) by (pod)",
            vec!["x", "y"],
        ),
    ] {
        let got: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(got, want, "{expr}");
    }
    // Block and inline exprs of a rule file.
    let yaml = "        - alert: A\n          expr: |\n            sum(x)\n              > y\n          for: 1m\n        - alert: B\n          expr: z == 1\n";
    assert_eq!(rule_exprs(yaml), vec!["sum(x)\n> y", "z == 1"]);
    // The exposition's sample names; a name not among them is reported.
    let text = "# TYPE galera_probe_verdicts counter\ngalera_probe_verdicts_total{probe=\"liveness\"} 1\ngalera_leader 1\n# EOF\n";
    let exported = exported_names(text);
    assert_eq!(
        exported.iter().map(String::as_str).collect::<Vec<_>>(),
        vec!["galera_leader", "galera_probe_verdicts_total"]
    );
    let used: BTreeSet<String> = ["galera_leader", "galera_no_such_metric"]
        .map(String::from)
        .into();
    assert_eq!(missing(&used, &exported), vec!["galera_no_such_metric"]);
    // The checked-in files parse into names at all.
    assert!(used_names().contains("galera_leader"));
}

#[test]
fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let used = used_names();
    let mut c = Cluster::new(150, 3);
    c.start_all();
    let steady = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.wait_steady(3, Duration::from_secs(150))
    }));
    if steady.is_err() {
        panic!("cluster did not assemble:\n{}", c.logs());
    }
    let port = free_port();
    let _serves: Vec<CheckerServe> = (0..3).map(|i| c.checker_serve(i, port)).collect();
    let ips: Vec<String> = c.nodes.iter().map(|n| n.ip.clone()).collect();
    let scrape = |i: usize| get(&ips[i], port, "/metrics").unwrap_or_default();

    // One node leads, by its fresh state file (what GaleraNoLeader counts).
    let mut leader = None;
    wait_until(
        "one node exports galera_leader 1",
        Duration::from_secs(30),
        || {
            let leaders: Vec<usize> = (0..3)
                .filter(|&i| {
                    let t = scrape(i);
                    value(&t, "galera_leader") == Some(1.0)
                        && value(&t, "galera_state_file_age_seconds").is_some_and(|a| a < 15.0)
                })
                .collect();
            leader = leaders.first().copied();
            leaders.len() == 1
        },
    );
    let leader = leader.expect("a leader");

    // Every verdict counter series exists once each probe was asked.
    for ip in &ips {
        for path in ["/readiness", "/liveness"] {
            assert!(get(ip, port, path).is_some(), "GET {path} on {ip}");
        }
    }
    let mut exported = BTreeSet::new();
    for i in 0..3 {
        let t = scrape(i);
        assert!(t.contains("# EOF"), "node {i}: not a full exposition:\n{t}");
        exported.extend(exported_names(&t));
    }
    // Exported only by a node with --galera-tls-dir: shown by tests/tls_rotation.rs.
    let absent: Vec<String> = missing(&used, &exported)
        .into_iter()
        .filter(|n| !TLS_ONLY.contains(&n.as_str()))
        .collect();
    assert!(
        absent.is_empty(),
        "k8s/monitoring uses metrics no checker exports: {absent:?}\nexported: {exported:?}"
    );
    println!(
        "{} metric names used by the rules and the dashboard, all exported ({} exported)",
        used.len(),
        exported.len()
    );

    // A write committed directly on a node that is not the leader (a stray write) shows in its
    // wsrep_local_commits_total; it stays galera_leader 0.
    let stray = (leader + 1) % 3;
    let before = value(&scrape(stray), "wsrep_local_commits_total").expect("commits exported");
    c.write_rows(stray, 1, 3);
    wait_until(
        "the stray write counted on the non-leader",
        Duration::from_secs(10),
        || {
            let t = scrape(stray);
            value(&t, "wsrep_local_commits_total").is_some_and(|v| v > before)
                && value(&t, "galera_leader") == Some(0.0)
        },
    );
    // Nobody ran the exec liveness probe: no failures counted.
    for i in 0..3 {
        assert_eq!(value(&scrape(i), "galera_liveness_failures"), Some(0.0));
    }
}
