//! The bus layout: stream names, subjects and durable consumer names. Shared by every
//! role so producers and consumers cannot drift apart.

use crate::{Channel, Priority};

/// Inbound messages, as accepted by ingest.
pub const STREAM_INBOUND: &str = "FB_INBOUND";
/// Classified messages to answer automatically.
pub const STREAM_REPLY: &str = "FB_REPLY";
/// Classified messages for humans. A stream of its own, so escalations never queue
/// behind a surge of replies.
pub const STREAM_ESCALATE: &str = "FB_ESCALATE";
/// Messages that failed too often, kept for inspection and replay.
pub const STREAM_DEAD_LETTER: &str = "FB_DLQ";
/// Audit entries.
pub const STREAM_AUDIT: &str = "FB_AUDIT";
/// Per-second inbound and negative-message counts from every classify replica, read
/// by the control role to spot surges.
pub const STREAM_RATES: &str = "FB_RATES";

pub const CONSUMER_CLASSIFY: &str = "classify";
pub const CONSUMER_REPLY: &str = "reply";
pub const CONSUMER_ESCALATION: &str = "escalation";

/// KV bucket holding crisis mode and the active playbook.
pub const KV_CONTROL: &str = "fb_control";

/// Key prefix, in the control bucket, of each classify replica's insights snapshot.
pub const KV_INSIGHTS_PREFIX: &str = "insights.";

pub fn inbound(channel: Channel) -> String {
    format!("fb.in.{}", channel.as_str())
}

pub fn reply(channel: Channel) -> String {
    format!("fb.reply.{}", channel.as_str())
}

pub fn escalate(priority: Priority) -> String {
    format!("fb.escalate.{}", priority.as_str().to_ascii_lowercase())
}

pub fn dead_letter(stage: &str) -> String {
    format!("fb.dlq.{stage}")
}

pub const AUDIT_SUBJECT: &str = "fb.audit";

pub const RATES_SUBJECT: &str = "fb.rates";

/// Subject filters each stream captures.
pub fn stream_subjects(stream: &str) -> &'static [&'static str] {
    match stream {
        STREAM_INBOUND => &["fb.in.>"],
        STREAM_REPLY => &["fb.reply.>"],
        STREAM_ESCALATE => &["fb.escalate.>"],
        STREAM_DEAD_LETTER => &["fb.dlq.>"],
        STREAM_AUDIT => &["fb.audit"],
        STREAM_RATES => &["fb.rates"],
        _ => &[],
    }
}

pub const ALL_STREAMS: [&str; 6] = [
    STREAM_INBOUND,
    STREAM_REPLY,
    STREAM_ESCALATE,
    STREAM_DEAD_LETTER,
    STREAM_AUDIT,
    STREAM_RATES,
];
