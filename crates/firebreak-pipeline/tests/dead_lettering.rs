//! Dead-lettering cannot lose a message: when the dead-letter publish or the outcome
//! write fails, the delivery is kept and tried again, past the attempt limit, until
//! the message is on the dead-letter stream with its outcome on record.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{
    AckFuture, Bus, BusError, Consumer, ConsumerBacklog, ConsumerOptions, Delivery, Envelope, Kv,
    StoredMessage, StreamBounds, StreamUsage,
};
use firebreak_core::{
    Classification, HistoryEntry, Message, MessageId, MessageRecord, Outcome, Stage, subjects,
};
use firebreak_pipeline::worker::{HandleError, Handler, Worker, WorkerConfig};
use firebreak_store::memory::MemoryStore;
use firebreak_store::{MessageLog, OutcomeWrite, Reopen, StoreError};
use firebreak_telemetry::Metrics;
use support::{message, publish};
use tokio_util::sync::CancellationToken;

/// Fails every delivery with a retryable error.
struct AlwaysFails;

#[async_trait]
impl Handler for AlwaysFails {
    fn stage(&self) -> &'static str {
        "classify"
    }

    async fn handle(&self, _delivery: &Delivery) -> Result<(), HandleError> {
        Err(HandleError::retry("downstream unavailable"))
    }
}

/// The embedded bus, refusing the first `failures` dead-letter publishes.
#[derive(Clone)]
struct DeadLetterPublishFails {
    inner: MemoryBus,
    failures: Arc<AtomicU32>,
}

