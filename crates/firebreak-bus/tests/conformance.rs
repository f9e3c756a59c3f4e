//! One conformance suite for the bus port: every test body runs against the in-memory
//! adapter and against real NATS JetStream (a private `nats-server` per test). The
//! `jetstream_only` module covers what only a real server can do: crash, restart and
//! concurrent stream creation.

#[macro_use]
mod common;

use common::*;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use firebreak_bus::{Bus, ConsumerBacklog, ConsumerOptions, Envelope};
use firebreak_core::subjects::{STREAM_INBOUND, STREAM_REPLY};
use futures::StreamExt;

conformance!(
    publish_acks_with_increasing_sequences,
    duplicate_msg_id_within_window_is_stored_once,
    messages_land_in_the_stream_bound_to_their_subject,
    publish_to_a_subject_without_stream_fails,
    durable_consumer_receives_published_messages_in_order,
    headers_survive_the_round_trip,
    fetch_waits_for_a_message_published_later,
    fetch_returns_nothing_when_nothing_arrives,
    acked_message_is_not_redelivered,
    nak_with_delay_redelivers_after_the_delay,
    unacked_delivery_is_redelivered_after_ack_wait,
    redelivery_stops_at_max_deliver,
    unlimited_max_deliver_keeps_redelivering,
    rebinding_a_durable_applies_its_new_options,
    terminated_message_is_not_redelivered,
    consumers_sharing_a_durable_each_get_different_messages,
    consumers_sharing_a_durable_receive_each_message_once,
    rebinding_a_durable_resumes_after_acked_messages,
    max_ack_pending_caps_outstanding_deliveries,
    kv_get_returns_latest_put,
    kv_watch_yields_current_value_then_changes_in_order,
    kv_watch_of_missing_key_yields_first_put,
    ready_is_ok_when_the_bus_is_up,
    consumer_backlog_and_stream_usage_describe_the_lag,
    settled_work_leaves_a_work_queue_stream,
    in_progress_acks_hold_off_redelivery,
    a_work_queue_stream_takes_one_durable_consumer,
);

// ---------------------------------------------------------------------------------------
// Publishing

async fn publish_acks_with_increasing_sequences(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let mut last = 0;
    for i in 0..5 {
        let ack = publish(&bus, Envelope::new(SUBJECT, format!("m{i}"))).await?;
        assert_eq!(ack.stream, STREAM_INBOUND);
        assert!(!ack.duplicate);
        assert!(
            ack.sequence > last,
            "sequence {} after {last}",
            ack.sequence
        );
        last = ack.sequence;
    }
    assert_eq!(bus.stream_len(STREAM_INBOUND).await?, 5);
    Ok(())
}

async fn duplicate_msg_id_within_window_is_stored_once(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let first = publish(&bus, Envelope::new(SUBJECT, "one").with_msg_id("id-1")).await?;
    assert!(!first.duplicate);
    let again = publish(&bus, Envelope::new(SUBJECT, "one").with_msg_id("id-1")).await?;
    assert!(
        again.duplicate,
        "same msg_id within the window is a duplicate"
    );
    assert_eq!(
        again.sequence, first.sequence,
        "a duplicate names the original"
    );
    assert_eq!(bus.stream_len(STREAM_INBOUND).await?, 1);

    let other = publish(&bus, Envelope::new(SUBJECT, "two").with_msg_id("id-2")).await?;
    assert!(!other.duplicate);
    assert!(other.sequence > first.sequence);
    assert_eq!(bus.stream_len(STREAM_INBOUND).await?, 2);
    Ok(())
}

async fn messages_land_in_the_stream_bound_to_their_subject(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let ack = publish(&bus, Envelope::new("fb.reply.x", "r")).await?;
    assert_eq!(ack.stream, STREAM_REPLY);
    assert_eq!(bus.stream_len(STREAM_REPLY).await?, 1);
    assert_eq!(bus.stream_len(STREAM_INBOUND).await?, 0);
    Ok(())
}

