//! The traits every store adapter implements.

use async_trait::async_trait;
use firebreak_core::{Classification, HistoryEntry, Message, MessageId, MessageRecord, Outcome};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// The status and history of every accepted message.
#[async_trait]
pub trait MessageLog: Send + Sync + 'static {
    /// True when the message was already accepted (dedup of platform retries).
    async fn is_known(&self, id: MessageId) -> Result<bool, StoreError>;

    /// Creates the record with an `accepted` entry. Idempotent.
    async fn record_accepted(&self, message: &Message) -> Result<(), StoreError>;

    /// Appends a waypoint (classified, deferred...). Never overrides a terminal status.
    async fn record_stage(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
        classification: Option<&Classification>,
    ) -> Result<(), StoreError>;

    /// Records the terminal outcome. Only the first one counts: returns false (and
    /// changes nothing) when the message already has one, which makes redelivered
    /// work idempotent.
    async fn record_outcome(
        &self,
        id: MessageId,
        outcome: &Outcome,
        at: time::OffsetDateTime,
    ) -> Result<bool, StoreError>;

    async fn get(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;
}

/// What the walking skeleton keeps about a case. The moderation workflow builds on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: String,
    pub thread_key: String,
    pub priority: firebreak_core::Priority,
    pub message_ids: Vec<MessageId>,
    pub reasons: Vec<String>,
}

#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    /// Adds the message to the open case of its thread, or opens one. Returns the case
    /// id. Idempotent for the same message.
    async fn escalate(
        &self,
        message: &Message,
        classification: &Classification,
    ) -> Result<String, StoreError>;

    async fn case(&self, id: &str) -> Result<Option<CaseSummary>, StoreError>;
}

/// The grouping key of a thread: one open case per thread.
pub fn thread_key(message: &Message) -> String {
    format!("{}:{}", message.channel.as_str(), message.thread_id)
}
