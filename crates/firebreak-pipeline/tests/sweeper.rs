//! The sweeper turns an accepted message that went silent without an outcome into a
//! counted dead letter, and leaves alone what may still be moving.

mod support;

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, ConsumerOptions, Envelope};
use firebreak_core::wire::encode_message;
use firebreak_core::{Channel, HistoryEntry, Message, Outcome, Stage, subjects};
use firebreak_pipeline::MESSAGE_ID_HEADER;
use firebreak_pipeline::dead_letters::{DeadLetters, DlqError};
use firebreak_pipeline::sweeper::Sweeper;
use firebreak_store::MessageLog;
use firebreak_store::memory::MemoryStore;
use firebreak_telemetry::Metrics;
use time::OffsetDateTime;

fn message(external_id: &str, accepted_ago: time::Duration) -> Message {
    support::message_at(
        Channel::Whatsapp,
        external_id,
        OffsetDateTime::now_utc() - accepted_ago,
    )
}

struct Fixture {
    bus: MemoryBus,
    log: Arc<MemoryStore>,
    metrics: Metrics,
    sweeper: Sweeper,
}

fn fixture() -> Fixture {
    let bus = MemoryBus::new();
    let log = Arc::new(MemoryStore::new());
    let metrics = Metrics::new();
    let mut sweeper = Sweeper::new(Arc::new(bus.clone()), log.clone(), metrics.clone());
    sweeper.bound = Duration::from_secs(600);
    Fixture {
        bus,
        log,
        metrics,
        sweeper,
    }
}

const TWO_HOURS: time::Duration = time::Duration::hours(2);

#[tokio::test]
async fn a_silent_message_without_an_outcome_is_dead_lettered_and_counted() {
    let f = fixture();
    let lost = message("lost", TWO_HOURS);
    f.log.record_accepted(&lost).await.unwrap();

    let swept = f.sweeper.sweep(OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(swept.dead_lettered, 1);

    let record = f.log.get(lost.id).await.unwrap().unwrap();
    assert!(matches!(
        record.outcome,
        Some(Outcome::DeadLettered { ref stage, .. }) if stage == "sweeper"
    ));
    assert_eq!(f.metrics.unfinished_swept_total(), 1, "counted");
    let dlq = DeadLetters {
        bus: Arc::new(f.bus.clone()),
        log: f.log.clone(),
    };
    let entries = dlq.list(10).await.unwrap();
    assert_eq!(entries.len(), 1, "listed for operators");
    assert_eq!(entries[0].message_id, lost.id.to_string());
    assert_eq!(entries[0].stage, "sweeper");
    assert_eq!(
        entries[0].original_subject,
        subjects::inbound(Channel::Whatsapp)
    );
    assert!(
        matches!(
            dlq.replay(entries[0].sequence, "ops", "try").await,
            Err(DlqError::NotReplayable(..))
        ),
        "no payload to replay"
    );

    // A second sweep finds nothing more to do.
    let again = f.sweeper.sweep(OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(again.dead_lettered, 0);
    assert_eq!(
        f.bus
            .stream_len(subjects::STREAM_DEAD_LETTER)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn recent_active_deferred_and_finished_messages_are_left_alone() {
    let f = fixture();
    let recent = message("recent", time::Duration::minutes(1));
    let active = message("active", TWO_HOURS);
    let deferred = message("deferred", TWO_HOURS);
    let finished = message("finished", TWO_HOURS);
    for m in [&recent, &active, &deferred, &finished] {
        f.log.record_accepted(m).await.unwrap();
    }
    let waypoint = |stage, ago: time::Duration| HistoryEntry {
        at: OffsetDateTime::now_utc() - ago,
        stage,
        detail: String::new(),
    };
    // Classified a minute ago: still moving.
    f.log
        .record_stage(
            active.id,
            &waypoint(Stage::Classified, time::Duration::minutes(1)),
            None,
        )
        .await
        .unwrap();
    // Deferred long ago: held by the reply consumer, which never gives up on it.
    f.log
        .record_stage(
            deferred.id,
            &waypoint(Stage::Deferred, time::Duration::minutes(90)),
            None,
        )
        .await
        .unwrap();
    f.log
        .record_outcome(
            finished.id,
            &Outcome::Ignored {
                reason: "spam".into(),
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();

    let swept = f.sweeper.sweep(OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(swept.dead_lettered, 0);
    assert_eq!(swept.active, 2, "the active and the deferred one");
    assert_eq!(f.metrics.unfinished_swept_total(), 0);
    for m in [&recent, &active, &deferred] {
        assert_eq!(f.log.get(m.id).await.unwrap().unwrap().outcome, None);
    }
}

#[tokio::test]
async fn nothing_is_swept_while_a_consumer_has_undelivered_backlog() {
    let f = fixture();
    let waiting = message("waiting", TWO_HOURS);
    f.log.record_accepted(&waiting).await.unwrap();
    // The classify consumer exists and the message still waits in its stream.
    let _consumer = f
        .bus
        .consumer(
            subjects::STREAM_INBOUND,
            subjects::CONSUMER_CLASSIFY,
            ConsumerOptions::default(),
        )
        .await
        .unwrap();
    let envelope = Envelope::new(subjects::inbound(waiting.channel), encode_message(&waiting))
        .with_header(MESSAGE_ID_HEADER, waiting.id.to_string());
    f.bus.publish(envelope).await.unwrap().await.unwrap();

    let swept = f.sweeper.sweep(OffsetDateTime::now_utc()).await.unwrap();
    assert!(swept.backlogged);
    assert_eq!(swept.dead_lettered, 0);
    assert_eq!(f.log.get(waiting.id).await.unwrap().unwrap().outcome, None);
}
