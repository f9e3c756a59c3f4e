//! What classify remembers about an author between messages: how often they complained
//! recently (for the repeat-complainer flag), how many of their private messages the
//! first line took without a human (so that writing again reaches one), and where they
//! last wrote (public or private). Keys live under the author's hash tag,
//! `fb:{a:CHANNEL:ID}:…`, and expire. An author id is only unique on its platform: the
//! same number on X and on Telegram is two people, so the channel is part of the key.
//!
//! Keys written before the channel was (`fb:{a:ID}:…`) are not read: they expire on
//! their own within the retention, and meanwhile an author's counts start again once,
//! per channel, which can only delay a repeat-complainer flag or a first-line hand-off
//! by the messages already counted, never send a reply that should not go.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_core::{Classification, HistoryEntry, Message, Visibility};
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::memory::MemoryStore;
use crate::redis_store::RedisStore;
use crate::{MessageLog, StoreError};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recall {
    /// Complaints by this author within the complaint window (this message excluded).
    pub recent_complaints: u32,
    /// Private messages of this author that the first line answered or counted, within
    /// the acknowledgement window (this message excluded).
    pub recent_first_line: u32,
    pub last_visibility: Option<Visibility>,
}

/// How far back each tally of [`Recall`] looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecallWindows {
    pub complaints: Duration,
    pub first_line: Duration,
}

/// What a message adds to its author's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub complaint: bool,
    /// A private message the first line took without a human.
    pub first_line: bool,
}

#[async_trait]
pub trait ConversationMemory: Send + Sync + 'static {
    async fn recall(&self, message: &Message, windows: RecallWindows)
    -> Result<Recall, StoreError>;

    /// Remembers this message for `retention`. Idempotent per message id, so a
    /// redelivery does not count a complaint twice.
    async fn note(
        &self,
        message: &Message,
        marks: Marks,
        retention: Duration,
    ) -> Result<(), StoreError>;

    /// [`ConversationMemory::note`] and [`MessageLog::record_classified`] of the same
    /// store, together: classify's one write after its decision (one round trip on
    /// Redis, a pipeline over the author's and the message's keys).
    async fn note_classified(
        &self,
        message: &Message,
        marks: Marks,
        retention: Duration,
        entry: &HistoryEntry,
        classification: &Classification,
    ) -> Result<(), StoreError>;
}

/// The author as a key: channel and platform id.
fn author_of(message: &Message) -> String {
    format!("{}:{}", message.channel.as_str(), message.author.id)
}

fn complaints_key(author: &str) -> String {
    format!("fb:{{a:{author}}}:complaints")
}

fn first_line_key(author: &str) -> String {
    format!("fb:{{a:{author}}}:first_line")
}

