//! Eventually-style assertions.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `condition` every `poll_interval` until it returns `true`.
///
/// Fails once `timeout` has elapsed without the condition holding. The
/// condition is always evaluated at least once, and once more at the deadline,
/// so a slow poll cannot make a true condition look false.
pub async fn wait_until<F, Fut>(
    timeout: Duration,
    poll_interval: Duration,
    mut condition: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if condition().await {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            anyhow::bail!(
                "condition still false after {:?} (timeout {timeout:?})",
                now - started
            );
        }
        tokio::time::sleep(poll_interval.min(deadline - now)).await;
    }
}
