//! Pipelines call their scripts by hash only. A server that lost its script cache (a
//! restart, `SCRIPT FLUSH`) answers NOSCRIPT; the connection loads its scripts again and
//! the write goes through, once.

use firebreak_core::{
    Author, Channel, HistoryEntry, Message, MessageId, Outcome, Stage, Visibility,
};
use firebreak_store::MessageLog;
use firebreak_store::redis_store::RedisStore;
use firebreak_testkit::RedisServer;
use time::OffsetDateTime;

fn message(external_id: &str) -> Message {
    let now = OffsetDateTime::now_utc();
    Message {
        id: MessageId::derive(Channel::Telegram, external_id),
        channel: Channel::Telegram,
        external_id: external_id.to_string(),
        thread_id: "thread".into(),
        visibility: Visibility::Private,
        author: Author {
            id: "author".into(),
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

async fn flush_scripts(server: &RedisServer) -> anyhow::Result<()> {
    let client = redis::Client::open(server.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .exec_async(&mut conn)
        .await?;
    Ok(())
}

#[tokio::test]
async fn writes_go_through_after_the_server_lost_its_scripts() -> anyhow::Result<()> {
    let server = RedisServer::start().await?;
    let store = RedisStore::connect(&server.url()).await?;

    flush_scripts(&server).await?;
    let first = message("m1");
    let before = store.round_trips();
    store
        .record_accepted_batch(std::slice::from_ref(&first))
        .await?;
    // Refused, the scripts loaded, sent again: the flush was seen and recovered from.
    assert_eq!(store.round_trips() - before, 3);
    let entry = HistoryEntry {
        at: OffsetDateTime::now_utc(),
        stage: Stage::Classified,
        detail: "route reply P4".into(),
    };
    store.record_stage(first.id, &entry, None).await?;

    flush_scripts(&server).await?;
    let done = Outcome::Ignored {
        reason: "test".into(),
    };
    store
        .record_outcome(first.id, &done, OffsetDateTime::now_utc())
        .await?;

    let record = store.get(first.id).await?.expect("the record exists");
    assert_eq!(record.outcome, Some(done));
    // Accepted once, classified once, finished once: no step ran twice.
    let stages: Vec<Stage> = record.history.iter().map(|h| h.stage).collect();
    assert_eq!(
        stages,
        vec![Stage::Accepted, Stage::Classified, Stage::Ignored]
    );
    Ok(())
}
