//! Crisis mode end to end, through the running binary's HTTP and gRPC APIs and its
//! command line: auth (401/403/200 on both APIs), the change seen in GET, WatchMode and
//! the audit with the actor's name, expiry, playbook validation, and a surge of negative
//! messages raising an alert through the whole pipeline.

mod support;

use std::time::Duration;

use firebreak_proto::v1 as pb;
use firebreak_proto::v1::crisis_control_client::CrisisControlClient;
use firebreak_server::auth::Role;
use firebreak_testkit::FakeHttpServer;
use serde_json::{Value, json};
use support::{Adapters, Harness, eventually, message};
use tonic::Code;

async fn crisis_client(h: &Harness) -> CrisisControlClient<tonic::transport::Channel> {
    CrisisControlClient::connect(format!("http://{}", h.app().grpc_addr))
        .await
        .expect("grpc connects")
}

async fn put_crisis(h: &Harness, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = h.http.put(format!("{}/v1/crisis", h.base)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("http request")
}

async fn get_json(h: &Harness, path: &str, role: Role) -> Value {
    let response = h
        .http
        .get(format!("{}{path}", h.base))
        .bearer_auth(h.token(role))
        .send()
        .await
        .expect("http request");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("json")
}

async fn next_event(
    stream: &mut tonic::Streaming<pb::WatchModeResponse>,
    kind: pb::ModeEventKind,
) -> pb::ModeEvent {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let event = stream
                .message()
                .await
                .expect("stream ok")
                .expect("stream open")
                .event
                .expect("event");
            if event.kind == kind as i32 {
                return event;
            }
        }
    })
    .await
    .expect("event arrives")
}

