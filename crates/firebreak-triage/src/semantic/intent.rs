//! The shipped key-question intents (`order_status`, `refund`) as a trained softmax
//! head, against `other`: tax refunds, flight status, returns how-to, thanks for a
//! refund received, everyday chatter.
//!
//! Nearest-example matching only knows the phrasings it was given; a head trained on a
//! few hundred paraphrases and look-alikes per intent generalises to wording nobody
//! listed, in both languages. A playbook question whose examples adopt a shipped intent
//! (see `keyquestion`) takes the head's verdict as one more piece of evidence.

use std::fmt::Write;

use super::data::Row;
use super::head::{Features, Head, fit_softmax};
use super::train::{fold_of, out_of_fold};

/// The class of everything that is not a shipped intent.
pub const OTHER: &str = "other";
/// The shipped intents, in softmax order after `other`.
pub const INTENTS: [&str; 2] = ["order_status", "refund"];
/// An intent's verdict must nearly always be right out of fold: it sends an answer.
const INTENT_PRECISION: f32 = 0.9;
const EPOCHS: usize = 15;
const L2: f32 = 1e-5;

/// Sources whose rows are labelled with intents, and everyday rows that are `other`.
/// A row of another file labelled with an intent (an emotional key question among
/// risk rows) is that intent too.
fn is_intent_source(source: &str) -> bool {
    source.starts_with("key_questions")
}
fn is_intent_row(row: &Row) -> bool {
    is_intent_source(row.source) || INTENTS.contains(&row.label.as_str())
}
fn is_everyday_source(source: &str) -> bool {
    matches!(source, "neutral" | "neutral_more" | "neutral_recall")
}

/// Trains the intent softmax; returns the heads (`other` first) and a report line each.
pub fn train(encoder: &firebreak_encoder::Encoder, rows: &[Row]) -> (Vec<Head>, String) {
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| is_intent_row(r) || is_everyday_source(r.source))
        .collect();
    let labels: Vec<usize> = rows
        .iter()
        .map(|r| {
            INTENTS
                .iter()
                .position(|i| *i == r.label)
                .map_or(0, |i| i + 1)
        })
        .collect();
    let (embeddings, normalized) = super::train::embed_rows(encoder, rows.iter().copied());
    let features: Vec<Features<'_>> = embeddings
        .iter()
        .zip(&normalized)
        .map(|(e, t)| Features::new(e, t))
        .collect();
    let classes = INTENTS.len() + 1;
    let folds: Vec<u64> = rows.iter().map(|r| fold_of(&r.text)).collect();
    let oof = out_of_fold(&features, &labels, &folds, classes);
    let weights = fit_softmax(&features, &labels, classes, L2, EPOCHS);
    let mut heads = Vec::new();
    let mut report = String::new();
    for (class, weights) in weights.into_iter().enumerate() {
        if class == 0 {
            heads.push(Head::new(OTHER, weights, 1.0, String::new()));
            continue;
        }
        let kind = INTENTS[class - 1];
        let scores: Vec<f32> = oof.iter().map(|p| p[class]).collect();
        let is_kind: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        let threshold = super::train::calibrate(&scores, &is_kind, INTENT_PRECISION);
        let (recall, precision) = super::train::recall_precision(&scores, &is_kind, threshold);
        let positives = is_kind.iter().filter(|&&k| k).count();
        let calibration = format!(
            "out-of-fold recall {recall:.3}, precision {precision:.3} at {threshold:.3}; {positives} of {} rows",
            rows.len()
        );
        let _ = writeln!(report, "intent {kind:<9} {calibration}");
        heads.push(Head::new(kind, weights, threshold, calibration));
    }
    (heads, report)
}

/// One intent's verdict on a message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntentScore {
    pub probability: f32,
    pub threshold: f32,
}

impl IntentScore {
    /// The verdict on the key-question confidence scale: at the calibrated threshold
    /// the intent counts as a pattern hit would (`AT_THRESHOLD`), rising to 1; below
    /// it, proportionally less, and never as high as a hit.
    pub fn confidence(&self) -> f64 {
        const AT_THRESHOLD: f64 = 0.75;
        const BELOW_MAX: f64 = 0.55;
        let p = f64::from(self.probability);
        let t = f64::from(self.threshold).clamp(1e-6, 1.0 - 1e-6);
        if p >= t {
            AT_THRESHOLD + (1.0 - AT_THRESHOLD) * (p - t) / (1.0 - t)
        } else {
            BELOW_MAX * p / t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_a_pattern_hit_at_the_threshold_and_less_below() {
        let at = IntentScore {
            probability: 0.6,
            threshold: 0.6,
        };
        assert!((at.confidence() - 0.75).abs() < 1e-9);
        let sure = IntentScore {
            probability: 1.0,
            threshold: 0.6,
        };
        assert!((sure.confidence() - 1.0).abs() < 1e-9);
        let below = IntentScore {
            probability: 0.59,
            threshold: 0.6,
        };
        assert!(below.confidence() < 0.56);
    }
}
