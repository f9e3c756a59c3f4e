//! What the bus test files share: fixtures for both adapters and small helpers.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, Consumer, ConsumerOptions, Delivery, Envelope, PublishAck};
use firebreak_testkit::NatsServer;

pub const SUBJECT: &str = "fb.in.web";
/// Short enough that a redelivery test takes seconds, long enough for a loaded machine.
pub const SHORT_ACK_WAIT: Duration = Duration::from_secs(1);
/// How long a test waits for something that must happen.
pub const PATIENCE: Duration = Duration::from_secs(8);
/// Upper bound for one test, so a hang fails instead of stalling the suite.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(45);

/// A bus under test, and the server behind it (kept alive for the test's duration).
pub struct Fixture {
    pub bus: Arc<dyn Bus>,
    _server: Option<NatsServer>,
}

impl Fixture {
    pub async fn memory() -> anyhow::Result<Self> {
        Ok(Fixture {
            bus: Arc::new(MemoryBus::new()),
            _server: None,
        })
    }

    pub async fn jetstream() -> anyhow::Result<Self> {
        let server = NatsServer::start().await?;
        let bus = connect(&server).await?;
        Ok(Fixture {
            bus: Arc::new(bus),
            _server: Some(server),
        })
    }
}

pub async fn connect(server: &NatsServer) -> anyhow::Result<JetStreamBus> {
    Ok(JetStreamBus::connect(&server.url(), JetStreamOptions::default()).await?)
}

/// Runs each body once per adapter, as `memory::<name>` and `jetstream::<name>`.
#[allow(unused_macros)]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    let fixture = super::Fixture::memory().await?;
                    tokio::time::timeout(super::TEST_TIMEOUT, super::$name(fixture.bus.clone()))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    let fixture = super::Fixture::jetstream().await?;
                    tokio::time::timeout(super::TEST_TIMEOUT, super::$name(fixture.bus.clone()))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------
// Helpers

pub fn options(ack_wait: Duration, max_deliver: i64) -> ConsumerOptions {
    ConsumerOptions {
        max_deliver,
        ack_wait,
        ..ConsumerOptions::default()
    }
}

pub async fn publish(bus: &Arc<dyn Bus>, envelope: Envelope) -> anyhow::Result<PublishAck> {
    Ok(bus.publish(envelope).await?.await?)
}

pub async fn publish_all(bus: &Arc<dyn Bus>, payloads: &[String]) -> anyhow::Result<Vec<u64>> {
    let mut sequences = Vec::new();
    for payload in payloads {
        let ack = publish(bus, Envelope::new(SUBJECT, payload.clone())).await?;
        sequences.push(ack.sequence);
    }
    Ok(sequences)
}

pub fn payloads(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

pub fn text(delivery: &Delivery) -> String {
    String::from_utf8_lossy(&delivery.payload).into_owned()
}

/// Fetches until `n` deliveries arrived, failing after [`PATIENCE`].
pub async fn fetch_exactly(
    consumer: &mut Box<dyn Consumer>,
    n: usize,
) -> anyhow::Result<Vec<Delivery>> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        ensure!(
            !left.is_zero(),
            "only {} of {n} deliveries within {PATIENCE:?}",
            got.len()
        );
        let batch = consumer
            .fetch(n - got.len(), left.min(Duration::from_secs(2)))
            .await?;
        got.extend(batch);
    }
    Ok(got)
}

/// Fetches one delivery, failing after [`PATIENCE`], and says how long it took.
pub async fn fetch_one(consumer: &mut Box<dyn Consumer>) -> anyhow::Result<(Delivery, Duration)> {
    let started = Instant::now();
    let delivery = fetch_exactly(consumer, 1).await?.remove(0);
    Ok((delivery, started.elapsed()))
}

/// Asserts that nothing is delivered for `quiet`.
pub async fn assert_quiet(consumer: &mut Box<dyn Consumer>, quiet: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + quiet;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let batch = consumer.fetch(10, left).await?;
        ensure!(
            batch.is_empty(),
            "expected no delivery, got {:?}",
            batch.iter().map(text).collect::<Vec<_>>()
        );
    }
}
