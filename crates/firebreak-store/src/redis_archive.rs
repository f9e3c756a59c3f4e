//! The inbound archive on Redis: a sorted set of message ids by arrival time and a hash
//! of the encoded messages, both under one hash tag (`fb:{archive}:…`) so each script
//! touches one slot. Each batch trims what is past the window or over the count in the
//! same script, and both keys expire with the window, so a quiet archive empties itself.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_core::wire::{decode_message, encode_message};
use firebreak_core::{Message, MessageId};

use crate::StoreError;
use crate::archive::{ArchiveLimits, InboundArchive};
use crate::redis_store::RedisStore;

const INDEX_KEY: &str = "fb:{archive}:ix";
const MESSAGES_KEY: &str = "fb:{archive}:msg";

/// ARGV: cutoff (ms), max messages, window (s), then (score, id, payload) triples.
static KEEP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        for i = 4, #ARGV, 3 do
          if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) == 1 then
            redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
          end
        end
        local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
        local excess = redis.call('ZCARD', KEYS[1]) - #old - tonumber(ARGV[2])
        if excess > 0 then
          local extra = redis.call('ZRANGE', KEYS[1], #old, #old + excess - 1)
          for _, id in ipairs(extra) do table.insert(old, id) end
        end
        for _, id in ipairs(old) do
          redis.call('ZREM', KEYS[1], id)
          redis.call('HDEL', KEYS[2], id)
        end
        redis.call('EXPIRE', KEYS[1], ARGV[3])
        redis.call('EXPIRE', KEYS[2], ARGV[3])
        return #old",
    )
});

/// The archive in the Redis the rest of the state lives in.
#[derive(Clone, Debug)]
pub struct RedisArchive {
    store: RedisStore,
    limits: ArchiveLimits,
}

impl RedisArchive {
    pub fn new(store: RedisStore, limits: ArchiveLimits) -> Self {
        RedisArchive { store, limits }
    }
}

fn millis(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl InboundArchive for RedisArchive {
    async fn keep(&self, messages: &[Message]) -> Result<(), StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let cutoff = millis(now - self.limits.window);
        let mut invocation = KEEP.key(INDEX_KEY);
        invocation
            .key(MESSAGES_KEY)
            .arg(cutoff)
            .arg(self.limits.max_messages)
            .arg(self.limits.window.as_secs().max(1));
        for message in messages {
            invocation
                .arg(millis(message.received_at))
                .arg(message.id.to_string())
                .arg(encode_message(message));
        }
        let _trimmed: i64 = invocation
            .invoke_async(&mut self.store.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn recent(&self, since: Duration, limit: usize) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let since = since.min(self.limits.window);
        let from = millis(time::OffsetDateTime::now_utc() - since);
        let mut conn = self.store.conn();
        // Newest first, so `limit` keeps the newest; reversed below.
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(INDEX_KEY)
            .arg("+inf")
            .arg(from)
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(MESSAGES_KEY)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut messages: Vec<Message> = payloads
            .into_iter()
            .flatten()
            // One unreadable entry must not hide the rest of the archive.
            .filter_map(|bytes| decode_message(&bytes).ok())
            .collect();
        messages.reverse();
        Ok(messages)
    }

    async fn purge(&self, ids: &[MessageId]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let (removed, _): (usize, usize) = redis::pipe()
            .atomic()
            .cmd("ZREM")
            .arg(INDEX_KEY)
            .arg(&ids)
            .cmd("HDEL")
            .arg(MESSAGES_KEY)
            .arg(&ids)
            .query_async(&mut self.store.conn())
            .await
            .map_err(unavailable)?;
        Ok(removed)
    }
}
