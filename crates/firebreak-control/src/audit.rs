//! The audit log: who did what, to what, when and why. Every crisis-mode change,
//! playbook change, surge alert and case transition appends one entry to the
//! `FB_AUDIT` stream (JetStream in real mode, the in-process bus when embedded), so the
//! log survives every role's restart and reads the same from any replica.

use std::sync::Arc;

use async_trait::async_trait;
use firebreak_bus::{Bus, BusError, Envelope};
use firebreak_core::subjects::{AUDIT_SUBJECT, STREAM_AUDIT};
use firebreak_core::wire::{from_timestamp, timestamp};
use firebreak_core::{ErrorCode, FirebreakError};
use firebreak_proto::v1 as pb;
use prost::Message as _;
use serde::Serialize;
use time::OffsetDateTime;

/// Entries listed when a caller gives no limit, and the most it may ask for.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// Stored entries read per request while paging backwards through the stream.
const PAGE: usize = 256;

/// The actor of changes Firebreak makes by itself (expiry, surge alerts).
pub const SYSTEM_ACTOR: &str = "system";

/// One audit entry. `detail` carries structured context (never message text).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// Dotted and prefix-filterable: `crisis.on`, `crisis.off`, `crisis.expired`,
    /// `playbook.upload`, `playbook.activate`, `surge.alert`, `case.claim`, ...
    pub action: String,
    /// What was acted on: a playbook name, a case id, the crisis switch.
    pub subject: String,
    pub reason: String,
    pub detail: serde_json::Value,
    /// Position in the audit stream; 0 until stored.
    pub sequence: u64,
}

impl AuditEntry {
    /// A new entry stamped now, with a fresh time-ordered id.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: OffsetDateTime::now_utc(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            reason: reason.into(),
            detail: serde_json::Value::Null,
            sequence: 0,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn to_proto(&self) -> pb::AuditEntry {
        pb::AuditEntry {
            id: self.id.clone(),
            at: Some(timestamp(self.at)),
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            reason: self.reason.clone(),
            detail_json: if self.detail.is_null() {
                String::new()
            } else {
                self.detail.to_string()
            },
        }
    }

    /// Decodes a stored entry. Anything unreadable is skipped by the caller, not fatal:
    /// one bad record must not hide the rest of the log.
    pub fn from_proto(entry: pb::AuditEntry, sequence: u64) -> Option<Self> {
        let at = entry.at.as_ref().and_then(from_timestamp)?;
        let detail = if entry.detail_json.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&entry.detail_json).ok()?
        };
        Some(AuditEntry {
            id: entry.id,
            at,
            actor: entry.actor,
            action: entry.action,
            subject: entry.subject,
            reason: entry.reason,
            detail,
            sequence,
        })
    }
}

/// Which entries to list: the newest `limit` whose action starts with `action_prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: usize,
    pub action_prefix: String,
}

impl AuditQuery {
    fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log unavailable: {0}")]
    Unavailable(String),
}

impl From<BusError> for AuditError {
    fn from(e: BusError) -> Self {
        AuditError::Unavailable(e.to_string())
    }
}

impl From<AuditError> for FirebreakError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Unavailable(_) => {
                FirebreakError::unavailable(e.to_string(), std::time::Duration::from_secs(1))
            }
        }
    }
}

/// The audit port. Appending returns once the entry is durably stored, so a caller
/// can fail its own request when the audit cannot be written.
#[async_trait]
pub trait Audit: Send + Sync + 'static {
    /// Stores one entry and returns it with its stream sequence.
    async fn append(&self, entry: AuditEntry) -> Result<AuditEntry, AuditError>;
    /// The newest matching entries, newest first.
    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, AuditError>;
}

#[async_trait]
impl<T: Audit + ?Sized> Audit for Arc<T> {
    async fn append(&self, entry: AuditEntry) -> Result<AuditEntry, AuditError> {
        (**self).append(entry).await
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, AuditError> {
        (**self).list(query).await
    }
}

/// The audit on the bus's `FB_AUDIT` stream, protobuf-encoded like everything on it.
#[derive(Clone)]
pub struct BusAudit {
    bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for BusAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusAudit").finish_non_exhaustive()
    }
}

impl BusAudit {
    pub fn new(bus: Arc<dyn Bus>) -> Self {
        BusAudit { bus }
    }
}

