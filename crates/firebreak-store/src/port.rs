//! The traits every store adapter implements.

use async_trait::async_trait;
use firebreak_core::{Classification, HistoryEntry, Message, MessageId, MessageRecord, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// What [`MessageLog::reopen_dead_letter`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reopen {
    Reopened,
    /// No such message.
    Missing,
    /// It has an outcome other than `dead_lettered` (a replay already finished it).
    Finished,
}

/// What [`MessageLog::record_outcome`] did. A missing record is not an outcome: the
/// caller must create the record (it holds the message) or keep the delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeWrite {
    /// This call set the outcome.
    Recorded,
    /// An earlier call set one; nothing changed.
    AlreadyRecorded,
    /// No record for the message: ingest's post-ack write failed or has not landed yet.
    Missing,
}

/// The status and history of every accepted message.
#[async_trait]
pub trait MessageLog: Send + Sync + 'static {
    /// True when the message was already accepted (dedup of platform retries).
    async fn is_known(&self, id: MessageId) -> Result<bool, StoreError>;

    /// Creates the record with an `accepted` entry. Idempotent.
    async fn record_accepted(&self, message: &Message) -> Result<(), StoreError>;

    /// [`MessageLog::record_accepted`] for many messages: one round trip on Redis,
    /// whatever the batch's size. Ingest writes its post-ack records this way.
    async fn record_accepted_batch(&self, messages: &[Message]) -> Result<(), StoreError> {
        for message in messages {
            self.record_accepted(message).await?;
        }
        Ok(())
    }

    /// Appends a waypoint (classified, deferred...). Never overrides a terminal status.
    async fn record_stage(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
        classification: Option<&Classification>,
    ) -> Result<(), StoreError>;

    /// Records the classification of a message the caller holds (a `classified`
    /// waypoint and the decision), creating its record first if ingest's write has not
    /// landed. The Redis adapter does both in one round trip.
    async fn record_classified(
        &self,
        message: &Message,
        entry: &HistoryEntry,
        classification: &Classification,
    ) -> Result<(), StoreError> {
        self.record_accepted(message).await?;
        self.record_stage(message.id, entry, Some(classification))
            .await
    }

    /// Records the terminal outcome. Only the first one counts: a message that already
    /// has one is left unchanged, which makes redelivered work idempotent.
    async fn record_outcome(
        &self,
        id: MessageId,
        outcome: &Outcome,
        at: time::OffsetDateTime,
    ) -> Result<OutcomeWrite, StoreError>;

    /// Records the outcome of a message the caller holds, creating its record first if
    /// ingest never managed to: an accepted message always ends with its outcome on
    /// record. True when this call set the outcome.
    async fn finish(
        &self,
        message: &Message,
        outcome: &Outcome,
        at: time::OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut write = self.record_outcome(message.id, outcome, at).await?;
        if write == OutcomeWrite::Missing {
            self.record_accepted(message).await?;
            write = self.record_outcome(message.id, outcome, at).await?;
        }
        match write {
            OutcomeWrite::Recorded => Ok(true),
            OutcomeWrite::AlreadyRecorded => Ok(false),
            OutcomeWrite::Missing => Err(StoreError::Corrupt(format!(
                "record of {} vanished while recording its outcome",
                message.id
            ))),
        }
    }

    /// Messages accepted before `cutoff` that have no outcome yet, oldest first, at
    /// most `limit`: what the sweeper inspects.
    async fn unfinished(
        &self,
        cutoff: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<MessageId>, StoreError>;

    /// Drops a message from the unfinished index without recording anything, for an
    /// entry whose record expired or whose outcome is already set.
    async fn forget_unfinished(&self, id: MessageId) -> Result<(), StoreError>;

    /// Gives a dead-lettered message a new attempt: lifts its `dead_lettered` outcome
    /// (history kept) and appends `entry`. A message whose dead-lettering was never
    /// recorded (the store was down then) is reopened too; one with any other outcome
    /// is left alone.
    async fn reopen_dead_letter(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
    ) -> Result<Reopen, StoreError>;

    async fn get(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;
}

/// What a spill-over lookup is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseSubject<'a> {
    /// An author id on a channel; matched within the channel's family
    /// ([`firebreak_core::Channel::family`]), where the id names one person.
    Author(firebreak_core::Channel, &'a str),
    /// A thread on a channel.
    Thread(firebreak_core::Channel, &'a str),
}

/// The moderation cases as classify sees them: is there an unresolved private case for
/// this author or thread? That is the spill-over signal (a private case going public).
/// Implemented by `firebreak-escalation`'s case service; resolving the case clears it.
#[async_trait]
pub trait OpenCases: Send + Sync + 'static {
    async fn open_private_case_for(
        &self,
        subject: CaseSubject<'_>,
    ) -> Result<Option<String>, StoreError>;

    /// The first of `subjects`, in order, with an open private case. The case store
    /// answers it in one round trip; this default asks one subject at a time.
    async fn first_open_private_case(
        &self,
        subjects: &[CaseSubject<'_>],
    ) -> Result<Option<String>, StoreError> {
        for subject in subjects {
            if let Some(case) = self.open_private_case_for(*subject).await? {
                return Ok(Some(case));
            }
        }
        Ok(None)
    }
}
