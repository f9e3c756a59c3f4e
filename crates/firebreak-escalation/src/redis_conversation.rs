//! The conversation of a case in Redis: one hash per case, `fb:{cases}:x:<id>`, one
//! field per entry ([`ConversationEntry::key`]) holding its JSON. Its TTL is the text
//! retention once the case is resolved; deleting the key is the purge.

use std::time::Duration;

use firebreak_store::redis_conn::RedisConn;

use crate::conversation::{ConversationEntry, in_order};
use crate::repo::RepoError;

pub(crate) fn conversation_key(case_id: &str) -> String {
    format!("fb:{{cases}}:x:{case_id}")
}

fn unavailable(e: redis::RedisError) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

pub(crate) async fn put(
    mut conn: RedisConn,
    case_id: &str,
    entry: &ConversationEntry,
) -> Result<(), RepoError> {
    let json = serde_json::to_string(entry).map_err(|e| RepoError::Corrupt(e.to_string()))?;
    redis::cmd("HSET")
        .arg(conversation_key(case_id))
        .arg(entry.key())
        .arg(json)
        .query_async::<()>(&mut conn)
        .await
        .map_err(unavailable)
}

pub(crate) async fn read(
    mut conn: RedisConn,
    case_id: &str,
) -> Result<Vec<ConversationEntry>, RepoError> {
    let values: Vec<String> = redis::cmd("HVALS")
        .arg(conversation_key(case_id))
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    let entries = values
        .iter()
        .map(|v| serde_json::from_str(v).map_err(|e| RepoError::Corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(in_order(entries))
}

pub(crate) async fn expire(
    mut conn: RedisConn,
    case_id: &str,
    after: Option<Duration>,
) -> Result<(), RepoError> {
    let command = match after {
        Some(after) => {
            let mut c = redis::cmd("PEXPIRE");
            c.arg(conversation_key(case_id))
                .arg(after.as_millis().max(1) as u64);
            c
        }
        None => {
            let mut c = redis::cmd("PERSIST");
            c.arg(conversation_key(case_id));
            c
        }
    };
    command
        .query_async::<i64>(&mut conn)
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(crate) async fn purge(mut conn: RedisConn, case_id: &str) -> Result<bool, RepoError> {
    let removed: i64 = redis::cmd("DEL")
        .arg(conversation_key(case_id))
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    Ok(removed > 0)
}
