//! The first line's two heads: `human_request` (the person asks for a human, in words
//! the phrase families do not list) and `needs_human` (a private message long and
//! specific enough that a person should read it rather than acknowledge it).
//!
//! Both are logistic heads over the embedding and hashed n-grams, like the risk heads.
//! `needs_human` also reads markers for what makes a message specific (its length, an
//! order or account number, an amount, a date), appended to the text as tokens so that
//! the same n-gram weights learn them.

use std::fmt::Write;

use super::data::{Row, first_line_rows};
use super::head::{Features, Head, fit};
use super::train::fold_of;
use crate::normalize::normalize;

pub const HUMAN_REQUEST: &str = "human_request";
pub const NEEDS_HUMAN: &str = "needs_human";
const EPOCHS: usize = 20;
const L2: f32 = 1e-5;
/// `human_request` from the model alone must nearly always be right: it opens a case.
const HUMAN_REQUEST_PRECISION: f32 = 0.9;

/// The text the first-line heads read: the normalised text and specificity markers.
pub fn marked_text(raw: &str, normalized: &str) -> String {
    let words = normalized.split_whitespace().count();
    let length = match words {
        0..=5 => "zzlenxs",
        6..=12 => "zzlens",
        13..=24 => "zzlenm",
        25..=45 => "zzlenl",
        _ => "zzlenxl",
    };
    let mut marked = format!("{normalized} {length}");
    let digits_run = longest_digit_run(raw);
    if digits_run >= 4 {
        marked.push_str(" zzidnum");
    } else if digits_run >= 1 {
        marked.push_str(" zzsmallnum");
    }
    if raw.contains(['€', '$', '£']) || normalized.contains(" euros") {
        marked.push_str(" zzamount");
    }
    if raw.contains('#') || raw.contains('@') && raw.contains('.') {
        marked.push_str(" zzref");
    }
    if has_date(raw) {
        marked.push_str(" zzdate");
    }
    marked
}

fn longest_digit_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
        } else if c != ' ' && c != '-' {
            run = 0;
        }
    }
    longest
}

/// `12/03`, `12.03.2026`, `2026-03-12`: digits around a date separator.
fn has_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(3).any(|w| {
        w[0].is_ascii_digit() && matches!(w[1], b'/' | b'.' | b'-') && w[2].is_ascii_digit()
    })
}

/// Trains both heads on `training/train/first_line.tsv`, with the risk split's neutral
/// rows and key questions as further negatives. Returns the heads and a report.
pub fn train(encoder: &firebreak_encoder::Encoder, others: &[Row]) -> (Vec<Head>, String) {
    let mut rows = first_line_rows();
    rows.extend(
        others
            .iter()
            .filter(|r| {
                matches!(
                    r.source,
                    "neutral" | "neutral_more" | "neutral_recall" | "key_questions"
                )
            })
            .cloned(),
    );
    let embeddings: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| super::embed_clean(encoder, &r.text).as_slice().to_vec())
        .collect();
    let texts: Vec<String> = rows
        .iter()
        .map(|r| marked_text(&r.text, &normalize(&r.text)))
        .collect();
    let folds: Vec<u64> = rows.iter().map(|r| fold_of(&r.text)).collect();
    let mut heads = Vec::new();
    let mut report = String::new();
    for kind in [HUMAN_REQUEST, NEEDS_HUMAN] {
        let labels: Vec<bool> = rows.iter().map(|r| r.label == kind).collect();
        let features = || -> Vec<Features<'_>> {
            embeddings
                .iter()
                .zip(&texts)
                .map(|(e, t)| Features::new(e, t))
                .collect()
        };
        let all = features();
        let mut oof = vec![0f32; rows.len()];
        for fold in 0..super::train::FOLDS {
            let train: Vec<usize> = (0..rows.len()).filter(|&i| folds[i] != fold).collect();
            let fold_features: Vec<Features<'_>> = train
                .iter()
                .map(|&i| Features::new(&embeddings[i], &texts[i]))
                .collect();
            let fold_labels: Vec<bool> = train.iter().map(|&i| labels[i]).collect();
            let weights = fit(&fold_features, &fold_labels, L2, EPOCHS);
            for i in (0..rows.len()).filter(|&i| folds[i] == fold) {
                oof[i] = weights.probability(&all[i]);
            }
        }
        let threshold = if kind == HUMAN_REQUEST {
            super::train::calibrate(&oof, &labels, HUMAN_REQUEST_PRECISION)
        } else {
            // The playbook sets the operating point (`human_min_score`); the head's
            // own threshold is only reported.
            0.5
        };
        let (recall, precision) = super::train::recall_precision(&oof, &labels, threshold);
        let positives = labels.iter().filter(|&&l| l).count();
        let calibration = format!(
            "out-of-fold recall {recall:.3}, precision {precision:.3} at {threshold:.3}; {positives} positives of {}",
            labels.len()
        );
        let _ = writeln!(report, "{kind:<16} {calibration}");
        let weights = fit(&all, &labels, L2, EPOCHS);
        heads.push(Head::new(kind, weights, threshold, calibration));
    }
    (heads, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_name_what_makes_a_message_specific() {
        let raw = "Commande #48213 payée 59,90 € le 12/03, jamais reçue";
        let marked = marked_text(raw, &normalize(raw));
        for marker in ["zzidnum", "zzamount", "zzref", "zzdate", "zzlens"] {
            assert!(marked.contains(marker), "{marker} missing in {marked}");
        }
        let vague = marked_text("lol", "lol");
        assert_eq!(vague, "lol zzlenxs");
    }
}
