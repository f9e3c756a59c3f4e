//! What a case is, what happens to it, and the errors callers tell apart.

use firebreak_core::{Channel, ErrorCode, FirebreakError, Flag, MessageId, Priority, Visibility};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How many message ids a case keeps (the newest). A pile-on of thousands stays one
/// bounded record; `message_count` still counts them all.
pub const MAX_MESSAGE_IDS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    Claimed,
    Acknowledged,
    Resolved,
    Snoozed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::Open,
        CaseStatus::Claimed,
        CaseStatus::Acknowledged,
        CaseStatus::Snoozed,
        CaseStatus::Resolved,
    ];
    /// What "unresolved" means for listings and the Watch snapshot.
    pub const UNRESOLVED: [CaseStatus; 4] = [
        CaseStatus::Open,
        CaseStatus::Claimed,
        CaseStatus::Acknowledged,
        CaseStatus::Snoozed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Claimed => "claimed",
            CaseStatus::Acknowledged => "acknowledged",
            CaseStatus::Resolved => "resolved",
            CaseStatus::Snoozed => "snoozed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" | "acked" => Some(CaseStatus::Acknowledged),
            _ => CaseStatus::ALL.into_iter().find(|c| c.as_str() == s),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    /// Bumped by every change; the optimistic-concurrency token of the store.
    pub version: u64,
    pub status: CaseStatus,
    pub priority: Priority,
    pub channel: Channel,
    pub visibility: Visibility,
    pub thread_id: String,
    pub author_id: String,
    pub reasons: Vec<String>,
    pub flags: Vec<Flag>,
    /// The newest [`MAX_MESSAGE_IDS`] message ids, oldest first.
    pub message_ids: Vec<MessageId>,
    pub message_count: u64,
    pub linked_case_id: Option<String>,
    pub assignee: Option<String>,
    /// The escalation tier reached after SLA breaches (0 = first tier).
    pub tier: u32,
    pub breaches: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the SLA clock last started: opening, reopening or release.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub claim_due: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ack_due: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub snoozed_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub resolved_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub resolution_note: String,
}

impl Case {
    /// The case as crisis and viewer tokens see it: no resolution note, and flags
    /// without the evidence quoted from the text.
    pub fn without_texts(&self) -> Case {
        let mut case = self.clone();
        case.resolution_note.clear();
        for flag in &mut case.flags {
            flag.evidence.clear();
        }
        case
    }

    pub fn is_resolved(&self) -> bool {
        self.status == CaseStatus::Resolved
    }

    /// The next moment the SLA timer must look at this case, if any: a claim deadline
    /// only matters while nobody claimed it, an ack deadline until acknowledged, and a
    /// snooze until it ends.
    pub fn next_deadline(&self) -> Option<OffsetDateTime> {
        let claim = self.claim_due.filter(|_| self.status == CaseStatus::Open);
        let ack = self
            .ack_due
            .filter(|_| matches!(self.status, CaseStatus::Open | CaseStatus::Claimed));
        let snooze = self
            .snoozed_until
            .filter(|_| self.status == CaseStatus::Snoozed);
        [claim, ack, snooze].into_iter().flatten().min()
    }

    /// Sort key of the status indexes: unresolved cases P1 first, then oldest first;
    /// resolved cases newest first.
    pub fn index_score(&self) -> f64 {
        if let Some(resolved) = self.resolved_at.filter(|_| self.is_resolved()) {
            return -(millis(resolved) as f64);
        }
        let rank = match self.priority {
            Priority::P1 => 1.0,
            Priority::P2 => 2.0,
            Priority::P3 => 3.0,
            Priority::P4 => 4.0,
        };
        rank * 1e13 + millis(self.created_at) as f64
    }
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseEventKind {
    Opened,
    Updated,
    Claimed,
    Acknowledged,
    Resolved,
    Released,
    Reopened,
    Snoozed,
    Escalated,
}

impl CaseEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseEventKind::Opened => "opened",
            CaseEventKind::Updated => "updated",
            CaseEventKind::Claimed => "claimed",
            CaseEventKind::Acknowledged => "acknowledged",
            CaseEventKind::Resolved => "resolved",
            CaseEventKind::Released => "released",
            CaseEventKind::Reopened => "reopened",
            CaseEventKind::Snoozed => "snoozed",
            CaseEventKind::Escalated => "escalated",
        }
    }
}

/// One change to a case, with the case as it stood right after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// Monotonic and gap-free: every committed change takes the next number.
    pub cursor: u64,
    pub kind: CaseEventKind,
    pub case: Case,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("case {0} not found")]
    NotFound(String),
    /// The transition is not allowed now (claimed by someone else, already resolved).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// The resume cursor is older than the retained event log; start again from 0.
    #[error("cursor {0} is older than the retained case events; watch again from 0")]
    CursorExpired(u64),
    #[error("case store unavailable: {0}")]
    Unavailable(String),
    #[error("reply not sent: {0}")]
    ReplyFailed(String),
    /// The reply budget is spent; nothing changed, retry after the delay.
    #[error("reply budget exhausted, retry in {}s", .0.as_secs().max(1))]
    ReplyOverBudget(std::time::Duration),
}

impl From<CaseError> for FirebreakError {
    fn from(e: CaseError) -> Self {
        let code = match &e {
            CaseError::NotFound(_) => ErrorCode::NotFound,
            CaseError::Conflict(_) => ErrorCode::Conflict,
            CaseError::Invalid(_) | CaseError::CursorExpired(_) => ErrorCode::InvalidArgument,
            CaseError::ReplyOverBudget(retry) => {
                return FirebreakError::exhausted(e.to_string(), *retry);
            }
            CaseError::Unavailable(_) | CaseError::ReplyFailed(_) => {
                return FirebreakError::unavailable(
                    e.to_string(),
                    std::time::Duration::from_secs(1),
                );
            }
        };
        FirebreakError::new(code, e.to_string())
    }
}
