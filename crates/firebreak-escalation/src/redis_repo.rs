//! The Redis case store.
//!
//! Every case key shares the hash tag `{cases}`, so one Lua script can change a case,
//! its grouping pointers, its status index, its SLA deadline and append the event, all
//! at once, on a single node or on Redis Cluster. Putting all cases in one slot is a
//! deliberate trade: cases are human-scale (one per thread, never per message), and the
//! atomic commit is what makes the event log gap-free and the claim race-free.
//!
//! Keys (`fb:{cases}:` prefix): `c:<id>` hash (`v` version, `json`), `idx:<status>`
//! sorted sets, `deadlines` sorted set (due time, ms), `events` stream (id
//! `<cursor>-0`), `seq` counter, the pointers `m:`, `t:`, `a:`, `p:`, and each case's
//! conversation `x:<id>` (see [`crate::redis_conversation`]).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_store::redis_conn::RedisConn;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::warn;

use crate::conversation::ConversationEntry;
use crate::model::{Case, CaseEvent, CaseEventKind, CaseStatus, millis};
use crate::redis_conversation;
use crate::repo::{
    CaseRepo, Commit, EVENT_RETENTION, Expect, FilingView, Pointer, PointerOp, RESOLVED_RETENTION,
    RepoError,
};

const PREFIX: &str = "fb:{cases}:";
/// Resolved cases listed at most; older ones stay readable by id until they expire.
const RESOLVED_INDEX_CAP: usize = 10_000;

fn key(suffix: &str) -> String {
    format!("{PREFIX}{suffix}")
}

fn case_key(id: &str) -> String {
    key(&format!("c:{id}"))
}

fn index_key(status: CaseStatus) -> String {
    key(&format!("idx:{}", status.as_str()))
}

fn unavailable(e: redis::RedisError) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> RepoError {
    RepoError::Corrupt(e.to_string())
}

/// The atomic commit. Returns the event cursor, or -1 (having changed nothing) when the
/// version or a pointer expectation does not hold. All checks come before any write,
/// since a Lua script is not rolled back. KEYS[7] is the case's conversation: when
/// ARGV[13] names an entry, it is stored there (ARGV[14]) with the commit, and the
/// conversation keeps no TTL while the case is unresolved.
static COMMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
        if current ~= tonumber(ARGV[1]) then return -1 end
        local fixed = 14
        local first = 7
        local n = #KEYS - first
        for i = 1, n do
          local base = fixed + (i - 1) * 4
          if ARGV[base + 1] == 'set' and ARGV[base + 2] ~= 'any' then
            local held = redis.call('GET', KEYS[first + i])
            if ARGV[base + 2] == 'absent' then
              if held then return -1 end
            elseif held ~= ARGV[base + 3] then return -1 end
          end
        end
        local id = ARGV[4]
        for i = 1, n do
          local base = fixed + (i - 1) * 4
          local k = KEYS[first + i]
          if ARGV[base + 1] == 'set' then
            local ttl = tonumber(ARGV[base + 4])
            if ttl > 0 then redis.call('SET', k, id, 'EX', ttl) else redis.call('SET', k, id) end
          elseif redis.call('GET', k) == id then
            redis.call('DEL', k)
          end
        end
        redis.call('HSET', KEYS[1], 'v', ARGV[2], 'json', ARGV[3])
        local ttl = tonumber(ARGV[10])
        if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
        if ARGV[11] == '1' then redis.call('ZREM', KEYS[5], id) end
        redis.call('ZADD', KEYS[6], ARGV[5], id)
        local cap = tonumber(ARGV[12])
        if cap > 0 then redis.call('ZREMRANGEBYRANK', KEYS[6], cap, -1) end
        if ARGV[6] == '' then redis.call('ZREM', KEYS[4], id) else redis.call('ZADD', KEYS[4], ARGV[6], id) end
        if ARGV[13] ~= '' then
          redis.call('HSET', KEYS[7], ARGV[13], ARGV[14])
          if ttl == 0 then redis.call('PERSIST', KEYS[7]) end
        end
        local cursor = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[9], cursor .. '-0',
          'kind', ARGV[7], 'at', ARGV[8], 'case', ARGV[3])
        return cursor",
    )
});

