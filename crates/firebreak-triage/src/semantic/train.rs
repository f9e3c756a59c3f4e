//! Training the semantic heads (`firebreak train --semantic`): one-vs-rest logistic
//! regression per risk kind over the encoder's fast embeddings, thresholds calibrated
//! on out-of-fold predictions so that each kind reaches its target recall, and the
//! sentiment head on the positive and negative rows.

use std::fmt::Write;

use firebreak_encoder::Encoder;
use serde::{Deserialize, Serialize};

use super::data::{Row, train_rows};
use super::head::{Features, Head, fit, fit_softmax, softmax};
use crate::normalize::normalize;

/// Risk kinds with the out-of-fold precision their threshold is set for. The phrase
/// families and lexicons are the precise first pass; the model adds what they miss.
/// Self-harm and threats raise P1, so their model alarms must mostly be right; the P2
/// kinds trade more false alarms for recall.
pub const RISK_TARGETS: [(&str, f32); 6] = [
    ("self_harm", 0.85),
    ("threat", 0.85),
    ("hate", 0.75),
    ("health_incident", 0.85),
    ("legal", 0.75),
    ("press", 0.75),
];
/// Kinds that ask for P1; the model alone raises P1 for them only above a second
/// threshold, set for `URGENT_PRECISION` out of fold.
const URGENT_KINDS: [&str; 2] = ["self_harm", "threat"];
const URGENT_PRECISION: f32 = 0.88;
pub(super) const FOLDS: u64 = 5;
const EPOCHS: usize = 15;
const L2: f32 = 1e-5;
/// The class of rows that are none of the risk kinds.
pub const NONE: &str = "none";
/// Thresholds are kept inside this band: below it a head fires on noise, above it the
/// calibration rests on a handful of examples.
const THRESHOLD_BAND: (f32, f32) = (0.2, 0.98);

/// The committed model file, `models/semantic.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelFile {
    /// SHA-256 of the encoder model the heads were trained on.
    pub encoder_sha256: String,
    /// One softmax class each: `none` first, then the risk kinds.
    pub heads: Vec<Head>,
    pub sentiment: Head,
    /// `human_request` and `needs_human` (see `first_line.rs`); absent in older files.
    #[serde(default)]
    pub first_line: Vec<Head>,
    /// The shipped key-question intents (see `intent.rs`), `other` first; absent in
    /// older files.
    #[serde(default)]
    pub intents: Vec<Head>,
    /// Third-party rows the risk heads were trained on besides the project's own
    /// (0 in older files and when training had no datasets directory).
    #[serde(default)]
    pub third_party_rows: usize,
    /// Third-party questions the intent head was trained on besides the project's own.
    #[serde(default)]
    pub third_party_intent_rows: usize,
}

/// Train every head on the training split; returns the model and a printable report.
/// `extra` rows (third-party, see [`super::third_party`]) train the risk heads only:
/// the sentiment and first-line heads learn from the project's own rows, the intent
/// head from those and `intent_extra` (see [`super::third_party_intents`]).
pub fn train(encoder: &Encoder, extra: &[Row], intent_extra: &[Row]) -> (ModelFile, String) {
    let own = train_rows();
    let rows: Vec<Row> = own.iter().chain(extra).cloned().collect();
    let (embeddings, normalized) = embed_rows(encoder, &rows);
    let features: Vec<Features<'_>> = embeddings
        .iter()
        .zip(&normalized)
        .map(|(e, t)| Features::new(e, t))
        .collect();
    let folds: Vec<u64> = rows.iter().map(|r| fold_of(&r.text)).collect();
    // Class 0 is `none`; class k is RISK_TARGETS[k - 1].
    let labels: Vec<usize> = rows
        .iter()
        .map(|r| {
            RISK_TARGETS
                .iter()
                .position(|(k, _)| *k == r.label)
                .map_or(0, |k| k + 1)
        })
        .collect();
    let oof = out_of_fold(&features, &labels, &folds, RISK_TARGETS.len() + 1);
    let mut report = String::new();
    let weights = fit_softmax(&features, &labels, RISK_TARGETS.len() + 1, L2, EPOCHS);
    let mut heads = Vec::new();
    for (class, weights) in weights.into_iter().enumerate() {
        if class == 0 {
            heads.push(Head::new(NONE, weights, 1.0, String::new()));
            continue;
        }
        let (kind, target) = RISK_TARGETS[class - 1];
        let scores: Vec<f32> = oof.iter().map(|p| p[class]).collect();
        let is_kind: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        let threshold = calibrate(&scores, &is_kind, target);
        let (recall, precision) = recall_precision(&scores, &is_kind, threshold);
        let mut calibration = format!("out-of-fold recall {recall:.3}, precision {precision:.3}");
        let mut head = Head::new(kind, weights, threshold, String::new());
        if URGENT_KINDS.contains(&kind) {
            // Alone, the model raises P1 only where its alarms are nearly always right;
            // between the two thresholds it asks for a human at P2.
            let urgent = calibrate(&scores, &is_kind, URGENT_PRECISION).max(threshold);
            let (r, p) = recall_precision(&scores, &is_kind, urgent);
            calibration.push_str(&format!(
                "; P1 alone from {urgent:.3}: recall {r:.3}, precision {p:.3}"
            ));
            head.urgent_threshold = Some(urgent);
        }
        let _ = writeln!(report, "{kind:<16} threshold {threshold:.3}  {calibration}");
        head.calibration = calibration;
        heads.push(head);
    }
    let polar: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            rows[i].source == "sentiment" && (rows[i].label == "pos" || rows[i].label == "neg")
        })
        .collect();
    let polar_features: Vec<Features<'_>> = polar
        .iter()
        .map(|&i| Features::new(&embeddings[i], &normalized[i]))
        .collect();
    let labels: Vec<bool> = polar.iter().map(|&i| rows[i].label == "pos").collect();
    let weights = fit(&polar_features, &labels, L2, EPOCHS);
    let sentiment = Head::new("sentiment", weights, 0.5, format!("{} rows", labels.len()));
    let _ = writeln!(report, "sentiment        trained on {} rows", labels.len());
    let (first_line, first_line_report) = super::first_line::train(encoder, &own);
    report.push_str(&first_line_report);
    let intent_rows: Vec<Row> = own.iter().chain(intent_extra).cloned().collect();
    let (intents, intent_report) = super::intent::train(encoder, &intent_rows);
    report.push_str(&intent_report);
    let _ = writeln!(
        report,
        "third-party rows: risk heads {}, intent head {}",
        extra.len(),
        intent_extra.len()
    );
    let model = ModelFile {
        encoder_sha256: firebreak_encoder::sha256_hex(firebreak_encoder::MODEL_BYTES),
        heads,
        sentiment,
        first_line,
        intents,
        third_party_rows: extra.len(),
        third_party_intent_rows: intent_extra.len(),
    };
    (model, report)
}

