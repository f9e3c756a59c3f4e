//! The loop every pipeline stage runs: pull continuously from a durable pull consumer,
//! holding at most `concurrency` deliveries at once (it fetches as slots free up, so a
//! slow delivery holds one slot, never the next fetch), handle each delivery, then
//! settle it. A delivery is acked only after its handler returned, i.e. after its side
//! effects are recorded. What fails is retried with a delay, and dead-lettered after its
//! last allowed attempt, never dropped.
//!
//! The worker, not the bus, decides when to give up: the consumer redelivers without
//! limit, and the worker counts attempts. JetStream silently stops redelivering past
//! `max_deliver`, so a delivery whose dead-lettering failed on the last allowed
//! delivery would otherwise be gone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::{Bus, ConsumerOptions, Delivery, Envelope};
use firebreak_core::{MessageId, Outcome, subjects};
use firebreak_store::{MessageLog, OutcomeWrite};
use firebreak_telemetry::Metrics;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, warn};

/// Why a delivery could not be handled.
#[derive(Debug)]
pub enum HandleError {
    /// Worth another try later (store or bus hiccup, platform busy). `delay` overrides
    /// the default backoff, e.g. a budget's next free slot.
    Retry {
        reason: String,
        delay: Option<Duration>,
    },
    /// Will never succeed (garbage payload): dead-letter at once.
    Permanent { reason: String },
}

