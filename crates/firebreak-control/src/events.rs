//! What `WatchMode` streams, and the expiry that switches crisis mode off by itself.
//!
//! Both read the control bucket only, so any replica can serve a watcher and the
//! expiry survives a restart of the control role: the deadline is in the stored mode.

use std::time::Duration;

use firebreak_bus::KvEntry;
use firebreak_core::CrisisMode;
use firebreak_core::crisis::KV_CRISIS_KEY;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::audit::SYSTEM_ACTOR;
use crate::mode::{Cause, Control, ControlError, ModeChange, StoredMode};

/// KV key of the latest surge alert (JSON [`SurgeAlert`]).
pub const KV_SURGE_KEY: &str = "surge";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeEventKind {
    Changed,
    Expired,
    SurgeAlert,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModeEvent {
    pub kind: ModeEventKind,
    pub mode: CrisisMode,
    /// For surge alerts, what was measured.
    pub detail: String,
}

/// A surge alert as stored for watchers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurgeAlert {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Human-readable measurement, e.g. "negative share 62% over the last 300 s is
    /// 12.4x the baseline 5% (300 messages)".
    pub detail: String,
    /// The mode right after the alert (on if the alert switched it on).
    pub mode: CrisisMode,
}

fn mode_event(entry: &KvEntry) -> Option<ModeEvent> {
    let stored = StoredMode::from_entry(entry)?;
    let kind = match stored.cause {
        Cause::Expired => ModeEventKind::Expired,
        Cause::Changed | Cause::Surge => ModeEventKind::Changed,
    };
    Some(ModeEvent {
        kind,
        mode: stored.mode,
        detail: String::new(),
    })
}

fn surge_event(entry: &KvEntry) -> Option<ModeEvent> {
    let alert: SurgeAlert = serde_json::from_slice(&entry.value).ok()?;
    Some(ModeEvent {
        kind: ModeEventKind::SurgeAlert,
        mode: alert.mode,
        detail: alert.detail,
    })
}

impl Control {
    /// The current mode first, then every change, expiry and surge alert.
    pub async fn watch(&self) -> Result<BoxStream<'static, ModeEvent>, ControlError> {
        let kv = self.kv().clone();
        // Subscribe before reading the current state, then drop what the snapshot
        // already covers, so nothing falls between the two.
        let crisis = kv.watch(KV_CRISIS_KEY).await?;
        let surge = kv.watch(KV_SURGE_KEY).await?;
        let current = self.mode().await?;
        let surge_seen = kv.get(KV_SURGE_KEY).await?.map_or(0, |e| e.revision);
        let mode_seen = current.revision;
        let changes = crisis.filter_map(move |entry| {
            futures::future::ready(
                (entry.revision > mode_seen)
                    .then(|| mode_event(&entry))
                    .flatten(),
            )
        });
        let alerts = surge.filter_map(move |entry| {
            futures::future::ready(
                (entry.revision > surge_seen)
                    .then(|| surge_event(&entry))
                    .flatten(),
            )
        });
        let first = ModeEvent {
            kind: ModeEventKind::Changed,
            mode: current,
            detail: String::new(),
        };
        Ok(futures::stream::iter([first])
            .chain(futures::stream::select(changes, alerts))
            .boxed())
    }

    /// Writes the switch-off of an expired mode, audited as `system`. `Ok(None)` when
    /// there is nothing to expire, or another replica (or a person) wrote first.
    pub async fn expire_if_due(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<CrisisMode>, ControlError> {
        let stored = self.stored().await?;
        let mode = &stored.mode;
        let due = mode.active && mode.expires_at.is_some_and(|at| at <= now);
        if !due {
            return Ok(None);
        }
        let change = ModeChange {
            active: false,
            reason: format!("expired (switched on by {}: {})", mode.actor, mode.reason),
            playbook: None,
            expires_in_secs: None,
            force: false,
        };
        match self
            .set_mode_with_cause(SYSTEM_ACTOR, change, Cause::Expired)
            .await
        {
            Ok(mode) => Ok(Some(mode)),
            Err(ControlError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The control role's expiry loop: follows the stored mode and switches it off at
    /// its deadline. A mode already past its deadline at start-up (the role was down)
    /// is switched off at once.
    pub async fn run_expiry(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let mut changes = match self.kv().watch(KV_CRISIS_KEY).await {
                Ok(changes) => changes,
                Err(e) => {
                    warn!(error = %e, "cannot watch crisis mode for expiry, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let mut deadline: Option<OffsetDateTime> = None;
            loop {
                let wait = deadline.map(|at| {
                    let left = at - OffsetDateTime::now_utc();
                    Duration::try_from(left).unwrap_or(Duration::ZERO)
                });
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    change = changes.next() => match change {
                        Some(entry) => {
                            deadline = StoredMode::from_entry(&entry)
                                .filter(|s| s.mode.active)
                                .and_then(|s| s.mode.expires_at);
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {
                        match self.expire_if_due(OffsetDateTime::now_utc()).await {
                            Ok(Some(mode)) => info!(revision = mode.revision, "crisis mode expired"),
                            Ok(None) => {}
                            Err(e) => {
                                warn!(error = %e, "cannot write crisis expiry, retrying");
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                continue;
                            }
                        }
                        deadline = None;
                    }
                }
            }
        }
    }
}
