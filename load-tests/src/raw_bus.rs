//! Raw JetStream on the cluster's own nats-server: asynchronous publishes of messages
//! the size of the pipeline's, on a file-storage stream of its own, then one pull
//! consumer reading them all back. The yardstick "pipeline ÷ bus" divides by.

use std::future::IntoFuture as _;
use std::time::Instant;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct RawBus {
    pub messages: usize,
    pub payload_bytes: usize,
    pub publish_per_sec: f64,
    pub consume_per_sec: f64,
}

const STREAM: &str = "LOADBENCH_RAW";
/// Publishes awaiting their ack at once.
const IN_FLIGHT: usize = 4096;

/// Bytes a pipeline message carries beyond its text and ids: its message id, channel,
/// visibility, author, timestamps and the envelope's headers, roughly.
const ENVELOPE_BYTES: usize = 150;

/// The average size of the pipeline's messages, estimated from what was sent: the
/// streams themselves cannot tell, as work-queue retention deletes what was acked.
pub fn message_size(planned: &[crate::plan::Planned]) -> usize {
    let total: usize = planned
        .iter()
        .map(|p| p.text.len() + p.external_id.len() + p.thread_id.len() + ENVELOPE_BYTES)
        .sum();
    total / planned.len().max(1)
}

pub async fn measure(nats_url: &str, messages: usize, size: usize) -> anyhow::Result<RawBus> {
    let client = async_nats::connect(nats_url).await?;
    let js = jetstream::new(client);
    let _ = js.delete_stream(STREAM).await;
    js.create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec!["loadbench.raw".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let payload = bytes::Bytes::from(vec![b'x'; size.max(1)]);

    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for _ in 0..messages {
        if acks.len() >= IN_FLIGHT
            && let Some(ack) = acks.next().await
        {
            let _: async_nats::jetstream::publish::PublishAck = ack?;
        }
        acks.push(
            js.publish("loadbench.raw", payload.clone())
                .await?
                .into_future(),
        );
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let publish_per_sec = messages as f64 / started.elapsed().as_secs_f64();

    let consumer: consumer::PullConsumer = js
        .get_stream(STREAM)
        .await?
        .create_consumer(consumer::pull::Config {
            durable_name: Some("raw".into()),
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut read = 0;
    let mut batches = consumer.messages().await?;
    while read < messages {
        match batches.next().await {
            Some(message) => {
                message.map_err(|e| anyhow::anyhow!("consume: {e}"))?;
                read += 1;
            }
            None => break,
        }
    }
    let consume_per_sec = read as f64 / started.elapsed().as_secs_f64();
    let _ = js.delete_stream(STREAM).await;
    Ok(RawBus {
        messages,
        payload_bytes: size,
        publish_per_sec,
        consume_per_sec,
    })
}