#[tokio::test]
async fn crisis_put_needs_a_crisis_token_and_the_change_shows_in_get_watch_and_audit() {
    let h = Harness::start(Adapters::Real).await;
    let mut grpc = crisis_client(&h).await;
    let mut watch = grpc
        .watch_mode(h.authed(Role::Viewer, pb::WatchModeRequest {}))
        .await
        .expect("watch allowed to a viewer")
        .into_inner();
    let body = json!({"active": true, "reason": "product recall"});

    let missing = put_crisis(&h, None, &body).await;
    assert_eq!(missing.status(), 401);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthenticated");
    assert_eq!(
        put_crisis(&h, Some("fb_not_a_token"), &body).await.status(),
        401
    );
    let moderator = put_crisis(&h, Some(&h.token(Role::Moderator)), &body).await;
    assert_eq!(moderator.status(), 403);
    assert_eq!(
        get_json(&h, "/v1/crisis", Role::Viewer).await["active"],
        false,
        "refused requests changed nothing"
    );

    let ok = put_crisis(&h, Some(&h.token(Role::Crisis)), &body).await;
    assert_eq!(ok.status(), 200);
    let mode = get_json(&h, "/v1/crisis", Role::Viewer).await;
    assert_eq!(mode["active"], true);
    assert_eq!(mode["actor"], "generated-crisis");
    assert_eq!(mode["reason"], "product recall");
    assert!(mode["playbook"].as_str().unwrap().starts_with("default@"));

    let changed = next_event(&mut watch, pb::ModeEventKind::Changed).await;
    let changed = if changed.mode.as_ref().is_some_and(|m| m.active) {
        changed
    } else {
        // The first event is the mode at subscription time.
        next_event(&mut watch, pb::ModeEventKind::Changed).await
    };
    let watched = changed.mode.unwrap();
    assert!(watched.active);
    assert_eq!(watched.actor, "generated-crisis");

    let audit = get_json(&h, "/v1/audit?action_prefix=crisis.&limit=10", Role::Viewer).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "crisis.on");
    assert_eq!(entries[0]["actor"], "generated-crisis");
    assert_eq!(entries[0]["reason"], "product recall");
    let listed = grpc
        .list_audit(h.authed(
            Role::Crisis,
            pb::ListAuditRequest {
                limit: 10,
                action_prefix: "crisis.".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.entries[0].actor, "generated-crisis");

    // gRPC refuses alike: no token, a bad one, the wrong role.
    let set = pb::SetModeRequest {
        active: false,
        reason: "nope".into(),
        ..Default::default()
    };
    let none = grpc
        .set_mode(tonic::Request::new(set.clone()))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    let mut bad = tonic::Request::new(set.clone());
    bad.metadata_mut()
        .insert("authorization", "Bearer fb_wrong".parse().unwrap());
    assert_eq!(
        grpc.set_mode(bad).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let wrong_role = grpc
        .set_mode(h.authed(Role::Moderator, set.clone()))
        .await
        .unwrap_err();
    assert_eq!(wrong_role.code(), Code::PermissionDenied);
    let denied_read = grpc
        .get_mode(h.authed(Role::Ingest, pb::GetModeRequest {}))
        .await
        .unwrap_err();
    assert_eq!(denied_read.code(), Code::PermissionDenied);
    let audit_unauthenticated = h
        .http
        .get(format!("{}/v1/audit", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(audit_unauthenticated.status(), 401);

    let off = grpc
        .set_mode(h.authed(Role::Crisis, set))
        .await
        .unwrap()
        .into_inner()
        .mode
        .unwrap();
    assert!(!off.active && off.actor == "generated-crisis");
    h.stop().await;
}

#[tokio::test]
async fn expires_in_secs_switches_crisis_off_by_itself_and_is_audited() {
    let h = Harness::start(Adapters::Real).await;
    let mut grpc = crisis_client(&h).await;
    let mut watch = grpc
        .watch_mode(h.authed(Role::Crisis, pb::WatchModeRequest {}))
        .await
        .unwrap()
        .into_inner();
    let body = json!({"active": true, "reason": "flash sale outage", "expires_in_secs": 1});
    let response = put_crisis(&h, Some(&h.token(Role::Crisis)), &body).await;
    assert_eq!(response.status(), 200);
    let mode: Value = response.json().await.unwrap();
    assert!(mode["expires_at"].is_string());

    let expired = next_event(&mut watch, pb::ModeEventKind::Expired).await;
    let expired = expired.mode.unwrap();
    assert!(!expired.active);
    assert_eq!(expired.actor, "system");
    let mode = get_json(&h, "/v1/crisis", Role::Viewer).await;
    assert_eq!(mode["active"], false);
    assert_eq!(mode["actor"], "system");
    let audit = get_json(&h, "/v1/audit?action_prefix=crisis.expired", Role::Viewer).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"], "system");
    assert!(
        entries[0]["reason"]
            .as_str()
            .unwrap()
            .contains("flash sale outage")
    );
    h.stop().await;
}

#[tokio::test]
async fn an_invalid_playbook_is_refused_and_the_running_one_stays() {
    let h = Harness::start(Adapters::Embedded).await;
    let crisis = h.token(Role::Crisis);
    let running = h.app().settings.current().playbook().version().to_string();
    let yaml = firebreak_triage::playbook::BUILTIN_YAML
        .replacen("name: default", "name: recall", 1)
        .replacen(
            "negative_rate_multiple: 3.0",
            "negative_rate_multiple: 0.5",
            1,
        );
    let line = yaml
        .lines()
        .position(|l| l.contains("negative_rate_multiple"))
        .unwrap()
        + 1;
    let refused = h
        .http
        .put(format!("{}/v1/playbooks/recall", h.base))
        .bearer_auth(&crisis)
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("surge.negative_rate_multiple")
            && message.contains(&format!("line {line}")),
        "{message}"
    );
    let activate = put_crisis(
        &h,
        Some(&crisis),
        &json!({"active": true, "reason": "recall", "playbook": "recall"}),
    )
    .await;
    assert_eq!(activate.status(), 404, "never stored, so unknown");
    assert_eq!(
        get_json(&h, "/v1/crisis", Role::Viewer).await["active"],
        false
    );
    // Nothing was stored: only the built-in playbook is listed.
    let listed = get_json(&h, "/v1/playbooks", Role::Viewer).await["playbooks"].clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["name"], "default");

    // A valid one uploads, activates with the mode, and every role applies it.
    let valid =
        firebreak_triage::playbook::BUILTIN_YAML.replacen("name: default", "name: recall", 1);
    let uploaded = h
        .http
        .put(format!("{}/v1/playbooks/recall", h.base))
        .bearer_auth(h.token(Role::Moderator))
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 403, "uploading needs the crisis role");
    assert_eq!(h.app().settings.current().playbook().version(), running);
    let uploaded = h
        .http
        .put(format!("{}/v1/playbooks/recall", h.base))
        .bearer_auth(&crisis)
        .body(valid)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let activate = put_crisis(
        &h,
        Some(&crisis),
        &json!({"active": true, "reason": "recall", "playbook": "recall"}),
    )
    .await;
    assert_eq!(activate.status(), 200);
    eventually("the recall playbook is applied", || async {
        h.app()
            .settings
            .current()
            .playbook()
            .version()
            .starts_with("recall@")
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn a_surge_of_negative_messages_raises_an_alert_and_switches_crisis_on() {
    let fake = FakeHttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("surge.yaml");
    let yaml = firebreak_triage::playbook::BUILTIN_YAML
        .replacen("baseline_window_secs: 3600", "baseline_window_secs: 24", 1)
        .replacen("min_messages: 50", "min_messages: 20", 1)
        .replacen("auto_crisis: false", "auto_crisis: true", 1);
    std::fs::write(&playbook, yaml).unwrap();
    let webhook = format!("{}/chat", fake.url());
    let h = Harness::start_with(
        Adapters::Real,
        &[
            "--playbook",
            playbook.to_str().unwrap(),
            "--notify-webhook-url",
            &webhook,
        ],
    )
    .await;
    let mut grpc = crisis_client(&h).await;
    let mut watch = grpc
        .watch_mode(h.authed(Role::Viewer, pb::WatchModeRequest {}))
        .await
        .unwrap()
        .into_inner();

    for i in 0..40 {
        let text = if i % 2 == 0 {
            "This is disgusting, worst brand ever, I am furious and disappointed"
        } else {
            "C'est honteux, service nul, je suis furieux"
        };
        let response = h.post_message(&message(&format!("surge-{i}"), text)).await;
        assert_eq!(response.status(), 202);
    }

    let alert = next_event(&mut watch, pb::ModeEventKind::SurgeAlert).await;
    assert!(alert.detail.contains("negative share"), "{}", alert.detail);
    let mode = alert.mode.unwrap();
    assert!(mode.active && mode.actor == "system");
    let audit = get_json(&h, "/v1/audit?action_prefix=surge.", Role::Viewer).await;
    assert_eq!(audit["entries"][0]["action"], "surge.alert");
    assert_eq!(audit["entries"][0]["actor"], "system");
    let crisis = get_json(&h, "/v1/crisis", Role::Viewer).await;
    assert_eq!(crisis["active"], true);
    assert_eq!(crisis["actor"], "system");
    eventually("the chat webhook is called", || async {
        fake.requests().len() == 1
    })
    .await;
    let body = fake.requests()[0].body_json().unwrap();
    assert_eq!(body["firebreak"]["event"], "surge_alert");
    assert!(body["text"].as_str().unwrap().contains("negative share"));
    h.stop().await;
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(args)
        .env_remove("FIREBREAK_SERVER")
        .env_remove("FIREBREAK_TOKEN")
        .output()
        .expect("firebreak runs")
}

#[tokio::test]
async fn the_cli_switches_crisis_mode_on_and_off_against_a_running_server() {
    let h = Harness::start(Adapters::Embedded).await;
    let server = format!("http://{}", h.app().grpc_addr);
    let crisis = h.token(Role::Crisis);
    let on = tokio::task::spawn_blocking({
        let (server, crisis) = (server.clone(), crisis.clone());
        move || {
            cli(&[
                "crisis",
                "on",
                "--reason",
                "recall drill",
                "--expires",
                "2h",
                "--server",
                &server,
                "--token",
                &crisis,
                "--json",
            ])
        }
    })
    .await
    .unwrap();
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    let printed: Value = serde_json::from_slice(&on.stdout).unwrap();
    assert_eq!(printed["active"], true);
    assert_eq!(printed["actor"], "generated-crisis");
    assert!(printed["expires_at"].is_string());

    let viewer = h.token(Role::Viewer);
    let status = tokio::task::spawn_blocking({
        let server = server.clone();
        move || cli(&["crisis", "status", "--server", &server, "--token", &viewer])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("crisis mode: ON") && text.contains("recall drill"),
        "{text}"
    );

    let moderator = h.token(Role::Moderator);
    let refused = tokio::task::spawn_blocking({
        let server = server.clone();
        move || cli(&["crisis", "off", "--server", &server, "--token", &moderator])
    })
    .await
    .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("PermissionDenied"));

    let off = tokio::task::spawn_blocking(move || {
        cli(&["crisis", "off", "--server", &server, "--token", &crisis])
    })
    .await
    .unwrap();
    assert!(off.status.success());
    assert_eq!(
        get_json(&h, "/v1/crisis", Role::Viewer).await["active"],
        false
    );
    h.stop().await;
}

#[test]
fn playbook_check_exits_1_naming_the_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let yaml = firebreak_triage::playbook::BUILTIN_YAML.replacen(
        "baseline_window_secs: 3600",
        "baseline_window_secs: 0",
        1,
    );
    let line = yaml
        .lines()
        .position(|l| l.contains("baseline_window_secs"))
        .unwrap()
        + 1;
    std::fs::write(&bad, yaml).unwrap();
    let out = cli(&["playbook", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("surge.baseline_window_secs") && stderr.contains(&format!("line {line}")),
        "{stderr}"
    );
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, firebreak_triage::playbook::BUILTIN_YAML).unwrap();
    let out = cli(&["playbook", "check", good.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));

    let classified = cli(&["classify", "--json", "I will sue you, my lawyer is ready"]);
    assert!(classified.status.success());
    let decision: Value = serde_json::from_slice(&classified.stdout).unwrap();
    assert_eq!(decision["route"], "escalate");
}
