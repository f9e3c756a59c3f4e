//! The Redis adapter. Every multi-key operation stays inside one hash tag, so it runs
//! unchanged on Redis Cluster.

use std::sync::LazyLock;

use async_trait::async_trait;
use firebreak_core::{
    Channel, Classification, HistoryEntry, Message, MessageId, MessageRecord, Outcome, Stage,
};
use redis::AsyncCommands;

use crate::redis_conn::RedisConn;

use crate::MESSAGE_RETENTION;
use crate::port::{MessageLog, OutcomeWrite, Reopen, StoreError};

#[derive(Clone)]
pub struct RedisStore {
    connection: RedisConn,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn message_key(id: MessageId) -> String {
    format!("fb:{{m:{id}}}")
}

fn history_key(id: MessageId) -> String {
    format!("fb:{{m:{id}}}:h")
}

/// Accepted messages without an outcome, scored by when they were accepted (unix ms),
/// for the sweeper. One key outside the messages' hash tags, so it is written next to
/// the scripts (same pipeline), not inside them.
const UNFINISHED_KEY: &str = "fb:unfinished";

fn unix_ms(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Short, text-free detail for the history line of an outcome.
pub(crate) fn outcome_detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Replied { variant, .. } => format!("variant {variant}"),
        Outcome::Escalated { case_id } => format!("case {case_id}"),
        Outcome::Ignored { reason } => reason.clone(),
        Outcome::DeadLettered { stage, .. } => format!("failed in {stage}"),
    }
}

/// Creates a message record with its `accepted` entry, all at once: a concurrent
/// accept of the same message (or a reader) never sees a half-written record, and a
/// failure leaves nothing behind for a retry to trip over.
static RECORD_ACCEPTED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'status', ARGV[1], 'channel', ARGV[2],
          'external_id', ARGV[3], 'thread_id', ARGV[4])
        redis.call('DEL', KEYS[2])
        redis.call('RPUSH', KEYS[2], ARGV[5])
        redis.call('EXPIRE', KEYS[1], ARGV[6])
        redis.call('EXPIRE', KEYS[2], ARGV[6])
        return 1",
    )
});

/// Classify's write: creates the record as [`RECORD_ACCEPTED`] does when ingest's write
/// has not landed, then appends the `classified` line, moves the status unless an
/// outcome is set, and stores the decision.
static RECORD_CLASSIFIED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HSET', KEYS[1], 'status', ARGV[1], 'channel', ARGV[2],
            'external_id', ARGV[3], 'thread_id', ARGV[4])
          redis.call('DEL', KEYS[2])
          redis.call('RPUSH', KEYS[2], ARGV[5])
          redis.call('EXPIRE', KEYS[1], ARGV[6])
          redis.call('EXPIRE', KEYS[2], ARGV[6])
        end
        if redis.call('HEXISTS', KEYS[1], 'outcome') == 0 then
          redis.call('HSET', KEYS[1], 'status', ARGV[7])
        end
        redis.call('HSET', KEYS[1], 'classification', ARGV[9])
        redis.call('RPUSH', KEYS[2], ARGV[8])
        return 1",
    )
});

/// Appends a history line and moves the status, unless a terminal outcome is set.
static RECORD_STAGE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if redis.call('HEXISTS', KEYS[1], 'outcome') == 0 then
          redis.call('HSET', KEYS[1], 'status', ARGV[1])
        end
        if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'classification', ARGV[3]) end
        redis.call('RPUSH', KEYS[2], ARGV[2])
        return 1",
    )
});

/// Lifts a `dead_lettered` outcome (or none) for a replay: -1 no record, 0 another
/// outcome stands, 1 reopened.
static REOPEN_DEAD_LETTER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local outcome = redis.call('HGET', KEYS[1], 'outcome')
        if outcome and not string.find(outcome, '"outcome":"dead_lettered"', 1, true) then
          return 0
        end
        redis.call('HDEL', KEYS[1], 'outcome')
        redis.call('HSET', KEYS[1], 'status', ARGV[1])
        redis.call('RPUSH', KEYS[2], ARGV[2])
        return 1
        "#,
    )
});

