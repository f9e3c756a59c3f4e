//! One replica's view, per channel: volume and negative counts, themes, near-miss key
//! questions and how messages were handled, over the rolling window. The classify
//! stage feeds it one [`Observation`] per message; a [`Snapshot`] of it is published
//! every few seconds for [`crate::merge`].

use std::collections::BTreeMap;

use firebreak_core::Channel;
use serde::{Deserialize, Serialize};

use crate::buckets::{Buckets, minute_of};
use crate::themes::{PackedTheme, Themes};

/// Themes per channel a snapshot carries.
pub const SNAPSHOT_THEMES: usize = 24;

/// What the tracker learns from one classified message. No text.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub channel: Channel,
    pub at_ms: i64,
    pub message_id: &'a str,
    pub negative: bool,
    /// The encoder's vector; `None` for noise, spam and bots, which join no theme.
    pub embedding: Option<&'a [f32]>,
    /// A key question the message came close to without being answered by it.
    pub near_key_question: Option<&'a str>,
    /// How it was handled: `answered`, `acknowledged`, `held`, `ignored`, `escalated`.
    pub handling: &'a str,
}

#[derive(Debug, Default)]
struct ChannelView {
    volume: Buckets,
    negative: Buckets,
    themes: Themes,
    near_misses: BTreeMap<String, Buckets>,
    handling: BTreeMap<String, Buckets>,
}

#[derive(Debug, Default)]
pub struct Tracker {
    channels: BTreeMap<&'static str, ChannelView>,
}

impl Tracker {
    /// Counts a message; returns the theme it joined, if it has a vector.
    pub fn observe(&mut self, observation: &Observation<'_>) -> Option<u64> {
        let minute = minute_of(observation.at_ms);
        let view = self
            .channels
            .entry(observation.channel.as_str())
            .or_default();
        view.volume.add(minute, 1);
        if observation.negative {
            view.negative.add(minute, 1);
        }
        if let Some(question) = observation.near_key_question {
            view.near_misses
                .entry(question.to_string())
                .or_default()
                .add(minute, 1);
        }
        view.handling
            .entry(observation.handling.to_string())
            .or_default()
            .add(minute, 1);
        observation
            .embedding
            .map(|vector| view.themes.observe(vector, observation.message_id, minute))
    }

    /// The compact view of this replica at `now_ms`.
    pub fn snapshot(&self, replica: &str, now_ms: i64) -> Snapshot {
        let minute = minute_of(now_ms);
        let channels = self
            .channels
            .iter()
            .filter(|(_, view)| view.volume.total(minute) > 0)
            .map(|(channel, view)| {
                let live = |m: &BTreeMap<String, Buckets>| {
                    m.iter()
                        .filter(|(_, b)| b.total(minute) > 0)
                        .map(|(k, b)| (k.clone(), b.clone()))
                        .collect()
                };
                ChannelSnapshot {
                    channel: channel.to_string(),
                    volume: view.volume.clone(),
                    negative: view.negative.clone(),
                    themes: view
                        .themes
                        .top(SNAPSHOT_THEMES, minute)
                        .into_iter()
                        .map(|t| t.packed())
                        .collect(),
                    near_misses: live(&view.near_misses),
                    handling: live(&view.handling),
                }
            })
            .collect();
        Snapshot {
            replica: replica.to_string(),
            at_ms: now_ms,
            channels,
        }
    }
}

/// One replica's view, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub replica: String,
    pub at_ms: i64,
    pub channels: Vec<ChannelSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    pub channel: String,
    pub volume: Buckets,
    pub negative: Buckets,
    pub themes: Vec<PackedTheme>,
    pub near_misses: BTreeMap<String, Buckets>,
    pub handling: BTreeMap<String, Buckets>,
}
