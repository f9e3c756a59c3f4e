//! Fault scenario 6: a slow consumer. The platform takes 2 s to answer each reply, so
//! the reply process falls behind and a backlog builds in `FB_REPLY` while ingest and
//! classify keep accepting. The reply process's peak resident memory (`VmHWM`) must
//! stay bounded: the backlog waits in JetStream, and the worker holds at most one
//! fetched batch (256 deliveries of about a kilobyte) and its 64 sends in flight, so
//! nothing in the process grows with the backlog. Then the platform recovers, the
//! backlog drains, and every message has an outcome with no reply sent twice.
//! docs/faults.md has the figures and the bound's reasoning.

mod faults_support;

use std::time::{Duration, Instant};

use faults_support::cluster::Cluster;
use faults_support::platform::Mode;
use faults_support::surge::{Surge, api_agrees, check, outcomes, warm_up};
use firebreak_core::subjects;

const MESSAGES: usize = 1000;

/// Growth of the reply process's peak RSS over its idle RSS allowed while the
/// backlog builds. One batch of deliveries and 64 HTTP exchanges need a few MiB; the
/// rest is headroom for allocator arenas (glibc keeps per-thread arenas of up to 64 MiB
/// of address space, of which only touched pages count) and tokio's buffers.
const GROWTH_BOUND_KIB: u64 = 48 * 1024;
/// The ceiling for any process through a surge, for the release binary
/// (`cargo test --release`). A debug binary idles near it already (unoptimised code,
/// and every role builds the triage engine with its encoder), so a debug run checks
/// the growth alone.
const RELEASE_BOUND_KIB: u64 = 200 * 1024;

async fn reply_backlog(cluster: &Cluster) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(cluster.nats.url()).await.unwrap());
    let mut stream = js.get_stream(subjects::STREAM_REPLY).await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_platform_builds_a_backlog_not_memory() {
    let cluster = Cluster::start().await;
    let front = cluster
        .node("front", "ingest,classify,escalation,control")
        .await;
    let reply = cluster.node("reply", "reply").await;
    warm_up(&cluster, &front.http).await;
    let (_, idle_kib) = reply.memory_kib();
    cluster
        .platform
        .set_mode(Mode::Slow(Duration::from_secs(2)))
        .await;

    let surge = Surge::start(&front.http, 0..MESSAGES, 32, 0);
    // Sample while the backlog builds, until the surge is in and the backlog has sat
    // at its height for a few seconds of slow sends.
    let mut peak_backlog = 0;
    let mut in_since = None;
    let started = Instant::now();
    loop {
        let backlog = reply_backlog(&cluster).await;
        peak_backlog = peak_backlog.max(backlog);
        if surge.is_finished() && in_since.is_none() {
            in_since = Some(Instant::now());
        }
        if in_since.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "surge never got in"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (peak_kib, rss_kib) = reply.memory_kib();
    eprintln!(
        "reply process: idle {idle_kib} KiB, peak {peak_kib} KiB, now {rss_kib} KiB; \
         FB_REPLY backlog peaked at {peak_backlog}; posted {} so far",
        cluster.platform.posted_count().await
    );
    assert!(
        peak_backlog >= 300,
        "the backlog never built ({peak_backlog}): the test measured nothing"
    );
    assert!(
        peak_kib <= idle_kib + GROWTH_BOUND_KIB,
        "peak RSS {peak_kib} KiB grew more than {GROWTH_BOUND_KIB} KiB over idle {idle_kib} KiB"
    );
    if !cfg!(debug_assertions) {
        assert!(peak_kib <= RELEASE_BOUND_KIB, "peak RSS {peak_kib} KiB");
    }

    // The platform recovers: the backlog drains, nothing lost, nothing twice.
    cluster.platform.set_mode(Mode::Ok).await;
    let ingested = surge.finish().await;
    let outcomes = outcomes(&cluster, &ingested.accepted, Duration::from_secs(90)).await;
    let tally = check(&cluster, &outcomes).await;
    api_agrees(&front.http, &outcomes).await;
    assert_eq!(tally.by_outcome.get("dead_lettered"), None, "{tally:?}");
    assert_eq!(
        tally.by_outcome.get("replied"),
        Some(&(MESSAGES * 4 / 5)),
        "{tally:?}"
    );
}
