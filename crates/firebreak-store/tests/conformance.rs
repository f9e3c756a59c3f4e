//! One conformance suite for the store port: every test body runs against the in-memory
//! adapter and against real Redis (a private `redis-server` per test). The `redis_only`
//! module covers what only a real server can do: crash, restart and reconnect.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use firebreak_core::{
    Author, Channel, Classification, HistoryEntry, Language, Message, MessageId, MessageRecord,
    Outcome, Priority, Route, Stage, Visibility,
};
use firebreak_store::conversation::{ConversationMemory, Marks, RecallWindows};
use firebreak_store::memory::MemoryStore;
use firebreak_store::redis_store::RedisStore;
use firebreak_store::{MessageLog, OutcomeWrite, Reopen};
use firebreak_testkit::RedisServer;
use time::OffsetDateTime;

#[path = "conformance/merged.rs"]
mod merged;
use merged::*;

/// Upper bound for one test, so a hang fails instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(45);

/// The port under test, as one object per adapter. (Cases moved to
/// `firebreak-escalation`, with a conformance suite of their own.)
trait Store: MessageLog + ConversationMemory {}
impl<T: MessageLog + ConversationMemory> Store for T {}

/// A store under test, and the server behind it (kept alive for the test's duration).
struct Fixture {
    store: Arc<dyn Store>,
    _server: Option<RedisServer>,
}

impl Fixture {
    async fn memory() -> anyhow::Result<Self> {
        Ok(Fixture {
            store: Arc::new(MemoryStore::new()),
            _server: None,
        })
    }

    async fn redis() -> anyhow::Result<Self> {
        let server = RedisServer::start().await?;
        let store = RedisStore::connect(&server.url()).await?;
        Ok(Fixture {
            store: Arc::new(store),
            _server: Some(server),
        })
    }
}

/// Runs each body once per adapter, as `memory::<name>` and `redis::<name>`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let fixture = super::Fixture::memory().await?;
                    tokio::time::timeout(super::TEST_TIMEOUT, super::$name(fixture.store.clone()))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let fixture = super::Fixture::redis().await?;
                    tokio::time::timeout(super::TEST_TIMEOUT, super::$name(fixture.store.clone()))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
    };
}

conformance!(
    unknown_message_is_not_known_and_has_no_record,
    accepted_message_is_known_with_one_accepted_entry,
    record_accepted_is_idempotent,
    concurrent_accepts_of_one_message_leave_a_complete_record,
    record_stage_appends_history_and_sets_status,
    record_stage_of_unknown_message_creates_nothing,
    first_outcome_wins,
    outcome_of_unknown_message_is_not_recorded,
    finishing_a_message_without_a_record_creates_it_with_the_outcome,
    unfinished_lists_open_messages_accepted_before_the_cutoff,
    record_stage_after_outcome_keeps_the_terminal_status,
    author_memory_counts_complaints_and_first_line_messages_apart,
    author_memory_is_kept_per_channel,
    a_dead_letter_reopens_for_a_replay_and_keeps_its_history,
    a_batch_of_records_is_each_accepted_once,
    classified_creates_a_record_ingest_never_wrote,
    classified_after_an_outcome_keeps_it,
    note_classified_writes_the_memory_and_the_record,
);

// ---------------------------------------------------------------------------------------
// Helpers

fn message(channel: Channel, thread: &str, external_id: &str) -> Message {
    let now = OffsetDateTime::now_utc();
    Message {
        id: MessageId::derive(channel, external_id),
        channel,
        external_id: external_id.to_string(),
        thread_id: thread.to_string(),
        visibility: Visibility::Public,
        author: Author {
            id: "author-1".into(),
            ..Author::default()
        },
        text: "where is my order?".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: now,
        received_at: now,
        mail: None,
        edit_of: None,
    }
}

