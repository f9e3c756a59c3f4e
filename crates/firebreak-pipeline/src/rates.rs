//! Inbound and negative-message rates, as classify sees them. The classify stage counts
//! in memory (two atomic adds per message, nothing on the hot path waits), and a
//! background task publishes one sample per second to `FB_RATES`, where the control
//! role sums every replica's samples to spot a surge.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use firebreak_bus::{Bus, Envelope};
use firebreak_core::subjects::RATES_SUBJECT;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// At or below this sentiment a message counts as negative (the triage engine's own
/// complaint threshold).
pub const NEGATIVE_SENTIMENT: f64 = -0.25;

/// How often counts are published.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Counts since the last published sample.
#[derive(Debug, Default)]
pub struct RateRecorder {
    inbound: AtomicU64,
    negative: AtomicU64,
}

impl RateRecorder {
    pub fn new() -> Arc<Self> {
        Arc::new(RateRecorder::default())
    }

    /// Counts one classified message.
    pub fn record(&self, sentiment: f64) {
        self.inbound.fetch_add(1, Ordering::Relaxed);
        if sentiment <= NEGATIVE_SENTIMENT {
            self.negative.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn take(&self) -> (u64, u64) {
        (
            self.inbound.swap(0, Ordering::Relaxed),
            self.negative.swap(0, Ordering::Relaxed),
        )
    }

    /// Puts back counts whose sample could not be published, so none are lost.
    fn restore(&self, inbound: u64, negative: u64) {
        self.inbound.fetch_add(inbound, Ordering::Relaxed);
        self.negative.fetch_add(negative, Ordering::Relaxed);
    }
}

/// One replica's counts over `[start_ms, end_ms)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateSample {
    pub instance: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub inbound: u64,
    pub negative: u64,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Publishes a sample every [`SAMPLE_INTERVAL`] while there is traffic, until
/// shutdown (then once more, so the last second is not lost).
pub async fn publish_rates(
    recorder: Arc<RateRecorder>,
    bus: Arc<dyn Bus>,
    instance: String,
    shutdown: CancellationToken,
) {
    let mut start_ms = now_ms();
    let mut sequence = 0u64;
    let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = ticker.tick() => false,
        };
        let end_ms = now_ms();
        let (inbound, negative) = recorder.take();
        if inbound > 0 {
            sequence += 1;
            let sample = RateSample {
                instance: instance.clone(),
                start_ms,
                end_ms,
                inbound,
                negative,
            };
            let payload = serde_json::to_vec(&sample).unwrap_or_default();
            let envelope = Envelope::new(RATES_SUBJECT, payload)
                .with_msg_id(format!("rates:{instance}:{sequence}"));
            let published = match bus.publish(envelope).await {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if published {
                start_ms = end_ms;
            } else {
                debug!("rate sample not published, keeping the counts");
                recorder.restore(inbound, negative);
            }
        } else {
            start_ms = end_ms;
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_bus::memory::MemoryBus;
    use firebreak_core::subjects::STREAM_RATES;

    #[tokio::test]
    async fn counts_are_published_as_one_sample_per_interval() {
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
        let recorder = RateRecorder::new();
        for sentiment in [0.5, -0.8, -0.25, 0.0] {
            recorder.record(sentiment);
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(publish_rates(
            recorder.clone(),
            bus.clone(),
            "classify-1".into(),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        shutdown.cancel();
        task.await.unwrap();
        let stored = bus.read_stream(STREAM_RATES, 1, 10).await.unwrap();
        assert_eq!(stored.len(), 1, "idle seconds publish nothing");
        let sample: RateSample = serde_json::from_slice(&stored[0].payload).unwrap();
        assert_eq!((sample.inbound, sample.negative), (4, 2));
        assert_eq!(sample.instance, "classify-1");
        assert!(sample.end_ms >= sample.start_ms);
    }
}
