//! A linear head over two views of a message: its sentence embedding (meaning, across
//! languages) and hashed words, word bigrams and character 3- to 5-grams (spelling,
//! slang, typos). `sigmoid(w · embedding + v · ngrams + b)`, with the decision
//! threshold calibrated when it was trained.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::features::for_each_feature;
use crate::model::{CHAR_MAX_N, CHAR_MIN_N, feature_norm};

/// Hash buckets of the n-gram view.
pub const NGRAM_BITS: u32 = 15;
const NGRAM_MASK: u64 = (1 << NGRAM_BITS) - 1;

/// What a head reads of one message.
pub struct Features<'a> {
    pub embedding: &'a [f32],
    /// (bucket, value), values scaled by 1/sqrt(count).
    pub ngrams: Vec<(u32, f32)>,
}

impl<'a> Features<'a> {
    pub fn new(embedding: &'a [f32], normalized: &str) -> Features<'a> {
        let mut buckets = Vec::new();
        for_each_feature(normalized, CHAR_MIN_N, CHAR_MAX_N, |hash| {
            buckets.push((hash & NGRAM_MASK) as u32)
        });
        let value = feature_norm(buckets.len() as u32);
        Features {
            embedding,
            ngrams: buckets.into_iter().map(|b| (b, value)).collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Head {
    /// What it detects: a flag kind, or `sentiment`.
    pub kind: String,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// The n-gram weights as int8 (base64), times `ngram_scale`.
    #[serde(default)]
    pub ngram_weights: String,
    #[serde(default)]
    pub ngram_scale: f32,
    /// Probability at or above which the head fires.
    pub threshold: f32,
    /// For P1 kinds: the probability at or above which the model alone (no term or
    /// pattern) asks for P1; below it, P2.
    #[serde(default)]
    pub urgent_threshold: Option<f32>,
    /// Out-of-fold recall and precision at that threshold, on the training split.
    #[serde(default)]
    pub calibration: String,
    #[serde(skip)]
    ngrams: Vec<f32>,
}

impl Head {
    pub fn new(kind: &str, weights: Weights, threshold: f32, calibration: String) -> Head {
        let max = weights
            .ngrams
            .iter()
            .fold(0f32, |m, w| m.max(w.abs()))
            .max(1e-9);
        let scale = max / 127.0;
        let quantised: Vec<u8> = weights
            .ngrams
            .iter()
            .map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8 as u8)
            .collect();
        let mut head = Head {
            kind: kind.to_string(),
            weights: weights.embedding,
            bias: weights.bias,
            ngram_weights: STANDARD.encode(&quantised),
            ngram_scale: scale,
            threshold,
            urgent_threshold: None,
            calibration,
            ngrams: Vec::new(),
        };
        head.decode();
        head
    }

    /// Expands the stored int8 n-gram weights; called once after loading.
    pub fn decode(&mut self) {
        let bytes = STANDARD.decode(&self.ngram_weights).unwrap_or_default();
        self.ngrams = bytes
            .into_iter()
            .map(|b| b as i8 as f32 * self.ngram_scale)
            .collect();
    }

    pub fn probability(&self, features: &Features<'_>) -> f32 {
        sigmoid(self.logit(features))
    }

    pub fn logit(&self, features: &Features<'_>) -> f32 {
        logit(&self.weights, &self.ngrams, self.bias, features)
    }
}

/// Probabilities of mutually exclusive classes from their logits.
pub fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    logits.iter_mut().for_each(|l| *l /= sum);
}

/// Trained weights before quantisation.
pub struct Weights {
    pub embedding: Vec<f32>,
    pub ngrams: Vec<f32>,
    pub bias: f32,
}

impl Weights {
    pub fn probability(&self, features: &Features<'_>) -> f32 {
        sigmoid(self.logit(features))
    }

    pub fn logit(&self, features: &Features<'_>) -> f32 {
        logit(&self.embedding, &self.ngrams, self.bias, features)
    }
}

/// Share of the embedding against the n-grams: the embedding is standardised, then
/// scaled so that neither view drowns the other under one regularisation.
const EMBEDDING_SCALE: f32 = 0.05;

/// Multinomial logistic regression (softmax) over `classes` labels, by SGD in a fixed
/// pseudo-random order, L2-regularised. Returns one weight set per class.
pub fn fit_softmax(
    features: &[Features<'_>],
    labels: &[usize],
    classes: usize,
    l2: f32,
    epochs: usize,
) -> Vec<Weights> {
    let n = features.len();
    let dim = features.first().map_or(0, |f| f.embedding.len());
    let (mean, std) = standardisation(features, dim);
    let mut w = vec![vec![0f32; dim]; classes];
    let mut v = vec![vec![0f32; 1 << NGRAM_BITS]; classes];
    let mut b = vec![0f32; classes];
    let mut scaled = vec![0f32; dim];
    let mut logits = vec![0f32; classes];
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for epoch in 0..epochs {
        shuffle(&mut order, &mut state);
        let rate = 0.1 / (1.0 + epoch as f32 * 0.3);
        for &i in &order {
            let f = &features[i];
            for ((s, x), (m, sd)) in scaled
                .iter_mut()
                .zip(f.embedding)
                .zip(mean.iter().zip(&std))
            {
                *s = EMBEDDING_SCALE * (x - m) / sd;
            }
            for c in 0..classes {
                let dense: f32 = w[c].iter().zip(&scaled).map(|(a, x)| a * x).sum();
                let sparse: f32 = f.ngrams.iter().map(|&(k, x)| v[c][k as usize] * x).sum();
                logits[c] = dense + sparse + b[c];
            }
            softmax(&mut logits);
            for c in 0..classes {
                let err = logits[c] - if labels[i] == c { 1.0 } else { 0.0 };
                for (wi, x) in w[c].iter_mut().zip(&scaled) {
                    *wi -= rate * (err * x + l2 * *wi);
                }
                for &(k, x) in &f.ngrams {
                    let vk = &mut v[c][k as usize];
                    *vk -= rate * (err * x + l2 * *vk);
                }
                b[c] -= rate * err;
            }
        }
    }
    w.into_iter()
        .zip(v)
        .zip(b)
        .map(|((w, v), b)| {
            let folded: Vec<f32> = w
                .iter()
                .zip(&std)
                .map(|(wi, s)| wi * EMBEDDING_SCALE / s)
                .collect();
            let bias = b - folded.iter().zip(&mean).map(|(wi, m)| wi * m).sum::<f32>();
            Weights {
                embedding: folded,
                ngrams: v,
                bias,
            }
        })
        .collect()
}

fn standardisation(features: &[Features<'_>], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = features.len().max(1) as f32;
    let mut mean = vec![0f32; dim];
    let mut std = vec![0f32; dim];
    for f in features {
        mean.iter_mut()
            .zip(f.embedding)
            .for_each(|(m, v)| *m += v / n);
    }
    for f in features {
        std.iter_mut()
            .zip(f.embedding)
            .zip(&mean)
            .for_each(|((s, v), m)| *s += (v - m) * (v - m) / n);
    }
    std.iter_mut().for_each(|s| *s = s.sqrt().max(1e-6));
    (mean, std)
}

/// Fisher-Yates with a fixed xorshift state: training is reproducible.
fn shuffle(order: &mut [usize], state: &mut u64) {
    for i in (1..order.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        order.swap(i, (*state % (i as u64 + 1)) as usize);
    }
}

fn logit(embedding: &[f32], ngrams: &[f32], bias: f32, features: &Features<'_>) -> f32 {
    let dense = firebreak_encoder::dot(embedding, features.embedding);
    let sparse: f32 = features
        .ngrams
        .iter()
        .map(|&(b, v)| ngrams.get(b as usize).copied().unwrap_or(0.0) * v)
        .sum();
    dense + sparse + bias
}

pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// L2-regularised logistic regression: the two-class case of [`fit_softmax`]. The
/// embedding is standardised while training and the standardisation folded back into
/// the returned weights.
pub fn fit(features: &[Features<'_>], labels: &[bool], l2: f32, epochs: usize) -> Weights {
    let classes: Vec<usize> = labels.iter().map(|&l| usize::from(l)).collect();
    let mut weights = fit_softmax(features, &classes, 2, l2, epochs);
    // Two-class softmax is a logistic regression on the difference of the logits.
    let positive = weights.pop().expect("two classes");
    let negative = weights.pop().expect("two classes");
    let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<f32>>();
    Weights {
        embedding: diff(&positive.embedding, &negative.embedding),
        ngrams: diff(&positive.ngrams, &negative.ngrams),
        bias: positive.bias - negative.bias,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_separates_a_separable_problem_and_survives_quantisation() {
        let embeddings: Vec<Vec<f32>> = (0..200)
            .map(|i| vec![if i % 2 == 0 { 0.3 } else { -0.3 }, (i % 7) as f32 * 0.01])
            .collect();
        let texts: Vec<String> = (0..200)
            .map(|i| {
                if i % 2 == 0 {
                    "help me".into()
                } else {
                    format!("order {i}")
                }
            })
            .collect();
        let features: Vec<Features<'_>> = embeddings
            .iter()
            .zip(&texts)
            .map(|(e, t)| Features::new(e, t))
            .collect();
        let labels: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        let weights = fit(&features, &labels, 1e-4, 10);
        let head = Head::new("t", weights, 0.5, String::new());
        let json = serde_json::to_string(&head).unwrap();
        let mut reloaded: Head = serde_json::from_str(&json).unwrap();
        reloaded.decode();
        for (f, &l) in features.iter().zip(&labels) {
            assert_eq!(reloaded.probability(f) >= 0.5, l);
        }
    }
}
