//! Every replica's snapshots into one view, per channel and over all channels. Themes
//! from different replicas or channels that point the same way are one theme.

use std::collections::BTreeMap;

use firebreak_encoder::dot;
use serde::{Deserialize, Serialize};

use crate::buckets::{Buckets, minute_of};
use crate::themes::{PackedTheme, unit};
use crate::tracker::Snapshot;
use crate::{TREND_MINUTES, WINDOW_MINUTES};

/// Themes from two replicas or channels whose centroids are this close are one.
pub const MERGE_COSINE: f32 = 0.75;

/// Snapshots older than this are from a replica that stopped; left out.
pub const STALE_AFTER_MS: i64 = 120_000;

/// Themes listed per channel and overall.
pub const TOP_THEMES: usize = 10;

/// The view `GET /v1/insights` serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insights {
    pub window_secs: u64,
    pub trend_secs: u64,
    pub at_ms: i64,
    /// Replicas whose snapshots are included.
    pub replicas: usize,
    /// Every channel together.
    pub all: ChannelInsights,
    pub channels: Vec<ChannelInsights>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelInsights {
    /// A channel name, or `all`.
    pub channel: String,
    pub volume: u64,
    pub negative: u64,
    pub negative_share: f64,
    /// Messages in the last trend span and the one before it.
    pub recent: u64,
    pub previous: u64,
    /// Counts by handling (`answered`, `acknowledged`, `held`, `ignored`, `escalated`).
    pub handling: BTreeMap<String, u64>,
    pub themes: Vec<ThemeView>,
    /// Key questions messages came close to without being answered by them: a hint for
    /// the next playbook edit.
    pub near_misses: Vec<NearMiss>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThemeView {
    pub count: u64,
    pub share: f64,
    pub recent: u64,
    pub previous: u64,
    /// `rising`, `steady` or `falling`.
    pub trend: String,
    /// The most typical message's id (`GET /v1/messages/{id}`).
    pub representative_message_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearMiss {
    pub key_question: String,
    pub count: u64,
}

/// A theme being merged.
struct Merged {
    centroid: Vec<f32>,
    weight: f32,
    counts: Buckets,
    representative: String,
    representative_cosine: f32,
}

#[derive(Default)]
struct Accumulator {
    volume: Buckets,
    negative: Buckets,
    themes: Vec<Merged>,
    near_misses: BTreeMap<String, Buckets>,
    handling: BTreeMap<String, Buckets>,
}

impl Accumulator {
    fn add_theme(&mut self, theme: &PackedTheme, minute: i64) {
        let centroid = theme.centroid();
        let weight = theme.counts.total(minute) as f32;
        let nearest = self
            .themes
            .iter_mut()
            .map(|m| {
                let cosine = dot(&m.centroid, &centroid);
                (m, cosine)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match nearest {
            Some((m, cosine)) if cosine >= MERGE_COSINE => {
                let total = m.weight + weight;
                let mixed: Vec<f32> = m
                    .centroid
                    .iter()
                    .zip(&centroid)
                    .map(|(a, b)| a * m.weight + b * weight)
                    .collect();
                m.centroid = unit(&mixed);
                m.weight = total;
                m.counts.merge(&theme.counts);
                if theme.representative_cosine > m.representative_cosine {
                    m.representative.clone_from(&theme.representative);
                    m.representative_cosine = theme.representative_cosine;
                }
            }
            _ => self.themes.push(Merged {
                centroid,
                weight,
                counts: theme.counts.clone(),
                representative: theme.representative.clone(),
                representative_cosine: theme.representative_cosine,
            }),
        }
    }

    fn view(mut self, channel: &str, minute: i64) -> ChannelInsights {
        let volume = self.volume.total(minute);
        let negative = self.negative.total(minute);
        let (recent, previous) = self.volume.recent_and_previous(minute);
        self.themes
            .sort_by_key(|t| std::cmp::Reverse(t.counts.total(minute)));
        let themes = self
            .themes
            .iter()
            .take(TOP_THEMES)
            .map(|t| {
                let count = t.counts.total(minute);
                let (recent, previous) = t.counts.recent_and_previous(minute);
                ThemeView {
                    count,
                    share: ratio(count, volume),
                    recent,
                    previous,
                    trend: trend(recent, previous).to_string(),
                    representative_message_id: t.representative.clone(),
                }
            })
            .collect();
        let mut near_misses: Vec<NearMiss> = self
            .near_misses
            .iter()
            .map(|(k, b)| NearMiss {
                key_question: k.clone(),
                count: b.total(minute),
            })
            .filter(|n| n.count > 0)
            .collect();
        near_misses.sort_by_key(|n| std::cmp::Reverse(n.count));
        ChannelInsights {
            channel: channel.to_string(),
            volume,
            negative,
            negative_share: ratio(negative, volume),
            recent,
            previous,
            handling: self
                .handling
                .iter()
                .map(|(k, b)| (k.clone(), b.total(minute)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            themes,
            near_misses,
        }
    }
}

fn ratio(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// Rising when the last span has half again as many messages as the one before (and
/// a few more), falling for the reverse.
pub fn trend(recent: u64, previous: u64) -> &'static str {
    if recent * 2 >= previous * 3 + 6 {
        "rising"
    } else if previous * 2 >= recent * 3 + 6 {
        "falling"
    } else {
        "steady"
    }
}

/// Merges the fresh snapshots (at most [`STALE_AFTER_MS`] old at `now_ms`).
pub fn merge(snapshots: &[Snapshot], now_ms: i64) -> Insights {
    let minute = minute_of(now_ms);
    let fresh: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| now_ms - s.at_ms <= STALE_AFTER_MS)
        .collect();
    let mut all = Accumulator::default();
    let mut channels: BTreeMap<&str, Accumulator> = BTreeMap::new();
    for snapshot in &fresh {
        for view in &snapshot.channels {
            let channel = channels.entry(view.channel.as_str()).or_default();
            for acc in [&mut all, channel] {
                acc.volume.merge(&view.volume);
                acc.negative.merge(&view.negative);
                for (k, b) in &view.near_misses {
                    acc.near_misses.entry(k.clone()).or_default().merge(b);
                }
                for (k, b) in &view.handling {
                    acc.handling.entry(k.clone()).or_default().merge(b);
                }
                for theme in &view.themes {
                    acc.add_theme(theme, minute);
                }
            }
        }
    }
    Insights {
        window_secs: WINDOW_MINUTES as u64 * 60,
        trend_secs: TREND_MINUTES as u64 * 60,
        at_ms: now_ms,
        replicas: fresh.len(),
        all: all.view("all", minute),
        channels: channels
            .into_iter()
            .map(|(name, acc)| acc.view(name, minute))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use firebreak_core::Channel;

    use super::*;
    use crate::tracker::{Observation, Tracker};

    fn observe(tracker: &mut Tracker, channel: Channel, id: &str, v: &[f32], negative: bool) {
        tracker.observe(&Observation {
            channel,
            at_ms: 600_000,
            message_id: id,
            negative,
            embedding: Some(v),
            near_key_question: (id == "m1").then_some("refund"),
            handling: "ignored",
        });
    }

    #[test]
    fn replicas_and_channels_add_up_and_like_themes_merge() {
        let a_dir = unit(&[1.0, 0.1, 0.0, 0.0]);
        let b_dir = unit(&[0.0, 0.0, 1.0, 0.1]);
        let (mut one, mut two) = (Tracker::default(), Tracker::default());
        observe(&mut one, Channel::X, "m1", &a_dir, true);
        observe(&mut one, Channel::X, "m2", &a_dir, false);
        observe(&mut two, Channel::Messenger, "m3", &a_dir, true);
        observe(&mut two, Channel::X, "m4", &b_dir, false);
        let snapshots = [one.snapshot("r1", 610_000), two.snapshot("r2", 610_000)];
        let insights = merge(&snapshots, 620_000);
        assert_eq!(insights.replicas, 2);
        assert_eq!(insights.all.volume, 4);
        assert_eq!(insights.all.negative, 2);
        assert_eq!(insights.all.themes.len(), 2);
        assert_eq!(insights.all.themes[0].count, 3);
        assert_eq!(
            insights.all.near_misses,
            vec![NearMiss {
                key_question: "refund".into(),
                count: 1
            }]
        );
        let x = insights.channels.iter().find(|c| c.channel == "x").unwrap();
        assert_eq!((x.volume, x.themes.len()), (3, 2));
        // A replica that stopped publishing drops out.
        let later = merge(&snapshots, 610_000 + STALE_AFTER_MS + 1);
        assert_eq!((later.replicas, later.all.volume), (0, 0));
        let json = serde_json::to_string(&insights).unwrap();
        assert!(json.contains("representative_message_id"));
    }

    #[test]
    fn trends_need_a_real_change() {
        assert_eq!(trend(30, 10), "rising");
        assert_eq!(trend(10, 30), "falling");
        assert_eq!(trend(11, 10), "steady");
        assert_eq!(trend(2, 0), "steady");
    }
}
