//! Conformance of the read-back and compare-and-set parts of the bus port
//! (`stream_bounds`, `read_stream`, `Kv::put_if`, `Kv::keys`), against the in-memory
//! adapter and a real JetStream server alike.

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, Envelope};
use firebreak_core::subjects::{AUDIT_SUBJECT, STREAM_AUDIT, STREAM_INBOUND};
use firebreak_testkit::NatsServer;

const TEST_TIMEOUT: Duration = Duration::from_secs(45);

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    let bus: std::sync::Arc<dyn firebreak_bus::Bus> =
                        std::sync::Arc::new(super::MemoryBus::new());
                    tokio::time::timeout(super::TEST_TIMEOUT, super::$name(bus))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    let server = super::NatsServer::start().await?;
                    let bus: std::sync::Arc<dyn firebreak_bus::Bus> = std::sync::Arc::new(
                        super::JetStreamBus::connect(&server.url(), super::JetStreamOptions::default())
                            .await?,
                    );
                    tokio::time::timeout(super::TEST_TIMEOUT, super::$name(bus))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
    };
}

conformance!(
    empty_stream_has_no_messages_to_read,
    read_stream_pages_through_stored_messages_in_order,
    read_stream_does_not_consume,
    put_if_writes_only_over_the_expected_revision,
    keys_lists_keys_with_a_prefix,
);

async fn publish(bus: &Arc<dyn Bus>, subject: &str, payload: &str) -> anyhow::Result<u64> {
    let envelope = Envelope::new(subject, payload.to_string()).with_header("x-n", payload);
    Ok(bus.publish(envelope).await?.await?.sequence)
}

async fn empty_stream_has_no_messages_to_read(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let bounds = bus.stream_bounds(STREAM_AUDIT).await?;
    assert_eq!(bounds.first, bounds.last + 1, "empty: {bounds:?}");
    assert!(bus.read_stream(STREAM_AUDIT, 1, 10).await?.is_empty());
    Ok(())
}

async fn read_stream_pages_through_stored_messages_in_order(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let mut sequences = Vec::new();
    for i in 0..40 {
        sequences.push(publish(&bus, AUDIT_SUBJECT, &format!("a{i}")).await?);
    }
    // Another stream's messages never show up.
    publish(&bus, "fb.in.web", "other").await?;
    let bounds = bus.stream_bounds(STREAM_AUDIT).await?;
    assert_eq!((bounds.first, bounds.last), (sequences[0], sequences[39]));

    let first_page = bus.read_stream(STREAM_AUDIT, bounds.first, 15).await?;
    let texts: Vec<String> = first_page
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(texts, (0..15).map(|i| format!("a{i}")).collect::<Vec<_>>());
    assert_eq!(first_page[3].subject, AUDIT_SUBJECT);
    assert!(
        first_page[3]
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("x-n") && v == "a3")
    );

    let rest = bus
        .read_stream(STREAM_AUDIT, first_page[14].sequence + 1, 100)
        .await?;
    assert_eq!(rest.len(), 25, "the page stops at the end of the stream");
    assert_eq!(rest.last().unwrap().sequence, bounds.last);
    assert!(
        bus.read_stream(STREAM_AUDIT, bounds.last + 1, 10)
            .await?
            .is_empty()
    );
    Ok(())
}

async fn read_stream_does_not_consume(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish(&bus, "fb.in.web", "kept").await?;
    bus.read_stream(STREAM_INBOUND, 1, 10).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "reader-test", Default::default())
        .await?;
    let deliveries = consumer.fetch(10, Duration::from_secs(2)).await?;
    assert_eq!(
        deliveries.len(),
        1,
        "a read leaves the message for consumers"
    );
    Ok(())
}

async fn put_if_writes_only_over_the_expected_revision(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let kv = bus.kv();
    let created = kv.put_if("crisis", "v1".into(), 0).await?;
    let created = created.expect("a missing key is created over revision 0");
    assert_eq!(
        kv.put_if("crisis", "again".into(), 0).await?,
        None,
        "revision 0 means the key must not exist"
    );
    let updated = kv.put_if("crisis", "v2".into(), created).await?;
    assert!(updated.is_some_and(|r| r > created));
    assert_eq!(
        kv.put_if("crisis", "stale".into(), created).await?,
        None,
        "a writer holding an old revision loses"
    );
    let entry = kv.get("crisis").await?.expect("stored");
    assert_eq!(&entry.value[..], b"v2");
    Ok(())
}

async fn keys_lists_keys_with_a_prefix(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let kv = bus.kv();
    kv.put("playbook.recall", "a".into()).await?;
    kv.put("playbook.launch", "b".into()).await?;
    kv.put("playbook.launch", "c".into()).await?;
    kv.put("crisis", "d".into()).await?;
    assert_eq!(
        kv.keys("playbook.").await?,
        ["playbook.launch", "playbook.recall"]
    );
    assert!(kv.keys("nothing.").await?.is_empty());
    Ok(())
}
