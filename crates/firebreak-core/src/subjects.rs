//! The bus layout: stream names, subjects and durable consumer names. Shared by every
//! role so producers and consumers cannot drift apart.

use crate::{Channel, Priority};

/// Inbound messages, as accepted by ingest.
pub const STREAM_INBOUND: &str = "FB_INBOUND";
/// Inbound messages ingest's pre-screen found to look like a P1 kind (self-harm, a
/// threat): the urgent lane, read by classify's own consumer ahead of `FB_INBOUND`'s
/// backlog. A stream of its own rather than a subject of `FB_INBOUND`, so the existing
/// unfiltered `classify` consumer stays as it is (nats-server 2.9 has no consumer with
/// several filters, and a work-queue stream refuses overlapping ones).
pub const STREAM_URGENT: &str = "FB_URGENT";
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
/// Classify's consumer of the urgent lane (`FB_URGENT`), run by a worker of its own.
pub const CONSUMER_CLASSIFY_URGENT: &str = "classify_urgent";
pub const CONSUMER_REPLY: &str = "reply";
/// The one unfiltered `FB_ESCALATE` consumer of releases before the priority lanes.
/// JetStream refuses the lanes' filtered consumers beside it (a work-queue stream gives
/// each message one consumer), so the escalation role removes it before binding.
pub const CONSUMER_ESCALATION_LEGACY: &str = "escalation";

/// Escalations are consumed per priority, each by a durable consumer filtered on its
/// own subject and run by workers of its own, so a surge of P3/P4 escalations (thread
/// caps in a bad buzz) never queues ahead of a P1. One filter per consumer keeps the
/// lanes working on every nats-server release (several filters need 2.10).
pub fn escalation_consumer(priority: Priority) -> &'static str {
    match priority {
        Priority::P1 => "escalation_p1",
        Priority::P2 => "escalation_p2",
        Priority::P3 => "escalation_p3",
        Priority::P4 => "escalation_p4",
    }
}

/// Every durable consumer of the pipeline, with its stream: what the lag metrics and the
/// sweeper look at.
pub fn pipeline_consumers() -> Vec<(&'static str, &'static str)> {
    let mut consumers = vec![
        (STREAM_INBOUND, CONSUMER_CLASSIFY),
        (STREAM_URGENT, CONSUMER_CLASSIFY_URGENT),
        (STREAM_REPLY, CONSUMER_REPLY),
    ];
    consumers.extend(
        Priority::ALL
            .iter()
            .map(|&p| (STREAM_ESCALATE, escalation_consumer(p))),
    );
    consumers
}

/// KV bucket holding crisis mode and the active playbook.
pub const KV_CONTROL: &str = "fb_control";

/// Key prefix, in the control bucket, of each classify replica's insights snapshot.
pub const KV_INSIGHTS_PREFIX: &str = "insights.";

pub fn inbound(channel: Channel) -> String {
    format!("fb.in.{}", channel.as_str())
}

/// What every subject of the urgent lane starts with.
pub const URGENT_PREFIX: &str = "fb.urgent.";

/// The urgent lane's subject for a message of `channel`.
pub fn urgent_inbound(channel: Channel) -> String {
    format!("{URGENT_PREFIX}{}", channel.as_str())
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
        STREAM_URGENT => &["fb.urgent.>"],
        STREAM_REPLY => &["fb.reply.>"],
        STREAM_ESCALATE => &["fb.escalate.>"],
        STREAM_DEAD_LETTER => &["fb.dlq.>"],
        STREAM_AUDIT => &["fb.audit"],
        STREAM_RATES => &["fb.rates"],
        _ => &[],
    }
}

pub const ALL_STREAMS: [&str; 7] = [
    STREAM_INBOUND,
    STREAM_URGENT,
    STREAM_REPLY,
    STREAM_ESCALATE,
    STREAM_DEAD_LETTER,
    STREAM_AUDIT,
    STREAM_RATES,
];
