//! Activation, rollback, and the way back from crisis mode.
//!
//! The `playbook-history` key holds the activations, newest last, and the normal-mode
//! playbook that ran before crisis mode switched another one on. `rollback` pops the
//! newest activation and restores the one before; `crisis off` restores the normal-mode
//! playbook. Both are written with compare-and-set, so two crisis-team members acting at
//! once never lose each other's step.

use bytes::Bytes;
use firebreak_core::crisis::KV_PLAYBOOK_KEY;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;

use crate::AuditEntry;
use crate::mode::{Control, ControlError};
use crate::versions::Resolved;

/// The key of the activation history.
pub const HISTORY_KEY: &str = "playbook-history";

/// Activations kept: enough to walk back through a long crisis day.
pub const MAX_HISTORY: usize = 50;

/// Compare-and-set attempts before giving up with a conflict.
const CAS_ATTEMPTS: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// The version, `name@hash`.
    pub version: String,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Newest last. The first entry is what ran before any activation was recorded.
    pub activations: Vec<Activation>,
    /// The normal-mode playbook to restore when crisis mode goes off; set when crisis
    /// mode went on with a playbook of its own.
    pub normal_before_crisis: Option<String>,
}

/// How an activation came about, for the history and the audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `activate`, or a crisis change that names a playbook.
    Activate,
    /// `rollback`: the newest activation is dropped.
    Rollback,
    /// Crisis mode off, back to the normal-mode playbook.
    Restore,
}

impl Control {
    pub async fn history(&self) -> Result<(History, u64), ControlError> {
        match self.kv().get(HISTORY_KEY).await? {
            Some(entry) => Ok((
                serde_json::from_slice(&entry.value).unwrap_or_default(),
                entry.revision,
            )),
            None => Ok((History::default(), 0)),
        }
    }

    /// Applies `change` to the history with compare-and-set, retrying on a race.
    pub(crate) async fn update_history<T>(
        &self,
        mut change: impl FnMut(&mut History) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut history, revision) = self.history().await?;
            let result = change(&mut history)?;
            let value = serde_json::to_vec(&history)
                .map_err(|e| ControlError::Unavailable(e.to_string()))?;
            if self
                .kv()
                .put_if(HISTORY_KEY, Bytes::from(value), revision)
                .await?
                .is_some()
            {
                return Ok(result);
            }
        }
        Err(ControlError::Conflict(0))
    }

    /// The normal-mode playbook `crisis off` returns to, when crisis mode brought its own.
    pub async fn normal_playbook(&self) -> Result<Option<String>, ControlError> {
        Ok(self.history().await?.0.normal_before_crisis)
    }

    /// Makes `target` the playbook every role runs, records it and audits it. Sensitive
    /// messages found by a rehearsal of `target` refuse it unless `force` (audited).
    pub(crate) async fn write_active(
        &self,
        actor: &str,
        target: &Resolved,
        reason: &str,
        step: Step,
        force: bool,
    ) -> Result<(), ControlError> {
        let version = target.info.version.clone();
        // Only a new activation is held back: rollback and the return from crisis mode
        // restore what already ran.
        let blocked = match step {
            Step::Activate => self.rehearsal_block(&version).await?,
            Step::Rollback | Step::Restore => None,
        };
        if let Some(found) = &blocked
            && !force
        {
            return Err(ControlError::Blocked(format!(
                "the last rehearsal of {version} found {found} sensitive message(s) it would \
                 answer automatically; fix the playbook and rehearse again, or activate with \
                 force (audited)"
            )));
        }
        let running = self.active_playbook().await?.version().to_string();
        self.update_history(|history| {
            if history.activations.is_empty() {
                // What ran before the first recorded activation, so rollback can reach it.
                history.activations.push(Activation {
                    version: running.clone(),
                    actor: String::new(),
                    at: OffsetDateTime::now_utc(),
                });
            }
            match step {
                Step::Rollback => {
                    history.activations.pop();
                }
                Step::Activate | Step::Restore => {
                    history.activations.push(Activation {
                        version: version.clone(),
                        actor: actor.to_string(),
                        at: OffsetDateTime::now_utc(),
                    });
                }
            }
            let excess = history.activations.len().saturating_sub(MAX_HISTORY);
            history.activations.drain(..excess);
            Ok(())
        })
        .await?;
        self.kv()
            .put(KV_PLAYBOOK_KEY, target.source_bytes())
            .await?;
        info!(version = %version, "playbook activated");
        let action = match step {
            Step::Activate => "playbook.activate",
            Step::Rollback => "playbook.rollback",
            Step::Restore => "playbook.restore",
        };
        self.audit()
            .append(
                AuditEntry::new(actor, action, target.info.name.clone(), reason)
                    .with_detail(serde_json::json!({"version": version, "previous": running})),
            )
            .await?;
        if let Some(found) = blocked {
            self.audit()
                .append(
                    AuditEntry::new(actor, "playbook.force", target.info.name.clone(), reason)
                        .with_detail(serde_json::json!({
                            "version": version,
                            "sensitive_auto_replies": found,
                        })),
                )
                .await?;
        }
        Ok(())
    }

    /// Activates the playbook `reference` names (see [`Control::resolve`]) without
    /// touching crisis mode.
    pub async fn activate(
        &self,
        actor: &str,
        reference: &str,
        reason: &str,
        force: bool,
    ) -> Result<Resolved, ControlError> {
        let mut target = self.resolve(reference).await?;
        self.write_active(actor, &target, reason, Step::Activate, force)
            .await?;
        target.info.active = true;
        Ok(target)
    }

    /// Goes back to the playbook active before the newest activation.
    pub async fn rollback(&self, actor: &str, reason: &str) -> Result<Resolved, ControlError> {
        let (history, _) = self.history().await?;
        let n = history.activations.len();
        if n < 2 {
            return Err(ControlError::Invalid {
                field: "rollback".into(),
                message: "no earlier activation to go back to".into(),
            });
        }
        let previous = history.activations[n - 2].version.clone();
        let mut target = self.resolve(&previous).await?;
        self.write_active(actor, &target, reason, Step::Rollback, false)
            .await?;
        target.info.active = true;
        Ok(target)
    }
}
