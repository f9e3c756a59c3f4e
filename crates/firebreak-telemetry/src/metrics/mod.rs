//! The Prometheus metrics every role exports on `/metrics`.
//!
//! Every family is registered when [`Metrics::new`] runs, with every label combination
//! it can take at zero (`labels`), so a dashboard or an alert reads 0 rather than "no
//! data" before the first event. Gauges that describe the cluster (crisis mode, open
//! cases, consumer lag...) are set by the binary's sampler; counters by the stages.

mod exposition;
pub mod labels;
mod record;

pub use record::ConsumerLag;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub(crate) type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Histograms = Family<Labels, Histogram>;

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

pub(crate) struct Inner {
    registry: Registry,
    pub(crate) ingest: Counters,
    pub(crate) rejected: Counters,
    pub(crate) urgent: Counters,
    pub(crate) skipped: Counters,
    pub(crate) outcomes: Counters,
    pub(crate) dead_letters: Counters,
    pub(crate) stage_seconds: Histograms,
    pub(crate) in_flight: Gauges,
    pub(crate) events: Counters,
    pub(crate) crisis_mode: Gauge,
    pub(crate) open_cases: Gauges,
    pub(crate) budget_waiting: Gauges,
    pub(crate) budget_per_second: FloatGauges,
    pub(crate) budget_grants: Counters,
    pub(crate) budget_waits: Counters,
    pub(crate) deferrals: Counters,
    pub(crate) replies: Counters,
    pub(crate) escalations: Counters,
    pub(crate) consumer_pending: Gauges,
    pub(crate) consumer_ack_pending: Gauges,
    pub(crate) consumer_redelivered: Gauges,
    pub(crate) stream_bytes: Gauges,
    pub(crate) stream_max_bytes: Gauges,
    pub(crate) end_to_end: Histograms,
    pub(crate) connector_errors: Counters,
    pub(crate) redeliveries: Counters,
    pub(crate) sla_breaches: Counters,
    pub(crate) webhook_rejected: Counters,
    pub(crate) auth_rejected: Counters,
    pub(crate) dlq_replays: Counters,
    pub(crate) unfinished_swept: Counters,
    pub(crate) token_reloads: Counters,
    /// Key questions seen so far, each with a series of its own (bounded).
    pub(crate) key_questions: Mutex<Vec<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers families on one registry, keeping the calls short.
struct Builder(Registry);

impl Builder {
    fn add<M>(&mut self, name: &str, help: &str, metric: M) -> M
    where
        M: prometheus_client::registry::Metric + Clone,
    {
        self.0.register(name, help, metric.clone());
        metric
    }
}

/// Creates every combination of the given label sets, so each series exists at 0.
fn zero<M, C>(family: &Family<Labels, M, C>, sets: &[(&'static str, &[&str])])
where
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    let mut combos: Vec<Labels> = vec![Vec::new()];
    for (name, values) in sets {
        combos = combos
            .into_iter()
            .flat_map(|base| {
                values.iter().map(move |v| {
                    let mut labels = base.clone();
                    labels.push((*name, v.to_string()));
                    labels
                })
            })
            .collect();
    }
    for labels in combos {
        let _ = family.get_or_create(&labels);
    }
}

impl Metrics {
    pub fn new() -> Self {
        use labels::*;
        let mut b = Builder(Registry::with_prefix("firebreak"));
        let ingest = b.add(
            "ingest",
            "Messages accepted by ingest, by source and result",
            Counters::default(),
        );
        zero(
            &ingest,
            &[("source", INGEST_SOURCES), ("result", INGEST_RESULTS)],
        );
        let urgent = b.add(
            "ingest_urgent",
            "Accepted messages ingest's pre-screen sent down the urgent lane (FB_URGENT), \
             by the P1 kind they look like",
            Counters::default(),
        );
        zero(&urgent, &[("kind", URGENT_KINDS)]);
        let rejected = b.add(
            "ingest_rejected",
            "Requests refused by ingest, by source and reason",
            Counters::default(),
        );
        zero(
            &rejected,
            &[
                ("source", &["api"]),
                (
                    "reason",
                    &[
                        "malformed",
                        "too_large",
                        "invalid",
                        "rate_limited",
                        "bus_unavailable",
                        "store_unavailable",
                    ],
                ),
            ],
        );
        let skipped = b.add(
            "webhook_skipped",
            "Platform events skipped on purpose (echoes, receipts, unknown types)",
            Counters::default(),
        );
        // Skips are not alarms: their series appear with the first one.
        let outcomes = b.add(
            "outcomes",
            "Terminal outcomes reached, by outcome",
            Counters::default(),
        );
        zero(&outcomes, &[("outcome", OUTCOMES)]);
        let dead_letters = b.add(
            "dead_letters",
            "Messages moved to the dead-letter stream (an alarm: should be 0)",
            Counters::default(),
        );
        zero(&dead_letters, &[("stage", STAGES)]);
        let stage_seconds = b.add(
            "stage_seconds",
            "Time to handle one delivery, by stage",
            Histograms::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
        );
        zero(&stage_seconds, &[("stage", STAGES)]);
        let in_flight = b.add(
            "in_flight",
            "Deliveries being handled, by stage",
            Gauges::default(),
        );
        zero(&in_flight, &[("stage", STAGES)]);
        let events = b.add(
            "events",
            "Notable events by kind (budget deferrals, SLA breaches, surge alerts...)",
            Counters::default(),
        );
        zero(
            &events,
            &[(
                "kind",
                &[
                    "reply_deferred",
                    "sla_breach",
                    "case_audit_deferred",
                    "case_audit_lost",
                    "surge_alert",
                ],
            )],
        );
        let crisis_mode = b.add(
            "crisis_mode",
            "1 while crisis mode is on, else 0",
            Gauge::default(),
        );
        let open_cases = b.add(
            "open_cases",
            "Moderation cases not resolved, by priority and status",
            Gauges::default(),
        );
        zero(
            &open_cases,
            &[("priority", PRIORITIES), ("status", OPEN_STATUSES)],
        );
        let budget_waiting = b.add(
            "reply_budget_waiting",
            "Replies waiting in line for their channel's budget",
            Gauges::default(),
        );
        zero(&budget_waiting, &[("channel", CHANNELS)]);
        let budget_per_second = b.add(
            "reply_budget_per_second",
            "The active playbook's automatic-reply budget per channel (replies/s)",
            FloatGauges::default(),
        );
        zero(&budget_per_second, &[("channel", CHANNELS)]);
        let budget_grants = b.add(
            "reply_budget_grants",
            "Replies granted a slot in their channel's budget",
            Counters::default(),
        );
        zero(&budget_grants, &[("channel", CHANNELS)]);
        let budget_waits = b.add(
            "reply_budget_waits",
            "Times a reply was told to wait for its channel's budget",
            Counters::default(),
        );
        zero(&budget_waits, &[("channel", CHANNELS)]);
        let deferrals = b.add(
            "reply_deferrals",
            "Replies deferred (first deferral of each message), by channel",
            Counters::default(),
        );
        zero(&deferrals, &[("channel", CHANNELS)]);
        let replies = b.add(
            "replies",
            "Automatic replies sent, by channel and key question",
            Counters::default(),
        );
        zero(
            &replies,
            &[
                ("channel", CHANNELS),
                ("key_question", &["first_line", "other"]),
            ],
        );
        let escalations = b.add(
            "escalations",
            "Messages escalated to moderators, once per flag they carry",
            Counters::default(),
        );
        zero(&escalations, &[("flag", FLAGS)]);
        let consumer_pending = b.add(
            "jetstream_consumer_pending",
            "Messages in the stream not yet delivered to the consumer (lag)",
            Gauges::default(),
        );
        let consumer_ack_pending = b.add(
            "jetstream_consumer_ack_pending",
            "Messages delivered to the consumer and not yet acknowledged",
            Gauges::default(),
        );
        let consumer_redelivered = b.add(
            "jetstream_consumer_redelivered",
            "Unacknowledged messages delivered more than once",
            Gauges::default(),
        );
        for family in [
            &consumer_pending,
            &consumer_ack_pending,
            &consumer_redelivered,
        ] {
            for (stream, consumer) in CONSUMERS {
                zero(family, &[("stream", &[stream]), ("consumer", &[consumer])]);
            }
        }
        let stream_bytes = b.add(
            "jetstream_stream_bytes",
            "Bytes stored in each stream",
            Gauges::default(),
        );
        zero(&stream_bytes, &[("stream", STREAMS)]);
        let stream_max_bytes = b.add(
            "jetstream_stream_max_bytes",
            "Each stream's byte limit (past it, publishes are refused)",
            Gauges::default(),
        );
        zero(&stream_max_bytes, &[("stream", STREAMS)]);
        let end_to_end = b.add(
            "end_to_end_seconds",
            "From ingest's acceptance to the terminal outcome, by outcome",
            Histograms::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.0, 16))),
        );
        // A dead letter has no end-to-end time: the worker holds no decoded message then,
        // and firebreak_dead_letters_total is its signal.
        zero(
            &end_to_end,
            &[("outcome", &["replied", "escalated", "ignored"])],
        );
        let connector_errors = b.add(
            "connector_errors",
            "Replies a platform connector failed to send, by channel and error kind",
            Counters::default(),
        );
        zero(
            &connector_errors,
            &[("channel", CHANNELS), ("kind", CONNECTOR_ERRORS)],
        );
        let redeliveries = b.add(
            "redeliveries",
            "Deliveries handled again after an earlier attempt (retry or redelivery), by stage",
            Counters::default(),
        );
        zero(&redeliveries, &[("stage", STAGES)]);
        let sla_breaches = b.add(
            "sla_breaches",
            "Cases that missed their SLA, by priority and the tier now notified",
            Counters::default(),
        );
        zero(
            &sla_breaches,
            &[("priority", PRIORITIES), ("tier", SLA_TIERS)],
        );
        let webhook_rejected = b.add(
            "webhook_rejected",
            "Webhook deliveries refused, by platform and reason (signature failures are the 401s)",
            Counters::default(),
        );
        zero(
            &webhook_rejected,
            &[
                ("platform", WEBHOOK_PLATFORMS),
                ("reason", WEBHOOK_REJECT_REASONS),
            ],
        );
        let auth_rejected = b.add(
            "auth_rejected",
            "API calls refused for their token: 401 unauthenticated, 403 forbidden",
            Counters::default(),
        );
        zero(
            &auth_rejected,
            &[("transport", TRANSPORTS), ("reason", AUTH_REJECT_REASONS)],
        );
        let dlq_replays = b.add(
            "dlq_replays",
            "Dead-lettered messages put back through the pipeline, by the stage that failed",
            Counters::default(),
        );
        zero(&dlq_replays, &[("stage", STAGES)]);
        let unfinished_swept = b.add(
            "unfinished_swept",
            "Accepted messages the sweeper found with no outcome past its bound, by what it \
             did (an alarm: should be 0)",
            Counters::default(),
        );
        zero(&unfinished_swept, &[("result", SWEPT_RESULTS)]);
        let token_reloads = b.add(
            "token_reloads",
            "Tokens-file reloads, by result (an invalid file keeps the old tokens)",
            Counters::default(),
        );
        zero(&token_reloads, &[("result", &["applied", "invalid"])]);
        Metrics {
            inner: Arc::new(Inner {
                registry: b.0,
                ingest,
                rejected,
                urgent,
                skipped,
                outcomes,
                dead_letters,
                stage_seconds,
                in_flight,
                events,
                crisis_mode,
                open_cases,
                budget_waiting,
                budget_per_second,
                budget_grants,
                budget_waits,
                deferrals,
                replies,
                escalations,
                consumer_pending,
                consumer_ack_pending,
                consumer_redelivered,
                stream_bytes,
                stream_max_bytes,
                end_to_end,
                connector_errors,
                redeliveries,
                sla_breaches,
                webhook_rejected,
                auth_rejected,
                dlq_replays,
                unfinished_swept,
                token_reloads,
                key_questions: Mutex::new(Vec::new()),
            }),
        }
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

    /// The OpenMetrics exposition (what Prometheus asks for first).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }

    /// The classic Prometheus text format (0.0.4), for scrapers and tools that do not
    /// ask for OpenMetrics, such as `promtool check metrics` and curl.
    pub fn render_text(&self) -> String {
        exposition::classic_text(&self.render())
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
