//! The generic cell rate algorithm, in integer microseconds. The Redis adapter runs
//! the same arithmetic in Lua (see `redis_state.rs`); the in-memory adapter calls this.
//! A budget is one stored number, the theoretical arrival time (TAT) of the next reply.

use std::time::Duration;

/// A rate as GCRA sees it: the spacing between replies and how much earlier than its
/// slot a reply may go (burst).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Microseconds between two replies at the sustained rate.
    pub emission_us: u64,
    /// Microseconds a reply may run ahead of the sustained schedule. 0 = strictly
    /// spaced, which is what "never more than N in any second" needs.
    pub tolerance_us: u64,
}

impl Rate {
    /// `per_sec` replies per second with `burst` of them allowed back to back. `None`
    /// for a rate that allows nothing (0, negative or not a number).
    pub fn per_second(per_sec: f64, burst: u32) -> Option<Rate> {
        if !per_sec.is_finite() || per_sec <= 0.0 {
            return None;
        }
        let emission_us = (1_000_000.0 / per_sec).ceil().max(1.0) as u64;
        Some(Rate {
            emission_us,
            tolerance_us: emission_us * u64::from(burst.max(1) - 1),
        })
    }

    pub fn emission(&self) -> Duration {
        Duration::from_micros(self.emission_us)
    }
}

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed: store `tat` as the new TAT.
    Allow { tat: u64 },
    /// Denied: the earliest moment it could be allowed is `retry_after_us` from now.
    Deny { retry_after_us: u64 },
}

/// Decides one request at `now_us` against the stored `tat` (0 when unset).
pub fn check(tat: u64, now_us: u64, rate: Rate) -> Verdict {
    let tat = tat.max(now_us);
    let allow_at = tat.saturating_sub(rate.tolerance_us);
    if now_us < allow_at {
        Verdict::Deny {
            retry_after_us: allow_at - now_us,
        }
    } else {
        Verdict::Allow {
            tat: tat + rate.emission_us,
        }
    }
}

/// Gives back one reply's slot (taken and then not used), never below `now_us`.
pub fn refund(tat: u64, now_us: u64, rate: Rate) -> u64 {
    tat.saturating_sub(rate.emission_us).max(now_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_or_negative_rates_allow_nothing() {
        assert_eq!(Rate::per_second(0.0, 1), None);
        assert_eq!(Rate::per_second(-1.0, 1), None);
        assert_eq!(Rate::per_second(f64::NAN, 1), None);
    }

    #[test]
    fn strict_spacing_without_burst() {
        let rate = Rate::per_second(10.0, 1).unwrap();
        let Verdict::Allow { tat } = check(0, 1_000_000, rate) else {
            panic!("first request is allowed")
        };
        assert_eq!(
            check(tat, 1_050_000, rate),
            Verdict::Deny {
                retry_after_us: 50_000
            }
        );
        assert!(matches!(check(tat, 1_100_000, rate), Verdict::Allow { .. }));
    }

    proptest! {
        /// Whatever the arrival pattern, no window of one second ever holds more than
        /// `per_sec` allowed requests (plus the burst).
        #[test]
        fn allowed_requests_never_exceed_the_rate_in_any_second(
            per_sec in 1u32..200,
            burst in 1u32..4,
            gaps in proptest::collection::vec(0u64..30_000, 1..600),
        ) {
            let rate = Rate::per_second(f64::from(per_sec), burst).unwrap();
            let (mut now, mut tat, mut allowed) = (0u64, 0u64, Vec::new());
            for gap in gaps {
                now += gap;
                if let Verdict::Allow { tat: next } = check(tat, now, rate) {
                    tat = next;
                    allowed.push(now);
                }
            }
            for (i, &start) in allowed.iter().enumerate() {
                let in_window = allowed[i..].iter().take_while(|&&t| t < start + 1_000_000).count();
                prop_assert!(in_window as u32 <= per_sec + (burst - 1), "{in_window} > {per_sec}");
            }
        }
    }
}