#[async_trait]
impl Audit for BusAudit {
    async fn append(&self, mut entry: AuditEntry) -> Result<AuditEntry, AuditError> {
        // The entry id doubles as the dedup id, so a retried append is stored once.
        let envelope = Envelope::new(AUDIT_SUBJECT, entry.to_proto().encode_to_vec())
            .with_msg_id(format!("audit:{}", entry.id));
        let ack = self.bus.publish(envelope).await?.await?;
        entry.sequence = ack.sequence;
        Ok(entry)
    }

    /// Pages backwards from the end of the stream until enough entries match, so the
    /// newest entries cost the same however long the log has grown.
    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, AuditError> {
        let limit = query.effective_limit();
        let bounds = self.bus.stream_bounds(STREAM_AUDIT).await?;
        let mut found = Vec::new();
        let mut end = bounds.last;
        while found.len() < limit && end >= bounds.first && end > 0 {
            let start = end.saturating_sub(PAGE as u64 - 1).max(bounds.first).max(1);
            let page = self
                .bus
                .read_stream(STREAM_AUDIT, start, (end - start + 1) as usize)
                .await?;
            for stored in page.into_iter().rev() {
                let Ok(proto) = pb::AuditEntry::decode(stored.payload) else {
                    continue;
                };
                let Some(entry) = AuditEntry::from_proto(proto, stored.sequence) else {
                    continue;
                };
                if entry.action.starts_with(&query.action_prefix) {
                    found.push(entry);
                    if found.len() == limit {
                        break;
                    }
                }
            }
            if start <= bounds.first {
                break;
            }
            end = start - 1;
        }
        Ok(found)
    }
}

/// Reads an audit query from API parameters, refusing nonsense with the field named.
pub fn query(
    limit: Option<i64>,
    action_prefix: Option<String>,
) -> Result<AuditQuery, FirebreakError> {
    let limit = match limit {
        None => 0,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(FirebreakError::new(
                ErrorCode::InvalidArgument,
                format!("limit: must be between 1 and {MAX_LIMIT}"),
            ));
        }
    };
    Ok(AuditQuery {
        limit,
        action_prefix: action_prefix.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_bus::memory::MemoryBus;

    fn audit() -> BusAudit {
        BusAudit::new(Arc::new(MemoryBus::new()))
    }

    #[tokio::test]
    async fn listing_returns_newest_first_filtered_by_action_prefix() {
        let audit = audit();
        for i in 0..600 {
            let action = if i % 3 == 0 {
                "crisis.on"
            } else {
                "case.claim"
            };
            audit
                .append(AuditEntry::new("alice", action, format!("s{i}"), "why"))
                .await
                .unwrap();
        }
        let crisis = audit
            .list(&AuditQuery {
                limit: 5,
                action_prefix: "crisis.".into(),
            })
            .await
            .unwrap();
        let subjects: Vec<_> = crisis.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(subjects, ["s597", "s594", "s591", "s588", "s585"]);
        // Enough matches only exist across several pages: all 200 are found.
        let all_crisis = audit
            .list(&AuditQuery {
                limit: 1000,
                action_prefix: "crisis.".into(),
            })
            .await
            .unwrap();
        assert_eq!(all_crisis.len(), 200);
        assert!(all_crisis.windows(2).all(|w| w[0].sequence > w[1].sequence));
    }

    #[tokio::test]
    async fn an_entry_round_trips_with_actor_reason_and_detail() {
        let audit = audit();
        let stored = audit
            .append(
                AuditEntry::new("bob", "playbook.activate", "recall", "recall day")
                    .with_detail(serde_json::json!({"version": "recall@abc"})),
            )
            .await
            .unwrap();
        assert!(stored.sequence > 0);
        let listed = audit.list(&AuditQuery::default()).await.unwrap();
        assert_eq!(listed.len(), 1);
        let mut expected = stored.clone();
        // Timestamps travel with nanosecond precision.
        expected.at = listed[0].at;
        assert_eq!(listed[0], expected);
        assert_eq!((stored.at - listed[0].at).whole_milliseconds(), 0);
    }

    #[test]
    fn an_out_of_range_limit_is_refused_naming_the_field() {
        let err = query(Some(0), None).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.starts_with("limit"));
        assert_eq!(query(None, None).unwrap().effective_limit(), DEFAULT_LIMIT);
    }
}
