//! The embedded bus stays bounded however long `firebreak run` is up: done work leaves
//! work-queue streams, and limits streams keep at most their count, bytes and age,
//! dropping the oldest or refusing as their discard policy says.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{SHORT_ACK_WAIT, fetch_exactly, options, publish};
use firebreak_bus::memory::{EmbeddedLimits, MemoryBus};
use firebreak_bus::{Bus, BusError, Envelope};
use firebreak_core::subjects::{
    AUDIT_SUBJECT, RATES_SUBJECT, STREAM_AUDIT, STREAM_INBOUND, STREAM_RATES,
};

fn bus(limits: EmbeddedLimits) -> Arc<dyn Bus> {
    Arc::new(MemoryBus::with_limits(limits))
}

fn capped(max_messages: usize) -> EmbeddedLimits {
    EmbeddedLimits {
        max_messages,
        ..EmbeddedLimits::default()
    }
}

#[tokio::test]
async fn a_discard_old_stream_keeps_its_newest_messages_up_to_its_count() -> anyhow::Result<()> {
    let bus = bus(capped(100));
    for i in 0..250 {
        publish(&bus, Envelope::new(RATES_SUBJECT, format!("sample-{i}"))).await?;
    }
    assert_eq!(bus.stream_len(STREAM_RATES).await?, 100);
    let bounds = bus.stream_bounds(STREAM_RATES).await?;
    assert_eq!((bounds.first, bounds.last), (151, 250));
    let newest = bus.read_stream(STREAM_RATES, bounds.last, 1).await?;
    assert_eq!(
        newest[0].payload, "sample-249",
        "the recent ones stay readable"
    );
    Ok(())
}

#[tokio::test]
async fn a_discard_new_stream_refuses_past_its_count() -> anyhow::Result<()> {
    let bus = bus(capped(10));
    for i in 0..10 {
        publish(&bus, Envelope::new(AUDIT_SUBJECT, format!("entry-{i}"))).await?;
    }
    let refused = bus.publish(Envelope::new(AUDIT_SUBJECT, "one more")).await;
    let refused = match refused {
        Ok(ack) => ack.await.err(),
        Err(e) => Some(e),
    };
    assert!(matches!(refused, Some(BusError::Full(_))), "{refused:?}");
    assert_eq!(bus.stream_len(STREAM_AUDIT).await?, 10);
    Ok(())
}

#[tokio::test]
async fn a_stream_holds_at_most_its_bytes() -> anyhow::Result<()> {
    let bus = bus(EmbeddedLimits {
        max_bytes: 1_000,
        ..EmbeddedLimits::default()
    });
    for _ in 0..100 {
        publish(&bus, Envelope::new(RATES_SUBJECT, vec![b'x'; 100])).await?;
    }
    let usage = bus.stream_usage(STREAM_RATES).await?;
    assert_eq!(usage.max_bytes, 1_000);
    assert!(usage.bytes <= 1_000, "{usage:?}");
    assert_eq!(bus.stream_len(STREAM_RATES).await?, 10);
    Ok(())
}

#[tokio::test]
async fn messages_past_the_age_are_dropped() -> anyhow::Result<()> {
    let bus = bus(EmbeddedLimits {
        max_age: Some(Duration::from_millis(200)),
        ..EmbeddedLimits::default()
    });
    for i in 0..20 {
        publish(&bus, Envelope::new(AUDIT_SUBJECT, format!("old-{i}"))).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&bus, Envelope::new(AUDIT_SUBJECT, "fresh")).await?;
    assert_eq!(bus.stream_len(STREAM_AUDIT).await?, 1);
    let left = bus.read_stream(STREAM_AUDIT, 1, 10).await?;
    assert_eq!(left[0].payload, "fresh");
    Ok(())
}

#[tokio::test]
async fn done_work_leaves_the_embedded_work_queue_and_its_bytes_with_it() -> anyhow::Result<()> {
    let bus = bus(capped(1_000));
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "worker", options(SHORT_ACK_WAIT * 5, -1))
        .await?;
    // Ten times the cap goes through, because what is done is gone.
    for round in 0..10 {
        for i in 0..1_000 {
            let envelope = Envelope::new(common::SUBJECT, format!("work-{round}-{i}"));
            publish(&bus, envelope).await?;
        }
        for delivery in fetch_exactly(&mut consumer, 1_000).await? {
            delivery.acker.ack().await?;
        }
    }
    assert_eq!(bus.stream_len(STREAM_INBOUND).await?, 0);
    assert_eq!(bus.stream_usage(STREAM_INBOUND).await?.bytes, 0);
    assert_eq!(bus.stream_bounds(STREAM_INBOUND).await?.last, 10_000);
    Ok(())
}