async fn publish_to_a_subject_without_stream_fails(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let outcome = match bus.publish(Envelope::new("nowhere.at.all", "x")).await {
        Err(e) => Err(e),
        Ok(ack) => tokio::time::timeout(PATIENCE, ack)
            .await
            .context("ack of an unbound subject never resolved")?,
    };
    assert!(
        outcome.is_err(),
        "no stream stores it, so no ack: {outcome:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Consuming

async fn durable_consumer_receives_published_messages_in_order(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let sent = payloads("ordered", 10);
    let sequences = publish_all(&bus, &sent).await?;
    // Bound after publishing: a new durable starts at the beginning of the stream.
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "ordered", ConsumerOptions::default())
        .await?;
    let got = fetch_exactly(&mut consumer, sent.len()).await?;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), sent);
    assert_eq!(
        got.iter().map(|d| d.stream_sequence).collect::<Vec<_>>(),
        sequences
    );
    for delivery in &got {
        assert_eq!(delivery.subject, SUBJECT);
        assert_eq!(delivery.delivered, 1);
        delivery.acker.ack().await?;
    }
    Ok(())
}

async fn headers_survive_the_round_trip(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    publish(
        &bus,
        Envelope::new(SUBJECT, "h")
            .with_msg_id("h-1")
            .with_header("traceparent", traceparent),
    )
    .await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "headers", ConsumerOptions::default())
        .await?;
    let (delivery, _) = fetch_one(&mut consumer).await?;
    assert_eq!(delivery.header("traceparent"), Some(traceparent));
    assert_eq!(delivery.header("TraceParent"), Some(traceparent));
    Ok(())
}

async fn fetch_waits_for_a_message_published_later(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "waiter", ConsumerOptions::default())
        .await?;
    let publisher = bus.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        publish(&publisher, Envelope::new(SUBJECT, "late")).await
    });
    let got = consumer.fetch(5, Duration::from_secs(5)).await?;
    late.await??;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["late"]);
    Ok(())
}

async fn fetch_returns_nothing_when_nothing_arrives(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "idle", ConsumerOptions::default())
        .await?;
    let got = consumer.fetch(5, Duration::from_millis(300)).await?;
    assert!(got.is_empty());
    Ok(())
}

async fn acked_message_is_not_redelivered(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("acked", 1)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "acker", options(SHORT_ACK_WAIT, 5))
        .await?;
    let (delivery, _) = fetch_one(&mut consumer).await?;
    delivery.acker.ack().await?;
    // Well past the ack wait: an unacked delivery would have come back by now.
    assert_quiet(&mut consumer, SHORT_ACK_WAIT * 3).await
}

async fn nak_with_delay_redelivers_after_the_delay(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("nak", 1)).await?;
    // A long ack wait, so only the nak can explain a redelivery.
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "naker", options(Duration::from_secs(30), 5))
        .await?;
    let (first, _) = fetch_one(&mut consumer).await?;
    assert_eq!(first.delivered, 1);
    let delay = Duration::from_secs(1);
    first.acker.nak(Some(delay)).await?;

    let (again, waited) = fetch_one(&mut consumer).await?;
    assert_eq!(text(&again), "nak-0");
    assert_eq!(again.stream_sequence, first.stream_sequence);
    assert_eq!(again.delivered, 2);
    assert!(
        waited >= delay.mul_f32(0.8),
        "redelivered after {waited:?}, before the {delay:?} delay"
    );
    again.acker.ack().await?;
    Ok(())
}

async fn unacked_delivery_is_redelivered_after_ack_wait(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("forgotten", 1)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "forgetful", options(SHORT_ACK_WAIT, 5))
        .await?;
    let (first, _) = fetch_one(&mut consumer).await?;
    assert_eq!(first.delivered, 1);
    // Neither acked nor nak'd: the worker crashed while holding it.
    drop(first);

    let (again, waited) = fetch_one(&mut consumer).await?;
    assert_eq!(text(&again), "forgotten-0");
    assert_eq!(again.delivered, 2);
    assert!(
        waited >= SHORT_ACK_WAIT.mul_f32(0.8),
        "redelivered after {waited:?}, before the {SHORT_ACK_WAIT:?} ack wait"
    );
    again.acker.ack().await?;
    Ok(())
}

