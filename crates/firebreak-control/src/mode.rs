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
}

/// An uploaded playbook, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlaybookInfo {
    pub name: String,
    pub version: String,
    /// Whether it is the playbook every role runs now.
    pub active: bool,
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
            ControlError::Conflict(_) => ErrorCode::Conflict,
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
        }
    }

    /// Loads a playbook through the cache, turning a validation failure into a 400 that
    /// names the field and line (the triage crate's message already carries both).
    fn load_playbook(&self, source: &[u8]) -> Result<Playbook, ControlError> {
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
        // Validate the playbook before writing anything.
        let activation = match change.playbook.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => Some(self.load_named(name).await?),
            None => None,
        };
        let version = match &activation {
            Some((_, playbook, _)) => playbook.version().to_string(),
            None => self.active_playbook().await?.version().to_string(),
        };
        if let Some((name, playbook, yaml)) = &activation {
            self.kv.put(KV_PLAYBOOK_KEY, yaml.clone()).await?;
            info!(playbook = %name, version = playbook.version(), "playbook activated");
            self.audit
                .append(
                    AuditEntry::new(actor, "playbook.activate", name.clone(), reason.clone())
                        .with_detail(serde_json::json!({"version": playbook.version()})),
                )
                .await?;
        }
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
    async fn write_mode(&self, next: &StoredMode, expected: u64) -> Result<u64, ControlError> {
        let value =
            serde_json::to_vec(next).map_err(|e| ControlError::Unavailable(e.to_string()))?;
        self.kv
            .put_if(KV_CRISIS_KEY, Bytes::from(value), expected)
            .await?
            .ok_or(ControlError::Conflict(expected))
    }

    async fn load_named(&self, name: &str) -> Result<(String, Playbook, Bytes), ControlError> {
        check_playbook_name(name)?;
        let entry = self
            .kv
            .get(&format!("{PLAYBOOK_PREFIX}{name}"))
            .await?
            .ok_or_else(|| ControlError::UnknownPlaybook(name.to_string()))?;
        let playbook = self.load_playbook(&entry.value)?;
        Ok((name.to_string(), playbook, entry.value))
    }

    /// Stores a playbook under `name` after validating it; it runs only once activated.
    pub async fn upload_playbook(
        &self,
        actor: &str,
        name: &str,
        yaml: &str,
    ) -> Result<PlaybookInfo, ControlError> {
        check_playbook_name(name)?;
        let playbook = self.load_playbook(yaml.as_bytes())?;
        self.kv
            .put(
                &format!("{PLAYBOOK_PREFIX}{name}"),
                Bytes::copy_from_slice(yaml.as_bytes()),
            )
            .await?;
        self.audit
            .append(
                AuditEntry::new(actor, "playbook.upload", name, "uploaded")
                    .with_detail(serde_json::json!({"version": playbook.version()})),
            )
            .await?;
        let active = self.active_playbook().await?.version() == playbook.version();
        Ok(PlaybookInfo {
            name: name.to_string(),
            version: playbook.version().to_string(),
            active,
        })
    }

    /// Every uploaded playbook, by name, marking the one in force. Each source is parsed
    /// once ([`PlaybookCache`]), not on every listing.
    pub async fn playbooks(&self) -> Result<Vec<PlaybookInfo>, ControlError> {
        let active = self.active_playbook().await?.version().to_string();
        let mut listed = Vec::new();
        for key in self.kv.keys(PLAYBOOK_PREFIX).await? {
            let Some(entry) = self.kv.get(&key).await? else {
                continue;
            };
            // Parsed once per source; an invalid stored one is skipped.
            let Ok(playbook) = self.parsed.load(&entry.value) else {
                continue;
            };
            listed.push(PlaybookInfo {
                name: key[PLAYBOOK_PREFIX.len()..].to_string(),
                active: playbook.version() == active,
                version: playbook.version().to_string(),
            });
        }
        Ok(listed)
    }
}