/// Follows pointers to their cases: for each pointer key, the case's JSON or nil. The
/// case keys are derived from the pointers' values, under the same `{cases}` tag
/// (ARGV[1] is the prefix), so the script stays in one slot.
static POINTED_CASES: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local out = {}
        for i = 1, #KEYS do
          local id = redis.call('GET', KEYS[i])
          local json = false
          if id then json = redis.call('HGET', ARGV[1] .. 'c:' .. id, 'json') end
          out[i] = json
        end
        return out",
    )
});

/// What filing a message reads, at once: the message pointer (KEYS[1]; if set, nothing
/// else), the thread pointer and its case (KEYS[2]), the author's case (KEYS[3]).
static FILING_VIEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local filed = redis.call('GET', KEYS[1])
        if filed then return {filed} end
        local function case_of(id)
          if not id then return false end
          return redis.call('HGET', ARGV[1] .. 'c:' .. id, 'json')
        end
        local thread = redis.call('GET', KEYS[2])
        local author = redis.call('GET', KEYS[3])
        return {false, thread or false, case_of(thread), case_of(author)}",
    )
});

pub struct RedisCases {
    connection: RedisConn,
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for RedisCases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCases").finish_non_exhaustive()
    }
}

impl RedisCases {
    /// Connects, and follows the event stream on a connection of its own (a blocking
    /// read would stall every other command on a shared one) until `shutdown`.
    pub async fn connect(
        url: &str,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Self, RepoError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let connection = RedisConn::open(client.clone()).await.map_err(unavailable)?;
        let changes = watch::channel(0).0;
        let repo = RedisCases {
            connection,
            changes,
        };
        let head = repo.head().await?;
        repo.changes.send_replace(head);
        tokio::spawn(tail_events(client, repo.changes.clone(), head, shutdown));
        Ok(repo)
    }

    fn conn(&self) -> RedisConn {
        self.connection.clone()
    }

    /// Round trips to Redis made by this store (the event tail's blocking reads on
    /// their own connection aside).
    pub fn round_trips(&self) -> u64 {
        self.connection.round_trips()
    }

    /// The commit script, with the conversation entry stored by it when given.
    async fn commit_script(
        &self,
        commit: &Commit,
        entry: Option<&ConversationEntry>,
    ) -> Result<u64, RepoError> {
        let case = &commit.case;
        let json = serde_json::to_string(case).map_err(corrupt)?;
        let kind = commit.event.as_str();
        let at = commit
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(corrupt)?;
        let previous = commit.previous_status.unwrap_or(case.status);
        let resolved = case.status == CaseStatus::Resolved;
        let entry_json = match entry {
            Some(entry) => serde_json::to_string(entry).map_err(corrupt)?,
            None => String::new(),
        };
        let mut script = COMMIT.prepare_invoke();
        script
            .key(case_key(&case.id))
            .key(key("seq"))
            .key(key("events"))
            .key(key("deadlines"))
            .key(index_key(previous))
            .key(index_key(case.status))
            .key(redis_conversation::conversation_key(&case.id))
            .arg(commit.expected_version)
            .arg(case.version)
            .arg(&json)
            .arg(&case.id)
            .arg(case.index_score())
            .arg(
                case.next_deadline()
                    .map(|d| millis(d).to_string())
                    .unwrap_or_default(),
            )
            .arg(kind)
            .arg(at)
            .arg(EVENT_RETENTION)
            .arg(if resolved {
                RESOLVED_RETENTION.as_secs()
            } else {
                0
            })
            .arg(if previous != case.status { "1" } else { "0" })
            .arg(if resolved { RESOLVED_INDEX_CAP } else { 0 })
            .arg(entry.map(ConversationEntry::key).unwrap_or_default())
            .arg(entry_json);
        for op in &commit.pointers {
            match op {
                PointerOp::Set {
                    pointer,
                    expect,
                    ttl,
                } => {
                    let (mode, value) = expect_args(expect);
                    script
                        .key(key(&pointer.key()))
                        .arg("set")
                        .arg(mode)
                        .arg(value)
                        .arg(ttl.map_or(0, |t| t.as_secs().max(1)));
                }
                PointerOp::Clear { pointer } => {
                    script
                        .key(key(&pointer.key()))
                        .arg("clear")
                        .arg("")
                        .arg("")
                        .arg(0);
                }
            }
        }
        let cursor: i64 = script
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if cursor < 0 {
            return Err(RepoError::Conflict);
        }
        // Local watchers hear of it now; other processes through the tail.
        let cursor = cursor as u64;
        self.changes.send_if_modified(|newest| {
            let newer = cursor > *newest;
            *newest = (*newest).max(cursor);
            newer
        });
        Ok(cursor)
    }
}

