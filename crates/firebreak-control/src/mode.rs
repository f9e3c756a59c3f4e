//! Crisis mode and playbook activation: validate, write to the control bucket, audit.
//! Every role follows the bucket (`firebreak_pipeline::settings::LiveSettings`), so a
//! write here is the change; nothing else needs telling.

use std::sync::Arc;

use bytes::Bytes;
use firebreak_bus::{BusError, Kv, KvEntry};
use firebreak_core::crisis::{KV_CRISIS_KEY, KV_PLAYBOOK_KEY};
use firebreak_core::{CrisisMode, ErrorCode, FirebreakError};
use firebreak_triage::Playbook;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;

use crate::audit::{Audit, AuditEntry};
use crate::cache::PlaybookCache;
use crate::lifecycle::Step;

/// KV key prefix of uploaded playbooks: `playbook.<name>` holds the YAML.
pub const PLAYBOOK_PREFIX: &str = "playbook.";

/// The longest expiry accepted: a crisis switched on for longer should be reviewed.
pub const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;

/// Why the stored mode last changed. Stored alongside the mode so every watcher can
/// tell a person's change from an expiry; `LiveSettings` ignores the extra field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    #[default]
    Changed,
    Expired,
    Surge,
}

/// The value of the crisis key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredMode {
    #[serde(flatten)]
    pub mode: CrisisMode,
    #[serde(default)]
    pub cause: Cause,
}

impl StoredMode {
    pub fn from_entry(entry: &KvEntry) -> Option<StoredMode> {
        let mut stored: StoredMode = serde_json::from_slice(&entry.value).ok()?;
        stored.mode.revision = entry.revision;
        Some(stored)
    }
}

/// A requested change, as it arrives over HTTP or gRPC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeChange {
    pub active: bool,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub playbook: Option<String>,
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// Activate the playbook even though a rehearsal found sensitive messages it would
    /// answer automatically. Audited.
    #[serde(default)]
    pub force: bool,
}

/// A playbook, as listed: its latest version, and the built-in one as `default`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlaybookInfo {
    pub name: String,
    pub version: String,
    /// Whether it is the playbook every role runs now.
    pub active: bool,
    /// The built-in playbook, which cannot be uploaded over.
    pub builtin: bool,
    /// Who uploaded the latest version, with the token's role, and when.
    pub uploaded_by: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub uploaded_at: Option<OffsetDateTime>,
}

