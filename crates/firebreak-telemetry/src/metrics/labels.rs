//! The values every label may take. Labels are bounded so a dashboard never drowns in
//! series: anything outside these sets is counted as `other`. Every combination is
//! registered at start, so a counter reads 0 (not "no data") before its first event.

pub const STAGES: &[&str] = &["classify", "reply", "escalation"];

/// What the sweeper did with an accepted message that had no outcome past its bound.
pub const SWEPT_RESULTS: &[&str] = &["dead_lettered", "no_record"];

pub const OUTCOMES: &[&str] = &["replied", "escalated", "ignored", "dead_lettered"];

/// `firebreak_core::Channel::ALL`, as strings (telemetry does not depend on the domain).
pub const CHANNELS: &[&str] = &[
    "messenger",
    "instagram",
    "whatsapp",
    "telegram",
    "x",
    "facebook",
    "email",
    "web",
    "line",
];

pub const PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4"];

/// Case statuses that count as open (resolved cases are history, not a backlog).
pub const OPEN_STATUSES: &[&str] = &["open", "claimed", "acknowledged", "snoozed"];

/// Flag kinds a message can be escalated with (triage's `detectors::kind` and the reply
/// stage's `no_automatic_reply`); `none` for an escalation without a flag.
pub const FLAGS: &[&str] = &[
    "self_harm",
    "threat",
    "legal",
    "press",
    "hate",
    "health_incident",
    "personal_data",
    "spill_over",
    "influencer",
    "hostility",
    "repeat_complainer",
    "spam",
    "human_request",
    "no_automatic_reply",
    "none",
    "other",
];

/// SLA tiers, counted from the first breach; `4` is the fourth tier and above.
pub const SLA_TIERS: &[&str] = &["1", "2", "3", "4"];

/// Ingest sources: the API, gRPC and each platform webhook.
pub const INGEST_SOURCES: &[&str] = &[
    "api",
    "grpc",
    "grpc_stream",
    "meta",
    "telegram",
    "x",
    "line",
];

pub const INGEST_RESULTS: &[&str] = &["accepted", "duplicate"];

/// Platforms with an inbound webhook.
pub const WEBHOOK_PLATFORMS: &[&str] = &["meta", "telegram", "x", "line"];

/// Why a webhook delivery was refused. Signature failures (`missing`, `malformed`,
/// `mismatch`, `crc_shaped`) are the 401s.
pub const WEBHOOK_REJECT_REASONS: &[&str] = &[
    "missing",
    "malformed",
    "mismatch",
    "crc_shaped",
    "handshake_refused",
    "crc_refused",
    "invalid_utf8",
    "malformed_json",
    "too_large",
    "body_timeout",
    "disconnected",
    "busy",
    "rate_limited",
    "bus_unavailable",
    "store_unavailable",
    "other",
];

/// Why an API call was refused before it ran: 401 (`unauthenticated`) or 403
/// (`forbidden`).
pub const AUTH_REJECT_REASONS: &[&str] = &["unauthenticated", "forbidden"];

/// The P1 kinds ingest's urgent pre-screen looks for (`firebreak_triage::urgent`).
pub const URGENT_KINDS: &[&str] = &[
    "self_harm",
    "threat",
    "health_incident",
    "model",
    "spill_over",
];

pub const TRANSPORTS: &[&str] = &["http", "grpc"];

/// `firebreak_connectors::SendError::kind`.
pub const CONNECTOR_ERRORS: &[&str] = &["rate_limited", "transient", "permanent", "invalid"];

/// Streams and the durable consumer reading each.
pub const CONSUMERS: &[(&str, &str)] = &[
    ("FB_INBOUND", "classify"),
    ("FB_URGENT", "classify_urgent"),
    ("FB_REPLY", "reply"),
    ("FB_ESCALATE", "escalation_p1"),
    ("FB_ESCALATE", "escalation_p2"),
    ("FB_ESCALATE", "escalation_p3"),
    ("FB_ESCALATE", "escalation_p4"),
];

pub const STREAMS: &[&str] = &[
    "FB_INBOUND",
    "FB_URGENT",
    "FB_REPLY",
    "FB_ESCALATE",
    "FB_DLQ",
    "FB_AUDIT",
    "FB_RATES",
];

/// Key questions are the playbook's own ids; at most this many distinct ones get a
/// series of their own, the rest count as `other`.
pub const MAX_KEY_QUESTIONS: usize = 64;

/// `value` if it is one of `allowed`, else `other`.
pub fn bounded(value: &str, allowed: &[&'static str]) -> &'static str {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .unwrap_or("other")
}
