//! Surge alerts, after Sprinklr's anomaly alerts: when the share of negative messages
//! over the last few minutes is the playbook's multiple of its share over the baseline
//! window, raise an alert (audit, `WatchMode` event, chat notifier) and, if the
//! playbook allows, switch crisis mode on.
//!
//! The recent window is a twelfth of the baseline window (5 minutes of an hour), at
//! least 2 s. The baseline share has a floor of 5%, so a quiet, friendly baseline does
//! not turn a handful of complaints into an alert, and a cold start has a baseline.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use firebreak_bus::Bus;
use firebreak_core::subjects::STREAM_RATES;
use firebreak_triage::playbook::Surge;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::audit::{AuditEntry, SYSTEM_ACTOR};
use crate::events::{KV_SURGE_KEY, SurgeAlert};
use crate::mode::{Cause, Control, ModeChange};
use crate::notify::SurgeNotifier;

/// The lowest baseline share of negative messages compared against.
pub const BASELINE_FLOOR: f64 = 0.05;

/// How often the monitor reads new samples and evaluates.
const TICK: Duration = Duration::from_millis(500);

/// KV key a control replica claims (compare-and-set) before raising an alert.
const KV_SURGE_CLAIM_KEY: &str = "surge_claim";

/// Samples read per request.
const READ_PAGE: usize = 512;

/// The fields of a classify rate sample the monitor needs
/// (`firebreak_pipeline::rates::RateSample`).
#[derive(Clone, Debug, Deserialize)]
pub struct Sample {
    pub start_ms: i64,
    pub end_ms: i64,
    pub inbound: u64,
    pub negative: u64,
}

/// What a surge evaluation measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub recent_secs: u64,
    pub recent_inbound: u64,
    pub recent_negative: u64,
    pub recent_share: f64,
    pub baseline_share: f64,
    pub multiple: f64,
}

impl Measurement {
    pub fn describe(&self) -> String {
        format!(
            "negative share {:.0}% of {} messages over the last {} s is {:.1}x the baseline {:.0}% (alert at {:.1}x)",
            self.recent_share * 100.0,
            self.recent_inbound,
            self.recent_secs,
            self.recent_share / self.baseline_share,
            self.baseline_share * 100.0,
            self.multiple,
        )
    }
}

pub fn recent_window_secs(surge: &Surge) -> u64 {
    (surge.baseline_window_secs / 12).max(2)
}

/// The samples of the last baseline window, and whether an alert is already raised
/// for the surge under way (re-armed once the share falls back).
#[derive(Debug, Default)]
pub struct SurgeDetector {
    samples: VecDeque<Sample>,
    alerting: bool,
}

impl SurgeDetector {
    pub fn add(&mut self, sample: Sample) {
        self.samples.push_back(sample);
    }

    /// Marks a surge as already alerted (a restarted monitor finding a recent alert).
    pub fn set_alerting(&mut self) {
        self.alerting = true;
    }

