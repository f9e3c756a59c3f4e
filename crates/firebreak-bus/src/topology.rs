//! The streams Firebreak needs, with their retention. Created idempotently at start-up
//! by every replica.

use std::time::Duration;

use firebreak_core::subjects;

/// When a stream lets go of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Kept until its age or the byte limit: for streams read back (audit, dead
    /// letters, rate samples).
    Limits,
    /// Removed once its one consumer acks (or terminates) it: the pipeline's work, so
    /// that done work never fills the stream. Allows one consumer per subject.
    WorkQueue,
}

/// What a full stream does with the next publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// Refuse it (ingest answers 503): never drop data silently.
    New,
    /// Drop the oldest: for samples whose newest matter most.
    Old,
}

#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: Vec<String>,
    pub retention: Retention,
    pub max_age: Duration,
    /// Bytes kept at most; past it `discard` applies.
    pub max_bytes: i64,
    pub discard: Discard,
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
            retention: match name {
                // One consumer per subject (classify, classify_urgent, reply, the
                // escalation lanes): work-queue fits.
                subjects::STREAM_INBOUND
                | subjects::STREAM_URGENT
                | subjects::STREAM_REPLY
                | subjects::STREAM_ESCALATE => Retention::WorkQueue,
                _ => Retention::Limits,
            },
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
            discard: match name {
                // The surge detector needs the newest samples; old ones age out anyway.
                subjects::STREAM_RATES => Discard::Old,
                _ => Discard::New,
            },
            duplicate_window: Duration::from_secs(120),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> StreamSpec {
        streams().into_iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn pipeline_streams_are_work_queues_that_refuse_when_full() {
        for name in [
            subjects::STREAM_INBOUND,
            subjects::STREAM_URGENT,
            subjects::STREAM_REPLY,
            subjects::STREAM_ESCALATE,
        ] {
            assert_eq!(spec(name).retention, Retention::WorkQueue, "{name}");
            assert_eq!(spec(name).discard, Discard::New, "{name}");
        }
    }

    #[test]
    fn the_rates_stream_drops_its_oldest_samples_so_the_surge_detector_never_goes_blind() {
        let rates = spec(subjects::STREAM_RATES);
        assert_eq!(rates.discard, Discard::Old);
        assert_eq!(rates.retention, Retention::Limits);
        assert_eq!(rates.max_age, DAY);
    }

    #[test]
    fn read_back_streams_keep_limits_retention() {
        for name in [subjects::STREAM_DEAD_LETTER, subjects::STREAM_AUDIT] {
            assert_eq!(spec(name).retention, Retention::Limits, "{name}");
        }
    }
}
