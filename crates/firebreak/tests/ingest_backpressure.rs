//! Backpressure, never loss: while NATS is down or the inbound stream is full, the
//! webhooks answer 503 with Retry-After and gRPC answers UNAVAILABLE or
//! RESOURCE_EXHAUSTED; everything that got a 2xx is in the stream. And the per-source
//! request limit answers 429 before any of that work is done.

mod support;

use std::time::Duration;

use firebreak_core::subjects;
use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use serde_json::{Value, json};
use support::{Adapters, Harness, eventually, message, submit_message};

const TELEGRAM_SECRET: &str = "backpressure_token";

fn update(n: u64) -> Vec<u8> {
    json!({
        "update_id": n,
        "message": {
            "message_id": n,
            "from": {"id": 42, "is_bot": false, "first_name": "Ana"},
            "chat": {"id": 42, "type": "private", "first_name": "Ana"},
            "date": 1_700_000_000,
            "text": "Where is my refund?",
        }
    })
    .to_string()
    .into_bytes()
}

async fn telegram(h: &Harness, body: Vec<u8>) -> reqwest::Response {
    h.http
        .post(format!("{}/webhooks/telegram", h.base))
        .header("x-telegram-bot-api-secret-token", TELEGRAM_SECRET)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn inbound_len(h: &Harness) -> u64 {
    h.app()
        .bus
        .stream_len(subjects::STREAM_INBOUND)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_answer_503_while_nats_is_down_and_lose_nothing_they_acknowledged() {
    let mut h = Harness::start_with(
        Adapters::Real,
        &[
            "--telegram-secret-token",
            TELEGRAM_SECRET,
            "--roles",
            "ingest",
        ],
    )
    .await;
    let mut acknowledged = 0u64;
    for n in 1..=5 {
        assert_eq!(telegram(&h, update(n)).await.status(), 200);
        acknowledged += 1;
    }

    h.nats.as_mut().unwrap().kill().await.unwrap();
    for n in 100..110 {
        let response = telegram(&h, update(n)).await;
        assert_eq!(response.status(), 503, "never 200 with NATS down");
        assert!(response.headers().get("retry-after").is_some());
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "unavailable");
    }

    h.nats.as_mut().unwrap().restart().await.unwrap();
    // The platform retries its refused deliveries; once NATS is back they get in.
    let mut retried = 100;
    eventually("the webhook accepts again after NATS restarts", || {
        let h = &h;
        async move { telegram(h, update(retried)).await.status() == 200 }
    })
    .await;
    acknowledged += 1;
    for n in 101..110 {
        retried = n;
        assert_eq!(telegram(&h, update(retried)).await.status(), 200);
        acknowledged += 1;
    }
    assert_eq!(
        inbound_len(&h).await,
        acknowledged,
        "every acknowledged delivery, and only those, is in the stream"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_unavailable_while_nats_is_down() {
    let mut h = Harness::start_with(Adapters::Real, &["--roles", "ingest"]).await;
    let mut client = h.grpc_ingest().await;
    h.nats.as_mut().unwrap().kill().await.unwrap();

    let refused = client
        .submit(h.authed(
            Role::Ingest,
            pb::SubmitRequest {
                message: Some(submit_message("down-1", "refund")),
            },
        ))
        .await
        .expect_err("no OK with NATS down");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.metadata().get("retry-after").is_some());

    let requests = tokio_stream::iter(vec![pb::SubmitStreamRequest {
        sequence: 7,
        message: Some(submit_message("down-2", "refund")),
    }]);
    let mut acks = client
        .submit_stream(h.authed(Role::Ingest, requests))
        .await
        .unwrap()
        .into_inner();
    let ack = acks.message().await.unwrap().expect("one ack");
    assert_eq!(ack.sequence, 7);
    match ack.result {
        Some(pb::submit_stream_response::Result::Error(e)) => {
            assert_eq!(e.code, "unavailable");
            assert!(e.retry_after_secs >= 1);
        }
        other => panic!("expected an unavailable ack, got {other:?}"),
    }
    h.stop().await;
}

/// Shrinks the inbound stream to `max` messages so the next publish is refused, as a
/// full production stream (`discard: new`) would refuse it.
async fn shrink_inbound_stream(nats_url: &str, max: i64) {
    let client = async_nats::connect(nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(subjects::STREAM_INBOUND).await.unwrap();
    let mut config = stream.info().await.unwrap().config.clone();
    config.max_messages = max;
    js.update_stream(config).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stream_is_resource_exhausted_on_grpc_and_503_on_webhooks() {
    let h = Harness::start_with(
        Adapters::Real,
        &[
            "--telegram-secret-token",
            TELEGRAM_SECRET,
            "--roles",
            "ingest",
        ],
    )
    .await;
    shrink_inbound_stream(&h.nats.as_ref().unwrap().url(), 2).await;
    let mut client = h.grpc_ingest().await;
    for i in 0..2 {
        client
            .submit(h.authed(
                Role::Ingest,
                pb::SubmitRequest {
                    message: Some(submit_message(&format!("fill-{i}"), "refund")),
                },
            ))
            .await
            .expect("room for two");
    }
    let full = client
        .submit(h.authed(
            Role::Ingest,
            pb::SubmitRequest {
                message: Some(submit_message("one-too-many", "refund")),
            },
        ))
        .await
        .expect_err("the stream is full");
    assert_eq!(full.code(), tonic::Code::ResourceExhausted);
    assert!(full.metadata().get("retry-after").is_some());

    let response = telegram(&h, update(1)).await;
    assert_eq!(response.status(), 503, "the platform must retry later");
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(
        inbound_len(&h).await,
        2,
        "nothing beyond the limit was stored"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_its_request_limit_gets_429_and_health_is_spared() {
    let h = Harness::start_with(
        Adapters::Embedded,
        &[
            "--telegram-secret-token",
            TELEGRAM_SECRET,
            "--ingest-rate-per-source",
            "3",
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for n in 1..=6 {
        statuses.push(telegram(&h, update(n)).await.status().as_u16());
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "the burst is allowed");
    assert!(statuses.contains(&429), "then refused: {statuses:?}");
    let limited = telegram(&h, update(99)).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "resource_exhausted");

    // Another source has its own bucket; probes are never limited.
    assert_eq!(
        h.post_message(&message("api-1", "refund")).await.status(),
        202
    );
    for _ in 0..20 {
        let health = h
            .http
            .get(format!("{}/healthz", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"firebreak_ingest_rejected_total{source="telegram",reason="rate_limited"}"#
        )
    );

    // The bucket refills: after the wait it accepts again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(telegram(&h, update(100)).await.status(), 200);
    h.stop().await;
}
