//! The dead-letter stream, read back and replayed. A delivery that failed on its last
//! allowed attempt (or carried garbage) is kept on `FB_DLQ` with its payload, the
//! subject it came from and why it failed. Replay puts that payload back on its
//! original subject as a new attempt: the message's `dead_lettered` outcome is lifted
//! first (its history keeps it, and gains a `replayed` entry), otherwise the stage would
//! find an outcome and do nothing. The entry itself stays on `FB_DLQ` as a record.

use std::sync::Arc;

use firebreak_bus::{Bus, BusError, Envelope, StoredMessage};
use firebreak_core::{HistoryEntry, MessageId, Stage, subjects};
use firebreak_store::{MessageLog, Reopen, StoreError};

pub const REASON_HEADER: &str = "Fb-Dead-Letter-Reason";
pub const ORIGINAL_SUBJECT_HEADER: &str = "Fb-Original-Subject";
pub const AT_HEADER: &str = "Fb-Dead-Lettered-At";
pub const DELIVERIES_HEADER: &str = "Fb-Deliveries";

/// Entries listed at most per call.
pub const MAX_LIST: usize = 500;

/// One dead-lettered delivery, without its payload (which holds message text).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// Its sequence on `FB_DLQ`: the handle for `show` and `replay`.
    pub sequence: u64,
    /// The stage that gave up: classify, reply or escalation.
    pub stage: String,
    pub original_subject: String,
    pub reason: String,
    /// Empty when the payload carried no message id (garbage).
    pub message_id: String,
    /// RFC 3339; empty for entries written before it was recorded.
    pub at: String,
    pub deliveries: u64,
}

impl DeadLetter {
    fn from_stored(stored: &StoredMessage) -> Self {
        let header = |name: &str| {
            stored
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        DeadLetter {
            sequence: stored.sequence,
            stage: stored
                .subject
                .strip_prefix("fb.dlq.")
                .unwrap_or(&stored.subject)
                .to_string(),
            original_subject: header(ORIGINAL_SUBJECT_HEADER),
            reason: header(REASON_HEADER),
            message_id: header(crate::MESSAGE_ID_HEADER),
            at: header(AT_HEADER),
            deliveries: header(DELIVERIES_HEADER).parse().unwrap_or(0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("no dead letter with sequence {0}")]
    NotFound(u64),
    #[error("dead letter {0} cannot be replayed: {1}")]
    NotReplayable(u64, &'static str),
    #[error("message {0} already reached an outcome after a replay; nothing to do")]
    AlreadyFinished(String),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What a replay did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    pub dead_letter: DeadLetter,
    /// The new attempt's sequence on the original stream.
    pub stream_sequence: u64,
}

#[derive(Clone)]
pub struct DeadLetters {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters").finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// The newest `limit` entries, newest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, DlqError> {
        let limit = limit.clamp(1, MAX_LIST);
        let bounds = self.bus.stream_bounds(subjects::STREAM_DEAD_LETTER).await?;
        if bounds.last < bounds.first {
            return Ok(Vec::new());
        }
        let from = bounds
            .last
            .saturating_sub(limit as u64 - 1)
            .max(bounds.first);
        let page = self
            .bus
            .read_stream(subjects::STREAM_DEAD_LETTER, from, limit)
            .await?;
        Ok(page.iter().rev().map(DeadLetter::from_stored).collect())
    }

    pub async fn get(&self, sequence: u64) -> Result<DeadLetter, DlqError> {
        self.stored(sequence)
            .await
            .map(|stored| DeadLetter::from_stored(&stored))
    }

    async fn stored(&self, sequence: u64) -> Result<StoredMessage, DlqError> {
        let page = self
            .bus
            .read_stream(subjects::STREAM_DEAD_LETTER, sequence, 1)
            .await?;
        page.into_iter()
            .find(|m| m.sequence == sequence)
            .ok_or(DlqError::NotFound(sequence))
    }

    /// Puts the dead letter back on its original subject as a new attempt. `actor`
    /// and `reason` go into the message's history; the caller audits.
    pub async fn replay(
        &self,
        sequence: u64,
        actor: &str,
        reason: &str,
    ) -> Result<Replayed, DlqError> {
        let stored = self.stored(sequence).await?;
        let dead_letter = DeadLetter::from_stored(&stored);
        if dead_letter.original_subject.is_empty() {
            return Err(DlqError::NotReplayable(
                sequence,
                "its original subject is unknown",
            ));
        }
        if stored.payload.is_empty() {
            // The sweeper's entries: the message was lost before it reached an outcome,
            // and only its id is left to look at.
            return Err(DlqError::NotReplayable(
                sequence,
                "it carries no payload (written by the sweeper)",
            ));
        }
        let Some(id) = MessageId::parse(&dead_letter.message_id) else {
            // Garbage had no message id: it cannot be tied to a message, and would
            // only be dead-lettered again.
            return Err(DlqError::NotReplayable(
                sequence,
                "it carries no message id",
            ));
        };
        let entry = HistoryEntry {
            at: time::OffsetDateTime::now_utc(),
            stage: Stage::Replayed,
            detail: format!(
                "dead letter {sequence} ({}) replayed by {actor}: {reason}",
                dead_letter.stage
            ),
        };
        match self.log.reopen_dead_letter(id, &entry).await? {
            Reopen::Reopened | Reopen::Missing => {}
            Reopen::Finished => return Err(DlqError::AlreadyFinished(id.to_string())),
        }
        // A fresh msg id: JetStream's dedup must not drop the new attempt as a repeat of
        // the original publish. Trace headers are dropped with the old attempt.
        let envelope = Envelope::new(dead_letter.original_subject.clone(), stored.payload)
            .with_msg_id(format!("replay:{sequence}:{}", uuid::Uuid::now_v7()))
            .with_header(crate::MESSAGE_ID_HEADER, id.to_string())
            .with_header("Fb-Replay-Of", sequence.to_string());
        let ack = self.bus.publish(envelope).await?.await?;
        Ok(Replayed {
            dead_letter,
            stream_sequence: ack.sequence,
        })
    }
}
