//! Fault scenario 5: a poison message (bytes that decode as nothing) published straight
//! on each pipeline stream's subject in the middle of a surge. Each is dead-lettered by
//! its stage (one `FB_DLQ` entry per stream), counted in `firebreak_dead_letters_total`
//! under its stage (the series the `FirebreakDeadLetters` alert reads), and the flow
//! goes on: every real message, before and after, reaches its outcome, none of them
//! dead-lettered, none answered twice. Multi-process, real nats-server and
//! redis-server. dead_letters.rs covers the replay of a dead letter; this covers
//! garbage on every stream. docs/faults.md has the figures.

mod faults_support;

use std::path::Path;
use std::time::Duration;

use faults_support::cluster::{Cluster, series};
use faults_support::surge::{Surge, api_agrees, check, mid_surge, outcomes, warm_up};
use yaml_rust2::YamlLoader;

const MESSAGES: usize = 200;

/// Invalid protobuf (wire type 7 does not exist), so no decoder takes it for a message.
const POISON: &[u8] = &[0xff; 48];

/// The stream subjects poisoned, with the stage that consumes each.
const POISONED: [(&str, &str); 3] = [
    ("fb.in.telegram", "classify"),
    ("fb.reply.telegram", "reply"),
    ("fb.escalate.p3", "escalation"),
];

fn dead_letter_series(stage: &str) -> String {
    format!("firebreak_dead_letters_total{{stage=\"{stage}\"}}")
}

/// The `FirebreakDeadLetters` alert's expression, from the shipped PrometheusRule.
fn dead_letter_alert_expr() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/monitoring/prometheusrule.yaml");
    let docs = YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let groups = docs[0]["spec"]["groups"].as_vec().expect("rule groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_vec().into_iter().flatten())
        .find(|rule| rule["alert"].as_str() == Some("FirebreakDeadLetters"))
        .and_then(|rule| rule["expr"].as_str())
        .expect("the FirebreakDeadLetters alert")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_on_every_stream_is_dead_lettered_counted_and_the_flow_goes_on() {
    let expr = dead_letter_alert_expr();
    assert!(
        expr.contains("firebreak_dead_letters_total") && expr.contains("by (stage)"),
        "the alert no longer reads the counter per stage: {expr}"
    );

    let cluster = Cluster::start().await;
    let front = cluster
        .node("front", "ingest,classify,escalation,control")
        .await;
    let reply = cluster.node("reply", "reply").await;
    let nodes = [&front, &reply];
    let counted = |stage: &'static str| async move {
        let mut total = 0.0;
        for node in nodes {
            total += series(&node.metrics().await, &dead_letter_series(stage));
        }
        total
    };
    for (_, stage) in POISONED {
        assert_eq!(
            counted(stage).await,
            0.0,
            "{stage} counted before any poison"
        );
    }

    warm_up(&cluster, &front.http).await;

    let surge = Surge::start(&front.http, 0..MESSAGES, 8, 40);
    mid_surge(&cluster, &surge, 20).await;
    let js = async_nats::jetstream::new(async_nats::connect(cluster.nats.url()).await.unwrap());
    for (subject, _) in POISONED {
        js.publish(subject, POISON.into())
            .await
            .expect("poison published")
            .await
            .expect("poison stored");
    }
    let posted_at_poison = cluster.platform.posted_count().await;

    let ingested = surge.finish().await;
    let outcomes = outcomes(&cluster, &ingested.accepted, Duration::from_secs(60)).await;
    let tally = check(&cluster, &outcomes).await;
    api_agrees(&front.http, &outcomes).await;
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    assert!(
        cluster.platform.posted_count().await > posted_at_poison,
        "no reply after the poison: {tally:?}"
    );

    // One dead letter per poisoned stream, under its stage, and nothing else.
    let started = std::time::Instant::now();
    let dead_letters = loop {
        let dead_letters = cluster.dead_letters().await;
        if dead_letters.values().sum::<u64>() >= POISONED.len() as u64 {
            break dead_letters;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dead letters: {dead_letters:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (_, stage) in POISONED {
        assert_eq!(
            dead_letters.get(&format!("fb.dlq.{stage}")),
            Some(&1),
            "{dead_letters:?}"
        );
        assert_eq!(counted(stage).await, 1.0, "{stage} dead letters counted");
    }
    assert_eq!(dead_letters.len(), POISONED.len(), "{dead_letters:?}");
    eprintln!("dead letters {dead_letters:?}");
}
