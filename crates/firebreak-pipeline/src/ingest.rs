//! Accepting a message: dedup, publish to JetStream (the urgent lane, `FB_URGENT`, for
//! what looks like self-harm or a threat and for public messages of someone with an
//! open private case; `FB_INBOUND` for the rest), and answer only once the stream has
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
    records: RecordWriter,
    metrics: Metrics,
    /// Keeps accepted messages for rehearsals; `None` when the archive is off.
    archive: Option<firebreak_store::archive::ArchiveWriter>,
    /// Who has an open private case, for the spill-over hint; `None` when not fed.
    spill: Option<Arc<crate::spill_index::SpillIndex>>,
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
    /// Starts the record writer's task, so it must be called within a Tokio runtime.
    pub fn new(bus: Arc<dyn Bus>, log: Arc<dyn MessageLog>, metrics: Metrics) -> Self {
        Ingestor {
            records: RecordWriter::spawn(log.clone()),
            bus,
            log,
            metrics,
            archive: None,
            spill: None,
        }
    }

    /// Also sends public messages of authors and threads with an open private case
    /// (a spill-over, P1) through the urgent lane. The index is fed elsewhere.
    pub fn with_spill_index(mut self, index: Arc<crate::spill_index::SpillIndex>) -> Self {
        self.spill = Some(index);
        self
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
        // The urgent lane: a message that looks like self-harm or a threat, or a public
        // one whose author has an open private case, is read by classify's own
        // consumer, ahead of the normal backlog. The text's hint never changes, so its
        // retries take the same lane and the stream's dedup holds. The spill-over hint
        // can change between a message and its retry (a case opened, resolved or
        // raised to P1 in between); a copy in each lane is then
        // classified twice, and the msg id of classify's own publish keeps the next
        // stage to one.
        let urgent = firebreak_triage::urgent::looks_urgent(&message.text).or_else(|| {
            self.spill
                .as_ref()
                .filter(|index| index.hint(&message))
                .map(|_| firebreak_triage::urgent::UrgentHint {
                    kind: crate::spill_index::HINT_KIND,
                })
        });
        let subject = match urgent {
            Some(_) => subjects::urgent_inbound(message.channel),
            None => subjects::inbound(message.channel),
        };
        let envelope = crate::with_trace(
            Envelope::new(subject, encode_message(&message))
                .with_msg_id(id.to_string())
                .with_header(crate::MESSAGE_ID_HEADER, id.to_string()),
        );
        let ack = self.bus.publish(envelope).await.map_err(|e| {
            self.metrics.rejected(&source, "bus_unavailable");
            bus_error(e)
        })?;
        let records = self.records.clone();
        let metrics = self.metrics.clone();
        let archive = self.archive.clone();
        Ok(Box::pin(async move {
            let ack = ack.await.map_err(|e| {
                metrics.rejected(&source, "bus_unavailable");
                bus_error(e)
            })?;
            // The message is safe in the stream from here on. Recording it is what makes
            // later retries duplicates; if that fails the stream's own dedup still covers
            // retries within its window, so we still answer success. The answer waits
            // for the record (written in a batch with its neighbours), so a client that
            // retries after its answer is always told "duplicate".
            if let Err(e) = records.record(&message).await {
                warn!(message_id = %id, error = %e, "could not record accepted message");
            }
            if let Some(archive) = archive.filter(|_| !ack.duplicate) {
                archive.offer(&message);
            }
            if let Some(hint) = urgent.filter(|_| !ack.duplicate) {
                metrics.urgent(hint.kind);
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

/// Most records in one batch.
const RECORD_BATCH: usize = 256;

/// Writes ingest's post-ack records in batches, one round trip per batch
/// ([`MessageLog::record_accepted_batch`]). It is a group commit: a batch is whatever
/// arrived while the previous one was being written (at most [`RECORD_BATCH`]), so a
/// quiet ingest writes each record at once and a busy one writes hundreds per round
/// trip, with no timer adding latency to either.
#[derive(Clone)]
struct RecordWriter {
    queue: tokio::sync::mpsc::Sender<Pending>,
    log: Arc<dyn MessageLog>,
}

type Pending = (
    Message,
    tokio::sync::oneshot::Sender<Result<(), StoreError>>,
);

impl RecordWriter {
    fn spawn(log: Arc<dyn MessageLog>) -> Self {
        let (queue, mut incoming) = tokio::sync::mpsc::channel::<Pending>(RECORD_BATCH * 4);
        let writer = log.clone();
        // Ends when the last ingestor clone (and so the last sender) is dropped.
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(RECORD_BATCH);
            while incoming.recv_many(&mut batch, RECORD_BATCH).await > 0 {
                let (messages, waiters): (Vec<Message>, Vec<_>) = batch.drain(..).unzip();
                let written = writer.record_accepted_batch(&messages).await;
                for waiter in waiters {
                    let result = match &written {
                        Ok(()) => Ok(()),
                        Err(e) => Err(StoreError::Unavailable(e.to_string())),
                    };
                    // A client that went away no longer waits for its answer.
                    let _ = waiter.send(result);
                }
            }
        });
        RecordWriter { queue, log }
    }

    /// Records `message` with the next batch and waits until it is written.
    async fn record(&self, message: &Message) -> Result<(), StoreError> {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.queue.send((message.clone(), done)).await.is_err() {
            // The writer task is gone (the runtime is shutting down): write alone.
            return self.log.record_accepted(message).await;
        }
        match written.await {
            Ok(result) => result,
            Err(_) => self.log.record_accepted(message).await,
        }
    }
}
