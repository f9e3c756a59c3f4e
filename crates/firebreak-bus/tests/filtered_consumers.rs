//! Consumers filtered on subjects, on both adapters: how the escalation lanes split
//! `FB_ESCALATE` (a work-queue stream) between consumers, why their filters must not
//! collide, and how a consumer of an older release hands its work over when removed.

#[macro_use]
mod common;

use common::*;

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::{Bus, ConsumerOptions, Envelope};
use firebreak_core::Priority;
use firebreak_core::subjects::{STREAM_ESCALATE, escalate};

conformance!(
    filtered_consumers_split_a_work_queue_stream_by_subject,
    filters_that_collide_on_a_work_queue_stream_are_refused,
    a_removed_consumer_leaves_its_unsettled_work_to_the_next,
);

fn filtered(priority: Priority) -> ConsumerOptions {
    ConsumerOptions {
        filter_subject: Some(escalate(priority)),
        ..options(Duration::from_secs(30), -1)
    }
}

async fn publish_on(bus: &Arc<dyn Bus>, priority: Priority, payload: &str) -> anyhow::Result<()> {
    publish(bus, Envelope::new(escalate(priority), payload.to_string())).await?;
    Ok(())
}

/// A P1 published behind a P4 backlog is the P1 consumer's first and only delivery.
async fn filtered_consumers_split_a_work_queue_stream_by_subject(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let mut p1 = bus
        .consumer(STREAM_ESCALATE, "lane_p1", filtered(Priority::P1))
        .await?;
    let mut p4 = bus
        .consumer(STREAM_ESCALATE, "lane_p4", filtered(Priority::P4))
        .await?;
    for i in 0..50 {
        publish_on(&bus, Priority::P4, &format!("p4-{i}")).await?;
    }
    publish_on(&bus, Priority::P1, "p1-0").await?;
    assert_eq!(
        bus.consumer_backlog(STREAM_ESCALATE, "lane_p1")
            .await?
            .pending,
        1
    );
    assert_eq!(
        bus.consumer_backlog(STREAM_ESCALATE, "lane_p4")
            .await?
            .pending,
        50
    );

    let (urgent, _) = fetch_one(&mut p1).await?;
    assert_eq!(text(&urgent), "p1-0");
    urgent.acker.ack().await?;
    assert_quiet(&mut p1, Duration::from_millis(300)).await?;

    let backlog = fetch_exactly(&mut p4, 50).await?;
    assert!(
        backlog.iter().all(|d| text(d).starts_with("p4-")),
        "the P4 consumer only gets P4s"
    );
    Ok(())
}

/// Each message of a work-queue stream has one consumer: JetStream refuses a consumer
/// whose filter could match a subject another consumer's matches.
async fn filters_that_collide_on_a_work_queue_stream_are_refused(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    bus.consumer(STREAM_ESCALATE, "lane_p1", filtered(Priority::P1))
        .await?;
    let whole_stream = options(Duration::from_secs(30), -1);
    assert!(
        bus.consumer(STREAM_ESCALATE, "everything", whole_stream)
            .await
            .is_err(),
        "an unfiltered consumer would take P1s from the P1 lane"
    );
    let wildcard = ConsumerOptions {
        filter_subject: Some("fb.escalate.*".into()),
        ..options(Duration::from_secs(30), -1)
    };
    assert!(
        bus.consumer(STREAM_ESCALATE, "wildcard", wildcard)
            .await
            .is_err(),
        "a wildcard covering p1 collides"
    );
    bus.consumer(STREAM_ESCALATE, "lane_p2", filtered(Priority::P2))
        .await?;
    // Replicas binding the same lane share it.
    bus.consumer(STREAM_ESCALATE, "lane_p1", filtered(Priority::P1))
        .await?;
    Ok(())
}

/// The upgrade path: the unfiltered consumer of an older release is removed, and the
/// lanes then bind and get everything it had not settled.
async fn a_removed_consumer_leaves_its_unsettled_work_to_the_next(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let mut legacy = bus
        .consumer(
            STREAM_ESCALATE,
            "legacy",
            options(Duration::from_secs(30), -1),
        )
        .await?;
    publish_on(&bus, Priority::P4, "p4-held").await?;
    publish_on(&bus, Priority::P1, "p1-held").await?;
    let held = fetch_exactly(&mut legacy, 2).await?;
    assert!(
        bus.consumer(STREAM_ESCALATE, "lane_p1", filtered(Priority::P1))
            .await
            .is_err(),
        "refused while the unfiltered consumer exists"
    );
    assert!(bus.delete_consumer(STREAM_ESCALATE, "legacy").await?);
    assert!(!bus.delete_consumer(STREAM_ESCALATE, "legacy").await?);

    let mut p1 = bus
        .consumer(STREAM_ESCALATE, "lane_p1", filtered(Priority::P1))
        .await?;
    let mut p4 = bus
        .consumer(STREAM_ESCALATE, "lane_p4", filtered(Priority::P4))
        .await?;
    let (urgent, _) = fetch_one(&mut p1).await?;
    assert_eq!(text(&urgent), "p1-held");
    let (routine, _) = fetch_one(&mut p4).await?;
    assert_eq!(text(&routine), "p4-held");
    drop(held);
    Ok(())
}
