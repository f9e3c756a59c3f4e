//! The P1 lane, on real NATS and Redis: a P1 escalation is filed while thousands of P4
//! escalations queued before it are still waiting, because each priority has a consumer
//! and workers of its own. Also the upgrade: the unfiltered consumer of older releases
//! is removed so the lanes can bind.

use std::time::Duration;

use firebreak::app::start;
use firebreak::config::RunConfig;
use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_bus::{Bus, ConsumerOptions, Envelope};
use firebreak_core::wire::{Submission, encode_classified};
use firebreak_core::{
    Author, Channel, Classification, Language, Message, Outcome, Priority, Route, Visibility,
    subjects,
};
use firebreak_pipeline::MESSAGE_ID_HEADER;
use firebreak_testkit::{NatsServer, RedisServer};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Enough P4s that filing them all takes well over the time one P1 needs.
const P4_BACKLOG: usize = 4_000;

fn escalated(external_id: &str, thread: &str) -> Message {
    Submission {
        channel: Channel::Telegram,
        external_id: external_id.into(),
        thread_id: thread.into(),
        visibility: Visibility::Private,
        author: Author {
            id: format!("author-{thread}"),
            ..Author::default()
        },
        text: "still waiting".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: None,
        mail: None,
        edit_of: None,
    }
    .into_message(OffsetDateTime::now_utc())
    .unwrap()
}

fn classification(priority: Priority) -> Classification {
    Classification {
        language: Language::En,
        language_confidence: 1.0,
        sentiment: -0.5,
        route: Route::Escalate,
        priority,
        key_question: None,
        key_question_confidence: 0.0,
        flags: Vec::new(),
        reasons: vec!["thread_cap".into()],
        confidence: 0.9,
        linked_case_id: None,
        playbook_version: "test".into(),
        first_line: None,
    }
}

/// What classify publishes for an escalated message.
fn envelope(message: &Message, priority: Priority) -> Envelope {
    Envelope::new(
        subjects::escalate(priority),
        encode_classified(message, &classification(priority)),
    )
    .with_msg_id(message.id.to_string())
    .with_header(MESSAGE_ID_HEADER, message.id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p1_is_filed_while_a_p4_backlog_queued_before_it_still_waits() {
    let nats = NatsServer::start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let bus = JetStreamBus::connect(&nats.url(), JetStreamOptions::default())
        .await
        .unwrap();
    // An older release's unfiltered consumer, holding nothing: the lanes must replace it.
    bus.consumer(
        subjects::STREAM_ESCALATE,
        subjects::CONSUMER_ESCALATION_LEGACY,
        ConsumerOptions::default(),
    )
    .await
    .unwrap();

    // A surge's thread-cap escalations, queued before the escalation role is up.
    let mut acks = Vec::new();
    for i in 0..P4_BACKLOG {
        let message = escalated(&format!("p4-{i}"), &format!("busy-thread-{}", i % 40));
        acks.push(bus.publish(envelope(&message, Priority::P4)).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }

    let args: Vec<String> = [
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--roles",
        "escalation",
        "--nats-url",
        &nats.url(),
        "--redis-url",
        &redis.url(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let shutdown = CancellationToken::new();
    let app = start(RunConfig::from_args(&args).unwrap(), shutdown.clone())
        .await
        .unwrap();
    let urgent = escalated("p1-0", "quiet-thread");
    bus.publish(envelope(&urgent, Priority::P1))
        .await
        .unwrap()
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let case_id = loop {
        let record = app.log.get(urgent.id).await.unwrap();
        if let Some(Outcome::Escalated { case_id }) = record.and_then(|r| r.outcome) {
            break case_id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the P1 was never filed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let left = bus.stream_len(subjects::STREAM_ESCALATE).await.unwrap();
    println!("P1 filed as {case_id} with {left} of {P4_BACKLOG} P4 escalations still queued");
    assert!(
        left > 0,
        "the P4 backlog had drained before the P1 was filed: the P1 waited behind it"
    );
    let lanes = app
        .bus
        .consumer_backlog(
            subjects::STREAM_ESCALATE,
            subjects::CONSUMER_ESCALATION_LEGACY,
        )
        .await
        .unwrap();
    assert_eq!(lanes, Default::default(), "the unfiltered consumer is gone");

    // The backlog still drains, on its own lane.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while bus.stream_len(subjects::STREAM_ESCALATE).await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the P4 backlog never drained"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}
