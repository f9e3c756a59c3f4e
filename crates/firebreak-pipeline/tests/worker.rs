//! The worker loop's promises, on the embedded bus: ack after success, retry with delay,
//! dead-letter after the bounded number of deliveries, and finish in-flight work on
//! shutdown.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, ConsumerOptions, Delivery};
use firebreak_core::{Stage, subjects};
use firebreak_pipeline::worker::{HandleError, Handler, Worker, WorkerConfig};
use firebreak_store::MessageLog;
use firebreak_store::memory::MemoryStore;
use firebreak_telemetry::Metrics;
use support::{message, publish};
use tokio_util::sync::CancellationToken;

/// Fails every delivery with a retryable error, counting attempts.
struct AlwaysFails(AtomicU32);

#[async_trait]
impl Handler for AlwaysFails {
    fn stage(&self) -> &'static str {
        "classify"
    }

    async fn handle(&self, _delivery: &Delivery) -> Result<(), HandleError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(HandleError::retry("downstream unavailable"))
    }
}

/// Succeeds slowly, to be caught mid-work by a shutdown.
struct Slow(AtomicU32);

#[async_trait]
impl Handler for Slow {
    fn stage(&self) -> &'static str {
        "classify"
    }

    async fn handle(&self, _delivery: &Delivery) -> Result<(), HandleError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn worker(bus: &MemoryBus, log: &Arc<MemoryStore>, metrics: &Metrics, max_attempts: u64) -> Worker {
    let mut config = WorkerConfig::new(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY);
    config.max_attempts = max_attempts;
    config.consumer = ConsumerOptions {
        max_deliver: -1,
        ack_wait: Duration::from_secs(5),
        max_ack_pending: 100,
    };
    Worker {
        bus: Arc::new(bus.clone()),
        log: log.clone(),
        metrics: metrics.clone(),
        config,
    }
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_dead_lettered_after_max_attempts() {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    let failing = message("keeps-failing");
    log.record_accepted(&failing).await.unwrap();
    publish(&bus, &failing).await;

    let handler = Arc::new(AlwaysFails(AtomicU32::new(0)));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker(&bus, &log, &metrics, 3).run(handler.clone(), shutdown.clone()));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bus.stream_len(subjects::STREAM_DEAD_LETTER).await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a wrongly scheduled extra delivery the chance to show up.
    tokio::time::sleep(Duration::from_millis(600)).await;
    shutdown.cancel();
    run.await.unwrap();

    assert_eq!(
        handler.0.load(Ordering::SeqCst),
        3,
        "tried exactly max_attempts times"
    );
    assert_eq!(
        bus.stream_len(subjects::STREAM_DEAD_LETTER).await.unwrap(),
        1,
        "kept, not dropped"
    );
    assert_eq!(metrics.dead_letter_total(), 1, "counted");
    let record = log.get(failing.id).await.unwrap().unwrap();
    assert_eq!(record.status, Stage::DeadLettered);
}

#[tokio::test]
async fn shutdown_finishes_the_work_in_hand() {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    for i in 0..20 {
        publish(&bus, &message(&format!("m{i}"))).await;
    }
    let handler = Arc::new(Slow(AtomicU32::new(0)));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker(&bus, &log, &metrics, 5).run(handler.clone(), shutdown.clone()));
    // Let the worker take its batch, then ask it to stop while the handlers sleep.
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(
        handler.0.load(Ordering::SeqCst),
        20,
        "the batch in hand was finished, not abandoned"
    );

    // Nothing finished was left unacknowledged: a new worker gets nothing to redo.
    let again = Arc::new(Slow(AtomicU32::new(0)));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker(&bus, &log, &metrics, 5).run(again.clone(), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    run.await.unwrap();
    assert_eq!(again.0.load(Ordering::SeqCst), 0);
}

/// Takes three ack waits per delivery, as a send to a slow platform may.
struct VerySlow(AtomicU32);

#[async_trait]
impl Handler for VerySlow {
    fn stage(&self) -> &'static str {
        "reply"
    }

    async fn handle(&self, _delivery: &Delivery) -> Result<(), HandleError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_slow_delivery_is_kept_in_progress_not_redelivered() {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    // More deliveries than slots: the waiting ones must be kept alive too.
    for i in 0..4 {
        publish(&bus, &message(&format!("slow-{i}"))).await;
    }
    let mut w = worker(&bus, &log, &metrics, 5);
    w.config.consumer.ack_wait = Duration::from_millis(500);
    w.config.concurrency = 2;
    let handler = Arc::new(VerySlow(AtomicU32::new(0)));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(w.run(handler.clone(), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let backlog = bus
            .consumer_backlog(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY)
            .await
            .unwrap();
        if handler.0.load(Ordering::SeqCst) == 4 && backlog.ack_pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    run.await.unwrap();
    assert_eq!(
        handler.0.load(Ordering::SeqCst),
        4,
        "each handled once, none redelivered"
    );
}
