//! The Prometheus metrics every role exports on `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Cheap to clone; every clone updates the same series.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    ingest: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    skipped: Family<Labels, Counter>,
    outcomes: Family<Labels, Counter>,
    dead_letters: Family<Labels, Counter>,
    stage_seconds: Family<Labels, Histogram>,
    in_flight: Family<Labels, Gauge>,
    events: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("firebreak");
        let ingest = Family::<Labels, Counter>::default();
        registry.register(
            "ingest",
            "Messages accepted by ingest, by source and result",
            ingest.clone(),
        );
        let rejected = Family::<Labels, Counter>::default();
        registry.register(
            "ingest_rejected",
            "Requests refused by ingest, by source and reason",
            rejected.clone(),
        );
        let skipped = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_skipped",
            "Platform events skipped on purpose (echoes, receipts, unknown types)",
            skipped.clone(),
        );
        let outcomes = Family::<Labels, Counter>::default();
        registry.register(
            "outcomes",
            "Terminal outcomes reached, by outcome",
            outcomes.clone(),
        );
        let dead_letters = Family::<Labels, Counter>::default();
        registry.register(
            "dead_letters",
            "Messages moved to the dead-letter stream (an alarm: should be 0)",
            dead_letters.clone(),
        );
        let stage_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "stage_seconds",
            "Time to handle one delivery, by stage",
            stage_seconds.clone(),
        );
        let in_flight = Family::<Labels, Gauge>::default();
        registry.register(
            "in_flight",
            "Deliveries being handled, by stage",
            in_flight.clone(),
        );
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events",
            "Notable events by kind (budget deferrals, SLA breaches, surge alerts...)",
            events.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                ingest,
                rejected,
                skipped,
                outcomes,
                dead_letters,
                stage_seconds,
                in_flight,
                events,
            }),
        }
    }

    pub fn ingested(&self, source: &str, result: &'static str) {
        self.inner
            .ingest
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
    }

    pub fn rejected(&self, source: &str, reason: &str) {
        self.inner
            .rejected
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("reason", reason.to_string()),
            ])
            .inc();
    }

    pub fn skipped(&self, source: &str, reason: &str) {
        self.inner
            .skipped
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("reason", reason.to_string()),
            ])
            .inc();
    }

    pub fn outcome(&self, outcome: &str) {
        self.inner
            .outcomes
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn dead_lettered(&self, stage: &str) {
        self.inner
            .dead_letters
            .get_or_create(&vec![("stage", stage.to_string())])
            .inc();
    }

    pub fn event(&self, kind: &str) {
        self.inner
            .events
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc();
    }

    /// Counts dead letters across stages, for tests and the health summary.
    pub fn dead_letter_total(&self) -> u64 {
        ["classify", "reply", "escalation"]
            .iter()
            .map(|s| {
                self.inner
                    .dead_letters
                    .get_or_create(&vec![("stage", s.to_string())])
                    .get()
            })
            .sum()
    }

    /// Times one delivery of a stage, and counts it in flight meanwhile.
    pub fn stage_timer(&self, stage: &'static str) -> StageTimer {
        let labels = vec![("stage", stage.to_string())];
        self.inner.in_flight.get_or_create(&labels).inc();
        StageTimer {
            metrics: self.clone(),
            labels,
            started: Instant::now(),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }
}

pub struct StageTimer {
    metrics: Metrics,
    labels: Labels,
    started: Instant,
}

impl Drop for StageTimer {
    fn drop(&mut self) {
        let inner = &self.metrics.inner;
        inner.in_flight.get_or_create(&self.labels).dec();
        inner
            .stage_seconds
            .get_or_create(&self.labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}
