//! What the case service needs from the rest of Firebreak, as small traits: the SLA of
//! the active playbook, the audit log, and a way to send a moderator's reply. The
//! binary plugs in the real ones; tests plug in fixed or recording ones.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_core::Priority;
use firebreak_pipeline::settings::LiveSettings;
use parking_lot::Mutex;

use crate::machine::SlaTarget;
use crate::model::{Case, CaseError};

/// The SLA targets in force. Read at each transition, so a playbook change applies to
/// the next deadline computed.
pub trait SlaPolicy: Send + Sync + 'static {
    fn target(&self, priority: Priority) -> SlaTarget;
}

impl SlaPolicy for LiveSettings {
    fn target(&self, priority: Priority) -> SlaTarget {
        let settings = self.current();
        let target = settings.playbook().sla().for_priority(priority);
        SlaTarget {
            claim: Duration::from_secs(target.claim_secs),
            ack: Duration::from_secs(target.ack_secs),
            tiers: target.tiers.clone(),
        }
    }
}

/// The same targets for every priority (tests, and tools without a playbook).
#[derive(Clone, Debug)]
pub struct FixedSla(pub SlaTarget);

impl SlaPolicy for FixedSla {
    fn target(&self, _priority: Priority) -> SlaTarget {
        self.0.clone()
    }
}

/// One audit entry: who did what to what, and why. Mirrors the control crate's entry,
/// so the binary adapts one to the other without loss.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub actor: String,
    /// `case.claim`, `case.ack`, `case.resolve`, `case.release`, `case.snooze`.
    pub action: String,
    pub subject: String,
    pub reason: String,
    pub detail: serde_json::Value,
}

#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    /// Appends one entry, once. The case service retries a failed append until it
    /// lands ([`crate::audit_retry`]): a case transition nobody can account for is
    /// worse than a late entry.
    async fn append(&self, record: AuditRecord) -> Result<(), String>;
}

/// Keeps entries in memory; for tests and for runs without an audit stream.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    entries: Mutex<Vec<AuditRecord>>,
}

impl MemoryAudit {
    pub fn entries(&self) -> Vec<AuditRecord> {
        self.entries.lock().clone()
    }
}

#[async_trait]
impl AuditSink for MemoryAudit {
    async fn append(&self, record: AuditRecord) -> Result<(), String> {
        self.entries.lock().push(record);
        Ok(())
    }
}

#[async_trait]
impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    async fn append(&self, record: AuditRecord) -> Result<(), String> {
        (**self).append(record).await
    }
}

/// Sends the reply a moderator writes when resolving a case, to the case's author on
/// the case's channel, through the reply service's connectors and budgets. Returns the
/// connector's name.
#[async_trait]
pub trait ModeratorReply: Send + Sync + 'static {
    async fn send(&self, case: &Case, moderator: &str, text: &str) -> Result<String, CaseError>;
}

/// The control role's audit log (`FB_AUDIT`) as this crate's sink.
pub struct ControlAudit(pub Arc<dyn firebreak_control::Audit>);

impl std::fmt::Debug for ControlAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlAudit").finish_non_exhaustive()
    }
}

#[async_trait]
impl AuditSink for ControlAudit {
    async fn append(&self, record: AuditRecord) -> Result<(), String> {
        let entry = firebreak_control::AuditEntry::new(
            record.actor,
            record.action,
            record.subject,
            record.reason,
        )
        .with_detail(record.detail);
        self.0
            .append(entry)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
