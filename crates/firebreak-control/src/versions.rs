//! Every uploaded playbook version, kept with who uploaded it and when, and how a crisis
//! team names one: `default` (the built-in playbook), `NAME` (its latest upload) or
//! `NAME@HASH` (one version, as `list` and every decision show it).
//!
//! In the control bucket:
//! - `playbook.<name>`: the latest upload's YAML (what activation by name reads);
//! - `playbook-version.<name>.<hash>`: one [`StoredVersion`] per version, never
//!   overwritten by a later upload, so any version can be shown, compared and restored.

use bytes::Bytes;
use firebreak_triage::Playbook;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::mode::{Control, ControlError, PLAYBOOK_PREFIX, check_playbook_name};

/// Key prefix of the stored versions: `playbook-version.<name>.<hash>`.
pub const VERSION_PREFIX: &str = "playbook-version.";

/// The name of the playbook compiled into the binary. It cannot be uploaded over, so it
/// is always there to go back to.
pub const BUILTIN_NAME: &str = "default";

/// Names the HTTP API uses as route segments (`POST /v1/playbooks/rollback`).
pub const RESERVED_NAMES: &[&str] = &["rollback"];

/// One uploaded version, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVersion {
    pub name: String,
    /// `name@<12 hex digits>`, as decisions carry it.
    pub version: String,
    /// The uploading token's name and role.
    pub uploaded_by: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
    pub source: String,
}

/// A version as listed or shown: where it came from, and whether it runs now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub name: String,
    pub version: String,
    /// Empty for the built-in playbook and the start-up one.
    pub uploaded_by: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub uploaded_at: Option<OffsetDateTime>,
    pub builtin: bool,
    pub active: bool,
}

/// A resolved reference: the playbook with its source and provenance.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub info: VersionInfo,
    pub playbook: Playbook,
}

impl Resolved {
    pub fn source(&self) -> &str {
        self.playbook.source()
    }

    pub fn source_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.playbook.source().as_bytes())
    }
}

/// The hash half of a version (`recall@0123456789ab` → `0123456789ab`).
fn hash_of(version: &str) -> &str {
    version.rsplit_once('@').map_or("", |(_, hash)| hash)
}

fn version_key(name: &str, version: &str) -> String {
    format!("{VERSION_PREFIX}{name}.{}", hash_of(version))
}

impl Control {
    /// Stores `yaml` as a new version of `name`, uploaded by `actor` with `role`. The file's
    /// `name:` must be `name`: a playbook answers to one name everywhere (its version,
    /// its listing, its activation). Uploading never activates.
    pub async fn upload_version(
        &self,
        actor: &str,
        role: &str,
        name: &str,
        yaml: &str,
    ) -> Result<VersionInfo, ControlError> {
        check_playbook_name(name)?;
        if name == BUILTIN_NAME {
            return Err(ControlError::Invalid {
                field: "playbook".into(),
                message: format!(
                    "{BUILTIN_NAME:?} is the built-in playbook and cannot be replaced; \
                     upload a copy under another name"
                ),
            });
        }
        if RESERVED_NAMES.contains(&name) {
            return Err(ControlError::Invalid {
                field: "playbook".into(),
                message: format!("{name:?} is reserved by the API; choose another name"),
            });
        }
        let playbook = self.load_playbook(yaml.as_bytes())?;
        let written = &playbook.spec().name;
        if written != name {
            return Err(ControlError::Invalid {
                field: "name".into(),
                message: format!(
                    "the file says `name: {written}` but it is uploaded as {name:?}; \
                     the two must agree"
                ),
            });
        }
        let stored = StoredVersion {
            name: name.to_string(),
            version: playbook.version().to_string(),
            uploaded_by: actor.to_string(),
            role: role.to_string(),
            uploaded_at: OffsetDateTime::now_utc(),
            source: yaml.to_string(),
        };
        let record =
            serde_json::to_vec(&stored).map_err(|e| ControlError::Unavailable(e.to_string()))?;
        let key = version_key(name, &stored.version);
        // A re-upload of the same text keeps its first uploader and time.
        if self.kv().get(&key).await?.is_none() {
            self.kv().put(&key, Bytes::from(record)).await?;
        }
        self.kv()
            .put(
                &format!("{PLAYBOOK_PREFIX}{name}"),
                Bytes::copy_from_slice(yaml.as_bytes()),
            )
            .await?;
        self.audit()
            .append(
                crate::AuditEntry::new(actor, "playbook.upload", name, "uploaded")
                    .with_detail(serde_json::json!({"version": playbook.version(), "role": role})),
            )
            .await?;
        let active = self.active_playbook().await?.version() == playbook.version();
        Ok(self.info_of(&self.read_version(name, &stored.version).await?, active))
    }

