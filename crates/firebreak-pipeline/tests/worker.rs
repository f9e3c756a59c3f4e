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
        filter_subject: None,
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

/// Holds the delivery of `slow-0` until released; every other one is done at once.
struct OneStuck {
    release: tokio::sync::Semaphore,
    stuck_started: tokio::sync::Notify,
    fast_done: AtomicU32,
}

#[async_trait]
impl Handler for OneStuck {
    fn stage(&self) -> &'static str {
        "classify"
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandleError> {
        let id = delivery
            .header(firebreak_pipeline::MESSAGE_ID_HEADER)
            .unwrap_or_default();
        if id == message("slow-0").id.to_string() {
            self.stuck_started.notify_one();
            let _ = self.release.acquire().await;
        } else {
            self.fast_done.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Continuous pull: a delivery that takes long holds its own slot, not the next fetch.
/// Messages published while it is stuck are fetched and handled meanwhile.
#[tokio::test]
async fn a_slow_delivery_does_not_hold_up_the_deliveries_after_it() {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    let mut w = worker(&bus, &log, &metrics, 5);
    w.config.concurrency = 4;
    let handler = Arc::new(OneStuck {
        release: tokio::sync::Semaphore::new(0),
        stuck_started: tokio::sync::Notify::new(),
        fast_done: AtomicU32::new(0),
    });
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(w.run(handler.clone(), shutdown.clone()));
    publish(&bus, &message("slow-0")).await;
    tokio::time::timeout(Duration::from_secs(5), handler.stuck_started.notified())
        .await
        .expect("the slow delivery was fetched");

    for i in 0..100 {
        publish(&bus, &message(&format!("fast-{i}"))).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handler.fast_done.load(Ordering::SeqCst) < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 100 handled while one delivery was stuck",
            handler.fast_done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backlog = bus
        .consumer_backlog(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY)
        .await
        .unwrap();
    assert_eq!(backlog.ack_pending, 1, "only the stuck one is still held");

    handler.release.add_permits(1);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops once the stuck one is done")
        .unwrap();
    assert_eq!(bus.stream_len(subjects::STREAM_INBOUND).await.unwrap(), 0);
}

/// Bounded in-flight: the worker never holds more deliveries than its slots, so the
/// rest of a backlog stays in the stream for other replicas instead of waiting here.
#[tokio::test]
async fn the_worker_holds_no_more_deliveries_than_its_slots() {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    for i in 0..50 {
        publish(&bus, &message(&format!("held-{i}"))).await;
    }
    let mut w = worker(&bus, &log, &metrics, 5);
    w.config.concurrency = 3;
    let handler = Arc::new(VerySlow(AtomicU32::new(0)));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(w.run(handler.clone(), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let backlog = bus
        .consumer_backlog(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY)
        .await
        .unwrap();
    assert_eq!(backlog.ack_pending, 3, "{backlog:?}");
    assert_eq!(backlog.pending, 47, "{backlog:?}");
    shutdown.cancel();
    run.await.unwrap();
    assert_eq!(
        handler.0.load(Ordering::SeqCst),
        3,
        "the three held were finished"
    );
}