async fn redelivery_stops_at_max_deliver(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("poison", 1)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "bounded", options(SHORT_ACK_WAIT, 2))
        .await?;
    let (first, _) = fetch_one(&mut consumer).await?;
    assert_eq!(first.delivered, 1);
    first.acker.nak(None).await?;
    let (second, _) = fetch_one(&mut consumer).await?;
    assert_eq!(second.delivered, 2);
    // Failing on the last allowed delivery, both by nak and by ack-wait expiry.
    second.acker.nak(None).await?;
    assert_quiet(&mut consumer, SHORT_ACK_WAIT * 3).await
}

async fn unlimited_max_deliver_keeps_redelivering(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("stubborn", 1)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "unbounded", options(SHORT_ACK_WAIT, -1))
        .await?;
    // Well past the default limits: the worker, not the bus, decides when to give up.
    for attempt in 1..=7 {
        let (delivery, _) = fetch_one(&mut consumer).await?;
        assert_eq!(delivery.delivered, attempt);
        delivery.acker.nak(None).await?;
    }
    let (last, _) = fetch_one(&mut consumer).await?;
    assert_eq!(last.delivered, 8);
    last.acker.ack().await?;
    assert_quiet(&mut consumer, SHORT_ACK_WAIT * 3).await
}

async fn rebinding_a_durable_applies_its_new_options(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("upgrade", 1)).await?;
    // As an older release created it: two deliveries at most.
    let mut old = bus
        .consumer(STREAM_INBOUND, "upgraded", options(SHORT_ACK_WAIT, 2))
        .await?;
    let (first, _) = fetch_one(&mut old).await?;
    first.acker.nak(None).await?;
    drop(old);
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "upgraded", options(SHORT_ACK_WAIT, -1))
        .await?;
    for attempt in 2..=3 {
        let (delivery, _) = fetch_one(&mut consumer).await?;
        assert_eq!(delivery.delivered, attempt, "past the old limit of 2");
        delivery.acker.nak(None).await?;
    }
    let (last, _) = fetch_one(&mut consumer).await?;
    last.acker.ack().await?;
    Ok(())
}

async fn terminated_message_is_not_redelivered(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("term", 2)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "terminator", options(SHORT_ACK_WAIT, 5))
        .await?;
    let (first, _) = fetch_one(&mut consumer).await?;
    assert_eq!(text(&first), "term-0");
    first.acker.term().await?;
    let (second, _) = fetch_one(&mut consumer).await?;
    assert_eq!(
        text(&second),
        "term-1",
        "the next message, not the terminated one"
    );
    second.acker.ack().await?;
    assert_quiet(&mut consumer, SHORT_ACK_WAIT * 3).await
}

async fn consumers_sharing_a_durable_each_get_different_messages(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("shared", 2)).await?;
    let mut a = bus
        .consumer(STREAM_INBOUND, "pair", ConsumerOptions::default())
        .await?;
    let mut b = bus
        .consumer(STREAM_INBOUND, "pair", ConsumerOptions::default())
        .await?;
    let (from_a, _) = fetch_one(&mut a).await?;
    let (from_b, _) = fetch_one(&mut b).await?;
    assert_eq!(text(&from_a), "shared-0");
    assert_eq!(
        text(&from_b),
        "shared-1",
        "a held message is not handed out twice"
    );
    Ok(())
}

async fn consumers_sharing_a_durable_receive_each_message_once(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    const N: usize = 60;
    let sent = payloads("work", N);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut consumer = bus
            .consumer(STREAM_INBOUND, "workers", ConsumerOptions::default())
            .await?;
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let deadline = Instant::now() + PATIENCE;
            // Stop after a quiet second once the work has been handed out.
            let mut quiet_rounds = 0;
            while Instant::now() < deadline && quiet_rounds < 3 {
                let batch = consumer.fetch(7, Duration::from_millis(500)).await?;
                if batch.is_empty() {
                    quiet_rounds += 1;
                    continue;
                }
                quiet_rounds = 0;
                for delivery in batch {
                    delivery.acker.ack().await?;
                    got.push(text(&delivery));
                }
            }
            anyhow::Ok(got)
        }));
    }
    publish_all(&bus, &sent).await?;

    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await??);
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), N, "each message exactly once in total");
    assert_eq!(distinct.len(), N);
    assert_eq!(distinct, sent.iter().collect());
    Ok(())
}

