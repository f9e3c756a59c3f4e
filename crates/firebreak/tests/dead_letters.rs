//! Dead-letter replay: a message the escalation stage could not file while Redis was
//! down is dead-lettered; once Redis is back, `firebreak dlq replay` puts it back
//! through the pipeline as a new attempt and it reaches its terminal outcome, with its
//! history kept and the replay audited. Real nats-server and redis-server.

mod support;

use std::time::{Duration, Instant};

use firebreak_bus::Envelope;
use firebreak_core::rules::TriageContext;
use firebreak_core::wire::encode_classified;
use firebreak_core::{Message, Route, subjects};
use firebreak_server::auth::Role;
use firebreak_triage::{Playbook, TriageEngine};
use serde_json::{Value, json};
use support::{Adapters, Harness};

/// Runs `firebreak dlq ...` against the harness, as an admin; returns stdout.
fn dlq(h: &Harness, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .arg("dlq")
        .args(["--server", &format!("http://{}", h.app().grpc_addr)])
        .args(["--token", &h.token(Role::Admin)])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn lawyer_message() -> Message {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    serde_json::from_value(json!({
        "id": firebreak_core::MessageId::derive(firebreak_core::Channel::Telegram, "dlq-1").to_string(),
        "channel": "telegram",
        "external_id": "dlq-1",
        "thread_id": "chat-dlq-1",
        "visibility": "private",
        "author": {"id": "user-dlq-1", "handle": "jane"},
        "text": "I am calling my lawyer about this",
        "sent_at": now,
        "received_at": now,
    }))
    .expect("a message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_then_fixed_message_reaches_its_outcome_through_dlq_replay() {
    let mut h = Harness::start(Adapters::Real).await;
    let message = lawyer_message();
    let id = message.id.to_string();
    let classification =
        TriageEngine::new(Playbook::builtin()).classify_with(&message, &TriageContext::default());
    assert_eq!(classification.route, Route::Escalate);
    h.app().log.record_accepted(&message).await.unwrap();

    // Poison: the escalation stage cannot file a case while Redis is down, and gives up
    // after its last allowed delivery.
    h.redis.as_mut().unwrap().kill().await.unwrap();
    let envelope = Envelope::new(
        subjects::escalate(classification.priority),
        encode_classified(&message, &classification),
    )
    .with_msg_id(format!("{id}:classified"))
    .with_header(firebreak_pipeline::MESSAGE_ID_HEADER, id.clone());
    h.app().bus.publish(envelope).await.unwrap().await.unwrap();
    let started = Instant::now();
    while h
        .app()
        .bus
        .stream_len(subjects::STREAM_DEAD_LETTER)
        .await
        .unwrap()
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Fixed: Redis is back.
    h.redis.as_mut().unwrap().restart().await.unwrap();
    let (ok, listed, err) = dlq(&h, &["list", "--json"]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let entry = &listed[0];
    assert_eq!(entry["stage"], "escalation", "{listed}");
    assert_eq!(entry["message_id"], id.as_str());
    assert!(
        !listed.to_string().contains("lawyer"),
        "no text in the listing"
    );
    let sequence = entry["sequence"].as_u64().unwrap().to_string();

    // Dead letters are for admins: a viewer is refused.
    let viewer = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .arg("dlq")
        .args(["--server", &format!("http://{}", h.app().grpc_addr)])
        .args(["--token", &h.token(Role::Viewer)])
        .arg("list")
        .output()
        .unwrap();
    assert!(!viewer.status.success());
    assert!(String::from_utf8_lossy(&viewer.stderr).contains("PermissionDenied"));

    let (ok, shown, err) = dlq(&h, &["show", &sequence]);
    assert!(ok, "{err}");
    assert!(shown.contains("fb.escalate."), "{shown}");

    let (ok, out, err) = dlq(&h, &["replay", &sequence, "--reason", "redis restarted"]);
    assert!(ok, "{err}");
    assert!(out.contains("new attempt"), "{out}");

    let record = h.terminal(&id).await;
    assert_eq!(record["status"], "escalated", "{record}");
    let stages: Vec<&str> = record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"replayed"), "{stages:?}");
    assert_eq!(stages.last(), Some(&"escalated"), "{stages:?}");

    // Once finished, a second replay is refused rather than run twice.
    let (ok, _, err) = dlq(&h, &["replay", &sequence, "--reason", "again"]);
    assert!(!ok);
    assert!(err.contains("already reached an outcome"), "{err}");

    let audit: Value = h
        .http
        .get(format!("{}/v1/audit?action_prefix=dlq", h.base))
        .bearer_auth(h.token(Role::Admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["action"], "dlq.replay");
    assert_eq!(entries[0]["subject"], id.as_str());
    assert_eq!(entries[0]["reason"], "redis restarted");
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("firebreak_dead_letters_total{stage=\"escalation\"} 1"));
    assert!(metrics.contains("firebreak_dlq_replays_total{stage=\"escalation\"} 1"));
    h.stop().await;
}
