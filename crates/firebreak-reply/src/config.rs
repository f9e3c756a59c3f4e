//! The reply service's settings and the consumer it runs on.

use std::collections::HashSet;
use std::time::Duration;

use firebreak_bus::ConsumerOptions;
use firebreak_connectors::RetryPolicy;
use firebreak_core::subjects;
use firebreak_pipeline::worker::WorkerConfig;

use crate::policy::Guards;

#[derive(Clone, Debug)]
pub struct ReplyConfig {
    pub guards: Guards,
    /// Share of a budget actually used. Replies reach the platform with some jitter
    /// after the budget granted them; pacing a little under the platform's limit keeps
    /// what the platform measures under it too.
    pub headroom: f64,
    /// How many recent public replies per channel the variation spreads over.
    pub recent_window: usize,
    /// Longest single deferral; a message further back in line is looked at again
    /// after this and re-queued by age.
    pub max_defer: Duration,
    /// A budget wait up to this long is slept in the worker, holding the delivery,
    /// and the budget asked again; a longer one is a deferral through the bus. A
    /// deferral costs a nak, a redelivery and the whole lookup again: in a burst,
    /// where the channel's line or a recipient's pace asks most messages to wait a few
    /// milliseconds to a second, that was most of the reply stage's Redis traffic.
    pub inline_wait: Duration,
    /// The most one message sleeps in the worker over all its budget waits, before it
    /// is deferred like any other.
    pub inline_wait_total: Duration,
    /// How many messages of one process may sleep out a budget wait at once: a quarter
    /// of the reply worker's slots, so the other channels always have the rest.
    pub inline_sleepers: usize,
    /// Real failures (store or bus errors, crashes) before a message is dead-lettered.
    /// Deferrals for budget do not count.
    pub max_failures: u32,
    /// How long a "sending" claim belongs to the worker that made it. A redelivery
    /// younger than this waits; an older one reconciles (see ARCHITECTURE.md).
    pub claim_lease: Duration,
    pub retry: RetryPolicy,
    /// Unacknowledged time before JetStream redelivers a reply.
    pub ack_wait: Duration,
}

impl Default for ReplyConfig {
    fn default() -> Self {
        ReplyConfig::new(HashSet::new(), Duration::from_secs(30))
    }
}

impl ReplyConfig {
    pub fn new(brand_accounts: HashSet<String>, ack_wait: Duration) -> Self {
        ReplyConfig {
            guards: Guards {
                brand_accounts,
                stale_public_after: Duration::from_secs(6 * 3600),
            },
            headroom: 0.9,
            recent_window: 8,
            max_defer: Duration::from_secs(30),
            inline_wait: Duration::from_millis(1_000),
            inline_wait_total: Duration::from_millis(2_500),
            inline_sleepers: WorkerConfig::new(subjects::STREAM_REPLY, subjects::CONSUMER_REPLY)
                .concurrency
                / 4,
            max_failures: 5,
            claim_lease: ack_wait,
            // A send must end well within the ack wait, or the message is redelivered
            // while still being sent.
            retry: RetryPolicy {
                max_elapsed: ack_wait / 3,
                ..RetryPolicy::default()
            },
            ack_wait,
        }
    }

    /// The longest one reply can take to send: the retries' time budget (no retry
    /// starts past it) plus the last attempt's request timeout.
    pub fn longest_send(&self, request_timeout: Duration) -> Duration {
        self.retry.max_elapsed + request_timeout
    }

    /// The reply consumer. Its attempt limit is far above `max_failures`: a deferral is
    /// a nak with a delay, which JetStream counts as a delivery, and a surge must never
    /// run a waiting message into the dead-letter path. Real failures are counted apart
    /// (deliveries minus deferrals) and dead-lettered by the stage itself.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            max_attempts: DEFERRAL_MAX_DELIVER as u64,
            consumer: ConsumerOptions {
                max_deliver: DEFERRAL_MAX_DELIVER,
                ack_wait: self.ack_wait,
                max_ack_pending: 20_000,
                filter_subject: None,
            },
            ..WorkerConfig::new(subjects::STREAM_REPLY, subjects::CONSUMER_REPLY)
        }
    }
}

/// JetStream deliveries allowed per reply message: enough for days of deferrals.
pub const DEFERRAL_MAX_DELIVER: i64 = 100_000;