    async fn read_version(&self, name: &str, version: &str) -> Result<StoredVersion, ControlError> {
        let entry = self
            .kv()
            .get(&version_key(name, version))
            .await?
            .ok_or_else(|| ControlError::UnknownPlaybook(version.to_string()))?;
        serde_json::from_slice(&entry.value)
            .map_err(|e| ControlError::Unavailable(format!("stored version {version}: {e}")))
    }

    fn info_of(&self, stored: &StoredVersion, active: bool) -> VersionInfo {
        VersionInfo {
            name: stored.name.clone(),
            version: stored.version.clone(),
            uploaded_by: stored.uploaded_by.clone(),
            role: stored.role.clone(),
            uploaded_at: Some(stored.uploaded_at),
            builtin: false,
            active,
        }
    }

    /// Every stored version of `name`, oldest first; for `default`, the built-in one.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, ControlError> {
        let active = self.active_playbook().await?.version().to_string();
        if name == BUILTIN_NAME {
            let builtin = Playbook::builtin();
            return Ok(vec![builtin_info(&builtin, &active)]);
        }
        check_playbook_name(name)?;
        let mut listed = Vec::new();
        for key in self.kv().keys(&format!("{VERSION_PREFIX}{name}.")).await? {
            let Some(entry) = self.kv().get(&key).await? else {
                continue;
            };
            let Ok(stored) = serde_json::from_slice::<StoredVersion>(&entry.value) else {
                continue;
            };
            let is_active = stored.version == active;
            listed.push(self.info_of(&stored, is_active));
        }
        if listed.is_empty() {
            return Err(ControlError::UnknownPlaybook(name.to_string()));
        }
        listed.sort_by_key(|v| v.uploaded_at);
        Ok(listed)
    }

    /// The playbook a crisis team means by `reference`: `default`, `NAME` (the latest
    /// upload), `NAME@HASH`, or the version running now even when it came from
    /// `--playbook` at start-up.
    pub async fn resolve(&self, reference: &str) -> Result<Resolved, ControlError> {
        let active = self.active_playbook().await?;
        let builtin = Playbook::builtin();
        let is_active = |p: &Playbook| p.version() == active.version();
        if reference == BUILTIN_NAME || reference == builtin.version() {
            return Ok(Resolved {
                info: builtin_info(&builtin, active.version()),
                playbook: builtin,
            });
        }
        if reference == self.fallback().version() {
            let fallback = self.fallback().clone();
            return Ok(Resolved {
                info: VersionInfo {
                    name: fallback.spec().name.clone(),
                    version: fallback.version().to_string(),
                    uploaded_by: String::new(),
                    role: String::new(),
                    uploaded_at: None,
                    builtin: false,
                    active: is_active(&fallback),
                },
                playbook: fallback,
            });
        }
        let (name, version) = match reference.split_once('@') {
            Some((name, _)) => (name, reference.to_string()),
            None => {
                check_playbook_name(reference)?;
                let latest = self
                    .kv()
                    .get(&format!("{PLAYBOOK_PREFIX}{reference}"))
                    .await?
                    .ok_or_else(|| ControlError::UnknownPlaybook(reference.to_string()))?;
                let playbook = self.load_playbook(&latest.value)?;
                (reference, playbook.version().to_string())
            }
        };
        check_playbook_name(name)?;
        match self.read_version(name, &version).await {
            Ok(stored) => {
                let playbook = self.load_playbook(stored.source.as_bytes())?;
                Ok(Resolved {
                    info: self.info_of(&stored, is_active(&playbook)),
                    playbook,
                })
            }
            // Stored before versions were kept: the latest upload has no record.
            Err(ControlError::UnknownPlaybook(_)) if !reference.contains('@') => {
                let latest = self
                    .kv()
                    .get(&format!("{PLAYBOOK_PREFIX}{name}"))
                    .await?
                    .ok_or_else(|| ControlError::UnknownPlaybook(reference.to_string()))?;
                let playbook = self.load_playbook(&latest.value)?;
                Ok(Resolved {
                    info: VersionInfo {
                        name: name.to_string(),
                        version: playbook.version().to_string(),
                        uploaded_by: String::new(),
                        role: String::new(),
                        uploaded_at: None,
                        builtin: false,
                        active: is_active(&playbook),
                    },
                    playbook,
                })
            }
            Err(e) => Err(e),
        }
    }
}

fn builtin_info(builtin: &Playbook, active: &str) -> VersionInfo {
    VersionInfo {
        name: BUILTIN_NAME.to_string(),
        version: builtin.version().to_string(),
        uploaded_by: String::new(),
        role: String::new(),
        uploaded_at: None,
        builtin: true,
        active: builtin.version() == active,
    }
}
