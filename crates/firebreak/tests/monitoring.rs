//! What an SRE alerts on, checked offline. `/metrics` parses with `promtool check
//! metrics` on a fresh start and after a run, and every metric the operations guide
//! lists is there from the start at zero; the PrometheusRule passes `promtool check
//! rules` and `promtool test rules` (the SLA alert pages for P1 and P2, not P4); the
//! dashboard's and the rules' queries name only metrics Firebreak exports; and
//! docs/operations.md documents exactly the families exported.
//!
//! promtool comes from Debian's `prometheus` package, which `scripts/test-all`
//! installs; without it these tests fail and say so.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{Adapters, Harness, message};
use yaml_rust2::{YamlEmitter, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn promtool() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file());
    found.expect(
        "promtool is needed to check the metrics and alert rules: install Debian's \
         `prometheus` package (scripts/test-all does)",
    )
}

/// `promtool check metrics` on `text`: no parse error and no lint problem.
fn promtool_check_metrics(text: &str, when: &str) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics {when}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn scrape(h: &Harness) -> String {
    let response = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// One series of each metric the issue and the operations guide list, as it reads at
/// start (`None`: present, value not fixed, e.g. the configured budget).
const AT_START: &[(&str, Option<&str>)] = &[
    ("firebreak_crisis_mode", Some("0")),
    (
        r#"firebreak_open_cases{priority="P1",status="open"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_open_cases{priority="P4",status="claimed"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_reply_budget_waiting{channel="telegram"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_reply_budget_per_second{channel="telegram"}"#,
        None,
    ),
    (
        r#"firebreak_replies_total{channel="telegram",key_question="refund"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_replies_total{channel="x",key_question="first_line"}"#,
        Some("0"),
    ),
    (r#"firebreak_escalations_total{flag="legal"}"#, Some("0")),
    (
        r#"firebreak_escalations_total{flag="self_harm"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_jetstream_consumer_pending{stream="FB_INBOUND",consumer="classify"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_jetstream_consumer_ack_pending{stream="FB_REPLY",consumer="reply"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_jetstream_consumer_redelivered{stream="FB_ESCALATE",consumer="escalation_p1"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_jetstream_stream_bytes{stream="FB_DLQ"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_jetstream_stream_max_bytes{stream="FB_DLQ"}"#,
        None,
    ),
    (
        r#"firebreak_end_to_end_seconds_count{outcome="replied"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_connector_errors_total{channel="telegram",kind="permanent"}"#,
        Some("0"),
    ),
    (r#"firebreak_redeliveries_total{stage="reply"}"#, Some("0")),
    (
        r#"firebreak_dead_letters_total{stage="classify"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_outcomes_total{outcome="dead_lettered"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_reply_deferrals_total{channel="whatsapp"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_reply_budget_grants_total{channel="telegram"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_reply_budget_waits_total{channel="telegram"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_sla_breaches_total{priority="P1",tier="1"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_sla_breaches_total{priority="P2",tier="4"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_webhook_rejected_total{platform="meta",reason="mismatch"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_webhook_rejected_total{platform="telegram",reason="missing"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_auth_rejected_total{transport="http",reason="unauthenticated"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_auth_rejected_total{transport="grpc",reason="forbidden"}"#,
        Some("0"),
    ),
    (
        r#"firebreak_events_total{kind="reply_deferred"}"#,
        Some("0"),
    ),
    (r#"firebreak_dlq_replays_total{stage="reply"}"#, Some("0")),
];

fn value_of<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
}

/// Sample names in an exposition (`firebreak_x_bucket`, `firebreak_y_total`...).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// Family names from `# TYPE` lines.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// Every `firebreak_…` name a query uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("firebreak_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("k8s/monitoring/dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert_eq!(dashboard["uid"], "firebreak");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut exprs = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "duplicate panel id"
        );
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{title}: gridPos");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr").to_string();
            assert!(!expr.trim().is_empty(), "{title}: empty query");
            exprs.push((title.to_string(), expr));
        }
    }
    exprs
}