async fn rebinding_a_durable_resumes_after_acked_messages(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("resume", 4)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "resumer", ConsumerOptions::default())
        .await?;
    for delivery in fetch_exactly(&mut consumer, 2).await? {
        delivery.acker.ack().await?;
    }
    drop(consumer);

    let mut consumer = bus
        .consumer(STREAM_INBOUND, "resumer", ConsumerOptions::default())
        .await?;
    let rest = fetch_exactly(&mut consumer, 2).await?;
    assert_eq!(
        rest.iter().map(text).collect::<Vec<_>>(),
        ["resume-2", "resume-3"]
    );
    Ok(())
}

async fn max_ack_pending_caps_outstanding_deliveries(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("capped", 5)).await?;
    let options = ConsumerOptions {
        max_ack_pending: 2,
        ..ConsumerOptions::default()
    };
    let mut consumer = bus.consumer(STREAM_INBOUND, "capped", options).await?;
    let held = consumer.fetch(10, Duration::from_secs(1)).await?;
    assert_eq!(
        held.iter().map(text).collect::<Vec<_>>(),
        ["capped-0", "capped-1"],
        "no more than max_ack_pending unacknowledged at once"
    );
    assert_quiet(&mut consumer, Duration::from_millis(500)).await?;

    for delivery in held {
        delivery.acker.ack().await?;
    }
    let next = fetch_exactly(&mut consumer, 2).await?;
    assert_eq!(
        next.iter().map(text).collect::<Vec<_>>(),
        ["capped-2", "capped-3"]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// KV and readiness

async fn kv_get_returns_latest_put(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let kv = bus.kv();
    assert_eq!(kv.get("crisis_mode").await?, None);
    let first = kv.put("crisis_mode", "off".into()).await?;
    let second = kv.put("crisis_mode", "on".into()).await?;
    assert!(second > first, "revisions increase: {first} then {second}");
    let entry = kv.get("crisis_mode").await?.context("value was put")?;
    assert_eq!(entry.key, "crisis_mode");
    assert_eq!(&entry.value[..], b"on");
    assert_eq!(entry.revision, second);
    assert_eq!(kv.get("playbook").await?, None, "keys are independent");
    Ok(())
}

async fn kv_watch_yields_current_value_then_changes_in_order(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let kv = bus.kv();
    kv.put("playbook", "v0".into()).await?;
    let current = kv.put("playbook", "v1".into()).await?;
    let mut watch = kv.watch("playbook").await?;
    let first = tokio::time::timeout(PATIENCE, watch.next())
        .await?
        .context("watch ended")?;
    assert_eq!(&first.value[..], b"v1", "the current value, not history");
    assert_eq!(first.revision, current);

    kv.put("other", "noise".into()).await?;
    kv.put("playbook", "v2".into()).await?;
    kv.put("playbook", "v3".into()).await?;
    let mut later = Vec::new();
    for _ in 0..2 {
        let entry = tokio::time::timeout(PATIENCE, watch.next())
            .await?
            .context("watch ended")?;
        assert_eq!(entry.key, "playbook", "only the watched key");
        later.push(entry);
    }
    assert_eq!(
        later.iter().map(|e| e.value.clone()).collect::<Vec<_>>(),
        ["v2", "v3"]
    );
    assert!(later[0].revision > current && later[1].revision > later[0].revision);
    Ok(())
}

async fn kv_watch_of_missing_key_yields_first_put(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    let kv = bus.kv();
    let mut watch = kv.watch("fresh").await?;
    let revision = kv.put("fresh", "hello".into()).await?;
    let entry = tokio::time::timeout(PATIENCE, watch.next())
        .await?
        .context("watch ended")?;
    assert_eq!(&entry.value[..], b"hello");
    assert_eq!(entry.revision, revision);
    Ok(())
}

async fn ready_is_ok_when_the_bus_is_up(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    bus.ready().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Real NATS only

/// What the lag metrics read: undelivered, in flight and redelivered, and bytes held.
async fn consumer_backlog_and_stream_usage_describe_the_lag(
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let none = bus.consumer_backlog(STREAM_INBOUND, "lagging").await?;
    assert_eq!(
        none,
        ConsumerBacklog::default(),
        "no consumer yet, no backlog"
    );
    publish_all(&bus, &payloads("lag", 3)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "lagging", options(SHORT_ACK_WAIT * 5, 5))
        .await?;
    assert_eq!(
        bus.consumer_backlog(STREAM_INBOUND, "lagging")
            .await?
            .pending,
        3
    );
    let (first, _) = fetch_one(&mut consumer).await?;
    let backlog = bus.consumer_backlog(STREAM_INBOUND, "lagging").await?;
    assert_eq!(
        (backlog.pending, backlog.ack_pending),
        (2, 1),
        "{backlog:?}"
    );
    let sequence = first.stream_sequence;
    first.acker.nak(None).await?;
    // The nak'd message comes back, maybe after the next new one.
    loop {
        let (delivery, _) = fetch_one(&mut consumer).await?;
        if delivery.stream_sequence == sequence {
            assert_eq!(delivery.delivered, 2);
            break;
        }
        delivery.acker.ack().await?;
    }
    let backlog = bus.consumer_backlog(STREAM_INBOUND, "lagging").await?;
    assert_eq!(backlog.redelivered, 1, "{backlog:?}");
    let usage = bus.stream_usage(STREAM_INBOUND).await?;
    assert!(
        usage.bytes > 0 && usage.max_bytes >= usage.bytes,
        "{usage:?}"
    );
    Ok(())
}

/// Pipeline streams are work queues: what is acked or terminated is gone, what is only
/// nak'd stays, and sequences keep counting (the stream never fills with done work).
async fn settled_work_leaves_a_work_queue_stream(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("work", 3)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "worker", options(SHORT_ACK_WAIT * 5, -1))
        .await?;
    let got = fetch_exactly(&mut consumer, 3).await?;
    got[0].acker.ack().await?;
    got[1].acker.term().await?;
    got[2].acker.nak(Some(Duration::from_secs(30))).await?;
    // JetStream removes acked messages asynchronously: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while bus.stream_len(STREAM_INBOUND).await? != 1 {
        anyhow::ensure!(Instant::now() < deadline, "acked work stayed in the stream");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = bus.read_stream(STREAM_INBOUND, 1, 10).await?;
    assert_eq!(
        left.iter().map(|m| m.sequence).collect::<Vec<_>>(),
        [got[2].stream_sequence],
        "the nak'd one stays for its redelivery"
    );
    assert_eq!(bus.stream_bounds(STREAM_INBOUND).await?.last, 3);
    Ok(())
}

async fn a_work_queue_stream_takes_one_durable_consumer(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    bus.consumer(STREAM_INBOUND, "classify", ConsumerOptions::default())
        .await?;
    assert!(
        bus.consumer(STREAM_INBOUND, "intruder", ConsumerOptions::default())
            .await
            .is_err(),
        "a second consumer would split or steal the work"
    );
    // Replicas binding the same durable share it.
    bus.consumer(STREAM_INBOUND, "classify", ConsumerOptions::default())
        .await?;
    Ok(())
}

/// A slow delivery that reports progress is not redelivered past its ack wait.
async fn in_progress_acks_hold_off_redelivery(bus: Arc<dyn Bus>) -> anyhow::Result<()> {
    publish_all(&bus, &payloads("slow", 1)).await?;
    let mut consumer = bus
        .consumer(STREAM_INBOUND, "patient", options(SHORT_ACK_WAIT, -1))
        .await?;
    let (delivery, _) = fetch_one(&mut consumer).await?;
    // Three ack waits of work, reporting progress every third of one.
    let until = Instant::now() + SHORT_ACK_WAIT * 3;
    while Instant::now() < until {
        delivery.acker.progress().await?;
        let got = consumer.fetch(1, SHORT_ACK_WAIT / 3).await?;
        anyhow::ensure!(got.is_empty(), "redelivered while in progress");
    }
    delivery.acker.ack().await?;
    assert_quiet(&mut consumer, SHORT_ACK_WAIT * 2).await
}
