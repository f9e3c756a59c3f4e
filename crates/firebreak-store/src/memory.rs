//! The embedded store: the same contract as Redis, in one process. Records are kept
//! as long as Redis keeps them ([`MESSAGE_RETENTION`] from acceptance, the keys' TTL),
//! then dropped, so a long-running `firebreak run` holds a week of traffic at most.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use firebreak_core::{
    Classification, HistoryEntry, Message, MessageId, MessageRecord, Outcome, Stage,
};
use parking_lot::Mutex;

use crate::MESSAGE_RETENTION;
use crate::port::{MessageLog, OutcomeWrite, Reopen, StoreError};

#[derive(Debug)]
pub struct MemoryStore {
    messages: Mutex<Records>,
    conversations: crate::conversation::MemoryConversations,
}

/// The records, and their ids in acceptance order so the oldest go without a scan.
#[derive(Debug)]
struct Records {
    retention: Duration,
    by_id: HashMap<MessageId, MessageRecord>,
    accepted: VecDeque<(Instant, MessageId)>,
}

impl Records {
    fn evict(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.accepted.front() {
            if now.duration_since(at) < self.retention {
                break;
            }
            self.accepted.pop_front();
            self.by_id.remove(&id);
        }
    }

    /// The records still within the retention.
    fn live(&mut self) -> &mut HashMap<MessageId, MessageRecord> {
        self.evict(Instant::now());
        &mut self.by_id
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_retention(MESSAGE_RETENTION)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that forgets records `retention` after their acceptance.
    pub fn with_retention(retention: Duration) -> Self {
        MemoryStore {
            messages: Mutex::new(Records {
                retention,
                by_id: HashMap::new(),
                accepted: VecDeque::new(),
            }),
            conversations: Default::default(),
        }
    }

    /// Records held right now, expired ones dropped first.
    pub fn len(&self) -> usize {
        self.messages.lock().live().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Authors whose conversation memory is held right now.
    pub fn authors_remembered(&self) -> usize {
        self.conversations.authors()
    }

    pub(crate) fn conversations(&self) -> &crate::conversation::MemoryConversations {
        &self.conversations
    }
}

#[async_trait]
impl MessageLog for MemoryStore {
    async fn is_known(&self, id: MessageId) -> Result<bool, StoreError> {
        Ok(self.messages.lock().live().contains_key(&id))
    }

    async fn record_accepted(&self, message: &Message) -> Result<(), StoreError> {
        let mut records = self.messages.lock();
        let now = Instant::now();
        records.evict(now);
        if records.by_id.contains_key(&message.id) {
            return Ok(());
        }
        records.accepted.push_back((now, message.id));
        records.by_id.insert(
            message.id,
            MessageRecord {
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
            },
        );
        Ok(())
    }

    async fn record_stage(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
        classification: Option<&Classification>,
    ) -> Result<(), StoreError> {
        let mut records = self.messages.lock();
        let Some(record) = records.live().get_mut(&id) else {
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
        let mut records = self.messages.lock();
        let Some(record) = records.live().get_mut(&id) else {
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
        let mut records = self.messages.lock();
        let messages = records.live();
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
        let mut records = self.messages.lock();
        let Some(record) = records.live().get_mut(&id) else {
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
        Ok(self.messages.lock().live().get(&id).cloned())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
