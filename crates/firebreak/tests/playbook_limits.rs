//! Abusive playbook uploads (the probes) get 400 quickly, naming the limit, and
//! leave the server's memory where it was; a valid one still uploads and lists.

mod support;

use std::time::{Duration, Instant};

use firebreak_server::auth::Role;
use firebreak_triage::playbook::BUILTIN_YAML;
use firebreak_triage::playbook::abuse::{alias_bomb, patterns, template_loops};
use serde_json::Value;
use support::{Adapters, Harness};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn upload(h: &Harness, name: &str, yaml: String) -> (u16, String, Duration) {
    let begun = Instant::now();
    let response = h
        .http
        .put(format!("{}/v1/playbooks/{name}", h.base))
        .bearer_auth(h.token(Role::Crisis))
        .body(yaml)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or("").to_string();
    (status, message, begun.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_playbooks_get_400_quickly_and_cost_no_memory() {
    let h = Harness::start(Adapters::Real).await;
    let before = rss_kib();
    let cases = [
        ("alias amplification", alias_bomb(), "aliases expanded"),
        ("template loops", template_loops(), "template instructions"),
        ("regex count", patterns(200), "at most 32 patterns"),
        ("regex size", patterns(25), "compile to more than"),
    ];
    for round in 0..3 {
        for (name, yaml, expected) in &cases {
            let (status, message, took) = upload(&h, "abuse", yaml.clone()).await;
            assert_eq!(status, 400, "{name}: {message}");
            assert!(message.contains(expected), "{name}: {message}");
            // The refusal itself takes milliseconds (the triage crate's test); this
            // bound covers the HTTP round trip on a busy test runner.
            assert!(
                took < Duration::from_secs(1),
                "{name} round {round} took {took:?}"
            );
        }
    }
    if let (Some(before), Some(after)) = (before, rss_kib()) {
        assert!(
            after < before + 50 * 1024,
            "RSS grew from {before} KiB to {after} KiB"
        );
    }
    // Nothing was stored; a valid playbook still uploads and lists.
    let valid = BUILTIN_YAML.replacen("name: default", "name: recall", 1);
    let (status, message, _) = upload(&h, "recall", valid).await;
    assert_eq!(status, 200, "{message}");
    let listed: Value = h
        .http
        .get(format!("{}/v1/playbooks", h.base))
        .bearer_auth(h.token(Role::Viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // The upload and the built-in playbook; none of the refused ones.
    assert_eq!(names, ["default", "recall"]);
    h.stop().await;
}
