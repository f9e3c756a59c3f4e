//! Classification end to end: the playbook-driven engine with thread and author memory,
//! against the embedded adapters and against real NATS and Redis.

#[macro_use]
mod support;

use serde_json::json;
use support::{Adapters, Harness};

fn from_author(
    external_id: &str,
    channel: &str,
    thread: &str,
    visibility: &str,
    text: &str,
) -> serde_json::Value {
    json!({
        "channel": channel,
        "external_id": external_id,
        "thread_id": thread,
        "author": {"id": "author-spill", "handle": "maya", "followers": 40},
        "visibility": visibility,
        "text": text,
    })
}

async fn post_and_finish(h: &Harness, body: serde_json::Value) -> serde_json::Value {
    let response = h.post_message(&body).await;
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.terminal(&id).await
}

/// The product's core risk: an unresolved private case that the same person now takes
/// public. The public message must become a P1 case linked to the private one.
async fn a_private_case_spilling_into_public_is_p1_and_linked(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let private = post_and_finish(
        &h,
        from_author(
            "dm-1",
            "messenger",
            "psid-maya",
            "private",
            "I am going to file a complaint with my lawyer, this is unacceptable",
        ),
    )
    .await;
    assert_eq!(private["status"], "escalated", "{private}");
    let private_case = private["outcome"]["case_id"].as_str().unwrap().to_string();

    let public = post_and_finish(
        &h,
        from_author(
            "comment-1",
            "facebook",
            "post-123",
            "public",
            "Still no answer from you about my order, everyone should know",
        ),
    )
    .await;
    assert_eq!(public["status"], "escalated", "{public}");
    let classification = &public["classification"];
    assert_eq!(classification["priority"], "P1", "{classification}");
    assert_eq!(classification["linked_case_id"], private_case.as_str());
    assert!(
        classification["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "spill_over"),
        "{classification}"
    );
    assert_ne!(
        public["outcome"]["case_id"], private["outcome"]["case_id"],
        "a new public case"
    );
    h.stop().await;
}

/// Without an open private case, the same public message is not spill-over.
async fn a_public_message_without_a_private_case_is_not_spill_over(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let public = post_and_finish(
        &h,
        from_author(
            "comment-2",
            "facebook",
            "post-9",
            "public",
            "Still no answer from you about my order, everyone should know",
        ),
    )
    .await;
    let flags = public["classification"]["flags"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        !flags.iter().any(|f| f["kind"] == "spill_over"),
        "{flags:?}"
    );
    h.stop().await;
}

/// An author id names one person only on its platform: a Messenger case of
/// `author-spill` says nothing about the `author-spill` commenting on X.
async fn a_private_case_on_another_platform_is_not_spill_over(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let private = post_and_finish(
        &h,
        from_author(
            "dm-3",
            "messenger",
            "psid-other",
            "private",
            "I am going to file a complaint with my lawyer, this is unacceptable",
        ),
    )
    .await;
    assert_eq!(private["status"], "escalated", "{private}");
    let public = post_and_finish(
        &h,
        from_author(
            "tweet-3",
            "x",
            "tweet-thread-3",
            "public",
            "Still no answer from you about my order, everyone should know",
        ),
    )
    .await;
    let classification = &public["classification"];
    assert!(
        !classification["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "spill_over"),
        "{classification}"
    );
    assert!(
        classification["linked_case_id"].is_null(),
        "{classification}"
    );
    h.stop().await;
}

const COMPLAINTS: [&str; 6] = [
    "This is the worst service ever, I am furious",
    "Still waiting, your support is useless and slow",
    "Terrible experience again, nobody answers me",
    "I am so disappointed, this is a disgrace",
    "Horrible company, my order is still missing",
    "Awful, awful service, I regret buying from you",
];

/// The same author complaining again and again is flagged as a repeat complainer.
async fn repeat_complaints_are_remembered(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let mut last = serde_json::Value::Null;
    for (i, complaint) in COMPLAINTS.iter().enumerate() {
        last = post_and_finish(
            &h,
            from_author(
                &format!("rep-{i}"),
                "x",
                &format!("tweet-{i}"),
                "public",
                complaint,
            ),
        )
        .await;
    }
    let flags = last["classification"]["flags"].as_array().unwrap().clone();
    assert!(
        flags.iter().any(|f| f["kind"] == "repeat_complainer"),
        "{flags:?}"
    );
    h.stop().await;
}

/// The dry run answers the full decision with its reasons and changes nothing.
async fn classify_dry_run_explains_without_side_effects(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let response = h
        .http
        .post(format!("{}/v1/classify", h.base))
        .bearer_auth(h.token(firebreak_server::auth::Role::Viewer))
        .json(&json!({"text": "I want to kill myself, nothing matters anymore"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let decision: serde_json::Value = response.json().await.unwrap();
    assert_eq!(decision["route"], "escalate", "{decision}");
    assert_eq!(decision["priority"], "P1");
    assert_eq!(decision["language"], "en");
    assert!(
        decision["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "self_harm")
    );
    assert!(!decision["reasons"].as_array().unwrap().is_empty());
    for field in ["sentiment", "key_question", "confidence"] {
        assert!(decision.get(field).is_some(), "missing {field}");
    }

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut classifier = firebreak_proto::v1::classifier_client::ClassifierClient::new(channel);
    let request = firebreak_proto::v1::ClassifyRequest {
        message: Some(firebreak_proto::v1::SubmitMessage {
            text: "Où en est mon remboursement ?".into(),
            ..Default::default()
        }),
        crisis: None,
    };
    let answer = classifier
        .classify(h.authed(firebreak_server::auth::Role::Viewer, request))
        .await
        .unwrap()
        .into_inner()
        .classification
        .unwrap();
    assert_eq!(answer.language, firebreak_proto::v1::Language::Fr as i32);
    assert_eq!(
        answer.route,
        firebreak_proto::v1::Route::Reply as i32,
        "{answer:?}"
    );
    assert_eq!(answer.key_question, "refund");

    let unauthenticated = h
        .http
        .post(format!("{}/v1/classify", h.base))
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let inbound = h
        .app()
        .bus
        .stream_bounds(firebreak_core::subjects::STREAM_INBOUND)
        .await
        .unwrap()
        .last;
    assert_eq!(inbound, 0, "a dry run publishes nothing");
    h.stop().await;
}

both_adapters!(
    a_private_case_spilling_into_public_is_p1_and_linked,
    a_public_message_without_a_private_case_is_not_spill_over,
    a_private_case_on_another_platform_is_not_spill_over,
    repeat_complaints_are_remembered,
    classify_dry_run_explains_without_side_effects,
);