    /// Evaluates at `now_ms`; `Some` only on the evaluation that starts a surge.
    pub fn evaluate(&mut self, now_ms: i64, surge: &Surge) -> Option<Measurement> {
        let baseline_start = now_ms - surge.baseline_window_secs as i64 * 1000;
        while self
            .samples
            .front()
            .is_some_and(|s| s.end_ms < baseline_start)
        {
            self.samples.pop_front();
        }
        let recent_secs = recent_window_secs(surge);
        let recent_start = now_ms - recent_secs as i64 * 1000;
        let (mut recent, mut recent_neg, mut base, mut base_neg) = (0u64, 0u64, 0u64, 0u64);
        for sample in &self.samples {
            if sample.end_ms > recent_start {
                recent += sample.inbound;
                recent_neg += sample.negative;
            } else {
                base += sample.inbound;
                base_neg += sample.negative;
            }
        }
        let baseline_share = if base == 0 {
            BASELINE_FLOOR
        } else {
            (base_neg as f64 / base as f64).max(BASELINE_FLOOR)
        };
        let recent_share = if recent == 0 {
            0.0
        } else {
            recent_neg as f64 / recent as f64
        };
        let surging = recent >= u64::from(surge.min_messages)
            && recent_share >= surge.negative_rate_multiple * baseline_share;
        if !surging {
            self.alerting = false;
            return None;
        }
        if self.alerting {
            return None;
        }
        self.alerting = true;
        Some(Measurement {
            recent_secs,
            recent_inbound: recent,
            recent_negative: recent_neg,
            recent_share,
            baseline_share,
            multiple: surge.negative_rate_multiple,
        })
    }
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The control role's surge monitor: reads every classify replica's rate samples from
/// `FB_RATES` and evaluates the active playbook's surge settings.
pub struct SurgeMonitor {
    pub control: Control,
    pub bus: Arc<dyn Bus>,
    pub notifier: Arc<dyn SurgeNotifier>,
}

impl SurgeMonitor {
    /// Finds the first sample that may still fall in the baseline window, by binary
    /// search over the stream, so a restart reads minutes of samples, not a day.
    async fn seek(&self, since_ms: i64) -> Result<u64, firebreak_bus::BusError> {
        let bounds = self.bus.stream_bounds(STREAM_RATES).await?;
        let (mut low, mut high) = (bounds.first, bounds.last + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let found = self.bus.read_stream(STREAM_RATES, mid, 1).await?;
            let Some(stored) = found.first() else {
                high = mid;
                continue;
            };
            let end =
                serde_json::from_slice::<Sample>(&stored.payload).map_or(i64::MIN, |s| s.end_ms);
            if end < since_ms {
                low = stored.sequence + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut detector = SurgeDetector::default();
        let mut cursor: Option<u64> = None;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let surge = match self.control.active_playbook().await {
                Ok(playbook) => playbook.surge().clone(),
                Err(e) => {
                    warn!(error = %e, "surge monitor cannot read the playbook");
                    continue;
                }
            };
            let next = match cursor {
                Some(next) => next,
                None => {
                    let since = now_ms() - surge.baseline_window_secs as i64 * 1000;
                    match self.seek(since).await {
                        Ok(first) => {
                            if self.recently_alerted(&surge).await {
                                detector.set_alerting();
                            }
                            first
                        }
                        Err(e) => {
                            warn!(error = %e, "surge monitor cannot read rates");
                            continue;
                        }
                    }
                }
            };
            cursor = Some(match self.read_from(next, &mut detector).await {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, "surge monitor cannot read rates");
                    next
                }
            });
            if let Some(measurement) = detector.evaluate(now_ms(), &surge)
                && let Err(e) = self.raise(&measurement, &surge).await
            {
                warn!(error = %e, "cannot record surge alert");
            }
        }
    }

    async fn read_from(
        &self,
        mut next: u64,
        detector: &mut SurgeDetector,
    ) -> Result<u64, firebreak_bus::BusError> {
        loop {
            let page = self.bus.read_stream(STREAM_RATES, next, READ_PAGE).await?;
            let full = page.len() == READ_PAGE;
            for stored in page {
                next = stored.sequence + 1;
                if let Ok(sample) = serde_json::from_slice::<Sample>(&stored.payload) {
                    detector.add(sample);
                }
            }
            if !full {
                return Ok(next);
            }
        }
    }

    async fn recently_alerted(&self, surge: &Surge) -> bool {
        let Ok(Some(entry)) = self.control.kv().get(KV_SURGE_KEY).await else {
            return false;
        };
        let Ok(alert) = serde_json::from_slice::<SurgeAlert>(&entry.value) else {
            return false;
        };
        OffsetDateTime::now_utc() - alert.at
            < time::Duration::seconds(recent_window_secs(surge) as i64)
    }