fn classification(priority: Priority, reasons: &[&str]) -> Classification {
    Classification {
        language: Language::En,
        language_confidence: 0.9,
        sentiment: -0.25,
        route: Route::Escalate,
        priority,
        key_question: Some("order_status".into()),
        key_question_confidence: 0.75,
        flags: Vec::new(),
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        confidence: 0.5,
        linked_case_id: None,
        playbook_version: "test-1".into(),
        first_line: None,
    }
}

fn entry(stage: Stage, detail: &str) -> HistoryEntry {
    HistoryEntry {
        at: OffsetDateTime::now_utc(),
        stage,
        detail: detail.into(),
    }
}

fn stages(record: &MessageRecord) -> Vec<Stage> {
    record.history.iter().map(|h| h.stage).collect()
}

async fn record(store: &Arc<dyn Store>, id: MessageId) -> anyhow::Result<MessageRecord> {
    store.get(id).await?.context("record missing")
}

// ---------------------------------------------------------------------------------------
// Message log

async fn unknown_message_is_not_known_and_has_no_record(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let id = MessageId::derive(Channel::Web, "never-seen");
    assert!(!store.is_known(id).await?);
    assert_eq!(store.get(id).await?, None);
    Ok(())
}

async fn accepted_message_is_known_with_one_accepted_entry(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let m = message(Channel::Instagram, "thread-1", "ext-1");
    store.record_accepted(&m).await?;
    assert!(store.is_known(m.id).await?);
    let r = record(&store, m.id).await?;
    let expected = MessageRecord {
        id: m.id,
        channel: m.channel,
        external_id: m.external_id.clone(),
        thread_id: m.thread_id.clone(),
        status: Stage::Accepted,
        classification: None,
        outcome: None,
        history: vec![HistoryEntry {
            at: m.received_at,
            stage: Stage::Accepted,
            detail: String::new(),
        }],
    };
    assert_eq!(r, expected);
    Ok(())
}

async fn record_accepted_is_idempotent(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let m = message(Channel::Whatsapp, "thread-1", "ext-1");
    store.record_accepted(&m).await?;
    store
        .record_stage(m.id, &entry(Stage::Classified, ""), None)
        .await?;
    let before = record(&store, m.id).await?;

    // The platform retries the webhook: the second accept changes nothing.
    let mut retry = m.clone();
    retry.received_at += time::Duration::seconds(30);
    store.record_accepted(&retry).await?;
    assert_eq!(record(&store, m.id).await?, before);
    assert_eq!(stages(&before), [Stage::Accepted, Stage::Classified]);
    Ok(())
}

