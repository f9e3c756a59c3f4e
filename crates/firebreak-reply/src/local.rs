//! The in-process fast path in front of the shared budgets, on `governor`.
//!
//! A replica lets through at most twice its channel's pace of *attempts* to Redis: the
//! shared GCRA is the authority, this only sheds the obviously excess part of a surge
//! without a round trip. Twice, so that attempts Redis turns down (a message behind
//! older ones) cannot starve the budget.
//!
//! Per-recipient pacing is not here: a limiter per replica let N replicas send N times
//! the pace to one chat. It is a GCRA per chat on the shared budget
//! ([`crate::engine::Recipient`]), taken in the same round trip as the global budget, so
//! a local pre-filter would save no round trip.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use firebreak_core::Channel;
use firebreak_triage::playbook::Budgets;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::RwLock;

struct Limits {
    /// Per-second paces the limiters were built for, to notice a playbook or crisis change.
    paces: Vec<(Channel, f64)>,
    channels: HashMap<Channel, DefaultDirectRateLimiter>,
}

pub struct LocalLimits {
    limits: RwLock<Arc<Limits>>,
    clock: DefaultClock,
    headroom: f64,
}

impl std::fmt::Debug for LocalLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimits").finish_non_exhaustive()
    }
}

fn paces(budgets: &Budgets, headroom: f64) -> Vec<(Channel, f64)> {
    Channel::ALL
        .iter()
        .map(|&c| (c, budgets.channel_per_sec(c) * headroom))
        .collect()
}

fn attempt_limiter(pace: f64) -> Option<DefaultDirectRateLimiter> {
    if !pace.is_finite() || pace * 2.0 < 1.0 {
        // Fewer than one attempt a second: leave it all to the shared budget.
        return None;
    }
    let per_sec = (pace * 2.0).ceil();
    let burst = NonZeroU32::new((pace.ceil() as u32).max(1))?;
    let quota = Quota::with_period(Duration::from_secs_f64(1.0 / per_sec))?.allow_burst(burst);
    Some(RateLimiter::direct(quota))
}

impl LocalLimits {
    pub fn new(headroom: f64) -> Self {
        LocalLimits {
            limits: RwLock::new(Arc::new(Limits {
                paces: Vec::new(),
                channels: HashMap::new(),
            })),
            clock: DefaultClock::default(),
            headroom,
        }
    }

    fn current(&self, budgets: &Budgets) -> Arc<Limits> {
        let wanted = paces(budgets, self.headroom);
        {
            let limits = self.limits.read();
            if limits.paces == wanted {
                return limits.clone();
            }
        }
        let channels = wanted
            .iter()
            .filter_map(|&(c, pace)| Some((c, attempt_limiter(pace)?)))
            .collect();
        let fresh = Arc::new(Limits {
            paces: wanted,
            channels,
        });
        *self.limits.write() = fresh.clone();
        fresh
    }

    /// `None` when an attempt on `channel` may go to the shared budget, else how long
    /// this replica should hold it back.
    pub fn check_channel(&self, budgets: &Budgets, channel: Channel) -> Option<Duration> {
        let limits = self.current(budgets);
        let limiter = limits.channels.get(&channel)?;
        limiter
            .check()
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(telegram: f64) -> Budgets {
        Budgets {
            global_per_sec: 100.0,
            per_channel_per_sec: [("telegram".to_string(), telegram)].into_iter().collect(),
            author_cooldown_secs: 60,
            thread_cap: 1,
        }
    }

    #[test]
    fn sheds_attempts_beyond_twice_the_pace() {
        let local = LocalLimits::new(1.0);
        let b = budgets(5.0);
        let passed = (0..100)
            .filter(|_| local.check_channel(&b, Channel::Telegram).is_none())
            .count();
        // Burst of 5 attempts, then about 10/s: far fewer than 100 in a tight loop.
        assert!((5..=8).contains(&passed), "{passed}");
    }

    #[test]
    fn a_budget_change_rebuilds_the_limiters() {
        let local = LocalLimits::new(1.0);
        let small = budgets(1.0);
        while local.check_channel(&small, Channel::Telegram).is_none() {}
        assert!(
            local
                .check_channel(&budgets(50.0), Channel::Telegram)
                .is_none()
        );
    }
}
