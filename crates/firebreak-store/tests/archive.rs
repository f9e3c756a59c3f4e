//! The inbound archive's conformance suite, against the in-memory adapter and a real
//! redis-server: messages come back oldest first within the window asked for, a message
//! is kept once, the count and age bounds hold, and a purge removes texts for good.

use std::sync::Arc;
use std::time::Duration;

use firebreak_core::{Author, Channel, Message, MessageId, Visibility};
use firebreak_store::archive::{ArchiveLimits, ArchiveWriter, InboundArchive, MemoryArchive};
use firebreak_store::redis_archive::RedisArchive;
use firebreak_store::redis_store::RedisStore;
use firebreak_testkit::RedisServer;
use time::OffsetDateTime;

struct Fixture {
    archive: Arc<dyn InboundArchive>,
    _server: Option<RedisServer>,
}

async fn memory(limits: ArchiveLimits) -> anyhow::Result<Fixture> {
    Ok(Fixture {
        archive: Arc::new(MemoryArchive::new(limits)),
        _server: None,
    })
}

async fn redis(limits: ArchiveLimits) -> anyhow::Result<Fixture> {
    let server = RedisServer::start().await?;
    let store = RedisStore::connect(&server.url()).await?;
    Ok(Fixture {
        archive: Arc::new(RedisArchive::new(store, limits)),
        _server: Some(server),
    })
}

macro_rules! both_adapters {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(super::memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(super::redis).await
                }
            )*
        }
    };
}

both_adapters!(
    recent_messages_come_back_oldest_first_and_once,
    the_count_bound_drops_the_oldest,
    messages_past_the_window_are_gone,
    a_purge_removes_the_messages,
    the_writer_stores_what_ingest_offers,
);

type Start<F> = fn(ArchiveLimits) -> F;

fn message(n: usize, age: Duration) -> Message {
    let at = OffsetDateTime::now_utc() - age;
    let external_id = format!("m-{n}");
    Message {
        id: MessageId::derive(Channel::Telegram, &external_id),
        channel: Channel::Telegram,
        external_id,
        thread_id: format!("t-{n}"),
        visibility: Visibility::Private,
        author: Author {
            id: format!("a-{n}"),
            ..Author::default()
        },
        text: format!("where is my order {n}"),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: at,
        received_at: at,
        mail: None,
        edit_of: None,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn day() -> ArchiveLimits {
    ArchiveLimits {
        window: 24 * HOUR,
        max_messages: 100,
    }
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

async fn recent_messages_come_back_oldest_first_and_once<F>(start: Start<F>) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Fixture>>,
{
    let f = start(day()).await?;
    let batch = [
        message(1, 3 * HOUR),
        message(2, 2 * HOUR),
        message(3, Duration::from_secs(60)),
    ];
    f.archive.keep(&batch).await?;
    // A redelivery offers the same message again: kept once.
    f.archive.keep(&batch[2..]).await?;
    let all = f.archive.recent(24 * HOUR, 100).await?;
    assert_eq!(
        texts(&all),
        [
            "where is my order 1",
            "where is my order 2",
            "where is my order 3"
        ]
    );
    assert_eq!(all[2], batch[2], "a message comes back whole");
    let last_two_hours = f
        .archive
        .recent(2 * HOUR + Duration::from_secs(60), 100)
        .await?;
    assert_eq!(last_two_hours.len(), 2);
    let newest = f.archive.recent(24 * HOUR, 1).await?;
    assert_eq!(texts(&newest), ["where is my order 3"]);
    Ok(())
}

async fn the_count_bound_drops_the_oldest<F>(start: Start<F>) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Fixture>>,
{
    let f = start(ArchiveLimits {
        max_messages: 3,
        ..day()
    })
    .await?;
    let batch: Vec<Message> = (0..5)
        .map(|n| message(n, Duration::from_secs(600 - 60 * n as u64)))
        .collect();
    f.archive.keep(&batch).await?;
    let kept = f.archive.recent(24 * HOUR, 100).await?;
    assert_eq!(
        texts(&kept),
        [
            "where is my order 2",
            "where is my order 3",
            "where is my order 4"
        ]
    );
    Ok(())
}

async fn messages_past_the_window_are_gone<F>(start: Start<F>) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Fixture>>,
{
    let f = start(ArchiveLimits {
        window: HOUR,
        max_messages: 100,
    })
    .await?;
    f.archive
        .keep(&[message(1, 2 * HOUR), message(2, Duration::from_secs(60))])
        .await?;
    // Asking for more than the window gives no more than the window.
    let kept = f.archive.recent(24 * HOUR, 100).await?;
    assert_eq!(texts(&kept), ["where is my order 2"]);
    Ok(())
}

async fn a_purge_removes_the_messages<F>(start: Start<F>) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Fixture>>,
{
    let f = start(day()).await?;
    let batch = [message(1, HOUR), message(2, HOUR)];
    f.archive.keep(&batch).await?;
    assert_eq!(f.archive.purge(&[batch[0].id]).await?, 1);
    assert_eq!(f.archive.purge(&[batch[0].id]).await?, 0);
    let kept = f.archive.recent(24 * HOUR, 100).await?;
    assert_eq!(texts(&kept), ["where is my order 2"]);
    Ok(())
}

async fn the_writer_stores_what_ingest_offers<F>(start: Start<F>) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Fixture>>,
{
    let f = start(day()).await?;
    let writer = ArchiveWriter::spawn(f.archive.clone());
    for n in 0..50 {
        writer.offer(&message(n, Duration::from_secs(60)));
    }
    let stored = firebreak_testkit::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            f.archive
                .recent(HOUR, 100)
                .await
                .is_ok_and(|m| m.len() == 50)
        },
    )
    .await;
    assert!(stored.is_ok(), "the writer stored every offered message");
    assert_eq!(writer.dropped(), 0);
    Ok(())
}
