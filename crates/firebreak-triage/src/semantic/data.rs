//! The labelled rows the semantic heads learn from and are measured on:
//! `training/{train,heldout}/*.tsv`, written for this project (see `DATA.md`).
//!
//! Both splits are compiled in, so `firebreak train` and `firebreak eval` need no files.
//! Training never reads `heldout/`.

/// One labelled row.
#[derive(Clone, Debug)]
pub struct Row {
    pub label: String,
    pub lang: String,
    pub text: String,
    /// The file it came from, e.g. `threat`.
    pub source: &'static str,
}

macro_rules! split {
    ($dir:literal, $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../training/", $dir, "/", $name, ".tsv")))),*]
    };
}

const TRAIN: &[(&str, &str)] = split!(
    "train",
    "self_harm",
    "threat",
    "hate",
    "health_incident",
    "legal",
    "press",
    "neutral",
    "key_questions",
    "sentiment",
    "self_harm_more",
    "threat_more",
    "hate_more",
    "legal_press_more",
    "neutral_more",
    "profanity_neutral",
    "neutral_recall",
    "first_line",
    "risk_indirect",
    "self_harm_wave3",
    "threat_wave3",
    "key_questions_wave3",
    "self_harm_wave7",
    "threat_wave7",
    "benign_wave9",
    "threat_wave9",
    "mixed_wave9",
    "key_questions_wave9",
    "self_harm_wave10",
    "threat_wave10"
);
const HELDOUT: &[(&str, &str)] = split!(
    "heldout",
    "self_harm",
    "threat",
    "hate",
    "health_incident",
    "legal",
    "press",
    "neutral",
    "key_questions",
    "sentiment",
    "personal_data",
    "key_questions_wave5"
);

/// The first line's own rows (`human_request`, `needs_human`, `generic`), kept apart
/// from the risk heads' training so that adding them leaves those heads unchanged.
/// Written apart from both splits above, by someone who saw neither them nor the
/// lexicons, models or code, and never trained, calibrated or tuned on: the honest
/// figure (`training/independent/`, see DATA.md).
const INDEPENDENT: &[(&str, &str)] = split!(
    "independent",
    "self_harm",
    "threat",
    "hate",
    "legal_press",
    "health_incident",
    "key_questions",
    "benign",
    "personal_data"
);

/// A second independent set (760 rows: 100 self-harm, 100 threats, 60 hate, 60 health
/// incidents, 30 legal, 30 press, 80 key questions, 300 benign look-alikes; some
/// sensitive rows also ask a key question), written blind on 2026-11-28 by a writer who
/// read nothing of this repository, measured before any change it could inform and
/// never tuned on.
const SECOND_INDEPENDENT: &[(&str, &str)] = split!("independent", "wave9");

const FIRST_LINE: &[(&str, &str)] = split!("train", "first_line");

/// Benign look-alikes (360) with self-harm and threats (140 each), written apart in
/// November 2026 as a development set: the figurative idioms were extended on it, so
/// its false-P1 figure is a development figure.
const LOOKALIKES: &[(&str, &str)] = split!("heldout", "wave6_lookalikes");

/// Everyday messages in a crisis (359, with figurative and casual words of violence,
/// death and illness, and emotional key questions) against self-harm, threats, hate and
/// health incidents (about 400), written blind on 2026-11-28 by a writer who read
/// nothing of this repository. A development set from the day it was first measured.
const EVERYDAY: &[(&str, &str)] = split!("heldout", "wave7_everyday");

/// Key questions (110 order status, 108 refund) against 290 look-alikes (tax and
/// insurance refunds, other shops' parcels, returns without money, orders not placed
/// yet, sarcasm), written blind on 2026-11-28 (13 rows also in another file removed): a
/// development set for key-question precision.
const KEY_QUESTIONS_DEV: &[(&str, &str)] = split!("heldout", "key_questions_wave8");

/// Rows of the key-question development set: for evaluation only.
pub fn key_question_dev_rows() -> Vec<Row> {
    parse(KEY_QUESTIONS_DEV)
}

/// Rows of the look-alike development set: for evaluation only.
pub fn lookalike_rows() -> Vec<Row> {
    parse(LOOKALIKES)
}

/// Rows of the everyday development set: for evaluation only.
pub fn everyday_rows() -> Vec<Row> {
    parse(EVERYDAY)
}

/// Rows of the first line's training file.
pub fn first_line_rows() -> Vec<Row> {
    parse(FIRST_LINE)
}

/// Rows of the training split.
pub fn train_rows() -> Vec<Row> {
    parse(TRAIN)
}

/// Rows of the held-out split: for evaluation only.
pub fn heldout_rows() -> Vec<Row> {
    parse(HELDOUT)
}

pub fn independent_rows() -> Vec<Row> {
    parse(INDEPENDENT)
}

/// Rows of the second independent set: for evaluation only.
pub fn second_independent_rows() -> Vec<Row> {
    parse(SECOND_INDEPENDENT)
}

fn parse(files: &[(&'static str, &str)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (source, body) in files {
        for line in body.lines().skip(1) {
            let mut fields = line.splitn(3, '\t');
            let (Some(label), Some(lang), Some(text)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            rows.push(Row {
                label: label.to_string(),
                lang: lang.to_string(),
                text: text.to_string(),
                source,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_splits_parse_and_never_share_a_text() {
        let train = train_rows();
        let mut heldout = heldout_rows();
        heldout.extend(independent_rows());
        heldout.extend(second_independent_rows());
        heldout.extend(lookalike_rows());
        heldout.extend(everyday_rows());
        heldout.extend(key_question_dev_rows());
        assert!(
            train.len() > 3000 && heldout.len() > 2000,
            "{} / {}",
            train.len(),
            heldout.len()
        );
        let seen: std::collections::HashSet<&str> = train.iter().map(|r| r.text.as_str()).collect();
        let shared: Vec<&str> = heldout
            .iter()
            .map(|r| r.text.as_str())
            .filter(|t| seen.contains(t))
            .collect();
        assert!(
            shared.is_empty(),
            "held-out texts also in train: {shared:?}"
        );
        assert!(
            train
                .iter()
                .chain(&heldout)
                .all(|r| r.lang == "en" || r.lang == "fr")
        );
    }
}
