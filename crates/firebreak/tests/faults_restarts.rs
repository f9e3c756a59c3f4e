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
use faults_support::surge::{check, message, message_id, outcomes, submit};
use firebreak_testkit::wait_until;

const MESSAGES: usize = 300;
/// Probe messages sent while a server is down are numbered from here.
const PROBES: usize = 10_000;
const SETTLE: Duration = Duration::from_secs(75);

/// What ingest answered to each probe while the server was down.
async fn probe_while_down(ingest: &str, first: usize, count: usize) -> Vec<(u16, bool)> {
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for n in first..first + count {
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
        tokio::time::sleep(Duration::from_millis(100)).await;
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
    surge: tokio::task::JoinHandle<faults_support::surge::Ingested>,
}

async fn start_surge() -> Running {
    let cluster = Cluster::start().await;
    let front = cluster
        .node("front", "ingest,classify,escalation,control")
        .await;
    let reply = cluster.node("reply", "reply").await;
    let ingest = front.http.clone();
    let surge = tokio::spawn(async move { submit(&ingest, 0..MESSAGES, 8).await });
    wait_until(Duration::from_secs(30), Duration::from_millis(20), || async {
        cluster.platform.posted_count() >= 40
    })
    .await
    .expect("replies flowing");
    Running {
        cluster,
        front,
        _reply: reply,
        surge,
    }
}

/// Waits for the probes sent once the server is back to be accepted.
async fn accepted_again(ingest: &str, first: usize) -> Vec<usize> {
    let started = Instant::now();
    let again = submit(ingest, first..first + 5, 1).await;
    eprintln!("accepting again {:?} after the restart", started.elapsed());
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
    let answers = probe_while_down(&front.http, PROBES, 10).await;
    assert_refused(&answers, "NATS");
    cluster.nats.restart().await.expect("nats-server restarts");
    let probes = accepted_again(&front.http, PROBES + 100).await;

    let ingested = surge.await.expect("surge task");
    eprintln!("surge: {} refusals retried", ingested.refused);
    let mut accepted = ingested.accepted;
    accepted.extend(probes);
    let outcomes = outcomes(&cluster, &accepted, SETTLE).await;
    let tally = check(&cluster, &outcomes);
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    assert!(cluster.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_crash_and_restart_mid_surge_loses_nothing_and_sends_nothing_twice() {
    let Running {
        mut cluster,
        front,
        _reply,
        surge,
    } = start_surge().await;
    // What was recorded before the crash, to compare after it.
    let mut before = HashMap::new();
    for n in 0..MESSAGES {
        if let Some(outcome) = cluster.outcome(message_id(n)).await {
            before.insert(n, outcome);
        }
    }
    cluster.redis.kill().await.expect("redis-server killed");
    let answers = probe_while_down(&front.http, PROBES, 10).await;
    assert_refused(&answers, "Redis");
    cluster.redis.restart().await.expect("redis-server restarts");
    let probes = accepted_again(&front.http, PROBES + 100).await;

    let ingested = surge.await.expect("surge task");
    eprintln!("surge: {} refusals retried", ingested.refused);
    let mut accepted = ingested.accepted;
    accepted.extend(probes);
    let outcomes = outcomes(&cluster, &accepted, SETTLE).await;
    // Nothing acknowledged before the crash was forgotten: same outcomes after it.
    assert!(!before.is_empty());
    for (n, outcome) in &before {
        assert_eq!(outcomes.get(n), Some(outcome), "message {n} changed outcome");
    }
    let tally = check(&cluster, &outcomes);
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    assert!(cluster.dead_letters().await.is_empty());
}