impl From<crate::versions::VersionInfo> for PlaybookInfo {
    fn from(v: crate::versions::VersionInfo) -> Self {
        PlaybookInfo {
            name: v.name,
            version: v.version,
            active: v.active,
            builtin: v.builtin,
            uploaded_by: v.uploaded_by,
            role: v.role,
            uploaded_at: v.uploaded_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no playbook named {0:?}")]
    UnknownPlaybook(String),
    #[error("crisis mode changed meanwhile (revision {0}); read it again and retry")]
    Conflict(u64),
    #[error("control bucket unavailable: {0}")]
    Unavailable(String),
    /// A rehearsal found sensitive messages the playbook would answer automatically.
    #[error("activation refused: {0}")]
    Blocked(String),
    /// Another rehearsal is running on this replica.
    #[error("a rehearsal is already running; try again when it is done")]
    Busy,
}

impl From<BusError> for ControlError {
    fn from(e: BusError) -> Self {
        ControlError::Unavailable(e.to_string())
    }
}

impl From<crate::audit::AuditError> for ControlError {
    fn from(e: crate::audit::AuditError) -> Self {
        ControlError::Unavailable(e.to_string())
    }
}

impl From<ControlError> for FirebreakError {
    fn from(e: ControlError) -> Self {
        let code = match &e {
            ControlError::Invalid { .. } => ErrorCode::InvalidArgument,
            ControlError::UnknownPlaybook(_) => ErrorCode::NotFound,
            ControlError::Conflict(_) | ControlError::Blocked(_) => ErrorCode::Conflict,
            ControlError::Busy => {
                return FirebreakError::exhausted(e.to_string(), std::time::Duration::from_secs(5));
            }
            ControlError::Unavailable(_) => {
                return FirebreakError::unavailable(
                    e.to_string(),
                    std::time::Duration::from_secs(1),
                );
            }
        };
        FirebreakError::new(code, e.to_string())
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ControlError {
    ControlError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Names become KV keys and URL segments, so they stay in a small alphabet.
pub fn check_playbook_name(name: &str) -> Result<(), ControlError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "playbook",
            "a name is 1-64 characters of a-z, 0-9, - and _",
        ))
    }
}

/// The control service. Cheap to clone; every replica may serve it, since the bucket
/// is the only state.
#[derive(Clone)]
pub struct Control {
    kv: Arc<dyn Kv>,
    audit: Arc<dyn Audit>,
    /// The playbook roles run while the bucket holds none (`--playbook` or built-in).
    fallback: Playbook,
    /// Every stored or uploaded source, parsed once.
    parsed: Arc<PlaybookCache>,
    /// One rehearsal at a time per process: each builds two engines and classifies
    /// thousands of messages twice, CPU the pipeline needs more.
    pub(crate) rehearsals: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    pub fn new(kv: Arc<dyn Kv>, audit: Arc<dyn Audit>, fallback: Playbook) -> Self {
        Control {
            kv,
            audit,
            fallback,
            parsed: Arc::default(),
            rehearsals: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Loads a playbook through the cache, turning a validation failure into a 400 that
    /// names the field and line (the triage crate's message already carries both).
    pub(crate) fn load_playbook(&self, source: &[u8]) -> Result<Playbook, ControlError> {
        self.parsed
            .load(source)
            .map_err(|message| invalid("playbook", message))
    }

    /// Sources parsed since start-up: each once, however often it is listed or read.
    pub fn playbook_parses(&self) -> usize {
        self.parsed.parses()
    }

    pub fn audit(&self) -> &Arc<dyn Audit> {
        &self.audit
    }

    pub(crate) fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    /// The playbook roles run while the bucket holds none.
    pub(crate) fn fallback(&self) -> &Playbook {
        &self.fallback
    }

    /// The stored mode, or "off" when nobody ever switched it.
    pub async fn stored(&self) -> Result<StoredMode, ControlError> {
        Ok(self
            .kv
            .get(KV_CRISIS_KEY)
            .await?
            .and_then(|entry| StoredMode::from_entry(&entry))
            .unwrap_or(StoredMode {
                mode: CrisisMode::off(),
                cause: Cause::Changed,
            }))
    }

    /// The mode as every role applies it: an expired mode reads as off even before the
    /// control role has written the switch-off.
    pub async fn mode(&self) -> Result<CrisisMode, ControlError> {
        let mut mode = self.stored().await?.mode;
        mode.active = mode.is_active_at(OffsetDateTime::now_utc());
        Ok(mode)
    }

    /// The playbook every role runs now.
    pub async fn active_playbook(&self) -> Result<Playbook, ControlError> {
        match self.kv.get(KV_PLAYBOOK_KEY).await? {
            Some(entry) => self.load_playbook(&entry.value),
            None => Ok(self.fallback.clone()),
        }
    }

    /// Applies a change by `actor` (a token name, or `system`). The playbook, when
    /// named, is checked before anything is written: an unknown or invalid one changes
    /// nothing and the running playbook stays.
    pub async fn set_mode(
        &self,
        actor: &str,
        change: ModeChange,
    ) -> Result<CrisisMode, ControlError> {
        self.set_mode_with_cause(actor, change, Cause::Changed)
            .await
    }

    pub(crate) async fn set_mode_with_cause(
        &self,
        actor: &str,
        change: ModeChange,
        cause: Cause,
    ) -> Result<CrisisMode, ControlError> {
        let reason = change.reason.trim().to_string();
        if change.active && reason.is_empty() {
            return Err(invalid("reason", "required to switch crisis mode on"));
        }
        if reason.chars().count() > 500 {
            return Err(invalid("reason", "at most 500 characters"));
        }
        let expires_at = match change.expires_in_secs {
            None | Some(0) => None,
            Some(_) if !change.active => {
                return Err(invalid("expires_in_secs", "only with active: true"));
            }
            Some(secs) if secs > MAX_EXPIRY_SECS => {
                return Err(invalid(
                    "expires_in_secs",
                    format!("at most {MAX_EXPIRY_SECS} (30 days)"),
                ));
            }
            Some(secs) => Some(OffsetDateTime::now_utc() + time::Duration::seconds(secs as i64)),
        };
        let current = self.stored().await?;
        // Which playbook this change runs: the one named; on the way out of crisis mode,
        // the normal-mode one that ran before it; otherwise the one running. Resolved
        // (and validated) before anything is written.
        let named = change.playbook.as_deref().filter(|n| !n.is_empty());
        let (target, step) = match named {
            Some(reference) => (Some(self.resolve(reference).await?), Step::Activate),
            None if !change.active => (self.normal_to_restore().await?, Step::Restore),
            None => (None, Step::Activate),
        };
        let running = self.active_playbook().await?.version().to_string();
        if let Some(target) = &target
            && target.info.version != running
        {
            self.write_active(actor, target, &reason, step, change.force)
                .await?;
        }
        // Remember the normal-mode playbook the first time crisis mode brings its own
        // (a later switch within the crisis keeps it); forget it once crisis mode is off.
        if named.is_some() || !change.active {
            self.update_history(|history| {
                if !change.active {
                    history.normal_before_crisis = None;
                } else if history.normal_before_crisis.is_none() {
                    history.normal_before_crisis = Some(running.clone());
                }
                Ok(())
            })
            .await?;
        }
        let version = match &target {
            Some(target) => target.info.version.clone(),
            None => running,
        };
        let reason = if reason.is_empty() {
            "switched off".to_string()
        } else {
            reason
        };
        let next = StoredMode {
            mode: CrisisMode {
                active: change.active,
                reason: reason.clone(),
                actor: actor.to_string(),
                playbook: version,
                changed_at: OffsetDateTime::now_utc(),
                expires_at,
                revision: 0,
            },
            cause,
        };
        let revision = self.write_mode(&next, current.mode.revision).await?;
        let mut mode = next.mode;
        mode.revision = revision;
        info!(active = mode.active, revision, actor, "crisis mode set");
        let action = match (cause, mode.active) {
            (Cause::Expired, _) => "crisis.expired",
            (_, true) => "crisis.on",
            (_, false) => "crisis.off",
        };
        self.audit
            .append(
                AuditEntry::new(actor, action, "crisis", reason).with_detail(serde_json::json!({
                    "playbook": mode.playbook,
                    "expires_at": mode.expires_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
                    "revision": revision,
                })),
            )
            .await?;
        Ok(mode)
    }

    /// Compare-and-set on the crisis key, so two writers (two crisis-team members, or a
    /// person and the expiry) never silently overwrite each other.
    /// The normal-mode playbook to restore as crisis mode goes off. Switching crisis
    /// mode off must not fail because of it: one that can no longer be read is logged
    /// and left, and crisis mode still goes off on the playbook running.
    async fn normal_to_restore(&self) -> Result<Option<crate::versions::Resolved>, ControlError> {
        let Some(normal) = self.normal_playbook().await? else {
            return Ok(None);
        };
        match self.resolve(&normal).await {
            Ok(resolved) => Ok(Some(resolved)),
            Err(ControlError::Unavailable(e)) => Err(ControlError::Unavailable(e)),
            Err(e) => {
                tracing::warn!(version = %normal, error = %e, "normal-mode playbook not restored");
                Ok(None)
            }
        }
    }

    async fn write_mode(&self, next: &StoredMode, expected: u64) -> Result<u64, ControlError> {
        let value =
            serde_json::to_vec(next).map_err(|e| ControlError::Unavailable(e.to_string()))?;
        self.kv
            .put_if(KV_CRISIS_KEY, Bytes::from(value), expected)
            .await?
            .ok_or(ControlError::Conflict(expected))
    }

    /// Stores a playbook under `name` after validating it; it runs only once activated.
    /// The uploader's role is not recorded; the API uses [`Control::upload_version`].
    pub async fn upload_playbook(
        &self,
        actor: &str,
        name: &str,
        yaml: &str,
    ) -> Result<PlaybookInfo, ControlError> {
        Ok(self.upload_version(actor, "", name, yaml).await?.into())
    }

    /// Every uploaded playbook, by name, marking the one in force. Each source is parsed
    /// once ([`PlaybookCache`]), not on every listing.
    pub async fn playbooks(&self) -> Result<Vec<PlaybookInfo>, ControlError> {
        let active = self.active_playbook().await?.version().to_string();
        let builtin = Playbook::builtin();
        let mut listed = vec![PlaybookInfo {
            name: crate::versions::BUILTIN_NAME.to_string(),
            version: builtin.version().to_string(),
            active: builtin.version() == active,
            builtin: true,
            uploaded_by: String::new(),
            role: String::new(),
            uploaded_at: None,
        }];
        for key in self.kv.keys(PLAYBOOK_PREFIX).await? {
            let Some(entry) = self.kv.get(&key).await? else {
                continue;
            };
            // Parsed once per source; an invalid stored one is skipped.
            let Ok(playbook) = self.parsed.load(&entry.value) else {
                continue;
            };
            let name = &key[PLAYBOOK_PREFIX.len()..];
            // Who uploaded it, when its version record exists (uploads since versions
            // are kept).
            let provenance = self.versions(name).await.ok().and_then(|versions| {
                versions
                    .into_iter()
                    .find(|v| v.version == playbook.version())
            });
            listed.push(PlaybookInfo {
                name: name.to_string(),
                active: playbook.version() == active,
                version: playbook.version().to_string(),
                builtin: false,
                uploaded_by: provenance
                    .as_ref()
                    .map(|p| p.uploaded_by.clone())
                    .unwrap_or_default(),
                role: provenance
                    .as_ref()
                    .map(|p| p.role.clone())
                    .unwrap_or_default(),
                uploaded_at: provenance.and_then(|p| p.uploaded_at),
            });
        }
        Ok(listed)
    }
}
