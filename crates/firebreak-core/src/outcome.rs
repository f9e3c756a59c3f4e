//! Where a message is in the pipeline, and the one terminal outcome it ends with.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Channel, Classification, MessageId};

/// A waypoint or an end. Every accepted message reaches exactly one terminal stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Accepted,
    Classified,
    Deferred,
    /// Put back through the pipeline from the dead-letter stream by an operator: the
    /// dead-lettered outcome is lifted and the message gets a new attempt.
    Replayed,
    Replied,
    Escalated,
    Ignored,
    DeadLettered,
}

impl Stage {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Stage::Replied | Stage::Escalated | Stage::Ignored | Stage::DeadLettered
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Accepted => "accepted",
            Stage::Classified => "classified",
            Stage::Deferred => "deferred",
            Stage::Replayed => "replayed",
            Stage::Replied => "replied",
            Stage::Escalated => "escalated",
            Stage::Ignored => "ignored",
            Stage::DeadLettered => "dead_lettered",
        }
    }
}

/// A terminal outcome with what a reader of `GET /v1/messages/{id}` needs to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Replied {
        variant: String,
        text: String,
        connector: String,
    },
    Escalated {
        case_id: String,
    },
    Ignored {
        reason: String,
    },
    DeadLettered {
        stage: String,
        reason: String,
    },
}

impl Outcome {
    pub fn stage(&self) -> Stage {
        match self {
            Outcome::Replied { .. } => Stage::Replied,
            Outcome::Escalated { .. } => Stage::Escalated,
            Outcome::Ignored { .. } => Stage::Ignored,
            Outcome::DeadLettered { .. } => Stage::DeadLettered,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub stage: Stage,
    /// Short, text-free detail: a reason code, a case id, a variant.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What the store keeps about one message, and what `GET /v1/messages/{id}` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: MessageId,
    pub channel: Channel,
    pub external_id: String,
    pub thread_id: String,
    pub status: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub history: Vec<HistoryEntry>,
}
