//! The urgent lane, on real NATS and Redis: a self-harm message accepted after
//! thousands of ordinary ones is classified and its P1 case filed while most of that
//! backlog still waits in `FB_INBOUND`, because ingest's pre-screen put it on
//! `FB_URGENT`, which classify reads with a consumer and worker of its own. Every
//! message is still classified, once.

use std::sync::Arc;
use std::time::Duration;

use firebreak::app::start;
use firebreak::config::RunConfig;
use firebreak_bus::Bus;
use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_core::wire::Submission;
use firebreak_core::{
    Author, Channel, MessageId, MessageRecord, Outcome, Priority, Stage, Visibility, subjects,
};
use firebreak_pipeline::ingest::Ingestor;
use firebreak_store::MessageLog;
use firebreak_store::redis_store::RedisStore;
use firebreak_telemetry::Metrics;
use firebreak_testkit::{NatsServer, RedisServer};
use tokio_util::sync::CancellationToken;

/// Enough ordinary messages that classifying them all takes far longer than one.
const BACKLOG: usize = 3_000;

/// Everyday messages of a bad buzz, none of which looks like a P1 kind.
const ORDINARY: [&str; 6] = [
    "where is my order? it has been two weeks",
    "is the product safe to eat after the recall?",
    "I want a refund for the recalled batch",
    "this burger is killer, best one this year",
    "je meurs de rire avec votre dernière pub",
    "votre service client ne répond jamais, c'est nul",
];

const SELF_HARM: &str = "I can't take it anymore, I want to kill myself tonight";

fn submission(external_id: &str, text: &str) -> Submission {
    Submission {
        channel: Channel::Telegram,
        external_id: external_id.into(),
        thread_id: format!("thread-{external_id}"),
        visibility: Visibility::Private,
        author: Author {
            id: format!("author-{external_id}"),
            ..Author::default()
        },
        text: text.into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: None,
        mail: None,
        edit_of: None,
    }
}

fn times_classified(record: &MessageRecord) -> usize {
    record
        .history
        .iter()
        .filter(|entry| entry.stage == Stage::Classified)
        .count()
}

async fn wait_until_classified(log: &Arc<RedisStore>, id: MessageId, deadline: Duration) {
    let deadline = tokio::time::Instant::now() + deadline;
    loop {
        let record = log.get(id).await.unwrap();
        if record.is_some_and(|r| r.classification.is_some()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "message {id} was never classified"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_harm_message_is_filed_while_the_inbound_backlog_before_it_still_waits() {
    let nats = NatsServer::start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(
        JetStreamBus::connect(&nats.url(), JetStreamOptions::default())
            .await
            .unwrap(),
    );
    let store = Arc::new(RedisStore::connect(&redis.url()).await.unwrap());
    let metrics = Metrics::new();

    // A surge's ordinary messages, accepted by ingest while classify is down.
    let ingestor = Ingestor::new(bus.clone(), store.clone(), metrics.clone());
    let mut pending = Vec::with_capacity(BACKLOG);
    for i in 0..BACKLOG {
        let text = ORDINARY[i % ORDINARY.len()];
        let submitted = ingestor
            .begin(submission(&format!("ordinary-{i}"), text), "api")
            .await
            .unwrap();
        pending.push(submitted);
    }
    let mut ordinary = Vec::with_capacity(BACKLOG);
    for submitted in pending {
        ordinary.push(submitted.await.unwrap().id);
    }
    let urgent = ingestor
        .submit(submission("urgent-0", SELF_HARM), "api")
        .await
        .unwrap()
        .id;
    assert_eq!(
        bus.stream_len(subjects::STREAM_INBOUND).await.unwrap(),
        BACKLOG as u64,
        "every ordinary message (figures of speech included) stays in the normal lane"
    );
    assert_eq!(bus.stream_len(subjects::STREAM_URGENT).await.unwrap(), 1);
    assert!(
        metrics
            .render()
            .contains(r#"firebreak_ingest_urgent_total{kind="self_harm"} 1"#),
        "the urgent lane's counter counts the message"
    );

    // Classify and escalation come up with the whole backlog ahead of the P1.
    let args: Vec<String> = [
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--roles",
        "classify,escalation",
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

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let record = loop {
        let record = store.get(urgent).await.unwrap();
        if let Some(record) =
            record.filter(|r| matches!(r.outcome, Some(Outcome::Escalated { .. })))
        {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the self-harm message was never filed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let left = bus.stream_len(subjects::STREAM_INBOUND).await.unwrap();
    println!("P1 filed with {left} of {BACKLOG} ordinary messages still queued");
    assert_eq!(
        record.classification.as_ref().map(|c| c.priority),
        Some(Priority::P1)
    );
    assert!(
        left > BACKLOG as u64 / 2,
        "only {left} of {BACKLOG} ordinary messages were still queued: the P1 waited behind them"
    );

    // The backlog still drains on its own lane, and nothing is classified twice.
    for &id in &ordinary {
        wait_until_classified(&store, id, Duration::from_secs(240)).await;
    }
    assert_eq!(bus.stream_len(subjects::STREAM_INBOUND).await.unwrap(), 0);
    assert_eq!(bus.stream_len(subjects::STREAM_URGENT).await.unwrap(), 0);
    for id in ordinary.iter().copied().chain([urgent]) {
        let record = store
            .get(id)
            .await
            .unwrap()
            .expect("every accepted message");
        assert_eq!(times_classified(&record), 1, "message {id}");
    }
    app.stop().await;
}

/// The embedded default runs both lanes the same way: the in-memory bus has the urgent
/// stream and lets its consumer bind beside `classify` (no overlapping filters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_files_a_self_harm_message_through_the_urgent_lane() {
    let args: Vec<String> = ["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let shutdown = CancellationToken::new();
    let app = start(RunConfig::from_args(&args).unwrap(), shutdown.clone())
        .await
        .unwrap();
    let token = app
        .token(firebreak_server::auth::Role::Ingest)
        .unwrap()
        .to_string();
    let body = serde_json::json!({
        "channel": "telegram",
        "external_id": "urgent-embedded",
        "thread_id": "t-1",
        "author": {"id": "a-1"},
        "visibility": "private",
        "text": SELF_HARM,
    });
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/messages", app.http_addr))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = MessageId::parse(
        response.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let record = app.log.get(id).await.unwrap();
        if let Some(record) = record.filter(|r| r.outcome.is_some()) {
            assert!(matches!(record.outcome, Some(Outcome::Escalated { .. })));
            assert_eq!(
                record.classification.map(|c| c.priority),
                Some(Priority::P1)
            );
            assert_eq!(times_classified(&store_record(&app, id).await), 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never filed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        app.metrics
            .render()
            .contains(r#"firebreak_ingest_urgent_total{kind="self_harm"} 1"#)
    );
    assert_eq!(
        app.bus.stream_len(subjects::STREAM_URGENT).await.unwrap(),
        0
    );
    app.stop().await;
}

async fn store_record(app: &firebreak::app::RunningApp, id: MessageId) -> MessageRecord {
    app.log.get(id).await.unwrap().expect("record")
}
