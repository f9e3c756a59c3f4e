//! Retrying a send: exponential backoff with jitter, the platform's `Retry-After`
//! honoured to the letter, and hard bounds on attempts and total time.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{Connector, OutboundReply, SendError, SendReceipt};

/// How hard [`send_with_retry`] tries before handing the failure back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included. At least one attempt is always made.
    pub max_attempts: u32,
    /// The first backoff when the platform gives no hint; doubled on each retry.
    pub initial_backoff: Duration,
    /// The ceiling of a computed backoff (not of a platform's `Retry-After`).
    pub max_backoff: Duration,
    /// Total time budget from the first attempt. A retry whose wait would end past it is
    /// not attempted: the caller gets the error at once and can defer the message
    /// instead of holding a worker asleep.
    pub max_elapsed: Duration,
    /// Retry a failure that may have reached the platform (a timeout after sending).
    /// Off by default: for a platform without idempotency keys that is a possible
    /// duplicate reply, which is worse than escalating one message to a human.
    pub retry_possibly_delivered: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
            retry_possibly_delivered: false,
        }
    }
}

/// A reply the platform accepted, and how many attempts it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub receipt: SendReceipt,
    pub attempts: u32,
}

/// Why [`send_with_retry`] stopped trying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The error is permanent, or the outcome is unknown and retrying could duplicate.
    NotRetryable,
    AttemptsExhausted,
    /// The next wait would end past `max_elapsed`.
    DeadlineExceeded,
    Cancelled,
}

/// The final failure, for the caller to record and escalate (or defer, using
/// [`SendFailure::retry_after`] when the platform said when to come back).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("send gave up after {attempts} attempt(s) ({reason:?}): {error}")]
pub struct SendFailure {
    pub error: SendError,
    pub attempts: u32,
    pub reason: GiveUpReason,
}

impl SendFailure {
    pub fn retry_after(&self) -> Option<Duration> {
        self.error.retry_after()
    }
}

/// The computed backoff before retry number `retry` (1 for the first retry), with
/// "equal jitter": half the exponential delay is fixed, the other half scaled by
/// `jitter_unit` in `[0, 1)`. The fixed half keeps a floor under the wait; the random
/// half spreads replicas that failed together so they do not come back together.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, jitter_unit: f64) -> Duration {
    let doublings = retry.saturating_sub(1).min(31);
    let exponential = policy
        .initial_backoff
        .saturating_mul(1u32 << doublings)
        .min(policy.max_backoff);
    let half = exponential / 2;
    half + half.mul_f64(unit_interval(jitter_unit))
}

/// Clamps a jitter factor into `[0, 1]`; NaN becomes 0 because `mul_f64` panics on it.
fn unit_interval(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// The wait before the next attempt after `error`. A platform's hint is a floor that is
/// never shortened; a little jitter on top (at most 10 %, at most 250 ms) keeps replicas
/// told the same instant from stampeding together.
fn wait_before_retry(policy: &RetryPolicy, error: &SendError, retry: u32, jitter: f64) -> Duration {
    match error.retry_after() {
        Some(asked) => {
            let spread = (asked / 10).min(Duration::from_millis(250));
            asked.saturating_add(spread.mul_f64(unit_interval(jitter)))
        }
        None => backoff_delay(policy, retry, jitter),
    }
}

/// A number in `[0, 1)` that differs from call to call. `RandomState` is seeded from the
/// OS once per thread and moves its keys on each use, which is plenty for spreading
/// retries and spares a dependency on a random-number crate.
fn jitter_unit() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Sends `reply`, retrying rate limits and transient faults under `policy`.
///
/// Cancellation interrupts the waits between attempts but never an attempt in flight:
/// abandoning a request halfway would leave its outcome unknown.
pub async fn send_with_retry(
    connector: &dyn Connector,
    reply: &OutboundReply,
    policy: &RetryPolicy,
    cancel: Option<&CancellationToken>,
) -> Result<Delivered, SendFailure> {
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match connector.send(reply).await {
            Ok(receipt) => return Ok(Delivered { receipt, attempts }),
            Err(error) => error,
        };
        let give_up = |reason| SendFailure {
            error: error.clone(),
            attempts,
            reason,
        };

        let may_duplicate = error.possibly_delivered()
            && !policy.retry_possibly_delivered
            && !connector.deduplicates_by_idempotency_key(reply);
        if !error.is_retryable() || may_duplicate {
            return Err(give_up(GiveUpReason::NotRetryable));
        }
        if attempts >= policy.max_attempts.max(1) {
            return Err(give_up(GiveUpReason::AttemptsExhausted));
        }
        let wait = wait_before_retry(policy, &error, attempts, jitter_unit());
        if started.elapsed().saturating_add(wait) > policy.max_elapsed {
            return Err(give_up(GiveUpReason::DeadlineExceeded));
        }

        warn!(
            connector = connector.name(),
            message_id = %reply.message_id,
            attempt = attempts,
            kind = error.kind(),
            status = error.status(),
            retry_in_ms = wait.as_millis() as u64,
            "send failed, retrying"
        );
        match cancel {
            Some(token) => {
                tokio::select! {
                    () = token.cancelled() => return Err(give_up(GiveUpReason::Cancelled)),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            None => tokio::time::sleep(wait).await,
        }
        debug!(connector = connector.name(), message_id = %reply.message_id, "retrying send");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&p, 2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(&p, 3, 0.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(&p, 100, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn a_platform_hint_is_never_shortened() {
        let rate_limited = SendError::RateLimited {
            status: 429,
            platform_code: None,
            retry_after: Some(Duration::from_secs(7)),
        };
        for jitter in [0.0, 0.5, 0.999] {
            let wait = wait_before_retry(&policy(), &rate_limited, 1, jitter);
            assert!(wait >= Duration::from_secs(7), "{wait:?}");
            assert!(wait <= Duration::from_millis(7250), "{wait:?}");
        }
    }

    #[test]
    fn a_hint_longer_than_max_backoff_still_wins() {
        let rate_limited = SendError::RateLimited {
            status: 429,
            platform_code: None,
            retry_after: Some(Duration::from_secs(60)),
        };
        let wait = wait_before_retry(&policy(), &rate_limited, 1, 0.0);
        assert_eq!(wait, Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let unit = jitter_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
        }
    }

    proptest! {
        #[test]
        fn backoff_stays_between_half_and_the_capped_exponential(
            initial_ms in 1u64..10_000,
            max_ms in 1u64..600_000,
            retry in 0u32..10_000,
            jitter in proptest::num::f64::ANY,
        ) {
            let p = RetryPolicy {
                initial_backoff: Duration::from_millis(initial_ms),
                max_backoff: Duration::from_millis(max_ms),
                ..RetryPolicy::default()
            };
            let delay = backoff_delay(&p, retry, jitter);
            prop_assert!(delay <= p.max_backoff);
            let uncapped = Duration::from_millis(initial_ms)
                .saturating_mul(1u32 << retry.saturating_sub(1).min(31));
            prop_assert!(delay >= uncapped.min(p.max_backoff) / 2);
        }

        #[test]
        fn backoff_never_shrinks_as_retries_go_on(retry in 1u32..64) {
            let p = policy();
            prop_assert!(backoff_delay(&p, retry + 1, 0.0) >= backoff_delay(&p, retry, 0.0));
        }
    }
}
