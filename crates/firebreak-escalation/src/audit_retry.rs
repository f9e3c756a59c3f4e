//! The audit entry of a case change, retried until it lands.
//!
//! The case store (Redis) and the audit stream (`FB_AUDIT` on NATS) are separate
//! systems: no transaction spans both, so the entry is written right after the change
//! commits. A change that committed must not go unaccounted for because the audit write
//! failed once (a NATS hiccup, a leader election), and the caller must not be told the
//! change failed when it did not (they would retry a claim they already hold). So:
//!
//! - the write is tried [`INLINE_ATTEMPTS`] times while the caller waits;
//! - then it is handed to a background task that retries with a growing delay (up to
//!   [`MAX_DELAY`]) for up to [`GIVE_UP_AFTER`], counted as
//!   `firebreak_events_total{kind="case_audit_deferred"}`, and as `case_audit_lost`
//!   (with an error log naming the action and case) in the unlikely case it never lands;
//! - at most [`MAX_PENDING`] entries wait in the background; past that the caller gets
//!   the error, so a long audit outage shows instead of filling memory.
//!
//! An entry still waiting when the process stops is lost; the log says which.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use firebreak_telemetry::Metrics;
use tracing::{error, info, warn};

use crate::ports::{AuditRecord, AuditSink};

pub const INLINE_ATTEMPTS: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(25);
pub const MAX_DELAY: Duration = Duration::from_secs(10);
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);
pub const MAX_PENDING: usize = 4096;

/// Entries retried in the background now, across the process.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Appends `record`, retrying as above. `Ok` once it landed or is being retried.
pub async fn append_until_landed(
    sink: Arc<dyn AuditSink>,
    record: AuditRecord,
    metrics: Metrics,
) -> Result<(), String> {
    let mut delay = FIRST_DELAY;
    let mut last_error = String::new();
    for attempt in 0..INLINE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        match sink.append(record.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => last_error = e,
        }
    }
    if PENDING.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING {
        PENDING.fetch_sub(1, Ordering::SeqCst);
        return Err(format!("audit unavailable: {last_error}"));
    }
    metrics.event("case_audit_deferred");
    warn!(
        action = %record.action,
        subject = %record.subject,
        error = %last_error,
        "audit write failed; retrying in the background"
    );
    tokio::spawn(async move {
        let begun = Instant::now();
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_DELAY);
            match sink.append(record.clone()).await {
                Ok(()) => {
                    info!(action = %record.action, subject = %record.subject, "deferred audit written");
                    break;
                }
                Err(e) if begun.elapsed() >= GIVE_UP_AFTER => {
                    metrics.event("case_audit_lost");
                    error!(
                        action = %record.action,
                        subject = %record.subject,
                        actor = %record.actor,
                        error = %e,
                        "audit entry lost after retrying for an hour"
                    );
                    break;
                }
                Err(_) => {}
            }
        }
        PENDING.fetch_sub(1, Ordering::SeqCst);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MemoryAudit;
    use async_trait::async_trait;

    /// Fails the first `failures` appends, then records.
    struct Flaky {
        failures: AtomicUsize,
        inner: MemoryAudit,
    }

    #[async_trait]
    impl AuditSink for Flaky {
        async fn append(&self, record: AuditRecord) -> Result<(), String> {
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return Err("stream unavailable".into());
            }
            self.inner.append(record).await
        }
    }

    fn record(subject: &str) -> AuditRecord {
        AuditRecord {
            actor: "alice".into(),
            action: "case.claim".into(),
            subject: subject.into(),
            reason: String::new(),
            detail: serde_json::json!({}),
        }
    }

    fn flaky(failures: usize) -> Arc<Flaky> {
        Arc::new(Flaky {
            failures: AtomicUsize::new(failures),
            inner: MemoryAudit::default(),
        })
    }

    #[tokio::test]
    async fn a_brief_failure_is_retried_while_the_caller_waits() {
        let sink = flaky(2);
        let metrics = Metrics::new();
        append_until_landed(sink.clone(), record("c1"), metrics.clone())
            .await
            .unwrap();
        assert_eq!(sink.inner.entries(), vec![record("c1")]);
        // Registered at 0 from the start; still 0 when nothing was deferred.
        assert!(
            metrics
                .render()
                .contains("firebreak_events_total{kind=\"case_audit_deferred\"} 0")
        );
    }

    #[tokio::test]
    async fn a_longer_failure_lands_later_in_the_background() {
        let sink = flaky(6);
        let metrics = Metrics::new();
        let begun = Instant::now();
        append_until_landed(sink.clone(), record("c2"), metrics.clone())
            .await
            .unwrap();
        assert!(
            begun.elapsed() < Duration::from_secs(1),
            "the caller is not held"
        );
        assert!(sink.inner.entries().is_empty());
        assert!(
            !metrics
                .render()
                .contains("firebreak_events_total{kind=\"case_audit_deferred\"} 0")
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.inner.entries().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(sink.inner.entries(), vec![record("c2")]);
    }
}
