//! What classify remembers about an author between messages: how often they complained
//! recently (for the repeat-complainer flag) and where they last wrote (public or
//! private). Keys live under the author's hash tag, `fb:{a:ID}:…`, and expire.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_core::{Message, Visibility};
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::StoreError;
use crate::memory::MemoryStore;
use crate::redis_store::RedisStore;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recall {
    /// Complaints by this author within the asked window (this message excluded).
    pub recent_complaints: u32,
    pub last_visibility: Option<Visibility>,
}

#[async_trait]
pub trait ConversationMemory: Send + Sync + 'static {
    async fn recall(&self, message: &Message, window: Duration) -> Result<Recall, StoreError>;

    /// Remembers this message for `retention`. Idempotent per message id, so a
    /// redelivery does not count a complaint twice.
    async fn note(
        &self,
        message: &Message,
        complaint: bool,
        retention: Duration,
    ) -> Result<(), StoreError>;
}

fn complaints_key(author: &str) -> String {
    format!("fb:{{a:{author}}}:complaints")
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
    async fn recall(&self, message: &Message, window: Duration) -> Result<Recall, StoreError> {
        let since = millis(message.received_at) - window.as_millis() as i64;
        let member = message.id.to_string();
        let (count, own_score, visibility): (u32, Option<f64>, Option<String>) = redis::pipe()
            .zcount(complaints_key(&message.author.id), since, "+inf")
            .zscore(complaints_key(&message.author.id), &member)
            .get(visibility_key(&message.author.id))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // On a redelivery this message may already be counted; it is not "recent" to
        // itself.
        let own = u32::from(own_score.is_some_and(|s| s as i64 >= since));
        Ok(Recall {
            recent_complaints: count.saturating_sub(own),
            last_visibility: visibility.as_deref().and_then(parse_visibility),
        })
    }

    async fn note(
        &self,
        message: &Message,
        complaint: bool,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let author = &message.author.id;
        let now = millis(message.received_at);
        let ttl = retention.as_secs().max(1);
        let mut pipe = redis::pipe();
        pipe.set_ex(visibility_key(author), message.visibility.as_str(), ttl);
        if complaint {
            let key = complaints_key(author);
            pipe.zadd(&key, message.id.to_string(), now)
                .zrembyscore(&key, "-inf", now - retention.as_millis() as i64)
                .expire(&key, ttl as i64);
        }
        pipe.exec_async(&mut self.conn())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// The embedded adapter's state: per author, complaint times by message, and the last
/// visibility seen.
#[derive(Debug, Default)]
pub struct MemoryConversations {
    authors: Mutex<HashMap<String, AuthorMemory>>,
}

#[derive(Debug, Default)]
struct AuthorMemory {
    complaints: HashMap<String, i64>,
    last_visibility: Option<Visibility>,
}

#[async_trait]
impl ConversationMemory for MemoryStore {
    async fn recall(&self, message: &Message, window: Duration) -> Result<Recall, StoreError> {
        let since = millis(message.received_at) - window.as_millis() as i64;
        let authors = self.conversations().authors.lock();
        let Some(author) = authors.get(&message.author.id) else {
            return Ok(Recall::default());
        };
        let own = message.id.to_string();
        Ok(Recall {
            recent_complaints: author
                .complaints
                .iter()
                .filter(|(id, at)| **at >= since && **id != own)
                .count() as u32,
            last_visibility: author.last_visibility,
        })
    }

    async fn note(
        &self,
        message: &Message,
        complaint: bool,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = millis(message.received_at);
        let mut authors = self.conversations().authors.lock();
        let author = authors.entry(message.author.id.clone()).or_default();
        author.last_visibility = Some(message.visibility);
        if complaint {
            author.complaints.insert(message.id.to_string(), now);
            let oldest = now - retention.as_millis() as i64;
            author.complaints.retain(|_, at| *at >= oldest);
        }
        Ok(())
    }
}