/// Sets the terminal outcome once: 1 set, 0 an outcome was already set (nothing
/// changes), -1 no record, which is not an outcome and must not read as one.
static RECORD_OUTCOME: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        if redis.call('HSETNX', KEYS[1], 'outcome', ARGV[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'status', ARGV[2])
        redis.call('RPUSH', KEYS[2], ARGV[3])
        return 1",
    )
});

impl RedisStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connection = RedisConn::connect(url)
            .await
            .map_err(unavailable)?
            .with_scripts(&[&RECORD_ACCEPTED, &RECORD_CLASSIFIED, &RECORD_OUTCOME])
            .await
            .map_err(unavailable)?;
        Ok(RedisStore { connection })
    }

    pub(crate) fn conn(&self) -> RedisConn {
        self.connection.clone()
    }

    /// Round trips to Redis made by this store and its clones.
    pub fn round_trips(&self) -> u64 {
        self.connection.round_trips()
    }
}

fn entry_json(entry: &HistoryEntry) -> Result<String, StoreError> {
    serde_json::to_string(entry).map_err(corrupt)
}

fn accepted_entry(message: &Message) -> Result<String, StoreError> {
    entry_json(&HistoryEntry {
        at: message.received_at,
        stage: Stage::Accepted,
        detail: String::new(),
    })
}

/// Adds to `pipe` the unfinished-index entry and the creation of `message`'s record,
/// replying nothing; the caller loads [`RECORD_ACCEPTED`] first. Indexed first: if the record write then fails, the sweeper finds
/// an entry without a record rather than a record nobody watches.
pub(crate) fn accept_into(pipe: &mut redis::Pipeline, message: &Message) -> Result<(), StoreError> {
    pipe.cmd("ZADD")
        .arg(UNFINISHED_KEY)
        .arg("NX")
        .arg(unix_ms(message.received_at))
        .arg(message.id.to_string())
        .ignore()
        .invoke_script(
            RECORD_ACCEPTED
                .key(message_key(message.id))
                .key(history_key(message.id))
                .arg(Stage::Accepted.as_str())
                .arg(message.channel.as_str())
                .arg(&message.external_id)
                .arg(&message.thread_id)
                .arg(accepted_entry(message)?)
                .arg(MESSAGE_RETENTION.as_secs()),
        )
        .ignore();
    Ok(())
}

/// Adds to `pipe` classify's record write ([`RECORD_CLASSIFIED`]) and the
/// unfinished-index entry, replying nothing.
pub(crate) fn classified_into(
    pipe: &mut redis::Pipeline,
    message: &Message,
    entry: &HistoryEntry,
    classification: &Classification,
) -> Result<(), StoreError> {
    pipe.cmd("ZADD")
        .arg(UNFINISHED_KEY)
        .arg("NX")
        .arg(unix_ms(message.received_at))
        .arg(message.id.to_string())
        .ignore()
        .invoke_script(
            RECORD_CLASSIFIED
                .key(message_key(message.id))
                .key(history_key(message.id))
                .arg(Stage::Accepted.as_str())
                .arg(message.channel.as_str())
                .arg(&message.external_id)
                .arg(&message.thread_id)
                .arg(accepted_entry(message)?)
                .arg(MESSAGE_RETENTION.as_secs())
                .arg(entry.stage.as_str())
                .arg(entry_json(entry)?)
                .arg(serde_json::to_string(classification).map_err(corrupt)?),
        )
        .ignore();
    Ok(())
}

#[async_trait]
impl MessageLog for RedisStore {
    async fn is_known(&self, id: MessageId) -> Result<bool, StoreError> {
        self.conn()
            .exists(message_key(id))
            .await
            .map_err(unavailable)
    }

