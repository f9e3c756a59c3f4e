//! Reply decisions per second: guards, thread cap, author cooldown, the governor fast
//! path, the channel and global GCRA budgets and the variant's compare-and-swap, all
//! against a real redis-server, plus rendering from the playbook. Budgets are set high
//! so every decision runs the whole path and ends in `Send`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firebreak_core::{
    Author, Channel, Classification, Language, Message, MessageId, Priority, Route, Visibility,
};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_reply::{Decision, RedisReplyState, ReplyConfig, ReplyEngine};
use firebreak_testkit::RedisServer;
use firebreak_triage::{Playbook, TriageEngine};
use time::OffsetDateTime;

fn playbook() -> Playbook {
    let yaml = firebreak_triage::playbook::BUILTIN_YAML
        .replacen("  global_per_sec: 50\n", "  global_per_sec: 10000000\n", 1)
        .replacen("    telegram: 30\n", "    telegram: 10000000\n", 1);
    Playbook::load(&yaml).expect("bench playbook loads")
}

fn message(n: u64) -> Message {
    let now = OffsetDateTime::now_utc();
    Message {
        id: MessageId::derive(Channel::Telegram, &format!("bench-{n}")),
        channel: Channel::Telegram,
        external_id: format!("bench-{n}"),
        thread_id: format!("group-{n}"),
        visibility: Visibility::Public,
        author: Author {
            id: format!("author-{n}"),
            handle: "fan".into(),
            name: "Sam Fan".into(),
            ..Author::default()
        },
        text: "how do I get a refund".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: now,
        received_at: now,
        mail: None,
        edit_of: None,
    }
}

fn classification() -> Classification {
    Classification {
        language: Language::En,
        language_confidence: 1.0,
        sentiment: 0.0,
        route: Route::Reply,
        priority: Priority::P4,
        key_question: Some("refund".into()),
        key_question_confidence: 1.0,
        flags: Vec::new(),
        reasons: Vec::new(),
        confidence: 1.0,
        linked_case_id: None,
        playbook_version: String::new(),
        first_line: None,
    }
}

fn decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_redis, engine) = runtime.block_on(async {
        let redis = RedisServer::start().await.expect("redis-server starts");
        // The testkit fsyncs every write (for its durability tests); production runs
        // `appendfsync everysec`, which is what this figure is for.
        let mut conn = redis::Client::open(redis.url().as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg(&["SET", "appendfsync", "everysec"])
            .query_async(&mut conn)
            .await
            .unwrap();
        let state = Arc::new(RedisReplyState::connect(&redis.url()).await.unwrap());
        let settings = LiveSettings::new(TriageEngine::new(playbook()));
        let engine = ReplyEngine::new(
            state,
            settings,
            ReplyConfig::new(Default::default(), Duration::from_secs(30)),
        );
        (redis, Arc::new(engine))
    });
    let counter = Arc::new(AtomicU64::new(0));
    let classification = classification();
    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decision_against_redis", |b| {
        b.to_async(&runtime).iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let (engine, classification) = (engine.clone(), &classification);
            async move {
                let decision = engine
                    .decide(&message(n), classification, OffsetDateTime::now_utc())
                    .await
                    .unwrap();
                assert!(matches!(decision, Decision::Send { .. }), "{decision:?}");
            }
        })
    });
    // Sixteen decisions in flight, as the reply worker runs them.
    group.throughput(Throughput::Elements(16));
    group.bench_function("decisions_16_concurrent", |b| {
        b.to_async(&runtime).iter(|| {
            let engine = engine.clone();
            let counter = counter.clone();
            let classification = classification.clone();
            async move {
                let batch = (0..16).map(|_| {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let (engine, classification) = (engine.clone(), classification.clone());
                    async move {
                        engine
                            .decide(&message(n), &classification, OffsetDateTime::now_utc())
                            .await
                            .unwrap()
                    }
                });
                futures::future::join_all(batch).await;
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = decisions
}
criterion_main!(benches);
