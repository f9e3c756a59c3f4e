//! The SLA timer of the escalation role. Deadlines live in the store (a sorted set in
//! Redis), so they survive restarts; every replica polls, and each deadline fires once
//! because firing is a versioned commit (see [`Cases::fire_due`]).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::notify::Notifier;
use crate::service::Cases;

/// How often deadlines are checked; far below the shortest SLA (one second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

pub struct SlaTimer {
    pub cases: Arc<Cases>,
    pub notifier: Arc<dyn Notifier>,
    pub interval: Duration,
}

impl SlaTimer {
    pub fn new(cases: Arc<Cases>, notifier: Arc<dyn Notifier>) -> Self {
        SlaTimer {
            cases,
            notifier,
            interval: POLL_INTERVAL,
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let breaches = match self.cases.fire_due(time::OffsetDateTime::now_utc()).await {
                Ok(breaches) => breaches,
                Err(e) => {
                    warn!(error = %e, "sla timer cannot read deadlines");
                    continue;
                }
            };
            for breach in breaches {
                // The breach is already on the case and in the event log; the webhook
                // is the out-of-band nudge, sent without holding up the next tick.
                let notifier = self.notifier.clone();
                tokio::spawn(async move {
                    if let Err(e) = notifier.notify(&breach).await {
                        warn!(case_id = %breach.case.id, error = e, "breach notification failed");
                    }
                });
            }
        }
    }
}
