//! The in-process fast path in front of the shared budgets, on `governor`.
//!
//! A replica lets through at most twice its channel's pace of *attempts* to Redis: the
//! shared GCRA is the authority, this only sheds the obviously excess part of a surge
//! without a round trip. Twice, so that attempts Redis turns down (a message behind
//! older ones) cannot starve the budget. Per-recipient pacing (Telegram about 1/s per
//! chat, WhatsApp about 1 per 6 s per user) is a keyed limiter whose idle keys are
//! evicted on a timer with `retain_recent`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use firebreak_core::Channel;
use firebreak_triage::playbook::Budgets;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

/// Pace at which one recipient may get replies on `channel`.
pub fn recipient_interval(channel: Channel) -> Duration {
    match channel {
        Channel::Whatsapp => Duration::from_secs(6),
        _ => Duration::from_secs(1),
    }
}

struct Limits {
    /// Per-second paces the limiters were built for, to notice a playbook or crisis change.
    paces: Vec<(Channel, f64)>,
    channels: HashMap<Channel, DefaultDirectRateLimiter>,
}

pub struct LocalLimits {
    limits: RwLock<Arc<Limits>>,
    /// One keyed limiter per recipient pace (1 s, 6 s), keyed by `channel:recipient`.
    recipients: HashMap<u64, DefaultKeyedRateLimiter<String>>,
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
        let mut recipients = HashMap::new();
        for channel in Channel::ALL {
            let interval = recipient_interval(channel);
            recipients
                .entry(interval.as_secs())
                .or_insert_with(|| RateLimiter::keyed(Quota::with_period(interval).unwrap()));
        }
        LocalLimits {
            limits: RwLock::new(Arc::new(Limits {
                paces: Vec::new(),
                channels: HashMap::new(),
            })),
            recipients,
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

    /// `None` when `recipient` may get a reply on `channel` now.
    pub fn check_recipient(&self, channel: Channel, recipient: &str) -> Option<Duration> {
        let limiter = self
            .recipients
            .get(&recipient_interval(channel).as_secs())?;
        limiter
            .check_key(&format!("{}:{recipient}", channel.as_str()))
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Recipients currently remembered.
    pub fn tracked_recipients(&self) -> usize {
        self.recipients.values().map(|l| l.len()).sum()
    }

    /// Forgets recipients whose limiter is back to full, keeping memory bounded in a
    /// surge of distinct authors.
    pub fn evict_idle(&self) {
        for limiter in self.recipients.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Runs [`Self::evict_idle`] every `every` until shutdown.
    pub fn spawn_eviction(self: &Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => this.evict_idle(),
                }
            }
        });
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

    #[test]
    fn one_recipient_is_paced_and_idle_ones_are_evicted() {
        let local = LocalLimits::new(1.0);
        assert!(local.check_recipient(Channel::Whatsapp, "u1").is_none());
        let wait = local.check_recipient(Channel::Whatsapp, "u1").unwrap();
        assert!(wait > Duration::from_secs(5), "{wait:?}");
        assert!(local.check_recipient(Channel::Telegram, "u1").is_none());
        assert_eq!(local.tracked_recipients(), 2);
    }
}
