//! The embedded store forgets what Redis would have expired: message records after the
//! retention counted from acceptance, authors' memory after the retention from their
//! last message. So `firebreak run` holds a bounded amount however long it is up.

use std::time::Duration;

use firebreak_core::{Author, Channel, Message, MessageId, Visibility};
use firebreak_store::MessageLog;
use firebreak_store::conversation::{ConversationMemory, Marks, RecallWindows};
use firebreak_store::memory::MemoryStore;
use time::OffsetDateTime;

fn message(external_id: &str, author: &str, at: OffsetDateTime) -> Message {
    Message {
        id: MessageId::derive(Channel::Telegram, external_id),
        channel: Channel::Telegram,
        external_id: external_id.to_string(),
        thread_id: format!("thread-{author}"),
        visibility: Visibility::Private,
        author: Author {
            id: author.to_string(),
            ..Author::default()
        },
        text: "where is my order?".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: at,
        received_at: at,
        mail: None,
        edit_of: None,
    }
}

#[tokio::test]
async fn records_past_the_retention_are_dropped_and_recent_ones_stay() -> anyhow::Result<()> {
    let store = MemoryStore::with_retention(Duration::from_secs(1));
    let now = OffsetDateTime::now_utc();
    let old: Vec<Message> = (0..5_000)
        .map(|i| message(&format!("old-{i}"), "a", now))
        .collect();
    for m in &old {
        store.record_accepted(m).await?;
    }
    assert_eq!(store.len(), 5_000);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let recent: Vec<Message> = (0..10)
        .map(|i| message(&format!("new-{i}"), "a", now))
        .collect();
    for m in &recent {
        store.record_accepted(m).await?;
    }
    assert_eq!(store.len(), 10, "only the records within the retention");
    assert!(store.get(old[0].id).await?.is_none());
    assert!(!store.is_known(old[4_999].id).await?);
    for m in &recent {
        assert!(store.get(m.id).await?.is_some(), "recent records readable");
    }
    Ok(())
}

#[tokio::test]
async fn authors_not_heard_from_within_the_retention_are_forgotten() -> anyhow::Result<()> {
    let store = MemoryStore::new();
    let retention = Duration::from_secs(60);
    let marks = Marks {
        complaint: true,
        first_line: false,
    };
    let start = OffsetDateTime::now_utc();
    for i in 0..1_000 {
        let m = message(&format!("early-{i}"), &format!("author-{i}"), start);
        store.note(&m, marks, retention).await?;
    }
    assert_eq!(store.authors_remembered(), 1_000);
    // Two minutes later, ten authors keep writing.
    let later = start + time::Duration::minutes(2);
    for i in 0..2_100 {
        let m = message(&format!("late-{i}"), &format!("regular-{}", i % 10), later);
        store.note(&m, marks, retention).await?;
    }
    assert_eq!(
        store.authors_remembered(),
        10,
        "the silent authors are gone"
    );
    let windows = RecallWindows {
        complaints: retention,
        first_line: retention,
    };
    let again = message("late-again", "regular-3", later);
    let recall = store.recall(&again, windows).await?;
    assert_eq!(
        recall.recent_complaints, 210,
        "recent authors are still recalled"
    );
    let silent = message("early-again", "author-7", later);
    assert_eq!(store.recall(&silent, windows).await?.recent_complaints, 0);
    Ok(())
}
