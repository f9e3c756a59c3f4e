//! The writes that merge several steps into one round trip on Redis: ingest's batched
//! records and classify's one write after its decision. Each behaves as its steps did
//! one after the other.

use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use firebreak_core::{Channel, Outcome, Priority, Stage, Visibility};
use firebreak_store::conversation::{Marks, RecallWindows};
use time::OffsetDateTime;

use super::{Store, classification, entry, message, record, stages};

pub async fn a_batch_of_records_is_each_accepted_once(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let batch: Vec<_> = (0..3)
        .map(|n| message(Channel::Telegram, "t", &format!("batch-{n}")))
        .collect();
    store.record_accepted_batch(&batch).await?;
    // A batch retried after a lost answer changes nothing.
    store.record_accepted_batch(&batch).await?;
    for m in &batch {
        ensure!(store.is_known(m.id).await?);
        let r = record(&store, m.id).await?;
        ensure!(stages(&r) == [Stage::Accepted], "{:?}", stages(&r));
    }
    let cutoff = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    ensure!(store.unfinished(cutoff, 10).await?.len() == 3);
    Ok(())
}

pub async fn classified_creates_a_record_ingest_never_wrote(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let m = message(Channel::Messenger, "thread-9", "never-accepted");
    let c = classification(Priority::P2, &["press"]);
    let classified = entry(Stage::Classified, "route escalate P2");
    store.record_classified(&m, &classified, &c).await?;
    let r = record(&store, m.id).await?;
    ensure!(stages(&r) == [Stage::Accepted, Stage::Classified]);
    ensure!(r.status == Stage::Classified);
    ensure!(r.classification.as_ref() == Some(&c));
    ensure!(r.thread_id == "thread-9");
    let cutoff = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    ensure!(store.unfinished(cutoff, 10).await? == vec![m.id]);
    Ok(())
}

pub async fn classified_after_an_outcome_keeps_it(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let m = message(Channel::Messenger, "thread-8", "finished-first");
    store.record_accepted(&m).await?;
    let ignored = Outcome::Ignored {
        reason: "noise".into(),
    };
    store
        .record_outcome(m.id, &ignored, OffsetDateTime::now_utc())
        .await?;
    let c = classification(Priority::P4, &[]);
    store
        .record_classified(&m, &entry(Stage::Classified, ""), &c)
        .await?;
    let r = record(&store, m.id).await?;
    ensure!(r.status == Stage::Ignored, "{:?}", r.status);
    ensure!(r.outcome == Some(ignored));
    Ok(())
}

pub async fn note_classified_writes_the_memory_and_the_record(
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let retention = Duration::from_secs(24 * 3600);
    let mut first = message(Channel::Telegram, "dm-7", "complaint-1");
    first.visibility = Visibility::Private;
    let c = classification(Priority::P3, &["complaint"]);
    let marks = Marks {
        complaint: true,
        first_line: false,
    };
    let classified = entry(Stage::Classified, "");
    store
        .note_classified(&first, marks, retention, &classified, &c)
        .await?;
    let r = record(&store, first.id).await?;
    ensure!(stages(&r) == [Stage::Accepted, Stage::Classified]);
    let windows = RecallWindows {
        complaints: retention,
        first_line: retention,
    };
    let next = message(Channel::Telegram, "dm-7", "complaint-2");
    let recall = store.recall(&next, windows).await?;
    ensure!(recall.recent_complaints == 1, "{recall:?}");
    ensure!(recall.last_visibility == Some(Visibility::Private));
    Ok(())
}