async fn concurrent_accepts_of_one_message_leave_a_complete_record(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    // Two ingest replicas get the same platform retry at once; whichever returns first
    // must already see the whole record.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let m = message(Channel::Telegram, "thread-race", &format!("race-{i}"));
        for _ in 0..2 {
            let (store, m) = (store.clone(), m.clone());
            tasks.spawn(async move {
                store.record_accepted(&m).await?;
                let r = store.get(m.id).await?.context("accepted but missing")?;
                ensure!(r.channel == m.channel && r.external_id == m.external_id);
                ensure!(stages(&r) == [Stage::Accepted], "history {:?}", r.history);
                anyhow::Ok(())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn record_stage_appends_history_and_sets_status(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let m = message(Channel::Messenger, "thread-1", "ext-1");
    store.record_accepted(&m).await?;
    let c = classification(Priority::P3, &["question"]);
    let classified = entry(Stage::Classified, "");
    store.record_stage(m.id, &classified, Some(&c)).await?;
    let r = record(&store, m.id).await?;
    assert_eq!(r.status, Stage::Classified);
    assert_eq!(r.classification.as_ref(), Some(&c));
    assert_eq!(r.history.last(), Some(&classified));

    let deferred = entry(Stage::Deferred, "rate_limited");
    store.record_stage(m.id, &deferred, None).await?;
    let r = record(&store, m.id).await?;
    assert_eq!(r.status, Stage::Deferred);
    assert_eq!(
        r.classification.as_ref(),
        Some(&c),
        "a stage without classification keeps the previous one"
    );
    assert_eq!(
        stages(&r),
        [Stage::Accepted, Stage::Classified, Stage::Deferred]
    );
    assert_eq!(r.history[2], deferred);
    Ok(())
}

async fn record_stage_of_unknown_message_creates_nothing(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let id = MessageId::derive(Channel::Web, "ghost");
    store
        .record_stage(id, &entry(Stage::Classified, ""), None)
        .await?;
    assert!(!store.is_known(id).await?);
    assert_eq!(store.get(id).await?, None);
    Ok(())
}

async fn first_outcome_wins(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let m = message(Channel::X, "thread-1", "ext-1");
    store.record_accepted(&m).await?;
    let replied = Outcome::Replied {
        variant: "a".into(),
        text: "On it!".into(),
        connector: "x".into(),
    };
    let at = OffsetDateTime::now_utc();
    assert_eq!(
        store.record_outcome(m.id, &replied, at).await?,
        OutcomeWrite::Recorded
    );
    let after_first = record(&store, m.id).await?;
    assert_eq!(after_first.status, Stage::Replied);
    assert_eq!(after_first.outcome.as_ref(), Some(&replied));
    assert_eq!(stages(&after_first), [Stage::Accepted, Stage::Replied]);
    assert_eq!(after_first.history[1].at, at);

    // A redelivered worker tries to finish the message another way.
    let ignored = Outcome::Ignored {
        reason: "spam".into(),
    };
    assert_eq!(
        store
            .record_outcome(m.id, &ignored, OffsetDateTime::now_utc())
            .await?,
        OutcomeWrite::AlreadyRecorded
    );
    assert_eq!(
        store.record_outcome(m.id, &replied, at).await?,
        OutcomeWrite::AlreadyRecorded
    );
    assert_eq!(record(&store, m.id).await?, after_first, "nothing changed");
    Ok(())
}

async fn outcome_of_unknown_message_is_not_recorded(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let id = MessageId::derive(Channel::Web, "ghost");
    let outcome = Outcome::Ignored {
        reason: "spam".into(),
    };
    assert_eq!(
        store
            .record_outcome(id, &outcome, OffsetDateTime::now_utc())
            .await?,
        OutcomeWrite::Missing
    );
    assert_eq!(store.get(id).await?, None);
    Ok(())
}

async fn finishing_a_message_without_a_record_creates_it_with_the_outcome(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    // Ingest's post-ack record write failed: the stage still holds the message.
    let m = message(Channel::Web, "thread-1", "no-record");
    let outcome = Outcome::Ignored {
        reason: "spam".into(),
    };
    assert!(
        store
            .finish(&m, &outcome, OffsetDateTime::now_utc())
            .await?
    );
    let r = record(&store, m.id).await?;
    assert_eq!(r.outcome.as_ref(), Some(&outcome));
    assert_eq!(stages(&r), [Stage::Accepted, Stage::Ignored]);
    assert!(
        !store
            .finish(&m, &outcome, OffsetDateTime::now_utc())
            .await?,
        "a second finish is a repeat, not a new outcome"
    );
    Ok(())
}

async fn unfinished_lists_open_messages_accepted_before_the_cutoff(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let hour = time::Duration::hours(1);
    let mut old = message(Channel::X, "thread-1", "old-open");
    old.received_at -= hour;
    let mut done = message(Channel::X, "thread-1", "old-done");
    done.received_at -= hour;
    let fresh = message(Channel::X, "thread-1", "fresh-open");
    for m in [&old, &done, &fresh] {
        store.record_accepted(m).await?;
    }
    let ignored = Outcome::Ignored {
        reason: "spam".into(),
    };
    store
        .record_outcome(done.id, &ignored, OffsetDateTime::now_utc())
        .await?;
    let cutoff = OffsetDateTime::now_utc() - time::Duration::minutes(10);
    assert_eq!(store.unfinished(cutoff, 100).await?, [old.id]);
    // Once finished, it is no longer listed.
    store
        .record_outcome(old.id, &ignored, OffsetDateTime::now_utc())
        .await?;
    assert_eq!(store.unfinished(cutoff, 100).await?, []);
    store.forget_unfinished(fresh.id).await?;
    Ok(())
}

async fn record_stage_after_outcome_keeps_the_terminal_status(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let m = message(Channel::Email, "thread-1", "ext-1");
    store.record_accepted(&m).await?;
    let outcome = Outcome::Escalated {
        case_id: "case-1".into(),
    };
    assert_eq!(
        store
            .record_outcome(m.id, &outcome, OffsetDateTime::now_utc())
            .await?,
        OutcomeWrite::Recorded
    );
    // A late waypoint from a slow, redelivered worker.
    store
        .record_stage(m.id, &entry(Stage::Classified, ""), None)
        .await?;
    let r = record(&store, m.id).await?;
    assert_eq!(r.status, Stage::Escalated);
    assert_eq!(r.outcome, Some(outcome));
    assert_eq!(
        stages(&r),
        [Stage::Accepted, Stage::Escalated, Stage::Classified]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Real Redis only

mod redis_only {
    use super::*;

    /// Retries `op` until it succeeds, for up to `within`.
    async fn eventually<T, F, Fut>(within: Duration, mut op: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, firebreak_store::StoreError>>,
    {
        let started = Instant::now();
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(_) if started.elapsed() < within => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => anyhow::bail!("still failing after {within:?}: {e}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_writes_survive_a_crash() -> anyhow::Result<()> {
        let mut server = RedisServer::start().await?;
        let store = RedisStore::connect(&server.url()).await?;
        let m = message(Channel::Whatsapp, "thread-crash", "crash-1");
        store.record_accepted(&m).await?;
        let c = classification(Priority::P1, &["threat"]);
        store
            .record_stage(m.id, &entry(Stage::Classified, ""), Some(&c))
            .await?;
        // Cases live in firebreak-escalation (its own crash test); any id does here.
        let outcome = Outcome::Escalated {
            case_id: "case-crash".into(),
        };
        assert_eq!(
            store
                .record_outcome(m.id, &outcome, OffsetDateTime::now_utc())
                .await?,
            OutcomeWrite::Recorded
        );
        let before = store.get(m.id).await?.context("record missing")?;

        server.kill().await?;
        server.restart().await?;

        // The same store object, reconnected: nothing acknowledged was lost.
        let after = eventually(Duration::from_secs(15), || store.get(m.id)).await?;
        assert_eq!(after, Some(before));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn store_fails_while_down_and_reconnects_after_restart() -> anyhow::Result<()> {
        let mut server = RedisServer::start().await?;
        let store = RedisStore::connect(&server.url()).await?;
        store.ping().await?;

        server.kill().await?;
        let m = message(Channel::Web, "thread-down", "down-1");
        for attempt in 0..3 {
            let outcome = tokio::time::timeout(Duration::from_secs(10), store.record_accepted(&m))
                .await
                .context("a write neither failed nor succeeded within 10s")?;
            assert!(
                outcome.is_err(),
                "write {attempt} succeeded with redis down"
            );
        }
        assert!(store.ping().await.is_err());

        server.restart().await?;
        eventually(Duration::from_secs(15), || store.ping()).await?;
        store.record_accepted(&m).await?;
        assert!(store.is_known(m.id).await?);
        Ok(())
    }
}

/// Complaints and the first line's messages are two tallies over two windows; a
/// redelivered message does not count itself.
async fn author_memory_counts_complaints_and_first_line_messages_apart(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let retention = Duration::from_secs(7 * 24 * 3600);
    let base = OffsetDateTime::now_utc() - time::Duration::hours(10);
    let at = |hours: i64, id: &str| {
        let mut m = message(Channel::Messenger, "dm-1", id);
        m.visibility = Visibility::Private;
        m.received_at = base + time::Duration::hours(hours);
        m
    };
    let noted = [
        (at(0, "old"), true, true),
        (at(8, "a"), true, true),
        (at(9, "b"), false, true),
        (at(9, "c"), true, false),
    ];
    for (m, complaint, first_line) in &noted {
        let marks = Marks {
            complaint: *complaint,
            first_line: *first_line,
        };
        store.note(m, marks, retention).await?;
        // Noting twice (a redelivery) changes nothing.
        store.note(m, marks, retention).await?;
    }
    let windows = RecallWindows {
        complaints: Duration::from_secs(24 * 3600),
        first_line: Duration::from_secs(4 * 3600),
    };
    let next = at(10, "next");
    let recall = store.recall(&next, windows).await?;
    ensure!(recall.recent_complaints == 3, "{recall:?}");
    ensure!(
        recall.recent_first_line == 2,
        "the first-line window leaves the old one out: {recall:?}"
    );
    ensure!(
        recall.last_visibility == Some(Visibility::Private),
        "{recall:?}"
    );
    let again = store.recall(&noted[1].0, windows).await?;
    ensure!(
        again.recent_first_line == 1 && again.recent_complaints == 2,
        "a redelivered message counts the others, not itself: {again:?}"
    );
    Ok(())
}

async fn author_memory_is_kept_per_channel(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let retention = Duration::from_secs(7 * 24 * 3600);
    let windows = RecallWindows {
        complaints: Duration::from_secs(24 * 3600),
        first_line: Duration::from_secs(4 * 3600),
    };
    // The same numeric id on two platforms: two different people.
    let on_x = message(Channel::X, "thread-x", "x-1");
    let on_telegram = message(Channel::Telegram, "thread-t", "t-1");
    assert_eq!(on_x.author.id, on_telegram.author.id);
    let marks = Marks {
        complaint: true,
        first_line: true,
    };
    store.note(&on_x, marks, retention).await?;
    let elsewhere = store.recall(&on_telegram, windows).await?;
    assert_eq!(elsewhere.recent_complaints, 0, "{elsewhere:?}");
    assert_eq!(elsewhere.recent_first_line, 0, "{elsewhere:?}");
    assert_eq!(elsewhere.last_visibility, None);
    let again_on_x = message(Channel::X, "thread-x", "x-2");
    let same = store.recall(&again_on_x, windows).await?;
    assert_eq!(same.recent_complaints, 1, "{same:?}");
    Ok(())
}

async fn a_dead_letter_reopens_for_a_replay_and_keeps_its_history(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let m = message(Channel::Telegram, "thread-dlq", "ext-dlq");
    let replayed = entry(Stage::Replayed, "dead letter 7 replayed by ops: fixed");
    ensure!(store.reopen_dead_letter(m.id, &replayed).await? == Reopen::Missing);
    store.record_accepted(&m).await?;
    let dead = Outcome::DeadLettered {
        stage: "reply".into(),
        reason: "store down".into(),
    };
    assert_eq!(
        store
            .record_outcome(m.id, &dead, OffsetDateTime::now_utc())
            .await?,
        OutcomeWrite::Recorded
    );
    assert_eq!(
        store.reopen_dead_letter(m.id, &replayed).await?,
        Reopen::Reopened
    );
    let reopened = record(&store, m.id).await?;
    assert_eq!(
        reopened.outcome, None,
        "the new attempt may record its outcome"
    );
    assert_eq!(reopened.status, Stage::Replayed);
    assert_eq!(
        stages(&reopened),
        [Stage::Accepted, Stage::DeadLettered, Stage::Replayed],
        "history kept"
    );
    let ignored = Outcome::Ignored {
        reason: "spam".into(),
    };
    assert_eq!(
        store
            .record_outcome(m.id, &ignored, OffsetDateTime::now_utc())
            .await?,
        OutcomeWrite::Recorded
    );
    // Finished by the replay: a second replay changes nothing.
    assert_eq!(
        store.reopen_dead_letter(m.id, &replayed).await?,
        Reopen::Finished
    );
    assert_eq!(record(&store, m.id).await?.outcome, Some(ignored));
    Ok(())
}
