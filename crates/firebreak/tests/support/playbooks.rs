//! Playbook helpers for the lifecycle tests (`playbook_lifecycle.rs`, `playbook_cli.rs`).

use firebreak_server::auth::Role;
use serde_json::Value;

use super::{Harness, eventually};

pub const MINIMAL: &str = include_str!("../../../firebreak-triage/playbooks/minimal.yaml");
pub const BUILTIN: &str = firebreak_triage::playbook::BUILTIN_YAML;

pub fn named(name: &str) -> String {
    BUILTIN.replacen("name: default", &format!("name: {name}"), 1)
}

/// The built-in playbook as `draft`, with the normal `refund` question renamed and
/// "bomb" taken out of the threat lexicon.
pub fn careless_draft() -> String {
    named("draft")
        .replacen("  - id: refund\n", "  - id: money_back\n", 1)
        .replacen(
            "  lexicon:\n    legal:",
            "  lexicon:\n    threat:\n      remove: [bomb]\n    legal:",
            1,
        )
}

pub async fn call(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    role: Role,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = h
        .http
        .request(method, format!("{}{path}", h.base))
        .bearer_auth(h.token(role));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("http request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn upload(h: &Harness, name: &str, yaml: &str) -> (u16, Value) {
    let response = h
        .http
        .put(format!("{}/v1/playbooks/{name}", h.base))
        .bearer_auth(h.token(Role::Crisis))
        .body(yaml.to_string())
        .send()
        .await
        .expect("http request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn active_version(h: &Harness) -> String {
    h.app().settings.current().playbook().version().to_string()
}

pub async fn runs(h: &Harness, version: &str) {
    eventually(&format!("{version} runs"), || async {
        active_version(h) == version
    })
    .await;
}
