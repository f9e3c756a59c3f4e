//! Themes: an online clustering of the encoder's unit vectors. A message joins the
//! nearest theme when close enough, or starts a new one; when the replica holds too
//! many, the one with the fewest messages in the window makes room. Each theme keeps
//! the id of its most typical message so far, never its text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use firebreak_encoder::dot;
use serde::{Deserialize, Serialize};

use crate::buckets::Buckets;

/// A message joins a theme whose centroid it is at least this close to, once what all
/// the traffic shares is taken out (see [`Themes::observe`]). Chosen on the tuning
/// surge scenario's venting (`tests/scenario_themes.rs`): its five top themes are four
/// of its five complaints, 74 % pure; higher splits one complaint into many small
/// themes, lower merges complaints. The held-out scenario: 79 % pure.
pub const JOIN_COSINE: f32 = 0.12;

/// Themes one replica tracks per channel.
pub const MAX_THEMES: usize = 96;

#[derive(Clone, Debug)]
pub struct Theme {
    pub id: u64,
    /// Sum of the member vectors; its direction is the centroid.
    sum: Vec<f32>,
    centroid: Vec<f32>,
    pub counts: Buckets,
    pub representative: String,
    representative_cosine: f32,
}

impl Theme {
    fn new(id: u64, vector: &[f32], message_id: &str) -> Theme {
        Theme {
            id,
            sum: vector.to_vec(),
            centroid: vector.to_vec(),
            counts: Buckets::default(),
            representative: message_id.to_string(),
            representative_cosine: 1.0,
        }
    }

    fn join(&mut self, vector: &[f32], message_id: &str) {
        self.sum.iter_mut().zip(vector).for_each(|(s, v)| *s += v);
        self.centroid = unit(&self.sum);
        let cosine = dot(vector, &self.centroid);
        // The old representative's closeness drifts with the centroid; decay it so a
        // theme that moved can adopt a more typical message.
        self.representative_cosine *= 0.995;
        if cosine > self.representative_cosine {
            self.representative = message_id.to_string();
            self.representative_cosine = cosine;
        }
    }

    pub fn centroid(&self) -> &[f32] {
        &self.centroid
    }

    /// The compact form sent in snapshots.
    pub fn packed(&self) -> PackedTheme {
        PackedTheme {
            centroid: pack(&self.centroid),
            counts: self.counts.clone(),
            representative: self.representative.clone(),
            representative_cosine: self.representative_cosine,
        }
    }
}

/// A theme as one replica reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackedTheme {
    /// The centroid as signed bytes (×1/127), base64.
    pub centroid: String,
    pub counts: Buckets,
    pub representative: String,
    pub representative_cosine: f32,
}

impl PackedTheme {
    pub fn centroid(&self) -> Vec<f32> {
        unpack(&self.centroid)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Themes {
    themes: Vec<Theme>,
    next_id: u64,
    /// Sum and count of every vector seen: what all of this traffic has in common.
    background: Vec<f32>,
    seen: u32,
}

/// Vectors seen before the background is taken out: fewer say too little about it.
const BACKGROUND_AFTER: u32 = 8;

impl Themes {
    /// The vector with what every message of the traffic shares taken out: in a recall
    /// surge, every message is an angry recall message, and that says nothing about
    /// which complaint it is.
    fn foreground(&mut self, vector: &[f32]) -> Vec<f32> {
        if self.background.len() != vector.len() {
            self.background = vec![0.0; vector.len()];
            self.seen = 0;
        }
        let adjusted = if self.seen >= BACKGROUND_AFTER {
            let n = self.seen as f32;
            unit(
                &vector
                    .iter()
                    .zip(&self.background)
                    .map(|(v, b)| v - b / n)
                    .collect::<Vec<_>>(),
            )
        } else {
            vector.to_vec()
        };
        self.background
            .iter_mut()
            .zip(vector)
            .for_each(|(b, v)| *b += v);
        self.seen = self.seen.saturating_add(1);
        adjusted
    }

    /// Adds a message; returns the id of the theme it joined or started.
    pub fn observe(&mut self, vector: &[f32], message_id: &str, minute: i64) -> u64 {
        let vector = &self.foreground(vector)[..];
        let nearest = self
            .themes
            .iter()
            .enumerate()
            .map(|(i, t)| (i, dot(vector, &t.centroid)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let index = match nearest {
            Some((i, cosine)) if cosine >= JOIN_COSINE => {
                self.themes[i].join(vector, message_id);
                i
            }
            _ => {
                if self.themes.len() >= MAX_THEMES {
                    self.evict(minute);
                }
                self.next_id += 1;
                self.themes
                    .push(Theme::new(self.next_id, vector, message_id));
                self.themes.len() - 1
            }
        };
        let theme = &mut self.themes[index];
        theme.counts.add(minute, 1);
        theme.id
    }

    fn evict(&mut self, minute: i64) {
        if let Some((i, _)) = self
            .themes
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| (t.counts.total(minute), t.id))
        {
            self.themes.swap_remove(i);
        }
    }

    /// The `n` themes with the most messages in the window, most first.
    pub fn top(&self, n: usize, minute: i64) -> Vec<&Theme> {
        let mut live: Vec<&Theme> = self
            .themes
            .iter()
            .filter(|t| t.counts.total(minute) > 0)
            .collect();
        live.sort_by_key(|t| std::cmp::Reverse((t.counts.total(minute), u64::MAX - t.id)));
        live.truncate(n);
        live
    }

    pub fn len(&self) -> usize {
        self.themes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.themes.is_empty()
    }
}

pub fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

fn pack(v: &[f32]) -> String {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-9);
    let bytes: Vec<u8> = v
        .iter()
        .map(|x| (x / max * 127.0).round().clamp(-127.0, 127.0) as i8 as u8)
        .collect();
    STANDARD.encode(bytes)
}

fn unpack(s: &str) -> Vec<f32> {
    let bytes = STANDARD.decode(s).unwrap_or_default();
    unit(
        &bytes
            .iter()
            .map(|&b| f32::from(b as i8))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(i: usize, wobble: f32) -> Vec<f32> {
        let mut v = vec![0f32; 8];
        v[i] = 1.0;
        v[(i + 1) % 8] = wobble;
        unit(&v)
    }

    #[test]
    fn close_vectors_share_a_theme_and_far_ones_do_not() {
        let mut themes = Themes::default();
        let a = themes.observe(&axis(0, 0.1), "m1", 0);
        let b = themes.observe(&axis(0, 0.3), "m2", 0);
        let c = themes.observe(&axis(4, 0.1), "m3", 0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let top = themes.top(5, 0);
        assert_eq!(top[0].id, a);
        assert_eq!(top[0].counts.total(0), 2);
        assert!(["m1", "m2"].contains(&top[0].representative.as_str()));
    }

    #[test]
    fn packing_keeps_the_direction() {
        let v = unit(&[0.3, -0.2, 0.9, 0.01, -0.7]);
        let back = unpack(&pack(&v));
        assert!(dot(&v, &back) > 0.999);
    }

    #[test]
    fn a_full_tracker_evicts_the_smallest_theme() {
        let mut themes = Themes::default();
        for i in 0..MAX_THEMES + 1 {
            let mut v = vec![0f32; MAX_THEMES + 2];
            v[i] = 1.0;
            themes.observe(&v, &format!("m{i}"), 0);
        }
        assert_eq!(themes.len(), MAX_THEMES);
    }
}