fn case_of(json: Option<&str>) -> Result<Option<Case>, RepoError> {
    json.map(|j| serde_json::from_str(j).map_err(corrupt))
        .transpose()
}

/// Blocks on the event stream and publishes the newest cursor to local watchers, so a
/// change committed by any process reaches this one's watchers at once.
async fn tail_events(
    client: redis::Client,
    changes: watch::Sender<u64>,
    mut last: u64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    while !shutdown.is_cancelled() {
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                warn!(error = %e, "case event tail cannot connect, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        loop {
            let mut command = redis::cmd("XREAD");
            command
                .arg("COUNT")
                .arg(1000)
                .arg("BLOCK")
                .arg(2000)
                .arg("STREAMS")
                .arg(key("events"))
                .arg(format!("{last}-0"));
            let read = command.query_async::<Option<StreamReadReply>>(&mut conn);
            let reply = tokio::select! {
                _ = shutdown.cancelled() => return,
                reply = read => reply,
            };
            match reply {
                Ok(Some(reply)) => {
                    let newest = reply
                        .keys
                        .iter()
                        .flat_map(|k| k.ids.iter())
                        .filter_map(|id| cursor_of(&id.id))
                        .max();
                    if let Some(newest) = newest {
                        last = last.max(newest);
                        changes.send_if_modified(|known| {
                            let newer = last > *known;
                            *known = (*known).max(last);
                            newer
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(error = %e, "case event tail failed, reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn cursor_of(stream_id: &str) -> Option<u64> {
    stream_id.split('-').next()?.parse().ok()
}

fn event_of(entry: &StreamId) -> Result<CaseEvent, RepoError> {
    let cursor = cursor_of(&entry.id).ok_or_else(|| corrupt("event id"))?;
    let field = |name: &str| entry.get::<String>(name).ok_or_else(|| corrupt(name));
    let kind: CaseEventKind =
        serde_json::from_value(serde_json::Value::String(field("kind")?)).map_err(corrupt)?;
    let at = OffsetDateTime::parse(
        &field("at")?,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(corrupt)?;
    let case: Case = serde_json::from_str(&field("case")?).map_err(corrupt)?;
    Ok(CaseEvent {
        cursor,
        kind,
        case,
        at,
    })
}

fn expect_args(expect: &Expect) -> (&'static str, String) {
    match expect {
        Expect::Any => ("any", String::new()),
        Expect::Absent => ("absent", String::new()),
        Expect::Value(v) => ("value", v.clone()),
    }
}

#[async_trait]
impl CaseRepo for RedisCases {
    async fn get(&self, id: &str) -> Result<Option<Case>, RepoError> {
        let json: Option<String> = redis::cmd("HGET")
            .arg(case_key(id))
            .arg("json")
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        json.map(|j| serde_json::from_str(&j).map_err(corrupt))
            .transpose()
    }

    async fn pointer(&self, pointer: &Pointer) -> Result<Option<String>, RepoError> {
        redis::cmd("GET")
            .arg(key(&pointer.key()))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn commit(&self, commit: &Commit) -> Result<u64, RepoError> {
        self.commit_script(commit, None).await
    }

    async fn commit_with_entry(
        &self,
        commit: &Commit,
        entry: &ConversationEntry,
    ) -> Result<u64, RepoError> {
        self.commit_script(commit, Some(entry)).await
    }

    async fn pointed_cases(&self, pointers: &[Pointer]) -> Result<Vec<Option<Case>>, RepoError> {
        if pointers.is_empty() {
            return Ok(Vec::new());
        }
        let mut script = POINTED_CASES.prepare_invoke();
        for pointer in pointers {
            script.key(key(&pointer.key()));
        }
        let found: Vec<Option<String>> = script
            .arg(PREFIX)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        found.iter().map(|json| case_of(json.as_deref())).collect()
    }

    async fn filing_view(
        &self,
        message: &Pointer,
        thread: &Pointer,
        author: &Pointer,
    ) -> Result<FilingView, RepoError> {
        let found: Vec<Option<String>> = FILING_VIEW
            .key(key(&message.key()))
            .key(key(&thread.key()))
            .key(key(&author.key()))
            .arg(PREFIX)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut found = found.into_iter();
        let filed = found.next().flatten();
        if filed.is_some() {
            return Ok(FilingView {
                filed,
                ..FilingView::default()
            });
        }
        let thread_held = found.next().flatten();
        let thread_case = case_of(found.next().flatten().as_deref())?;
        let author_case = case_of(found.next().flatten().as_deref())?;
        Ok(FilingView {
            filed: None,
            thread_held,
            thread_case,
            author_case,
        })
    }

    async fn list(&self, status: CaseStatus, limit: usize) -> Result<Vec<Case>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(index_key(status))
            .arg(0)
            .arg(limit as i64 - 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGET").arg(case_key(id)).arg("json");
        }
        let found: Vec<Option<String>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        found
            .into_iter()
            .flatten()
            .map(|j| serde_json::from_str(&j).map_err(corrupt))
            .filter(|c: &Result<Case, _>| c.as_ref().map_or(true, |c| c.status == status))
            .collect()
    }

    async fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<String>, RepoError> {
        redis::cmd("ZRANGEBYSCORE")
            .arg(key("deadlines"))
            .arg("-inf")
            .arg(millis(now))
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn events_after(&self, cursor: u64, limit: usize) -> Result<Vec<CaseEvent>, RepoError> {
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(key("events"))
            .arg(format!("{}-0", cursor + 1))
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let events = reply
            .ids
            .iter()
            .map(event_of)
            .collect::<Result<Vec<_>, _>>()?;
        let first = match events.first() {
            Some(first) => Some(first.cursor),
            // Nothing after the cursor: still expired if the log's oldest entry is
            // beyond it (everything in between was trimmed).
            None => {
                let oldest: StreamRangeReply = redis::cmd("XRANGE")
                    .arg(key("events"))
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut self.conn())
                    .await
                    .map_err(unavailable)?;
                oldest.ids.first().and_then(|e| cursor_of(&e.id))
            }
        };
        let expired = first.is_some_and(|first| first > cursor + 1);
        if expired {
            return Err(RepoError::CursorExpired(cursor));
        }
        Ok(events)
    }

    async fn head(&self) -> Result<u64, RepoError> {
        let head: Option<u64> = redis::cmd("GET")
            .arg(key("seq"))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(head.unwrap_or(0))
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    async fn ping(&self) -> Result<(), RepoError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn put_entry(&self, case_id: &str, entry: &ConversationEntry) -> Result<(), RepoError> {
        redis_conversation::put(self.conn(), case_id, entry).await
    }

    async fn entries(&self, case_id: &str) -> Result<Vec<ConversationEntry>, RepoError> {
        redis_conversation::read(self.conn(), case_id).await
    }

    async fn expire_entries(
        &self,
        case_id: &str,
        after: Option<Duration>,
    ) -> Result<(), RepoError> {
        redis_conversation::expire(self.conn(), case_id, after).await
    }

    async fn purge_entries(&self, case_id: &str) -> Result<bool, RepoError> {
        redis_conversation::purge(self.conn(), case_id).await
    }
}
