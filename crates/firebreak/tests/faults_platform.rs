//! Fault scenario 4: the platform answers 429 with Retry-After, 500, or hangs past the
//! connector's 15 s request timeout, for a while in the middle of a surge. What the
//! reply stage does (crates/firebreak-reply/src/stage.rs `deliver`, and
//! firebreak-connectors' `send_with_retry`):
//! - 429: retried no sooner than asked, within the send's time budget; past it the
//!   claim is dropped and the message deferred by the platform's wait. Every message
//!   is eventually replied, once.
//! - 500: retried with backoff within the budget; past it ("delivery failed") the
//!   claim is dropped and the message escalated to a person. Nothing was posted for
//!   those, so nothing is posted twice.
//! - Timeout: the request may have been posted, and Telegram cannot deduplicate, so it
//!   is not retried: the message is escalated ("reply delivery unknown").
//!
//! In every case: each accepted message reaches an outcome, and no message or chat
//! gets two replies. docs/faults.md has the figures.

mod faults_support;

use std::collections::HashMap;
use std::time::Duration;

use faults_support::cluster::{Cluster, Node};
use faults_support::platform::Mode;
use faults_support::surge::{Surge, Tally, api_agrees, check, mid_surge, outcomes, warm_up};

const MESSAGES: usize = 150;
const KEY_QUESTIONS: usize = MESSAGES * 4 / 5;

/// Starts the cluster, sends a surge, and puts the platform in `fault` for `window`
/// once replies flow; returns the tally once every message has an outcome.
async fn surge_through(fault: Mode, window: Duration, settle: Duration) -> (Cluster, Tally) {
    let cluster = Cluster::start().await;
    let front: Node = cluster
        .node("front", "ingest,classify,escalation,control")
        .await;
    let _reply = cluster.node("reply", "reply").await;
    warm_up(&cluster, &front.http).await;
    let surge = Surge::start(&front.http, 0..MESSAGES, 4, 25);
    mid_surge(&cluster, &surge, 10).await;
    cluster.platform.set_mode(fault).await;
    tokio::time::sleep(window).await;
    cluster.platform.set_mode(Mode::Ok).await;

    let ingested = surge.finish().await;
    let outcomes = outcomes(&cluster, &ingested.accepted, settle).await;
    let tally = check(&cluster, &outcomes).await;
    api_agrees(&front.http, &outcomes).await;
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    (cluster, tally)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_429_is_waited_out_and_every_reply_is_sent_once() {
    let retry_after = Duration::from_secs(1);
    let fault = Mode::RateLimited {
        retry_after_secs: retry_after.as_secs(),
    };
    let (cluster, tally) =
        surge_through(fault, Duration::from_secs(3), Duration::from_secs(60)).await;
    assert_eq!(
        tally.by_outcome.get("replied"),
        Some(&KEY_QUESTIONS),
        "{tally:?}"
    );

    // Each message's next request came no sooner than the platform asked.
    let received = cluster.platform.received().await;
    let mut last_refusal: HashMap<i64, std::time::Instant> = HashMap::new();
    let mut limited = 0;
    for request in &received {
        if let Some(refused_at) = last_refusal.get(&request.reply_to) {
            let gap = request.at - *refused_at;
            assert!(gap >= retry_after, "retried {gap:?} after a 429");
        }
        if !request.posted {
            limited += 1;
            last_refusal.insert(request.reply_to, request.at);
        }
    }
    assert!(limited > 0, "the platform never answered 429");
    eprintln!("429 answered {limited} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_500_is_retried_then_escalated_and_nothing_is_sent_twice() {
    let (cluster, tally) = surge_through(
        Mode::ServerError,
        Duration::from_secs(4),
        Duration::from_secs(60),
    )
    .await;
    // A 500 is "not posted": nothing escalated was posted, every reply went once.
    assert_eq!(tally.posted_then_escalated, 0, "{tally:?}");
    let failed = cluster
        .platform
        .received()
        .await
        .iter()
        .filter(|r| !r.posted)
        .count();
    assert!(failed > 0, "the platform never answered 500");
    let replied = tally.by_outcome.get("replied").copied().unwrap_or(0);
    let escalated = tally.by_outcome.get("escalated").copied().unwrap_or(0);
    assert_eq!(replied + escalated, MESSAGES, "{tally:?}");
    assert!(
        escalated > MESSAGES - KEY_QUESTIONS,
        "no send gave up: {tally:?}"
    );
    eprintln!("500 answered {failed} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_timeout_is_escalated_not_resent() {
    // Hangs longer than the connector's 15 s request timeout.
    let (cluster, tally) = surge_through(
        Mode::Hang(Duration::from_secs(20)),
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .await;
    let hung = tally.posted - tally.by_outcome.get("replied").copied().unwrap_or(0);
    assert!(hung > 0, "no request hung: {tally:?}");
    // Every hung request was a possible post: escalated, and never sent again.
    assert_eq!(tally.posted_then_escalated, hung, "{tally:?}");
    drop(cluster);
}