    async fn record_accepted(&self, message: &Message) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        // The script is called by hash; the connection loads it again on NOSCRIPT.
        accept_into(&mut pipe, message)?;
        pipe.exec_async(&mut self.conn()).await.map_err(unavailable)
    }

    async fn record_accepted_batch(&self, messages: &[Message]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        // One pipeline for the whole batch: one round trip whatever its size.
        let mut pipe = redis::pipe();
        for message in messages {
            accept_into(&mut pipe, message)?;
        }
        pipe.exec_async(&mut self.conn()).await.map_err(unavailable)
    }

    async fn record_classified(
        &self,
        message: &Message,
        entry: &HistoryEntry,
        classification: &Classification,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        classified_into(&mut pipe, message, entry, classification)?;
        pipe.exec_async(&mut self.conn()).await.map_err(unavailable)
    }

    async fn record_stage(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
        classification: Option<&Classification>,
    ) -> Result<(), StoreError> {
        let classification = match classification {
            Some(c) => serde_json::to_string(c).map_err(corrupt)?,
            None => String::new(),
        };
        let _: i64 = RECORD_STAGE
            .key(message_key(id))
            .key(history_key(id))
            .arg(entry.stage.as_str())
            .arg(entry_json(entry)?)
            .arg(classification)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn record_outcome(
        &self,
        id: MessageId,
        outcome: &Outcome,
        at: time::OffsetDateTime,
    ) -> Result<OutcomeWrite, StoreError> {
        let entry = HistoryEntry {
            at,
            stage: outcome.stage(),
            detail: outcome_detail(outcome),
        };
        // The index entry goes whatever the script found: set now, set before, or no
        // record at all (the caller then re-accepts, which indexes it again).
        let (written,): (i64,) = redis::pipe()
            .invoke_script(
                RECORD_OUTCOME
                    .key(message_key(id))
                    .key(history_key(id))
                    .arg(serde_json::to_string(outcome).map_err(corrupt)?)
                    .arg(outcome.stage().as_str())
                    .arg(entry_json(&entry)?),
            )
            .zrem(UNFINISHED_KEY, id.to_string())
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(match written {
            1 => OutcomeWrite::Recorded,
            0 => OutcomeWrite::AlreadyRecorded,
            _ => OutcomeWrite::Missing,
        })
    }

    async fn unfinished(
        &self,
        cutoff: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<MessageId>, StoreError> {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(UNFINISHED_KEY)
            .arg("-inf")
            .arg(format!("({}", unix_ms(cutoff)))
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        ids.iter()
            .map(|id| MessageId::parse(id).ok_or_else(|| corrupt(format!("unfinished id {id}"))))
            .collect()
    }

    async fn forget_unfinished(&self, id: MessageId) -> Result<(), StoreError> {
        let _: i64 = self
            .conn()
            .zrem(UNFINISHED_KEY, id.to_string())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn reopen_dead_letter(
        &self,
        id: MessageId,
        entry: &HistoryEntry,
    ) -> Result<Reopen, StoreError> {
        let result: i64 = REOPEN_DEAD_LETTER
            .key(message_key(id))
            .key(history_key(id))
            .arg(entry.stage.as_str())
            .arg(entry_json(entry)?)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if result == 1 {
            // Open again: the sweeper watches the new attempt from now.
            let _: i64 = self
                .conn()
                .zadd(UNFINISHED_KEY, id.to_string(), unix_ms(entry.at))
                .await
                .map_err(unavailable)?;
        }
        Ok(match result {
            1 => Reopen::Reopened,
            0 => Reopen::Finished,
            _ => Reopen::Missing,
        })
    }

    async fn get(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        let (fields, history): (std::collections::HashMap<String, String>, Vec<String>) =
            redis::pipe()
                .hgetall(message_key(id))
                .lrange(history_key(id), 0, -1)
                .query_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
        if fields.is_empty() {
            return Ok(None);
        }
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let status =
            serde_json::from_value(serde_json::Value::String(field("status"))).map_err(corrupt)?;
        let classification = fields
            .get("classification")
            .map(|c| serde_json::from_str(c))
            .transpose()
            .map_err(corrupt)?;
        let outcome = fields
            .get("outcome")
            .map(|o| serde_json::from_str(o))
            .transpose()
            .map_err(corrupt)?;
        let history = history
            .iter()
            .map(|h| serde_json::from_str(h))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        Ok(Some(MessageRecord {
            id,
            channel: Channel::parse(&field("channel")).ok_or_else(|| corrupt("channel"))?,
            external_id: field("external_id"),
            thread_id: field("thread_id"),
            status,
            classification,
            outcome,
            history,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
