//! What only a real NATS server can show: concurrent stream creation, and the bus
//! refusing while the server is down and recovering after it restarts.

mod common;

use common::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use firebreak_bus::{Bus, ConsumerOptions, Envelope};
use firebreak_core::subjects::STREAM_INBOUND;
use firebreak_testkit::NatsServer;

mod jetstream_only {
    use super::*;

    #[tokio::test]
    async fn concurrent_connects_both_create_the_topology() -> anyhow::Result<()> {
        let server = NatsServer::start().await?;
        let (a, b) = tokio::join!(connect(&server), connect(&server));
        let (a, b): (Arc<dyn Bus>, Arc<dyn Bus>) = (Arc::new(a?), Arc::new(b?));
        a.ready().await?;
        b.ready().await?;
        let ack = publish(&a, Envelope::new(SUBJECT, "x")).await?;
        assert_eq!(ack.sequence, 1);
        assert_eq!(b.stream_len(STREAM_INBOUND).await?, 1, "one shared stream");
        Ok(())
    }

    #[tokio::test]
    async fn connecting_again_keeps_existing_messages() -> anyhow::Result<()> {
        let server = NatsServer::start().await?;
        let first: Arc<dyn Bus> = Arc::new(connect(&server).await?);
        publish_all(&first, &payloads("kept", 3)).await?;
        first.kv().put("crisis_mode", "on".into()).await?;

        let second: Arc<dyn Bus> = Arc::new(connect(&server).await?);
        assert_eq!(second.stream_len(STREAM_INBOUND).await?, 3);
        let entry = second.kv().get("crisis_mode").await?;
        assert_eq!(entry.map(|e| e.value), Some("on".into()));
        Ok(())
    }

    #[tokio::test]
    async fn publish_fails_while_nats_is_down() -> anyhow::Result<()> {
        let mut server = NatsServer::start().await?;
        let bus: Arc<dyn Bus> = Arc::new(connect(&server).await?);
        publish(&bus, Envelope::new(SUBJECT, "before")).await?;

        server.kill().await?;
        // Right after the crash (the client may not know yet) and once it does.
        for attempt in 0..3 {
            let outcome = tokio::time::timeout(
                Duration::from_secs(6),
                publish(&bus, Envelope::new(SUBJECT, format!("during-{attempt}"))),
            )
            .await
            .context("publish neither failed nor succeeded within 6s")?;
            assert!(
                outcome.is_err(),
                "publish {attempt} acked while the server is down: {outcome:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(bus.ready().await.is_err(), "not ready while down");
        Ok(())
    }

    #[tokio::test]
    async fn publish_recovers_after_restart_and_acked_messages_survive() -> anyhow::Result<()> {
        let mut server = NatsServer::start().await?;
        let bus: Arc<dyn Bus> = Arc::new(connect(&server).await?);
        let sent = payloads("durable", 5);
        let sequences = publish_all(&bus, &sent).await?;
        let mut consumer = bus
            .consumer(STREAM_INBOUND, "survivor", ConsumerOptions::default())
            .await?;

        server.kill().await?;
        server.restart().await?;

        let started = Instant::now();
        let ack = loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                publish(&bus, Envelope::new(SUBJECT, "after")),
            )
            .await;
            if let Ok(Ok(ack)) = attempt {
                break ack;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(20),
                "publish still failing 20s after restart: {attempt:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(ack.sequence > *sequences.last().unwrap());
        bus.ready().await?;

        // The consumer bound before the crash carries on where the stream left off.
        let got = fetch_exactly(&mut consumer, sent.len()).await?;
        assert_eq!(got.iter().map(text).collect::<Vec<_>>(), sent);
        assert_eq!(
            got.iter().map(|d| d.stream_sequence).collect::<Vec<_>>(),
            sequences
        );
        // Work-queue retention: everything is still stored until acked.
        assert!(bus.stream_len(STREAM_INBOUND).await? > sent.len() as u64);
        for delivery in &got {
            delivery.acker.ack().await?;
        }
        Ok(())
    }
}
