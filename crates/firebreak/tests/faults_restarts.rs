//! Fault scenarios 2 and 3: nats-server and redis-server restart in the middle of a
//! surge. While either is down ingest refuses (503 with Retry-After) rather than
//! acknowledge what it cannot keep, and accepts again once it is back; every message it
//! accepted, before, during or after, reaches a recorded outcome through the whole
//! pipeline, and no message gets two replies. docs/faults.md has the figures.
//!
//! The testkit's redis-server fsyncs its AOF on every write, and nats-server keeps
//! JetStream on disk: what either acknowledged survives the restart, which is what
//! lets the pipeline pick up where it stopped.

mod faults_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use faults_support::cluster::{Cluster, INGEST_TOKEN};
use faults_support::surge::{
    Surge, api_agrees, check, message, message_id, mid_surge, outcomes, submit, warm_up,
};
use firebreak_core::Outcome;

const MESSAGES: usize = 300;
/// Probe messages sent while a server is down are numbered from here.
const PROBES: usize = 10_000;
const SETTLE: Duration = Duration::from_secs(75);

/// What ingest answered to probes sent every 200 ms for `down_for`, while the
/// server is down.
async fn probe_while_down(ingest: &str, first: usize, down_for: Duration) -> Vec<(u16, bool)> {
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    let started = Instant::now();
    let mut n = first;
    while started.elapsed() < down_for {
        let response = client
            .post(format!("{ingest}/v1/messages"))
            .bearer_auth(INGEST_TOKEN)
            .json(&message(n))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("ingest answers while a dependency is down");
        let retry_after = response.headers().contains_key("retry-after");
        answers.push((response.status().as_u16(), retry_after));
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    answers
}

fn assert_refused(answers: &[(u16, bool)], what: &str) {
    for (status, retry_after) in answers {
        assert_eq!(*status, 503, "ingest answered {status} with {what} down");
        assert!(*retry_after, "503 without Retry-After");
    }
}

struct Running {
    cluster: Cluster,
    front: faults_support::cluster::Node,
    _reply: faults_support::cluster::Node,
    surge: Surge,
}

async fn start_surge() -> Running {
    let cluster = Cluster::start().await;
    let front = cluster
        .node("front", "ingest,classify,escalation,control")
        .await;
    let reply = cluster.node("reply", "reply").await;
    warm_up(&cluster, &front.http).await;
    let surge = Surge::start(&front.http, 0..MESSAGES, 8, 30);
    mid_surge(&cluster, &surge, 10).await;
    Running {
        cluster,
        front,
        _reply: reply,
        surge,
    }
}

/// Waits for the probes sent once the server is back to be accepted.
async fn accepted_again(ingest: &str, first: usize, what: &str) -> Vec<usize> {
    let started = Instant::now();
    let again = submit(ingest, first..first + 5, 1, 0).await;
    eprintln!(
        "{what}: accepting again {:?} after the restart",
        started.elapsed()
    );
    again.accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_surge_loses_nothing_and_sends_nothing_twice() {
    let Running {
        mut cluster,
        front,
        _reply,
        surge,
    } = start_surge().await;
    cluster.nats.stop().await.expect("nats-server stops");
    let answers = probe_while_down(&front.http, PROBES, Duration::from_secs(2)).await;
    assert_refused(&answers, "NATS");
    cluster.nats.restart().await.expect("nats-server restarts");
    let probes = accepted_again(&front.http, PROBES + 100, "nats").await;

    let ingested = surge.finish().await;
    eprintln!("nats: {} surge refusals retried", ingested.refused);
    assert!(ingested.refused > 0, "the outage missed the surge");
    let mut accepted = ingested.accepted;
    accepted.extend(probes);
    let outcomes = outcomes(&cluster, &accepted, SETTLE).await;
    let tally = check(&cluster, &outcomes).await;
    api_agrees(&front.http, &outcomes).await;
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    let entries = cluster.dead_letter_entries().await;
    assert!(entries.is_empty(), "{entries:#?}");
}

/// Crashes redis-server mid-surge for `down_for`, restarts it, and returns every
/// accepted message's outcome once all have one (checked: 0 lost, 0 duplicates, and
/// what was recorded before the crash unchanged after it).
async fn redis_outage(down_for: Duration) -> (Cluster, HashMap<usize, Outcome>) {
    let Running {
        mut cluster,
        front,
        _reply,
        surge,
    } = start_surge().await;
    // What was recorded before the crash, to compare after it.
    let mut before = HashMap::new();
    for n in 0..20 {
        if let Some(outcome) = cluster.outcome(message_id(n)).await {
            before.insert(n, outcome);
        }
    }
    cluster.redis.kill().await.expect("redis-server killed");
    let answers = probe_while_down(&front.http, PROBES, down_for).await;
    assert_refused(&answers, "Redis");
    cluster
        .redis
        .restart()
        .await
        .expect("redis-server restarts");
    let probes = accepted_again(&front.http, PROBES + 1000, "redis").await;

    let ingested = surge.finish().await;
    eprintln!(
        "redis down {down_for:?}: {} surge refusals retried",
        ingested.refused
    );
    assert!(ingested.refused > 0, "the outage missed the surge");
    let mut accepted = ingested.accepted;
    accepted.extend(probes);
    let outcomes = outcomes(&cluster, &accepted, SETTLE).await;
    // Nothing acknowledged before the crash was forgotten: same outcomes after it.
    assert!(!before.is_empty());
    for (n, outcome) in &before {
        assert_eq!(
            outcomes.get(n),
            Some(outcome),
            "message {n} changed outcome"
        );
    }
    check(&cluster, &outcomes).await;
    api_agrees(&front.http, &outcomes).await;
    (cluster, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_crash_and_restart_mid_surge_loses_nothing_and_sends_nothing_twice() {
    // Shorter than the 5 attempts' backoff (0.25 + 0.5 + 1 + 2 s), so no delivery can
    // run out of attempts while Redis is away.
    let (cluster, outcomes) = redis_outage(Duration::from_secs(2)).await;
    assert!(
        !outcomes
            .values()
            .any(|o| matches!(o, Outcome::DeadLettered { .. }))
    );
    let entries = cluster.dead_letter_entries().await;
    assert!(entries.is_empty(), "{entries:#?}");
}

/// Bug (firebreak-pipeline/src/worker.rs, `settle` and `dead_letter`): a delivery
/// that ran out of attempts while Redis was down is published to `FB_DLQ` and counted
/// in `firebreak_dead_letters_total`, but its `dead_lettered` outcome cannot be written,
/// so it is nak'd; its next delivery runs the handler again, which succeeds once Redis
/// is back, and acks. The message ends `replied` or `escalated`, and the dead-letter
/// entry and the count (which pages) stay for a message that was not dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_redis_outage_dead_letters_only_what_it_records_as_dead_lettered() {
    // Long enough for deliveries in flight to run out of attempts.
    let (cluster, outcomes) = redis_outage(Duration::from_secs(15)).await;
    let entries = cluster.dead_letter_entries().await;
    let dead: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::DeadLettered { .. }))
        .map(|(n, _)| message_id(*n).to_string())
        .collect();
    eprintln!(
        "{} dead-letter entries, {} dead_lettered outcomes",
        entries.len(),
        dead.len()
    );
    for entry in &entries {
        assert!(
            dead.iter().any(|id| entry.contains(id.as_str())),
            "a dead-letter entry for a message that did not end dead_lettered: {entry}"
        );
    }
}
