//! The inbound archive: the messages accepted over the last hours, kept so that a draft
//! playbook can be rehearsed on real traffic (`firebreak rehearse --since 2h`) whatever
//! the pipeline's own streams retain.
//!
//! It is bounded in time (the window, at most the case texts' retention, so a message
//! text lives no longer here than in a case) and in size (a number of messages, each at
//! most `wire::limits` long). An admin purge of a case's texts purges its messages here
//! too. Ingest hands messages to an [`ArchiveWriter`], which writes them in batches off
//! the request path: one round trip per batch, never one per message, and a full
//! buffer drops (and counts) rather than slowing ingest.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use firebreak_core::{Message, MessageId};
use parking_lot::Mutex;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::StoreError;

/// How long and how much the archive keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    pub window: Duration,
    pub max_messages: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            window: Duration::from_secs(24 * 3600),
            max_messages: 100_000,
        }
    }
}

#[async_trait]
pub trait InboundArchive: Send + Sync + 'static {
    /// Keeps `messages` (idempotent per id), then drops what is past the limits.
    async fn keep(&self, messages: &[Message]) -> Result<(), StoreError>;
    /// The messages received within the last `since`, oldest first; the newest `limit`
    /// when there are more.
    async fn recent(&self, since: Duration, limit: usize) -> Result<Vec<Message>, StoreError>;
    /// Deletes these messages, texts and all; returns how many were kept.
    async fn purge(&self, ids: &[MessageId]) -> Result<usize, StoreError>;
}

/// The embedded archive, for `firebreak run` without Redis and for tests.
#[derive(Debug, Default)]
pub struct MemoryArchive {
    limits: ArchiveLimits,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Oldest first.
    messages: VecDeque<Message>,
    /// The ids in `messages`, so keeping a message again costs no scan.
    ids: HashSet<MessageId>,
}

impl Kept {
    fn drop_front_while(&mut self, mut old: impl FnMut(&Message, usize) -> bool) {
        while let Some(front) = self.messages.front() {
            if !old(front, self.messages.len()) {
                break;
            }
            if let Some(gone) = self.messages.pop_front() {
                self.ids.remove(&gone.id);
            }
        }
    }
}

impl MemoryArchive {
    pub fn new(limits: ArchiveLimits) -> Self {
        MemoryArchive {
            limits,
            kept: Mutex::default(),
        }
    }
}

fn cutoff(window: Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() - window
}

#[async_trait]
impl InboundArchive for MemoryArchive {
    async fn keep(&self, messages: &[Message]) -> Result<(), StoreError> {
        let mut kept = self.kept.lock();
        for message in messages {
            if kept.ids.insert(message.id) {
                kept.messages.push_back(message.clone());
            }
        }
        let oldest = cutoff(self.limits.window);
        let max = self.limits.max_messages;
        kept.drop_front_while(|m, len| m.received_at < oldest || len > max);
        Ok(())
    }

    async fn recent(&self, since: Duration, limit: usize) -> Result<Vec<Message>, StoreError> {
        let oldest = cutoff(since.min(self.limits.window));
        let kept = self.kept.lock();
        let recent: Vec<Message> = kept
            .messages
            .iter()
            .filter(|m| m.received_at >= oldest)
            .cloned()
            .collect();
        let skip = recent.len().saturating_sub(limit);
        Ok(recent.into_iter().skip(skip).collect())
    }

    async fn purge(&self, ids: &[MessageId]) -> Result<usize, StoreError> {
        let mut kept = self.kept.lock();
        let before = kept.messages.len();
        kept.messages.retain(|m| !ids.contains(&m.id));
        for id in ids {
            kept.ids.remove(id);
        }
        Ok(before - kept.messages.len())
    }
}

/// Messages waiting for the writer; past this, new ones are dropped and counted.
const BUFFER: usize = 4_096;
/// Messages written per round trip.
const BATCH: usize = 256;

/// Ingest's handle on the archive: [`ArchiveWriter::offer`] never waits.
#[derive(Clone, Debug)]
pub struct ArchiveWriter {
    sender: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl ArchiveWriter {
    /// Starts the task that writes offered messages to `archive` in batches, until every
    /// writer handle is dropped.
    pub fn spawn(archive: Arc<dyn InboundArchive>) -> ArchiveWriter {
        let (sender, mut receiver) = mpsc::channel::<Message>(BUFFER);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while receiver.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = archive.keep(&batch).await {
                    // Only the rehearsal reads the archive: a gap there is not worth
                    // holding messages (and memory) for.
                    tracing::warn!(error = %e, messages = batch.len(), "archive write failed");
                }
                batch.clear();
            }
        });
        ArchiveWriter {
            sender,
            dropped: Arc::default(),
        }
    }

    /// Hands a message to the writer, or drops it when the writer is behind.
    pub fn offer(&self, message: &Message) {
        if self.sender.try_send(message.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
