//! Counts per minute over the rolling window, in a ring indexed by the minute.

use serde::{Deserialize, Serialize};

use crate::{TREND_MINUTES, WINDOW_MINUTES};

/// The minute of a time in milliseconds since the epoch.
pub fn minute_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(60_000)
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    /// `(minute, count)`, newest last, at most [`WINDOW_MINUTES`] entries.
    counts: Vec<(i64, u32)>,
}

impl Buckets {
    pub fn add(&mut self, minute: i64, n: u32) {
        let newest = self.counts.last().map(|(m, _)| *m);
        match newest {
            Some(last) if last == minute => {
                if let Some((_, count)) = self.counts.last_mut() {
                    *count += n;
                }
            }
            Some(last) if last > minute => {
                // A late observation: add it where it belongs, if still in the window.
                if let Some((_, count)) = self.counts.iter_mut().find(|(m, _)| *m == minute) {
                    *count += n;
                } else if minute > last - WINDOW_MINUTES as i64 {
                    self.counts.push((minute, n));
                    self.counts.sort_unstable_by_key(|(m, _)| *m);
                }
                return;
            }
            _ => self.counts.push((minute, n)),
        }
        self.expire(minute);
    }

    /// Drops minutes that left the window ending at `now_minute`.
    pub fn expire(&mut self, now_minute: i64) {
        let oldest = now_minute - WINDOW_MINUTES as i64 + 1;
        self.counts.retain(|(m, _)| *m >= oldest);
    }

    /// Total over the window ending at `now_minute`.
    pub fn total(&self, now_minute: i64) -> u64 {
        self.between(now_minute - WINDOW_MINUTES as i64 + 1, now_minute)
    }

    /// The last [`TREND_MINUTES`] and the same span before them.
    pub fn recent_and_previous(&self, now_minute: i64) -> (u64, u64) {
        let span = TREND_MINUTES as i64;
        (
            self.between(now_minute - span + 1, now_minute),
            self.between(now_minute - 2 * span + 1, now_minute - span),
        )
    }

    fn between(&self, from: i64, to: i64) -> u64 {
        self.counts
            .iter()
            .filter(|(m, _)| (from..=to).contains(m))
            .map(|(_, c)| u64::from(*c))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds another replica's counts.
    pub fn merge(&mut self, other: &Buckets) {
        for &(minute, count) in &other.counts {
            match self.counts.iter_mut().find(|(m, _)| *m == minute) {
                Some((_, c)) => *c += count,
                None => self.counts.push((minute, count)),
            }
        }
        self.counts.sort_unstable_by_key(|(m, _)| *m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_rolls_and_the_trend_compares_two_spans() {
        let mut b = Buckets::default();
        b.add(100, 2);
        b.add(100, 1);
        b.add(104, 5);
        b.add(109, 7);
        assert_eq!(b.total(109), 15);
        assert_eq!(b.recent_and_previous(109), (7, 8));
        b.add(100 + WINDOW_MINUTES as i64, 1);
        assert_eq!(
            b.total(100 + WINDOW_MINUTES as i64),
            13,
            "minute 100 left the window"
        );
    }

    #[test]
    fn merging_adds_minute_by_minute() {
        let (mut a, mut b) = (Buckets::default(), Buckets::default());
        a.add(10, 1);
        b.add(10, 2);
        b.add(11, 3);
        a.merge(&b);
        assert_eq!(a.total(11), 6);
    }
}
