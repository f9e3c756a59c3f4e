//! The insights as classify sees them: each message's vector, near-miss key question
//! and handling go to an in-memory [`Tracker`] (one short lock, no I/O on the hot
//! path); a background task publishes the replica's snapshot to the control KV bucket
//! every few seconds, under `insights.<replica>`. Readers merge every fresh snapshot
//! (`firebreak_control::insights::read`).
//!
//! Nothing here holds message text: vectors, counts and message ids only.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use firebreak_bus::Bus;
use firebreak_core::{Classification, FirstLine, Message, Route};
use firebreak_insights::{Observation, Snapshot, Tracker};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::rates::NEGATIVE_SENTIMENT;

use firebreak_core::subjects::KV_INSIGHTS_PREFIX as KV_PREFIX;

/// How often a replica publishes its snapshot.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct InsightsRecorder {
    tracker: Mutex<Tracker>,
}

/// How a decision handled a message, as the insights count it.
pub fn handling(decision: &Classification) -> &'static str {
    match (decision.route, decision.first_line) {
        (Route::Reply, Some(FirstLine::Acknowledgement)) => "acknowledged",
        (Route::Reply, Some(FirstLine::Holding)) => "held",
        (Route::Reply, None) => "answered",
        (Route::Escalate, _) => "escalated",
        (Route::Ignore, _) => "ignored",
    }
}

impl InsightsRecorder {
    pub fn new() -> Arc<Self> {
        Arc::new(InsightsRecorder::default())
    }

    /// Counts one classified message. `near_key_question` is the key question it came
    /// close to without being answered by it.
    pub fn record(
        &self,
        message: &Message,
        decision: &Classification,
        observed: &firebreak_triage::Observed,
        near_key_question: Option<&str>,
    ) {
        let id = message.id.to_string();
        let vector = observed
            .embedding
            .as_ref()
            .map(|e| firebreak_insights::theme_vector(e.as_slice(), &message.text));
        let at_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let observation = Observation {
            channel: message.channel,
            at_ms,
            message_id: &id,
            negative: decision.sentiment <= NEGATIVE_SENTIMENT,
            embedding: vector.as_deref(),
            near_key_question,
            handling: handling(decision),
        };
        self.tracker.lock().observe(&observation);
    }

    pub fn snapshot(&self, replica: &str, now_ms: i64) -> Snapshot {
        self.tracker.lock().snapshot(replica, now_ms)
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// KV keys allow `[-/_=.a-zA-Z0-9]`; a replica name is kept to those.
fn key_of(replica: &str) -> String {
    let safe: String = replica
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{KV_PREFIX}{safe}")
}

/// Publishes this replica's snapshot every [`PUBLISH_INTERVAL`] until shutdown, then
/// once more.
pub async fn publish_insights(
    recorder: Arc<InsightsRecorder>,
    bus: Arc<dyn Bus>,
    replica: String,
    shutdown: CancellationToken,
) {
    let key = key_of(&replica);
    let mut ticker = tokio::time::interval(PUBLISH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published_empty = false;
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = ticker.tick() => false,
        };
        let snapshot = recorder.snapshot(&replica, now_ms());
        // An idle replica publishes its empty view once, not every tick.
        let empty = snapshot.channels.is_empty();
        if !(empty && published_empty) {
            let payload = serde_json::to_vec(&snapshot).unwrap_or_default();
            match bus.kv().put(&key, Bytes::from(payload)).await {
                Ok(_) => published_empty = empty,
                Err(error) => debug!(%error, "insights snapshot not published"),
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use firebreak_bus::memory::MemoryBus;
    use firebreak_core::Visibility;
    use firebreak_core::rules::TriageContext;
    use firebreak_triage::TriageEngine;

    use super::*;

    #[tokio::test]
    async fn a_replica_snapshot_is_published_and_read_back_merged() {
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
        let recorder = InsightsRecorder::new();
        let engine = TriageEngine::builtin();
        for (i, text) in [
            "still no refund, this is a disgrace",
            "still waiting for my refund, disgraceful",
            "lol",
        ]
        .into_iter()
        .enumerate()
        {
            let mut message = firebreak_triage::dry_run_message(text, Visibility::Public);
            message.id = firebreak_core::MessageId::derive(message.channel, &format!("m{i}"));
            let mut observed = firebreak_triage::Observed::default();
            let decision =
                engine.classify_observed(&message, &TriageContext::default(), &mut observed);
            recorder.record(&message, &decision, &observed, Some("refund"));
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(publish_insights(
            recorder.clone(),
            bus.clone(),
            "classify-1".into(),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        shutdown.cancel();
        task.await.unwrap();
        let snapshot: Snapshot = serde_json::from_slice(
            &bus.kv()
                .get("insights.classify-1")
                .await
                .unwrap()
                .unwrap()
                .value,
        )
        .unwrap();
        let insights = firebreak_insights::merge(&[snapshot], now_ms());
        assert_eq!(insights.replicas, 1);
        assert_eq!(insights.all.volume, 3);
        assert_eq!(insights.all.near_misses[0].count, 3);
        assert!(!insights.all.themes.is_empty());
        assert_eq!(insights.all.themes[0].count, 2, "{:?}", insights.all.themes);
    }
}