/// Every row's embedding and normalised text, what [`Features`] reads.
pub(super) fn embed_rows<'r>(
    encoder: &Encoder,
    rows: impl IntoIterator<Item = &'r super::data::Row>,
) -> (Vec<Vec<f32>>, Vec<String>) {
    rows.into_iter()
        .map(|r| {
            let embedding = super::embed_clean(encoder, &r.text).as_slice().to_vec();
            (embedding, normalize(&r.text))
        })
        .unzip()
}

/// A stable fold per text, so the same text always lands in the same fold.
pub(super) fn fold_of(text: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap()) % FOLDS
}

/// Softmax probabilities over `classes` of every row, from a model that never saw its
/// fold.
pub(super) fn out_of_fold(
    features: &[Features<'_>],
    labels: &[usize],
    folds: &[u64],
    classes: usize,
) -> Vec<Vec<f32>> {
    let mut oof = vec![vec![0f32; classes]; labels.len()];
    for fold in 0..FOLDS {
        let train: Vec<usize> = (0..labels.len()).filter(|&i| folds[i] != fold).collect();
        let fold_features: Vec<Features<'_>> = train
            .iter()
            .map(|&i| Features {
                embedding: features[i].embedding,
                ngrams: features[i].ngrams.clone(),
            })
            .collect();
        let fold_labels: Vec<usize> = train.iter().map(|&i| labels[i]).collect();
        let weights = fit_softmax(&fold_features, &fold_labels, classes, L2, EPOCHS);
        for i in (0..labels.len()).filter(|&i| folds[i] == fold) {
            let mut logits: Vec<f32> = weights.iter().map(|w| w.logit(&features[i])).collect();
            softmax(&mut logits);
            oof[i] = logits;
        }
    }
    oof
}

/// The lowest threshold whose out-of-fold precision reaches `target`, within the band.
pub(super) fn calibrate(scores: &[f32], labels: &[bool], target: f32) -> f32 {
    let mut candidates: Vec<f32> = scores.to_vec();
    candidates.sort_by(f32::total_cmp);
    candidates
        .into_iter()
        .filter(|t| (THRESHOLD_BAND.0..=THRESHOLD_BAND.1).contains(t))
        .find(|&t| recall_precision(scores, labels, t).1 >= target)
        .unwrap_or(THRESHOLD_BAND.1)
}

pub(super) fn recall_precision(scores: &[f32], labels: &[bool], threshold: f32) -> (f32, f32) {
    let (mut tp, mut fp, mut fn_) = (0f32, 0f32, 0f32);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= threshold, l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    (tp / (tp + fn_).max(1.0), tp / (tp + fp).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_picks_the_lowest_threshold_reaching_the_precision() {
        // Scores 0..1; positives above 0.6, plus one negative at 0.9.
        let scores: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let labels: Vec<bool> = (0..100).map(|i| i >= 60 && i != 90).collect();
        let t = calibrate(&scores, &labels, 0.95);
        let (recall, precision) = recall_precision(&scores, &labels, t);
        assert!(
            precision >= 0.95 && recall > 0.9,
            "t {t}: {recall} {precision}"
        );
        assert!((0.55..0.62).contains(&t), "{t}");
    }
}
