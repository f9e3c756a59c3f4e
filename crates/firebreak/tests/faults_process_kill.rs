//! Fault scenario 1: a classify process and a reply process are killed with SIGKILL in
//! the middle of a surge, then started again. Every accepted message still reaches a
//! recorded outcome, and no message gets two replies: what the dead process held is
//! redelivered after its ack wait, and a reply whose send the crash interrupted is
//! escalated ("reply outcome unknown"), never sent twice. Multi-process, real
//! nats-server and redis-server, fake Telegram. docs/faults.md has the figures.

mod faults_support;

use std::time::Duration;

use faults_support::cluster::Cluster;
use faults_support::surge::{Surge, api_agrees, check, mid_surge, outcomes, warm_up};

const MESSAGES: usize = 400;

/// The dead classify process's fetched deliveries come back after the classify
/// consumer's ack wait (30 s); the rest is processing.
const SETTLE: Duration = Duration::from_secs(75);

async fn surge_with_a_crash(crashed: &str) {
    let cluster = Cluster::start().await;
    let front = cluster.node("front", "ingest,escalation,control").await;
    let mut classify = cluster.node("classify", "classify").await;
    let mut reply = cluster.node("reply", "reply").await;

    warm_up(&cluster, &front.http).await;

    let surge = Surge::start(&front.http, 0..MESSAGES, 16, 40);
    mid_surge(&cluster, &surge, 20).await;
    let victim = if crashed == "classify" {
        &mut classify
    } else {
        &mut reply
    };
    cluster.crash_and_restart(victim).await;
    eprintln!(
        "{crashed} killed and restarted after {} replies",
        cluster.platform.posted_count().await
    );

    let ingested = surge.finish().await;
    assert_eq!(ingested.accepted.len(), MESSAGES);
    let outcomes = outcomes(&cluster, &ingested.accepted, SETTLE).await;
    let tally = check(&cluster, &outcomes).await;
    api_agrees(&front.http, &outcomes).await;
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    // Four in five ask the key question; a crash may turn a few into escalations, not
    // many: the platform still answered most of them.
    let replied = tally.by_outcome.get("replied").copied().unwrap_or(0);
    assert!(replied >= MESSAGES * 4 / 5 - 64, "{tally:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_classify_mid_surge_loses_nothing_and_sends_nothing_twice() {
    surge_with_a_crash("classify").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_reply_mid_surge_loses_nothing_and_sends_nothing_twice() {
    surge_with_a_crash("reply").await;
}
