//! The walking skeleton, end to end: one suite, run against the embedded adapters and
//! against real nats-server and redis-server processes.

#[macro_use]
mod support;

use std::time::Duration;

use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use serde_json::json;
use support::{Adapters, Harness, eventually, message, submit_message};

async fn http_messages_reach_their_terminal_outcomes(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let cases = [
        ("q1", support::KEY_QUESTION, "replied"),
        ("l1", "I am calling my lawyer about this", "escalated"),
        ("e1", "   ", "ignored"),
    ];
    for (external_id, text, expected) in cases {
        let response = h.post_message(&message(external_id, text)).await;
        assert_eq!(response.status(), 202, "{external_id}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["duplicate"], false);
        let record = h.terminal(body["id"].as_str().unwrap()).await;
        assert_eq!(record["status"], expected, "{external_id}: {record}");
        assert_eq!(record["outcome"]["outcome"], expected);
        let stages: Vec<&str> = record["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["stage"].as_str().unwrap())
            .collect();
        assert_eq!(
            stages,
            ["accepted", "classified", expected],
            "{external_id}"
        );
    }
    let replied_id = firebreak_core::MessageId::derive(firebreak_core::Channel::Telegram, "q1");
    let reply = h.terminal(&replied_id.to_string()).await;
    assert_eq!(reply["outcome"]["connector"], "dry_run");
    let recorded = h.app().dry_run.as_ref().expect("dry-run connector").sent();
    assert_eq!(
        recorded.len(),
        1,
        "one reply recorded by the dry-run connector"
    );
    h.stop().await;
}

async fn grpc_submit_reaches_a_terminal_outcome(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let mut client = h.grpc_ingest().await;
    let response = client
        .submit(h.authed(
            Role::Ingest,
            pb::SubmitRequest {
                message: Some(submit_message("g1", support::KEY_QUESTION)),
            },
        ))
        .await
        .expect("submit ok")
        .into_inner();
    assert!(!response.duplicate);
    let record = h.terminal(&response.id).await;
    assert_eq!(record["status"], "replied");
    assert_eq!(record["channel"], "whatsapp");
    h.stop().await;
}

async fn duplicate_delivery_is_accepted_once(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let first = h.post_message(&message("dup", support::KEY_QUESTION)).await;
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    h.terminal(first["id"].as_str().unwrap()).await;
    let again = h.post_message(&message("dup", support::KEY_QUESTION)).await;
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    let in_stream = h
        .app()
        .bus
        .stream_bounds(firebreak_core::subjects::STREAM_INBOUND)
        .await
        .unwrap()
        .last;
    assert_eq!(in_stream, 1, "the retry was not published again");
    assert_eq!(
        h.app().dry_run.as_ref().unwrap().total_sent(),
        1,
        "answered once"
    );
    h.stop().await;
}

async fn submit_stream_acks_each_message_and_refuses_a_bad_one_alone(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let mut client = h.grpc_ingest().await;
    let requests: Vec<pb::SubmitStreamRequest> = (0..200u64)
        .map(|i| {
            let mut m = submit_message(&format!("s{i}"), support::KEY_QUESTION);
            if i == 77 {
                m.external_id.clear(); // invalid: must be refused alone
            }
            pb::SubmitStreamRequest {
                sequence: i,
                message: Some(m),
            }
        })
        .collect();
    let mut acks = client
        .submit_stream(h.authed(Role::Ingest, tokio_stream::iter(requests)))
        .await
        .expect("stream opens")
        .into_inner();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    while let Some(ack) = acks.message().await.expect("ack stream") {
        match ack.result.expect("result") {
            pb::submit_stream_response::Result::Accepted(a) => accepted.push((ack.sequence, a.id)),
            pb::submit_stream_response::Result::Error(e) => refused.push((ack.sequence, e.code)),
        }
    }
    assert_eq!(refused, vec![(77, "invalid_argument".to_string())]);
    assert_eq!(accepted.len(), 199);
    let sequences: Vec<u64> = accepted.iter().map(|(s, _)| *s).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "acks in order");
    for (_, id) in accepted.iter().step_by(20) {
        assert_eq!(h.terminal(id).await["status"], "replied");
    }
    h.stop().await;
}

async fn garbage_on_the_bus_is_dead_lettered_and_harms_nothing_else(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let bus = h.app().bus.clone();
    let ack = bus
        .publish(firebreak_bus::Envelope::new(
            "fb.in.telegram",
            b"\xff\x00 not protobuf".to_vec(),
        ))
        .await
        .unwrap();
    ack.await.unwrap();
    let response = h
        .post_message(&message("after-garbage", support::KEY_QUESTION))
        .await;
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(h.terminal(&id).await["status"], "replied");
    eventually("garbage reaches the dead-letter stream", || {
        let bus = bus.clone();
        async move {
            bus.stream_len(firebreak_core::subjects::STREAM_DEAD_LETTER)
                .await
                .unwrap()
                == 1
        }
    })
    .await;
    assert_eq!(h.app().metrics.dead_letter_total(), 1);
    assert!(
        h.app()
            .metrics
            .render()
            .contains("firebreak_dead_letters_total{stage=\"classify\"} 1")
    );
    h.stop().await;
}

async fn bad_input_gets_a_clear_error(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let url = format!("{}/v1/messages", h.base);
    let ingest = h.token(Role::Ingest);
    let post = |body: reqwest::Body| h.http.post(&url).bearer_auth(&ingest).body(body).send();

    let huge = json!({"text": "x".repeat(300 * 1024)}).to_string();
    let response = post(huge.into()).await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );

    let response = post("{not json".into()).await.unwrap();
    assert_eq!(response.status(), 400);

    let mut wrong_type = message("w", "hi");
    wrong_type["author"]["followers"] = json!("lots");
    let response = post(wrong_type.to_string().into()).await.unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("author.followers"),
        "{error}"
    );

    let response = post(b"{\"text\":\"\xff\xfe\"}".to_vec().into())
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let no_token = h
        .http
        .post(&url)
        .json(&message("a", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let wrong_role = h
        .http
        .post(&url)
        .bearer_auth(h.token(Role::Viewer))
        .json(&message("a", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_role.status(), 403);

    // Nothing bad was published; a good message still flows.
    assert_eq!(
        h.app()
            .bus
            .stream_bounds(firebreak_core::subjects::STREAM_INBOUND)
            .await
            .unwrap()
            .last,
        0
    );
    let ok = h
        .post_message(&message("good", support::KEY_QUESTION))
        .await;
    assert_eq!(ok.status(), 202);
    h.stop().await;
}

async fn health_and_readiness_answer(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let healthz = h
        .http
        .get(format!("{}/healthz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
    let readyz = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "firebreak.v1.Ingest".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let started = std::time::Instant::now();
    h.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "graceful stop within the grace period"
    );
}

both_adapters!(
    http_messages_reach_their_terminal_outcomes,
    grpc_submit_reaches_a_terminal_outcome,
    duplicate_delivery_is_accepted_once,
    submit_stream_acks_each_message_and_refuses_a_bad_one_alone,
    garbage_on_the_bus_is_dead_lettered_and_harms_nothing_else,
    bad_input_gets_a_clear_error,
    health_and_readiness_answer,
);