/// The PrometheusRule's `spec`, as a plain rules file.
fn rules_file() -> String {
    let text = std::fs::read_to_string(repo().join("k8s/monitoring/prometheusrule.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(docs[0]["kind"].as_str(), Some("PrometheusRule"));
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(&docs[0]["spec"]).unwrap();
    out
}

fn rule_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("k8s/monitoring/prometheusrule.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let mut exprs = Vec::new();
    for group in docs[0]["spec"]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            exprs.push((
                rule["alert"].as_str().unwrap_or("record").to_string(),
                rule["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    exprs
}

/// The metric names of docs/operations.md's metrics table.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("| `firebreak_"))
        .map(|l| format!("firebreak_{}", l.split('`').next().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_are_there_at_zero_from_the_start_and_after_a_run() {
    let h = Harness::start(Adapters::Real).await;
    let fresh = scrape(&h).await;
    promtool_check_metrics(&fresh, "on a fresh start");
    for (series, expected) in AT_START {
        let value = value_of(&fresh, series).unwrap_or_else(|| panic!("{series} missing at start"));
        if let Some(expected) = expected {
            assert_eq!(value, *expected, "{series} at start");
        }
    }
    let budget: f64 = value_of(
        &fresh,
        r#"firebreak_reply_budget_per_second{channel="telegram"}"#,
    )
    .unwrap()
    .parse()
    .unwrap();
    assert!(budget > 0.0, "the playbook's telegram budget");

    // A run: one reply, one escalation, one ignored.
    for (id, text) in [
        ("m1", support::KEY_QUESTION),
        ("m2", "I am calling my lawyer about this"),
        ("m3", "   "),
    ] {
        let message_id = h.submit(&message(id, text)).await;
        h.terminal(&message_id).await;
    }
    let unauthenticated = h
        .http
        .get(format!("{}/v1/cases", h.base))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let after = scrape(&h).await;
    promtool_check_metrics(&after, "after a run");
    for (series, at_least) in [
        (
            r#"firebreak_replies_total{channel="telegram",key_question="refund"}"#,
            1.0,
        ),
        (
            r#"firebreak_reply_budget_grants_total{channel="telegram"}"#,
            1.0,
        ),
        (r#"firebreak_escalations_total{flag="legal"}"#, 1.0),
        (
            r#"firebreak_end_to_end_seconds_count{outcome="replied"}"#,
            1.0,
        ),
        (
            r#"firebreak_end_to_end_seconds_count{outcome="escalated"}"#,
            1.0,
        ),
        (r#"firebreak_outcomes_total{outcome="ignored"}"#, 1.0),
        (
            r#"firebreak_auth_rejected_total{transport="http",reason="unauthenticated"}"#,
            1.0,
        ),
    ] {
        let value: f64 = value_of(&after, series)
            .unwrap_or_else(|| panic!("{series} missing after the run"))
            .parse()
            .unwrap();
        assert!(value >= at_least, "{series} = {value} after the run");
    }
    let leaked = ["lawyer", "refund?", "When will I"];
    for text in leaked {
        assert!(!after.contains(text), "message text in /metrics: {text}");
    }

    // The dashboard and the alerts query only what exists, and the guide documents
    // exactly what is exported.
    let names = sample_names(&after);
    for (title, expr) in dashboard_exprs().into_iter().chain(rule_exprs()) {
        for name in metric_names(&expr) {
            assert!(
                names.contains(&name),
                "{title}: {name} is not exported ({expr})"
            );
        }
    }
    let exported = families(&after);
    let documented = documented();
    for family in &exported {
        assert!(
            documented.contains(family),
            "docs/operations.md does not document {family}"
        );
    }
    // Skips are not alarms, so their family has no series before the first one.
    let appear_later = ["firebreak_webhook_skipped_total"];
    for doc in documented
        .iter()
        .filter(|d| !appear_later.contains(&d.as_str()))
    {
        assert!(
            exported.contains(doc),
            "docs/operations.md documents {doc}, which is not exported"
        );
    }
    h.stop().await;
}

#[test]
fn alert_rules_pass_promtool_and_the_sla_alert_pages_for_p1_and_p2_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), rules_file()).unwrap();
    std::fs::copy(
        repo().join("k8s/monitoring/rules-test.yaml"),
        dir.path().join("rules-test.yaml"),
    )
    .unwrap();
    for args in [
        ["check", "rules", "rules.yaml"],
        ["test", "rules", "rules-test.yaml"],
    ] {
        let out = Command::new(promtool())
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sla = rule_exprs()
        .into_iter()
        .find(|(name, _)| name == "FirebreakSlaBreaches")
        .expect("an SLA alert");
    assert!(
        !sla.1.contains("P4"),
        "the SLA page is for P1 and P2: {}",
        sla.1
    );
}