    /// Several control replicas see the same samples; the one whose compare-and-set on
    /// the claim key succeeds raises the alert, and a claim younger than the recent
    /// window means this surge was already raised.
    async fn claim(&self, surge: &Surge) -> Result<bool, String> {
        let kv = self.control.kv();
        let current = kv
            .get(KV_SURGE_CLAIM_KEY)
            .await
            .map_err(|e| e.to_string())?;
        let now_ms = now_ms();
        if let Some(entry) = &current {
            let claimed_ms = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            if now_ms - claimed_ms < recent_window_secs(surge) as i64 * 1000 {
                return Ok(false);
            }
        }
        let expected = current.map_or(0, |e| e.revision);
        let won = kv
            .put_if(
                KV_SURGE_CLAIM_KEY,
                Bytes::from(now_ms.to_string()),
                expected,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(won.is_some())
    }

    /// Records one alert: the audit entry, crisis mode on (if allowed and off), then
    /// the watchers' event and the chat notification.
    async fn raise(&self, measurement: &Measurement, surge: &Surge) -> Result<(), String> {
        let mut detail = measurement.describe();
        // What the surge is about, from the insights; an alert goes out without them
        // rather than not at all.
        let themes = match crate::insights::read(self.bus.as_ref()).await {
            Ok(insights) => crate::insights::describe_top_themes(&insights, 3),
            Err(error) => {
                warn!(%error, "insights unavailable for the surge alert");
                None
            }
        };
        if let Some(themes) = &themes {
            detail.push_str("; ");
            detail.push_str(themes);
        }
        info!(
            recent_inbound = measurement.recent_inbound,
            recent_negative = measurement.recent_negative,
            "surge alert"
        );
        if !self.claim(surge).await? {
            return Ok(());
        }
        let mut mode = self.control.mode().await.map_err(|e| e.to_string())?;
        let switch_on = surge.auto_crisis && !mode.active;
        self.control
            .audit()
            .append(
                AuditEntry::new(SYSTEM_ACTOR, "surge.alert", "negative_rate", detail.clone())
                    .with_detail(serde_json::json!({
                        "recent_secs": measurement.recent_secs,
                        "recent_inbound": measurement.recent_inbound,
                        "recent_negative": measurement.recent_negative,
                        "recent_share": measurement.recent_share,
                        "baseline_share": measurement.baseline_share,
                        "multiple": measurement.multiple,
                        "auto_crisis": switch_on,
                    })),
            )
            .await
            .map_err(|e| e.to_string())?;
        if switch_on {
            let change = ModeChange {
                active: true,
                reason: format!("surge alert: {detail}"),
                playbook: None,
                expires_in_secs: None,
                force: false,
            };
            mode = self
                .control
                .set_mode_with_cause(SYSTEM_ACTOR, change, Cause::Surge)
                .await
                .map_err(|e| e.to_string())?;
        }
        let alert = SurgeAlert {
            at: OffsetDateTime::now_utc(),
            detail,
            mode,
        };
        let value = serde_json::to_vec(&alert).map_err(|e| e.to_string())?;
        self.control
            .kv()
            .put(KV_SURGE_KEY, Bytes::from(value))
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = self.notifier.notify(&alert).await {
            warn!(error = e, "surge notification failed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surge() -> Surge {
        Surge {
            negative_rate_multiple: 3.0,
            baseline_window_secs: 120,
            min_messages: 20,
            auto_crisis: false,
        }
    }

    fn second(detector: &mut SurgeDetector, at_s: i64, inbound: u64, negative: u64) {
        detector.add(Sample {
            start_ms: at_s * 1000,
            end_ms: at_s * 1000 + 1000,
            inbound,
            negative,
        });
    }

    #[test]
    fn a_jump_in_negative_share_alerts_once_per_surge() {
        let mut detector = SurgeDetector::default();
        // Baseline: 10% negative for 100 s.
        for s in 0..100 {
            second(&mut detector, s, 10, 1);
        }
        assert_eq!(detector.evaluate(100_000, &surge()), None, "calm");
        // Recent 10 s window: 50% negative.
        for s in 100..110 {
            second(&mut detector, s, 10, 5);
        }
        let alert = detector.evaluate(110_000, &surge()).expect("surge");
        assert_eq!(alert.recent_inbound, 100);
        assert_eq!(alert.recent_negative, 50);
        assert!((alert.baseline_share - 0.1).abs() < 0.01, "{alert:?}");
        assert!(alert.describe().contains("50%"), "{}", alert.describe());
        assert_eq!(
            detector.evaluate(110_500, &surge()),
            None,
            "already alerted"
        );
        // Calm again re-arms; the next surge alerts again.
        for s in 110..125 {
            second(&mut detector, s, 10, 0);
        }
        assert_eq!(detector.evaluate(125_000, &surge()), None);
        for s in 125..135 {
            second(&mut detector, s, 10, 9);
        }
        assert!(detector.evaluate(135_000, &surge()).is_some());
    }

    #[test]
    fn too_few_messages_never_alert() {
        let mut detector = SurgeDetector::default();
        for s in 100..110 {
            second(&mut detector, s, 1, 1);
        }
        assert_eq!(detector.evaluate(110_000, &surge()), None);
    }

    #[test]
    fn a_friendly_baseline_is_floored() {
        let mut detector = SurgeDetector::default();
        for s in 0..100 {
            second(&mut detector, s, 10, 0);
        }
        // 10% negative: twice the 5% floor, under the 3x multiple.
        for s in 100..110 {
            second(&mut detector, s, 10, 1);
        }
        assert_eq!(detector.evaluate(110_000, &surge()), None);
    }

    #[test]
    fn samples_older_than_the_baseline_are_forgotten() {
        let mut detector = SurgeDetector::default();
        for s in 0..10 {
            second(&mut detector, s, 100, 100);
        }
        // 200 s later the old negative burst no longer counts as recent or baseline.
        assert_eq!(detector.evaluate(210_000, &surge()), None);
        assert!(detector.samples.is_empty());
    }
}
