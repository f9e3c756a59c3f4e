//! The embedded store: the same contract as Redis, in one process.

use std::collections::HashMap;

use async_trait::async_trait;
use firebreak_core::{
    Classification, HistoryEntry, Message, MessageId, MessageRecord, Outcome, Stage,
};
use parking_lot::Mutex;

use crate::port::{MessageLog, OutcomeWrite, Reopen, StoreError};

#[derive(Debug, Default)]
pub struct MemoryStore {
    messages: Mutex<HashMap<MessageId, MessageRecord>>,
    conversations: crate::conversation::MemoryConversations,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn conversations(&self) -> &crate::conversation::MemoryConversations {
        &self.conversations
    }
}

#[async_trait]
impl MessageLog for MemoryStore {
    async fn is_known(&self, id: MessageId) -> Result<bool, StoreError> {
        Ok(self.messages.lock().contains_key(&id))
    }

    async fn record_accepted(&self, message: &Message) -> Result<(), StoreError> {
        self.messages
            .lock()
            .entry(message.id)
            .or_insert_with(|| MessageRecord {
                id: message.id,
                channel: message.channel,
                external_id: message.external_id.clone(),
                thread_id: message.thread_id.clone(),
                status: Stage::Accepted,
                classification: None,
                outcome: None,
                history: vec![HistoryEntry {
                    at: message.received_at,
                    stage: Stage::Accepted,
                    detail: String::new(),
                }],
            });
        Ok(())
    }

    async fn record_stage(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
        classification: Option<&Classification>,
    ) -> Result<(), StoreError> {
        let mut messages = self.messages.lock();
        let Some(record) = messages.get_mut(&id) else {
            return Ok(());
        };
        if record.outcome.is_none() {
            record.status = entry.stage;
        }
        if let Some(c) = classification {
            record.classification = Some(c.clone());
        }
        record.history.push(entry.clone());
        Ok(())
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        outcome: &Outcome,
        at: time::OffsetDateTime,
    ) -> Result<OutcomeWrite, StoreError> {
        let mut messages = self.messages.lock();
        let Some(record) = messages.get_mut(&id) else {
            return Ok(OutcomeWrite::Missing);
        };
        if record.outcome.is_some() {
            return Ok(OutcomeWrite::AlreadyRecorded);
        }
        record.status = outcome.stage();
        record.outcome = Some(outcome.clone());
        record.history.push(HistoryEntry {
            at,
            stage: outcome.stage(),
            detail: crate::redis_store::outcome_detail(outcome),
        });
        Ok(OutcomeWrite::Recorded)
    }

    async fn unfinished(
        &self,
        cutoff: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<MessageId>, StoreError> {
        // No index: the records themselves say which are open and when they came in.
        let messages = self.messages.lock();
        let mut open: Vec<(time::OffsetDateTime, MessageId)> = messages
            .values()
            .filter(|r| r.outcome.is_none())
            .filter_map(|r| r.history.first().map(|h| (h.at, r.id)))
            .filter(|(at, _)| *at < cutoff)
            .collect();
        open.sort();
        Ok(open.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn forget_unfinished(&self, _id: MessageId) -> Result<(), StoreError> {
        Ok(())
    }

    async fn reopen_dead_letter(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
    ) -> Result<Reopen, StoreError> {
        let mut messages = self.messages.lock();
        let Some(record) = messages.get_mut(&id) else {
            return Ok(Reopen::Missing);
        };
        if record
            .outcome
            .as_ref()
            .is_some_and(|o| !matches!(o, Outcome::DeadLettered { .. }))
        {
            return Ok(Reopen::Finished);
        }
        record.outcome = None;
        record.status = entry.stage;
        record.history.push(entry.clone());
        Ok(Reopen::Reopened)
    }

    async fn get(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        Ok(self.messages.lock().get(&id).cloned())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
