//! Wiring of the control role: the crisis service every role serves, and the tasks only
//! the control role runs (expiry, surge monitor), plus the classify role's rate samples.

use std::sync::Arc;

use firebreak_bus::Bus;
use firebreak_control::notify::{LogNotifier, SurgeNotifier, WebhookNotifier};
use firebreak_control::surge::SurgeMonitor;
use firebreak_control::{BusAudit, Control, SurgeAlert};
use firebreak_pipeline::insights::{InsightsRecorder, publish_insights};
use firebreak_pipeline::rates::{RateRecorder, publish_rates};
use firebreak_telemetry::Metrics;
use firebreak_triage::Playbook;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::RunConfig;

/// Counts surge alerts (`firebreak_events_total{kind="surge_alert"}`), so the crisis
/// team's alert fires from the same signal the chat webhook gets.
struct CountedNotifier {
    inner: Arc<dyn SurgeNotifier>,
    metrics: Metrics,
}

#[async_trait::async_trait]
impl SurgeNotifier for CountedNotifier {
    async fn notify(&self, alert: &SurgeAlert) -> Result<(), String> {
        self.metrics.event("surge_alert");
        self.inner.notify(alert).await
    }
}

/// The crisis service on the bus's KV bucket and audit stream. `fallback` is the
/// playbook roles run while the bucket holds none.
pub fn control(bus: &Arc<dyn Bus>, fallback: Playbook) -> Control {
    Control::new(bus.kv(), Arc::new(BusAudit::new(bus.clone())), fallback)
}

/// The classify role's per-second rate samples, under a name unique to this process.
/// The classify replica's publishers: rate samples for the surge monitor, and its
/// insights snapshot.
pub fn spawn_rates(
    tasks: &mut JoinSet<()>,
    rates: &Arc<RateRecorder>,
    insights: &Arc<InsightsRecorder>,
    bus: &Arc<dyn Bus>,
    shutdown: &CancellationToken,
) {
    let instance = format!("classify-{}", uuid_suffix());
    tasks.spawn(publish_rates(
        rates.clone(),
        bus.clone(),
        instance.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(publish_insights(
        insights.clone(),
        bus.clone(),
        instance,
        shutdown.clone(),
    ));
}

fn uuid_suffix() -> String {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Expiry and the surge monitor. Several control replicas may run them: writes are
/// compare-and-set, so an expiry is written and audited once.
pub fn spawn_control_role(
    tasks: &mut JoinSet<()>,
    control: &Control,
    bus: &Arc<dyn Bus>,
    config: &RunConfig,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let notifier: Arc<dyn SurgeNotifier> = match &config.notify_webhook_url {
        Some(url) => Arc::new(WebhookNotifier::new(url.clone()).map_err(anyhow::Error::msg)?),
        None => Arc::new(LogNotifier),
    };
    let notifier = Arc::new(CountedNotifier {
        inner: notifier,
        metrics: metrics.clone(),
    });
    tasks.spawn(control.clone().run_expiry(shutdown.clone()));
    let monitor = SurgeMonitor {
        control: control.clone(),
        bus: bus.clone(),
        notifier,
    };
    tasks.spawn(monitor.run(shutdown.clone()));
    Ok(())
}

/// The sweeper runs with the control role: one per cluster is enough, and its work is
/// idempotent if two control replicas overlap (the outcome is set once, the
/// dead-letter publish dedups).
pub fn spawn_sweeper(
    tasks: &mut JoinSet<()>,
    bus: &Arc<dyn Bus>,
    log: &Arc<dyn firebreak_store::MessageLog>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) {
    let sweeper =
        firebreak_pipeline::sweeper::Sweeper::new(bus.clone(), log.clone(), metrics.clone());
    tasks.spawn(sweeper.run(shutdown.clone()));
}