fn visibility_key(author: &str) -> String {
    format!("fb:{{a:{author}}}:visibility")
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn parse_visibility(s: &str) -> Option<Visibility> {
    match s {
        "public" => Some(Visibility::Public),
        "private" => Some(Visibility::Private),
        _ => None,
    }
}

#[async_trait]
impl ConversationMemory for RedisStore {
    async fn recall(
        &self,
        message: &Message,
        windows: RecallWindows,
    ) -> Result<Recall, StoreError> {
        let now = millis(message.received_at);
        let complaints_since = now - windows.complaints.as_millis() as i64;
        let first_line_since = now - windows.first_line.as_millis() as i64;
        let member = message.id.to_string();
        let author = &author_of(message);
        type Reply = (u32, Option<f64>, u32, Option<f64>, Option<String>);
        let (complaints, own_complaint, first_line, own_first_line, visibility): Reply =
            redis::pipe()
                .zcount(complaints_key(author), complaints_since, "+inf")
                .zscore(complaints_key(author), &member)
                .zcount(first_line_key(author), first_line_since, "+inf")
                .zscore(first_line_key(author), &member)
                .get(visibility_key(author))
                .query_async(&mut self.conn())
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // On a redelivery this message may already be counted; it is not "recent" to
        // itself.
        let own =
            |score: Option<f64>, since: i64| u32::from(score.is_some_and(|s| s as i64 >= since));
        Ok(Recall {
            recent_complaints: complaints.saturating_sub(own(own_complaint, complaints_since)),
            recent_first_line: first_line.saturating_sub(own(own_first_line, first_line_since)),
            last_visibility: visibility.as_deref().and_then(parse_visibility),
        })
    }

    async fn note(
        &self,
        message: &Message,
        marks: Marks,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        note_into(&mut pipe, message, marks, retention);
        pipe.exec_async(&mut self.conn())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn note_classified(
        &self,
        message: &Message,
        marks: Marks,
        retention: Duration,
        entry: &HistoryEntry,
        classification: &Classification,
    ) -> Result<(), StoreError> {
        // Two hash tags (the author's, the message's) in one pipeline: each command
        // stays in its slot, and the round trip is shared.
        let mut pipe = redis::pipe();
        note_into(&mut pipe, message, marks, retention);
        crate::redis_store::classified_into(&mut pipe, message, entry, classification)?;
        pipe.exec_async(&mut self.conn())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// Adds the author-memory writes of `message` to `pipe`, replying nothing.
fn note_into(pipe: &mut redis::Pipeline, message: &Message, marks: Marks, retention: Duration) {
    let author = &author_of(message);
    let now = millis(message.received_at);
    let ttl = retention.as_secs().max(1);
    pipe.set_ex(visibility_key(author), message.visibility.as_str(), ttl)
        .ignore();
    for (marked, key) in [
        (marks.complaint, complaints_key(author)),
        (marks.first_line, first_line_key(author)),
    ] {
        if marked {
            pipe.zadd(&key, message.id.to_string(), now)
                .ignore()
                .zrembyscore(&key, "-inf", now - retention.as_millis() as i64)
                .ignore()
                .expire(&key, ttl as i64)
                .ignore();
        }
    }
}

/// The embedded adapter's state: per author (channel and id), complaint times by
/// message, and the last visibility seen. An author not noted for the retention is
/// forgotten, as the Redis keys expire.
#[derive(Debug, Default)]
pub struct MemoryConversations {
    authors: Mutex<HashMap<String, AuthorMemory>>,
    /// Notes since the last sweep of forgotten authors: a sweep every as many notes as
    /// there are authors costs O(1) per note.
    notes_since_sweep: Mutex<usize>,
}

#[derive(Debug, Default)]
struct AuthorMemory {
    complaints: HashMap<String, i64>,
    first_line: HashMap<String, i64>,
    last_visibility: Option<Visibility>,
    /// Message time (ms) past which the author is forgotten.
    expires: i64,
}

impl MemoryConversations {
    /// Authors remembered right now.
    pub fn authors(&self) -> usize {
        self.authors.lock().len()
    }
}

/// Entries at or after `since`, other than `own`.
fn count_since(times: &HashMap<String, i64>, since: i64, own: &str) -> u32 {
    times
        .iter()
        .filter(|(id, at)| **at >= since && id.as_str() != own)
        .count() as u32
}

#[async_trait]
impl ConversationMemory for MemoryStore {
    async fn recall(
        &self,
        message: &Message,
        windows: RecallWindows,
    ) -> Result<Recall, StoreError> {
        let now = millis(message.received_at);
        let authors = self.conversations().authors.lock();
        let Some(author) = authors
            .get(&author_of(message))
            .filter(|author| author.expires > now)
        else {
            return Ok(Recall::default());
        };
        let own = message.id.to_string();
        Ok(Recall {
            recent_complaints: count_since(
                &author.complaints,
                now - windows.complaints.as_millis() as i64,
                &own,
            ),
            recent_first_line: count_since(
                &author.first_line,
                now - windows.first_line.as_millis() as i64,
                &own,
            ),
            last_visibility: author.last_visibility,
        })
    }

    async fn note(
        &self,
        message: &Message,
        marks: Marks,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = millis(message.received_at);
        let oldest = now - retention.as_millis() as i64;
        let memory = self.conversations();
        let mut authors = memory.authors.lock();
        let mut notes = memory.notes_since_sweep.lock();
        *notes += 1;
        if *notes >= authors.len() {
            authors.retain(|_, author| author.expires > now);
            *notes = 0;
        }
        let author = authors.entry(author_of(message)).or_default();
        if author.expires <= now {
            // Forgotten, as an expired Redis key would be.
            *author = AuthorMemory::default();
        }
        author.expires = author.expires.max(now + retention.as_millis() as i64);
        author.last_visibility = Some(message.visibility);
        for (marked, times) in [
            (marks.complaint, &mut author.complaints),
            (marks.first_line, &mut author.first_line),
        ] {
            if marked {
                times.insert(message.id.to_string(), now);
                times.retain(|_, at| *at >= oldest);
            }
        }
        Ok(())
    }

    async fn note_classified(
        &self,
        message: &Message,
        marks: Marks,
        retention: Duration,
        entry: &HistoryEntry,
        classification: &Classification,
    ) -> Result<(), StoreError> {
        self.note(message, marks, retention).await?;
        self.record_classified(message, entry, classification).await
    }
}
