//! The streams Firebreak needs, with their retention. Created idempotently at start-up
//! by every replica.

use std::time::Duration;

use firebreak_core::subjects;

#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: Vec<String>,
    pub max_age: Duration,
    /// Bytes kept at most; past it new publishes are refused (never old data silently
    /// dropped), which ingest turns into 503.
    pub max_bytes: i64,
    /// JetStream dedup window for `Nats-Msg-Id`. Longer dedup lives in the store.
    pub duplicate_window: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

pub fn streams() -> Vec<StreamSpec> {
    subjects::ALL_STREAMS
        .iter()
        .map(|&name| StreamSpec {
            name,
            subjects: subjects::stream_subjects(name)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_age: match name {
                subjects::STREAM_DEAD_LETTER | subjects::STREAM_AUDIT => 30 * DAY,
                // Longer than any surge baseline; samples are small and numerous.
                subjects::STREAM_RATES => DAY,
                _ => 7 * DAY,
            },
            max_bytes: match name {
                subjects::STREAM_RATES => 256 * 1024 * 1024,
                _ => 8 * 1024 * 1024 * 1024,
            },
            duplicate_window: Duration::from_secs(120),
        })
        .collect()
}