#[async_trait]
impl Bus for DeadLetterPublishFails {
    async fn publish(&self, envelope: Envelope) -> Result<AckFuture, BusError> {
        if envelope.subject.starts_with("fb.dlq.")
            && self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(BusError::Unavailable("injected".into()));
        }
        self.inner.publish(envelope).await
    }

    async fn consumer(
        &self,
        stream: &str,
        durable: &str,
        options: ConsumerOptions,
    ) -> Result<Box<dyn Consumer>, BusError> {
        self.inner.consumer(stream, durable, options).await
    }

    async fn delete_consumer(&self, stream: &str, durable: &str) -> Result<bool, BusError> {
        self.inner.delete_consumer(stream, durable).await
    }

    async fn ready(&self) -> Result<(), BusError> {
        self.inner.ready().await
    }

    fn kv(&self) -> Arc<dyn Kv> {
        self.inner.kv()
    }

    async fn stream_len(&self, stream: &str) -> Result<u64, BusError> {
        self.inner.stream_len(stream).await
    }

    async fn consumer_backlog(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<ConsumerBacklog, BusError> {
        self.inner.consumer_backlog(stream, durable).await
    }

    async fn stream_usage(&self, stream: &str) -> Result<StreamUsage, BusError> {
        self.inner.stream_usage(stream).await
    }

    async fn stream_bounds(&self, stream: &str) -> Result<StreamBounds, BusError> {
        self.inner.stream_bounds(stream).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredMessage>, BusError> {
        self.inner.read_stream(stream, from, max).await
    }
}

/// The embedded store, failing the first `failures` outcome writes.
struct OutcomeWriteFails {
    inner: MemoryStore,
    failures: AtomicU32,
}

#[async_trait]
impl MessageLog for OutcomeWriteFails {
    async fn is_known(&self, id: MessageId) -> Result<bool, StoreError> {
        self.inner.is_known(id).await
    }

    async fn record_accepted(&self, message: &Message) -> Result<(), StoreError> {
        self.inner.record_accepted(message).await
    }

    async fn record_stage(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
        classification: Option<&Classification>,
    ) -> Result<(), StoreError> {
        self.inner.record_stage(id, entry, classification).await
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        outcome: &Outcome,
        at: time::OffsetDateTime,
    ) -> Result<OutcomeWrite, StoreError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.record_outcome(id, outcome, at).await
    }

    async fn unfinished(
        &self,
        cutoff: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<MessageId>, StoreError> {
        self.inner.unfinished(cutoff, limit).await
    }

    async fn forget_unfinished(&self, id: MessageId) -> Result<(), StoreError> {
        self.inner.forget_unfinished(id).await
    }

    async fn reopen_dead_letter(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
    ) -> Result<Reopen, StoreError> {
        self.inner.reopen_dead_letter(id, entry).await
    }

    async fn get(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        self.inner.get(id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// A classify worker that gives up after two attempts and retries dead-lettering fast.
fn worker(bus: Arc<dyn Bus>, log: Arc<dyn MessageLog>, metrics: &Metrics) -> Worker {
    let mut config = WorkerConfig::new(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY);
    config.max_attempts = 2;
    config.dead_letter_retry = Duration::from_millis(50);
    config.consumer = ConsumerOptions {
        // What an older release configured: the worker must not let the bus give up.
        max_deliver: 2,
        ack_wait: Duration::from_secs(5),
        max_ack_pending: 100,
        filter_subject: None,
    };
    Worker {
        bus,
        log,
        metrics: metrics.clone(),
        config,
    }
}

/// Runs the worker until `done` holds (or fails after 10 s), then a little longer so
/// that a wrongly scheduled extra delivery would show.
async fn run_until<F, Fut>(worker: Worker, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(worker.run(Arc::new(AlwaysFails), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    run.await.unwrap();
}

async fn dead_lettered(log: &dyn MessageLog, id: MessageId) -> bool {
    log.get(id)
        .await
        .unwrap()
        .is_some_and(|r| r.status == Stage::DeadLettered)
}

#[tokio::test]
async fn a_failed_dead_letter_publish_on_the_last_attempt_is_retried_not_lost() {
    let bus = MemoryBus::new();
    let flaky = DeadLetterPublishFails {
        inner: bus.clone(),
        failures: Arc::new(AtomicU32::new(3)),
    };
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    let m = message("dlq-publish-fails");
    log.record_accepted(&m).await.unwrap();
    publish(&bus, &m).await;

    let w = worker(Arc::new(flaky.clone()), log.clone(), &metrics);
    run_until(w, || dead_lettered(log.as_ref(), m.id)).await;

    assert_eq!(
        flaky.failures.load(Ordering::SeqCst),
        0,
        "every failure hit"
    );
    assert_eq!(
        bus.stream_len(subjects::STREAM_DEAD_LETTER).await.unwrap(),
        1,
        "kept on the dead-letter stream once"
    );
    assert_eq!(metrics.dead_letter_total(), 1, "counted once");
    let backlog = bus
        .consumer_backlog(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY)
        .await
        .unwrap();
    assert_eq!(backlog.ack_pending, 0, "terminated once dead-lettered");
}

#[tokio::test]
async fn a_failed_outcome_write_keeps_the_delivery_until_the_outcome_is_recorded() {
    let bus = MemoryBus::new();
    let log = Arc::new(OutcomeWriteFails {
        inner: MemoryStore::new(),
        failures: AtomicU32::new(3),
    });
    let metrics = Metrics::new();
    let m = message("outcome-write-fails");
    log.record_accepted(&m).await.unwrap();
    publish(&bus, &m).await;

    let w = worker(Arc::new(bus.clone()), log.clone(), &metrics);
    run_until(w, || dead_lettered(log.as_ref(), m.id)).await;

    assert_eq!(log.failures.load(Ordering::SeqCst), 0, "every failure hit");
    let record = log.get(m.id).await.unwrap().unwrap();
    assert!(matches!(
        record.outcome,
        Some(Outcome::DeadLettered { ref stage, .. }) if stage == "classify"
    ));
    assert_eq!(
        bus.stream_len(subjects::STREAM_DEAD_LETTER).await.unwrap(),
        1,
        "repeated publishes dedup to one entry"
    );
    assert_eq!(metrics.dead_letter_total(), 1, "counted once");
}

#[tokio::test]
async fn a_dead_lettered_message_whose_record_was_never_written_gets_one() {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    // Ingest's post-ack record write failed: the stream has it, the store does not.
    let m = message("never-recorded");
    publish(&bus, &m).await;

    let w = worker(Arc::new(bus.clone()), log.clone(), &metrics);
    run_until(w, || dead_lettered(log.as_ref(), m.id)).await;

    let record = log.get(m.id).await.unwrap().unwrap();
    assert_eq!(
        record.history.iter().map(|h| h.stage).collect::<Vec<_>>(),
        [Stage::Accepted, Stage::DeadLettered]
    );
}