impl HandleError {
    pub fn retry(reason: impl std::fmt::Display) -> Self {
        HandleError::Retry {
            reason: reason.to_string(),
            delay: None,
        }
    }

    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        HandleError::Permanent {
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The stage's name, for logs, metrics and the dead-letter subject.
    fn stage(&self) -> &'static str;
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandleError>;
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub stream: &'static str,
    pub durable: &'static str,
    /// A durable of an older release that must go before this one can bind (its filter
    /// would collide with this one's on a work-queue stream); removed at start.
    pub replaces: Option<&'static str>,
    /// The most deliveries one fetch asks for.
    pub batch: usize,
    /// The most deliveries held at once (fetched and not yet settled), each being
    /// handled: the worker only fetches as many as there are free slots.
    pub concurrency: usize,
    /// Deliveries of one message that fail before it is dead-lettered. Its consumer's
    /// `max_deliver` is ignored: the bus redelivers without limit (see the module doc).
    pub max_attempts: u64,
    /// How long a delivery waits before dead-lettering is tried again, when a step of
    /// it (publish, outcome) failed.
    pub dead_letter_retry: Duration,
    pub consumer: ConsumerOptions,
}

impl WorkerConfig {
    pub fn new(stream: &'static str, durable: &'static str) -> Self {
        WorkerConfig {
            stream,
            durable,
            replaces: None,
            batch: 256,
            concurrency: 64,
            max_attempts: 5,
            dead_letter_retry: Duration::from_secs(5),
            consumer: ConsumerOptions::default(),
        }
    }
}

/// How long one fetch waits for a first delivery before asking again.
const FETCH_WAIT: Duration = Duration::from_secs(1);

/// The bus never gives up on a delivery by itself (JetStream's "no limit").
const UNLIMITED_DELIVERIES: i64 = -1;

/// Backoff before redelivering a failed delivery: grows with each attempt, capped.
fn retry_delay(delivered: u64) -> Duration {
    let exp = delivered.saturating_sub(1).min(6) as u32;
    Duration::from_millis(250 * 2u64.pow(exp)).min(Duration::from_secs(10))
}

pub struct Worker {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub metrics: Metrics,
    pub config: WorkerConfig,
}

impl Worker {
    /// Runs until `shutdown` is cancelled. On cancel it stops fetching, finishes the
    /// deliveries it holds (each is already being handled: it never fetches more than it
    /// has free slots for), and returns.
    pub async fn run(self, handler: Arc<dyn Handler>, shutdown: CancellationToken) {
        let stage = handler.stage();
        let Some(mut consumer) = self.bind(stage, &shutdown).await else {
            return;
        };
        info!(stage, stream = self.config.stream, "worker started");
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.config.concurrency.max(1)));
        let mut in_flight = JoinSet::new();
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            // Reap what finished, so the set stays as small as what is in flight.
            while in_flight.try_join_next().is_some() {}
            let mut permits = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                first = slots.clone().acquire_owned() => match first {
                    Ok(permit) => vec![permit],
                    Err(_) => break,
                },
            };
            while permits.len() < this.config.batch.max(1) {
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let fetched = tokio::select! {
                _ = shutdown.cancelled() => break,
                fetched = consumer.fetch(permits.len(), FETCH_WAIT) => fetched,
            };
            let deliveries = match fetched {
                Ok(deliveries) => {
                    failures = 0;
                    deliveries
                }
                Err(e) => {
                    failures += 1;
                    let pause = Duration::from_millis(200 * u64::from(failures.min(10)));
                    debug!(stage, error = %e, "fetch failed");
                    drop(permits);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    continue;
                }
            };
            // Each delivery takes one slot until it is settled; slots the fetch did not
            // fill are freed here.
            for (delivery, permit) in deliveries.into_iter().zip(permits) {
                let worker = this.clone();
                let handler = handler.clone();
                in_flight.spawn(async move {
                    worker.process(handler.as_ref(), delivery).await;
                    drop(permit);
                });
            }
        }
        while in_flight.join_next().await.is_some() {}
        info!(stage, "worker stopped");
    }

    /// Binds the durable consumer, retrying until it works or shutdown. A durable this
    /// one replaces is removed first, every try: a replica of the older release that
    /// restarted meanwhile may have made it again.
    async fn bind(
        &self,
        stage: &'static str,
        shutdown: &CancellationToken,
    ) -> Option<Box<dyn firebreak_bus::Consumer>> {
        let options = ConsumerOptions {
            max_deliver: UNLIMITED_DELIVERIES,
            ..self.config.consumer.clone()
        };
        loop {
            let bound = async {
                if let Some(old) = self.config.replaces
                    && self.bus.delete_consumer(self.config.stream, old).await?
                {
                    info!(
                        stage,
                        consumer = old,
                        "removed the consumer this one replaces"
                    );
                }
                self.bus
                    .consumer(self.config.stream, self.config.durable, options.clone())
                    .await
            };
            match bound.await {
                Ok(consumer) => return Some(consumer),
                Err(e) => {
                    warn!(stage, error = %e, "cannot bind consumer, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    async fn process(&self, handler: &dyn Handler, delivery: Delivery) {
        let stage = handler.stage();
        if delivery.delivered > self.config.max_attempts {
            // Its last attempt failed and so did its dead-lettering (the dead-letter
            // entry may already be published and counted): finish the dead-lettering
            // rather than handle it again, or a message that was counted as dead
            // could still end replied or escalated.
            self.dead_letter(
                stage,
                &delivery,
                "dead-lettering resumed after its last attempt",
            )
            .await;
            return;
        }
        let result = self
            .while_in_progress(&delivery, self.handle(handler, &delivery))
            .await;
        self.settle(stage, delivery, result).await;
    }

    /// Runs `work`, telling the bus every third of the ack wait that the delivery is
    /// still in progress: a slow send is not redelivered (and then counted as a
    /// failure) while this worker is alive and on it.
    async fn while_in_progress<T>(
        &self,
        delivery: &Delivery,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let every = (self.config.consumer.ack_wait / 3).max(Duration::from_millis(100));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = ticks.tick() => {
                    if let Err(e) = delivery.acker.progress().await {
                        // Worst case the bus redelivers it; handlers are idempotent.
                        debug!(error = %e, "could not extend delivery");
                    }
                }
            }
        }
    }

    async fn handle(&self, handler: &dyn Handler, delivery: &Delivery) -> Result<(), HandleError> {
        let stage = handler.stage();
        let _timer = self.metrics.stage_timer(stage);
        if delivery.delivered > 1 {
            self.metrics.redelivered(stage);
        }
        // One span per delivery, continuing the trace the message carries.
        let span = tracing::info_span!(
            "deliver",
            stage,
            message_id = delivery.header(crate::MESSAGE_ID_HEADER).unwrap_or(""),
            delivered = delivery.delivered,
        );
        firebreak_telemetry::continue_trace(
            &span,
            delivery
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        handler.handle(delivery).instrument(span).await
    }

    async fn settle(
        &self,
        stage: &'static str,
        delivery: Delivery,
        result: Result<(), HandleError>,
    ) {
        let settled = match result {
            Ok(()) => delivery.acker.ack().await,
            Err(HandleError::Retry { reason, delay })
                if delivery.delivered < self.config.max_attempts =>
            {
                debug!(
                    stage,
                    delivered = delivery.delivered,
                    reason,
                    "retrying delivery"
                );
                let delay = delay.unwrap_or_else(|| retry_delay(delivery.delivered));
                delivery.acker.nak(Some(delay)).await
            }
            Err(HandleError::Retry { reason, .. }) | Err(HandleError::Permanent { reason }) => {
                self.dead_letter(stage, &delivery, &reason).await;
                return;
            }
        };
        if let Err(e) = settled {
            // The bus redelivers after ack_wait; handlers are idempotent.
            warn!(stage, error = %e, "could not settle delivery");
        }
    }

    /// Moves a delivery to the dead-letter stream, records the outcome, then terms it,
    /// in that order: the delivery is only let go once both are durable. If either
    /// step fails the delivery is nak'd with a delay and comes back (the consumer
    /// redelivers without limit), and the next attempt repeats the steps: the publish
    /// dedups on its msg id and the outcome is only ever set once.
    async fn dead_letter(&self, stage: &'static str, delivery: &Delivery, reason: &str) {
        let message_id = delivery
            .header(crate::MESSAGE_ID_HEADER)
            .map(str::to_string);
        error!(
            stage,
            message_id = message_id.as_deref().unwrap_or("unknown"),
            reason,
            "dead-lettering delivery"
        );
        let kept = match self
            .publish_dead_letter(stage, delivery, reason, &message_id)
            .await
        {
            Ok(kept) => kept,
            Err(e) => {
                warn!(stage, error = %e, "dead-letter publish failed, keeping delivery");
                self.keep(stage, delivery).await;
                return;
            }
        };
        if !kept.duplicate {
            self.metrics.dead_lettered(stage);
        }
        if let Err(e) = self
            .record_dead_lettered(stage, delivery, reason, &message_id)
            .await
        {
            warn!(stage, error = %e, "could not record dead-letter outcome, keeping delivery");
            self.keep(stage, delivery).await;
            return;
        }
        if let Err(e) = delivery.acker.term().await {
            // Redelivered after ack_wait; the next attempt finds both steps done.
            warn!(stage, error = %e, "could not terminate dead-lettered delivery");
        }
    }

    /// Asks for the delivery again later, when a step of dead-lettering failed.
    async fn keep(&self, stage: &'static str, delivery: &Delivery) {
        if let Err(e) = delivery
            .acker
            .nak(Some(self.config.dead_letter_retry))
            .await
        {
            // Not lost either: unsettled, it is redelivered after ack_wait.
            warn!(stage, error = %e, "could not nak delivery");
        }
    }

    async fn publish_dead_letter(
        &self,
        stage: &'static str,
        delivery: &Delivery,
        reason: &str,
        message_id: &Option<String>,
    ) -> Result<firebreak_bus::PublishAck, firebreak_bus::BusError> {
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut envelope = Envelope::new(subjects::dead_letter(stage), delivery.payload.clone())
            .with_header(crate::dead_letters::REASON_HEADER, reason)
            .with_header(
                crate::dead_letters::ORIGINAL_SUBJECT_HEADER,
                delivery.subject.clone(),
            )
            .with_header(crate::dead_letters::AT_HEADER, at)
            .with_header(
                crate::dead_letters::DELIVERIES_HEADER,
                delivery.delivered.to_string(),
            )
            // One entry per delivery, however often this step is repeated.
            .with_msg_id(format!("dlq:{stage}:{}", delivery.stream_sequence));
        if let Some(id) = message_id {
            envelope = envelope.with_header(crate::MESSAGE_ID_HEADER, id.clone());
        }
        self.bus.publish(envelope).await?.await
    }

    /// Sets the `dead_lettered` outcome. A payload that still decodes recreates a
    /// missing record; garbage with no message id has no record to write, and its
    /// dead-letter entry is the only trace (as it must be: it was never accepted as a
    /// message).
    async fn record_dead_lettered(
        &self,
        stage: &'static str,
        delivery: &Delivery,
        reason: &str,
        message_id: &Option<String>,
    ) -> Result<(), firebreak_store::StoreError> {
        let Some(id) = message_id.as_deref().and_then(MessageId::parse) else {
            return Ok(());
        };
        let outcome = Outcome::DeadLettered {
            stage: stage.to_string(),
            reason: reason.to_string(),
        };
        let now = time::OffsetDateTime::now_utc();
        let first = match crate::payload::message_of(&delivery.payload).filter(|m| m.id == id) {
            Some(message) => self.log.finish(&message, &outcome, now).await?,
            None => match self.log.record_outcome(id, &outcome, now).await? {
                OutcomeWrite::Recorded => true,
                OutcomeWrite::AlreadyRecorded => false,
                OutcomeWrite::Missing => {
                    warn!(stage, message_id = %id, "dead-lettered message has no record");
                    false
                }
            },
        };
        if first {
            self.metrics.outcome("dead_lettered");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_millis(250));
        assert_eq!(retry_delay(2), Duration::from_millis(500));
        assert!(retry_delay(50) <= Duration::from_secs(10));
    }
}
