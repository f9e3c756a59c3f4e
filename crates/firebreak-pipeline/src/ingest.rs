//! Accepting a message: dedup, publish to JetStream, and answer only once the stream has
//! acknowledged it.

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::{Bus, BusError, Envelope};
use firebreak_core::wire::{Submission, encode_message};
use firebreak_core::{FirebreakError, Message, MessageId, subjects};
use firebreak_store::{MessageLog, StoreError};
use firebreak_telemetry::Metrics;
use futures::future::BoxFuture;
use tracing::warn;

/// How long a client should wait before retrying when the bus or store is down.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub id: MessageId,
    pub duplicate: bool,
}

#[derive(Clone)]
pub struct Ingestor {
    bus: Arc<dyn Bus>,
    log: Arc<dyn MessageLog>,
    metrics: Metrics,
    /// Keeps accepted messages for rehearsals; `None` when the archive is off.
    archive: Option<firebreak_store::archive::ArchiveWriter>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor").finish_non_exhaustive()
    }
}

pub fn bus_error(e: BusError) -> FirebreakError {
    match e {
        BusError::Full(_) => FirebreakError::overloaded("the inbound stream is full", RETRY_AFTER),
        BusError::Unavailable(_) | BusError::Other(_) => {
            FirebreakError::unavailable("the message bus is unavailable", RETRY_AFTER)
        }
    }
}

pub fn store_error(e: StoreError) -> FirebreakError {
    warn!(error = %e, "store error");
    FirebreakError::unavailable("the state store is unavailable", RETRY_AFTER)
}

impl Ingestor {
    pub fn new(bus: Arc<dyn Bus>, log: Arc<dyn MessageLog>, metrics: Metrics) -> Self {
        Ingestor {
            bus,
            log,
            metrics,
            archive: None,
        }
    }

    /// Also hands every newly accepted message to the inbound archive (never waiting
    /// for it), so rehearsals can replay recent traffic.
    pub fn with_archive(mut self, archive: firebreak_store::archive::ArchiveWriter) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Validates, publishes and waits for the stream's ack.
    pub async fn submit(
        &self,
        submission: Submission,
        source: &str,
    ) -> Result<Accepted, FirebreakError> {
        let pending = self.begin(submission, source).await?;
        pending.await
    }

    /// The first half of [`Ingestor::submit`]: everything up to handing the publish to
    /// the bus. The returned future completes when the stream acknowledges, so a
    /// streaming caller can keep many messages in flight.
    pub async fn begin(
        &self,
        submission: Submission,
        source: &str,
    ) -> Result<BoxFuture<'static, Result<Accepted, FirebreakError>>, FirebreakError> {
        let message = match submission.into_message(time::OffsetDateTime::now_utc()) {
            Ok(message) => message,
            Err(e) => {
                self.metrics.rejected(source, "invalid");
                return Err(e);
            }
        };
        self.begin_message(message, source.to_string()).await
    }

    async fn begin_message(
        &self,
        message: Message,
        source: String,
    ) -> Result<BoxFuture<'static, Result<Accepted, FirebreakError>>, FirebreakError> {
        let id = message.id;
        // Platforms retry for days; JetStream's dedup window is minutes. The store
        // remembers every accepted id for the whole retry horizon.
        if self.log.is_known(id).await.map_err(|e| {
            self.metrics.rejected(&source, "store_unavailable");
            store_error(e)
        })? {
            self.metrics.ingested(&source, "duplicate");
            return Ok(Box::pin(async move {
                Ok(Accepted {
                    id,
                    duplicate: true,
                })
            }));
        }
        let envelope = crate::with_trace(
            Envelope::new(subjects::inbound(message.channel), encode_message(&message))
                .with_msg_id(id.to_string())
                .with_header(crate::MESSAGE_ID_HEADER, id.to_string()),
        );
        let ack = self.bus.publish(envelope).await.map_err(|e| {
            self.metrics.rejected(&source, "bus_unavailable");
            bus_error(e)
        })?;
        let log = self.log.clone();
        let metrics = self.metrics.clone();
        let archive = self.archive.clone();
        Ok(Box::pin(async move {
            let ack = ack.await.map_err(|e| {
                metrics.rejected(&source, "bus_unavailable");
                bus_error(e)
            })?;
            // The message is safe in the stream from here on. Recording it is what makes
            // later retries duplicates; if that fails the stream's own dedup still covers
            // retries within its window, so we still answer success.
            if let Err(e) = log.record_accepted(&message).await {
                warn!(message_id = %id, error = %e, "could not record accepted message");
            }
            if let Some(archive) = archive.filter(|_| !ack.duplicate) {
                archive.offer(&message);
            }
            metrics.ingested(
                &source,
                if ack.duplicate {
                    "duplicate"
                } else {
                    "accepted"
                },
            );
            Ok(Accepted {
                id,
                duplicate: ack.duplicate,
            })
        }))
    }
}
