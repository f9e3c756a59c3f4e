//! The safety net under "every accepted message reaches an outcome". The stages record
//! outcomes themselves; the sweeper looks for what slipped through anyway (a bug, an
//! operator deleting a consumer, a stream purged by hand): messages accepted longer
//! than `bound` ago, with no outcome and no activity since. It dead-letters each one,
//! so that the loss is an alarm with a record, not a silence.
//!
//! A message without an outcome is in one of three places: still undelivered in a
//! stream, held by a consumer (in flight, retried or deferred), or lost. The sweeper
//! only acts when no pipeline consumer has undelivered backlog (so none is waiting in
//! a stream), and leaves `deferred` messages alone (the reply consumer redelivers them
//! without limit, and deferrals are bounded by budgets, not by time). Retries of real
//! failures end in the dead letters within minutes, so what is left is lost.
//!
//! It does not republish: the record holds no text, and once a work-queue stream has
//! removed a message its payload is gone. The dead-letter entry therefore carries no
//! payload and cannot be replayed; it names the message for an operator to look at.

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::{Bus, BusError, Envelope};
use firebreak_core::{MessageId, MessageRecord, Outcome, Stage, subjects};
use firebreak_store::{MessageLog, OutcomeWrite, StoreError};
use firebreak_telemetry::Metrics;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The `stage` of the dead letters and outcomes the sweeper writes.
pub const STAGE: &str = "sweeper";

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Sweeper {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub metrics: Metrics,
    /// How long a message may go with no outcome and no activity. Far above any
    /// legitimate wait: deferrals write a history line on every attempt.
    pub bound: Duration,
    pub interval: Duration,
    /// Messages inspected per sweep at most, oldest first.
    pub batch: usize,
    /// The pipeline's (stream, durable consumer) pairs, whose backlog must be empty.
    pub consumers: Vec<(&'static str, &'static str)>,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// What one sweep found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub dead_lettered: usize,
    /// Past the bound but still moving or deferred, left alone.
    pub active: usize,
    /// The sweep did not look: some consumer still had undelivered backlog.
    pub backlogged: bool,
}

impl Sweeper {
    /// One hour of silence is an anomaly: a reply deferral waits at most a few minutes
    /// between attempts, and every attempt is on record.
    pub fn new(bus: Arc<dyn Bus>, log: Arc<dyn MessageLog>, metrics: Metrics) -> Self {
        Sweeper {
            bus,
            log,
            metrics,
            bound: Duration::from_secs(3600),
            interval: Duration::from_secs(60),
            batch: 1_000,
            consumers: subjects::pipeline_consumers(),
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        info!(bound_s = self.bound.as_secs(), "sweeper started");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.interval) => {}
            }
            if let Err(e) = self.sweep(OffsetDateTime::now_utc()).await {
                warn!(error = %e, "sweep failed, trying again next interval");
            }
        }
    }

    /// Inspects the unfinished messages accepted before `now - bound`.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<Swept, SweepError> {
        let cutoff = now - self.bound;
        let mut swept = Swept::default();
        for (stream, durable) in &self.consumers {
            if self.bus.consumer_backlog(stream, durable).await?.pending > 0 {
                swept.backlogged = true;
                return Ok(swept);
            }
        }
        for id in self.log.unfinished(cutoff, self.batch).await? {
            match self.log.get(id).await? {
                None => {
                    warn!(message_id = %id, "unfinished message has no record");
                    self.metrics.unfinished_swept("no_record");
                    self.log.forget_unfinished(id).await?;
                }
                Some(record) if record.outcome.is_some() => {
                    self.log.forget_unfinished(id).await?;
                }
                Some(record)
                    if record.status == Stage::Deferred
                        || last_activity(&record).is_some_and(|at| at >= cutoff) =>
                {
                    swept.active += 1;
                }
                Some(record) => {
                    self.dead_letter(id, &record).await?;
                    swept.dead_lettered += 1;
                }
            }
        }
        Ok(swept)
    }

    async fn dead_letter(&self, id: MessageId, record: &MessageRecord) -> Result<(), SweepError> {
        let reason = format!(
            "no outcome {} s after acceptance (last status {})",
            self.bound.as_secs(),
            record.status.as_str()
        );
        error!(message_id = %id, reason, "sweeping unfinished message to the dead letters");
        let at = OffsetDateTime::now_utc();
        let envelope = Envelope::new(subjects::dead_letter(STAGE), Vec::new())
            .with_header(crate::dead_letters::REASON_HEADER, reason.clone())
            .with_header(
                crate::dead_letters::ORIGINAL_SUBJECT_HEADER,
                subjects::inbound(record.channel),
            )
            .with_header(
                crate::dead_letters::AT_HEADER,
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            )
            .with_header(crate::dead_letters::DELIVERIES_HEADER, "0")
            .with_header(crate::MESSAGE_ID_HEADER, id.to_string())
            .with_msg_id(format!("dlq:{STAGE}:{id}"));
        // The entry first: if the outcome write then fails, the next sweep repeats both
        // and the publish dedups.
        self.bus.publish(envelope).await?.await?;
        let outcome = Outcome::DeadLettered {
            stage: STAGE.to_string(),
            reason,
        };
        if self.log.record_outcome(id, &outcome, at).await? == OutcomeWrite::Recorded {
            self.metrics.dead_lettered(STAGE);
            self.metrics.outcome("dead_lettered");
            self.metrics.unfinished_swept("dead_lettered");
        }
        Ok(())
    }
}

fn last_activity(record: &MessageRecord) -> Option<OffsetDateTime> {
    record.history.iter().map(|h| h.at).max()
}
