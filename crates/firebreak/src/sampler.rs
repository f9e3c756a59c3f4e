//! Sets the gauges that describe the cluster rather than one delivery: crisis mode,
//! open cases, the reply budgets and their lines, JetStream consumer lag and how full
//! each stream is. Counters are kept by the stages themselves.
//!
//! Every process samples crisis mode and its budgets (what it itself applies). Only the
//! control role reads the shared state (cases, consumers, streams), so those series come
//! from a handful of pods: dashboards take `max` across them.

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::Bus;
use firebreak_core::{Channel, subjects};
use firebreak_escalation::{CaseStatus, Cases};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_reply::Budget;
use firebreak_telemetry::{ConsumerLag, Metrics};
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Often enough for a dashboard, rare enough to cost nothing (a few Redis and NATS
/// requests per round).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Open cases listed per status at most; cases are human-scale.
const CASES_LIMIT: usize = 10_000;

pub struct Sampler {
    pub metrics: Metrics,
    pub settings: LiveSettings,
    pub budget: Arc<dyn Budget>,
    /// Set on processes that report the shared state (the control role).
    pub cluster: Option<Cluster>,
}

pub struct Cluster {
    pub bus: Arc<dyn Bus>,
    pub cases: Arc<Cases>,
}

impl Sampler {
    /// Samples every [`INTERVAL`] until shutdown. The caller samples once first, before
    /// the server answers, so the first scrape already reads the real values.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
            self.sample().await;
        }
    }

    /// One round. A source that fails leaves its gauges at their last value.
    pub async fn sample(&self) {
        let settings = self.settings.current();
        let crisis = settings.crisis_active();
        self.metrics.set_crisis_mode(crisis);
        let budgets = &settings.playbook().mode(crisis).budgets;
        for channel in Channel::ALL {
            let key = firebreak_reply::keys::channel_budget(channel);
            let waiting = self.budget.waiting(&key).await.unwrap_or_else(|e| {
                debug!(error = %e, "cannot read a budget line");
                0
            });
            self.metrics
                .set_budget(channel.as_str(), budgets.channel_per_sec(channel), waiting);
        }
        if let Some(cluster) = &self.cluster {
            self.sample_cluster(cluster).await;
        }
    }

    async fn sample_cluster(&self, cluster: &Cluster) {
        let statuses = [
            CaseStatus::Open,
            CaseStatus::Claimed,
            CaseStatus::Acknowledged,
            CaseStatus::Snoozed,
        ];
        match cluster.cases.list(&statuses, CASES_LIMIT).await {
            Ok(cases) => {
                let counts: Vec<((&str, &str), u64)> = cases
                    .iter()
                    .map(|c| ((c.priority.as_str(), c.status.as_str()), 1))
                    .collect();
                self.metrics.set_open_cases(&counts);
            }
            Err(e) => debug!(error = %e, "cannot count open cases"),
        }
        for (stream, durable) in subjects::pipeline_consumers() {
            match cluster.bus.consumer_backlog(stream, durable).await {
                Ok(b) => self.metrics.set_consumer_lag(
                    durable,
                    ConsumerLag {
                        pending: b.pending,
                        ack_pending: b.ack_pending,
                        redelivered: b.redelivered,
                    },
                ),
                Err(e) => debug!(stream, error = %e, "cannot read a consumer's backlog"),
            }
        }
        for stream in subjects::ALL_STREAMS {
            match cluster.bus.stream_usage(stream).await {
                Ok(u) => self.metrics.set_stream_usage(stream, u.bytes, u.max_bytes),
                Err(e) => debug!(stream, error = %e, "cannot read a stream's size"),
            }
        }
    }
}
