//! The urgent lane's right of way inside a classify process.
//!
//! Both lanes share the process's CPU, and a classification is CPU work with no await
//! in it. In a surge the normal lane keeps dozens of deliveries runnable, so an urgent
//! one would queue behind them on the runtime: measured at seconds at the peak of the
//! standard surge, while the rest of a P1's path took about 80 ms. So a normal
//! delivery waits here, just before its classification, while urgent ones are in
//! progress; an urgent one waits for at most the classifications already running.
//! The wait is bounded ([`MAX_YIELD`]) so that a steady urgent stream slows the normal
//! lane without stopping it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Longest a normal delivery yields to urgent ones before it goes ahead anyway.
pub const MAX_YIELD: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct LanePriority {
    urgent: AtomicUsize,
    clear: Notify,
}

/// Held while an urgent delivery is being handled.
#[derive(Debug)]
pub struct UrgentTurn<'a> {
    priority: &'a LanePriority,
}

impl Drop for UrgentTurn<'_> {
    fn drop(&mut self) {
        if self.priority.urgent.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.priority.clear.notify_waiters();
        }
    }
}

impl LanePriority {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks an urgent delivery in progress until the turn is dropped.
    pub fn urgent(&self) -> UrgentTurn<'_> {
        self.urgent.fetch_add(1, Ordering::AcqRel);
        UrgentTurn { priority: self }
    }

    /// Waits while urgent deliveries are in progress, at most [`MAX_YIELD`].
    pub async fn yield_to_urgent(&self) {
        let clear = async {
            loop {
                // Registered before the check, so a turn ending in between still
                // wakes this waiter.
                let notified = self.clear.notified();
                if self.urgent.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(MAX_YIELD, clear).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn no_urgent_work_means_no_wait() {
        let priority = LanePriority::new();
        tokio::time::timeout(Duration::from_millis(50), priority.yield_to_urgent())
            .await
            .expect("returns at once");
    }

    #[tokio::test]
    async fn a_normal_delivery_waits_until_the_last_urgent_one_ends() {
        let priority = Arc::new(LanePriority::new());
        let first = priority.urgent();
        let second = priority.urgent();
        let waiter = tokio::spawn({
            let priority = priority.clone();
            async move { priority.yield_to_urgent().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "one urgent delivery is still running"
        );
        drop(second);
        tokio::time::timeout(Duration::from_millis(100), waiter)
            .await
            .expect("woken when the lane is clear")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded() {
        let priority = LanePriority::new();
        let _stuck = priority.urgent();
        let started = tokio::time::Instant::now();
        priority.yield_to_urgent().await;
        assert_eq!(started.elapsed(), MAX_YIELD);
    }
}
