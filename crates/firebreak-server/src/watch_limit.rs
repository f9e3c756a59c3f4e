//! Limits on live streams (`Moderation/Watch`, `CrisisControl/WatchMode`): at most
//! `per_token` open at once for one token and `per_process` in all. Each stream holds a
//! [`WatchSlot`] for its life; dropping the stream (the client leaves) frees it.

use std::collections::HashMap;
use std::sync::Arc;

use firebreak_core::FirebreakError;
use parking_lot::Mutex;

/// Streams one token may hold open at once. A moderator console opens one or two.
pub const DEFAULT_PER_TOKEN: usize = 8;
/// Streams one process serves at once.
pub const DEFAULT_PER_PROCESS: usize = 256;

#[derive(Clone, Debug)]
pub struct WatchLimiter {
    inner: Arc<Mutex<Counts>>,
    per_token: usize,
    per_process: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_token: HashMap<String, usize>,
}

impl Default for WatchLimiter {
    fn default() -> Self {
        WatchLimiter::new(DEFAULT_PER_TOKEN, DEFAULT_PER_PROCESS)
    }
}

impl WatchLimiter {
    pub fn new(per_token: usize, per_process: usize) -> Self {
        WatchLimiter {
            inner: Arc::default(),
            per_token,
            per_process,
        }
    }

    /// A slot for `token` (the principal's name), or RESOURCE_EXHAUSTED.
    pub fn acquire(&self, token: &str) -> Result<WatchSlot, FirebreakError> {
        let mut counts = self.inner.lock();
        if counts.total >= self.per_process {
            return Err(FirebreakError::exhausted(
                "too many open watch streams on this server",
                std::time::Duration::from_secs(5),
            ));
        }
        let mine = counts.by_token.get(token).copied().unwrap_or(0);
        if mine >= self.per_token {
            return Err(FirebreakError::exhausted(
                format!("at most {} open watch streams per token", self.per_token),
                std::time::Duration::from_secs(5),
            ));
        }
        counts.total += 1;
        counts.by_token.insert(token.to_string(), mine + 1);
        Ok(WatchSlot {
            limiter: self.clone(),
            token: token.to_string(),
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.inner.lock().total
    }
}

/// An open stream's place; freed on drop.
#[derive(Debug)]
pub struct WatchSlot {
    limiter: WatchLimiter,
    token: String,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut counts = self.limiter.inner.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_token.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                counts.by_token.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_token_and_per_process_and_freed_on_drop() {
        let limiter = WatchLimiter::new(2, 3);
        let a1 = limiter.acquire("alice").unwrap();
        let _a2 = limiter.acquire("alice").unwrap();
        assert!(limiter.acquire("alice").is_err(), "per token");
        let _b1 = limiter.acquire("bob").unwrap();
        assert!(limiter.acquire("carol").is_err(), "per process");
        drop(a1);
        let _c1 = limiter.acquire("carol").unwrap();
        assert_eq!(limiter.open(), 3);
    }
}
