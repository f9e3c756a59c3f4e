//! Cases on the wire (`firebreak.v1.Case`, `CaseEvent`) and as JSON for the REST API.

use firebreak_core::wire::{
    channel_to_pb, flag_to_pb, priority_to_pb, timestamp, visibility_to_pb,
};
use firebreak_proto::v1 as pb;
use serde_json::{Value, json};

use crate::conversation::{ConversationEntry, SentReply, WrittenMessage};
use crate::model::{Case, CaseEvent, CaseEventKind, CaseStatus};

pub fn status_to_pb(s: CaseStatus) -> pb::CaseStatus {
    match s {
        CaseStatus::Open => pb::CaseStatus::Open,
        CaseStatus::Claimed => pb::CaseStatus::Claimed,
        CaseStatus::Acknowledged => pb::CaseStatus::Acknowledged,
        CaseStatus::Resolved => pb::CaseStatus::Resolved,
        CaseStatus::Snoozed => pb::CaseStatus::Snoozed,
    }
}

pub fn status_from_pb(value: i32) -> Option<CaseStatus> {
    match pb::CaseStatus::try_from(value).ok()? {
        pb::CaseStatus::Open => Some(CaseStatus::Open),
        pb::CaseStatus::Claimed => Some(CaseStatus::Claimed),
        pb::CaseStatus::Acknowledged => Some(CaseStatus::Acknowledged),
        pb::CaseStatus::Resolved => Some(CaseStatus::Resolved),
        pb::CaseStatus::Snoozed => Some(CaseStatus::Snoozed),
        pb::CaseStatus::Unspecified => None,
    }
}

pub fn event_kind_to_pb(k: CaseEventKind) -> pb::CaseEventKind {
    match k {
        CaseEventKind::Opened => pb::CaseEventKind::Opened,
        CaseEventKind::Updated => pb::CaseEventKind::Updated,
        CaseEventKind::Claimed => pb::CaseEventKind::Claimed,
        CaseEventKind::Acknowledged => pb::CaseEventKind::Acknowledged,
        CaseEventKind::Resolved => pb::CaseEventKind::Resolved,
        CaseEventKind::Released => pb::CaseEventKind::Released,
        CaseEventKind::Reopened => pb::CaseEventKind::Reopened,
        CaseEventKind::Snoozed => pb::CaseEventKind::Snoozed,
        CaseEventKind::Escalated => pb::CaseEventKind::Escalated,
    }
}

impl From<&Case> for pb::Case {
    fn from(c: &Case) -> Self {
        pb::Case {
            id: c.id.clone(),
            status: status_to_pb(c.status) as i32,
            priority: priority_to_pb(c.priority) as i32,
            channel: channel_to_pb(c.channel) as i32,
            visibility: visibility_to_pb(c.visibility) as i32,
            thread_id: c.thread_id.clone(),
            author_id: c.author_id.clone(),
            reasons: c.reasons.clone(),
            flags: c.flags.iter().map(flag_to_pb).collect(),
            message_ids: c.message_ids.iter().map(ToString::to_string).collect(),
            linked_case_id: c.linked_case_id.clone().unwrap_or_default(),
            assignee: c.assignee.clone().unwrap_or_default(),
            tier: c.tier,
            created_at: Some(timestamp(c.created_at)),
            updated_at: Some(timestamp(c.updated_at)),
            snoozed_until: c.snoozed_until.map(timestamp),
            resolution_note: c.resolution_note.clone(),
            excerpt: String::new(),
            claim_due: c.claim_due.map(timestamp),
            ack_due: c.ack_due.map(timestamp),
            message_count: c.message_count,
        }
    }
}

impl From<&CaseEvent> for pb::CaseEvent {
    fn from(e: &CaseEvent) -> Self {
        pb::CaseEvent {
            cursor: e.cursor,
            kind: event_kind_to_pb(e.kind) as i32,
            case: Some((&e.case).into()),
            at: Some(timestamp(e.at)),
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The REST representation of a case.
pub fn case_json(c: &Case) -> Value {
    json!({
        "id": c.id,
        "status": c.status.as_str(),
        "priority": c.priority.as_str(),
        "channel": c.channel.as_str(),
        "visibility": c.visibility.as_str(),
        "thread_id": c.thread_id,
        "author_id": c.author_id,
        "reasons": c.reasons,
        "flags": c.flags,
        "message_ids": c.message_ids,
        "message_count": c.message_count,
        "linked_case_id": c.linked_case_id,
        "assignee": c.assignee,
        "tier": c.tier,
        "breaches": c.breaches,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
        "claim_due": c.claim_due.map(rfc3339),
        "ack_due": c.ack_due.map(rfc3339),
        "snoozed_until": c.snoozed_until.map(rfc3339),
        "resolved_at": c.resolved_at.map(rfc3339),
        "resolution_note": c.resolution_note,
    })
}

/// A message as written, on the wire (`GetCase`).
pub fn written_to_pb(m: &WrittenMessage) -> pb::Message {
    pb::Message {
        id: m.message_id.to_string(),
        channel: channel_to_pb(m.channel) as i32,
        external_id: m.external_id.clone(),
        visibility: visibility_to_pb(m.visibility) as i32,
        author: Some(pb::Author {
            id: m.author.id.clone(),
            handle: m.author.handle.clone(),
            name: m.author.name.clone(),
            followers: m.author.followers,
            verified: m.author.verified,
            is_bot: false,
        }),
        text: m.text.clone(),
        received_at: Some(timestamp(m.at)),
        ..Default::default()
    }
}

pub fn reply_to_pb(r: &SentReply) -> pb::CaseReply {
    pb::CaseReply {
        message_id: r.message_id.map(|id| id.to_string()).unwrap_or_default(),
        text: r.text.clone(),
        by: r.by.clone(),
        connector: r.connector.clone(),
        at: Some(timestamp(r.at)),
    }
}

/// The conversation as JSON: `messages` (text, channel, visibility, time, author,
/// link, flags) and `replies`, oldest first.
pub fn conversation_json(entries: &[ConversationEntry]) -> (Value, Value) {
    let mut messages = Vec::new();
    let mut replies = Vec::new();
    for entry in entries {
        match entry {
            ConversationEntry::Message(m) => messages.push(json!({
                "id": m.message_id,
                "external_id": m.external_id,
                "channel": m.channel.as_str(),
                "visibility": m.visibility.as_str(),
                "text": m.text,
                "at": rfc3339(m.at),
                "author": m.author,
                "link": m.link,
                "flags": m.flags,
            })),
            ConversationEntry::Reply(r) => replies.push(json!({
                "message_id": r.message_id,
                "text": r.text,
                "by": r.by,
                "connector": r.connector,
                "at": rfc3339(r.at),
            })),
        }
    }
    (Value::Array(messages), Value::Array(replies))
}
