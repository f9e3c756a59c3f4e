//! Openly licensed customer-service questions that the intent head learns from besides
//! the project's own rows, read from the shared datasets directory at training time
//! (as [`super::third_party`] is for the risk heads).
//!
//! A bank's customers ask about card deliveries, pending transfers and reverted
//! payments in the words of a refund or an order ("my card still hasn't arrived",
//! "the money I sent isn't showing"): the head trained on the project's rows alone
//! answered 73 of Banking77's 3,000 look-alikes. Banking77 (CC BY 4.0) trains from its
//! own train split; `firebreak eval` measures on its test split.
//!
//! Each intent contributes a bounded number of rows, taken evenly through the file, so
//! that English banking questions do not outweigh the project's own French and English
//! rows. Bitext's customer-support sample was tried too and dropped: its generated
//! phrasings raised its own figure but cost precision on the project's development
//! sets (DATA.md). Nothing from these sets is committed: only the weights trained on
//! them.

use std::collections::BTreeMap;
use std::path::Path;

use super::data::Row;

const BANKING_TRAIN: &str = "banking77_intents_en/train.csv";

/// Rows per look-alike intent (Banking77 has 75) and per shipped intent.
const PER_OTHER_INTENT: usize = 20;
const PER_SHIPPED_INTENT: usize = 120;

/// A Banking77 intent as one of the shipped intents, or `other`.
pub fn banking_label(intent: &str) -> &'static str {
    match intent {
        "request_refund" | "Refund_not_showing_up" => "refund",
        _ => super::intent::OTHER,
    }
}

/// Banking77's training rows, labelled `refund` or `other`. A missing file adds
/// nothing; a file that is there but unreadable is an error.
pub fn rows(datasets: &Path) -> Result<Vec<Row>, csv::Error> {
    let path = datasets.join(BANKING_TRAIN);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(&path)?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(text), Some(intent)) = (column("text"), column("category")) else {
        return Ok(Vec::new());
    };
    let mut questions = Vec::new();
    for record in reader.records() {
        let record = record?;
        questions.push((record[text].trim().to_string(), record[intent].to_string()));
    }
    Ok(bounded(questions))
}

/// At most the bound of rows per intent, spread evenly over that intent's rows.
fn bounded(questions: Vec<(String, String)>) -> Vec<Row> {
    let mut by_intent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (text, intent) in questions {
        by_intent.entry(intent).or_default().push(text);
    }
    let mut rows = Vec::new();
    for (intent, texts) in by_intent {
        let label = banking_label(&intent);
        let bound = if label == super::intent::OTHER {
            PER_OTHER_INTENT
        } else {
            PER_SHIPPED_INTENT
        };
        let step = texts.len().div_ceil(bound).max(1);
        rows.extend(texts.into_iter().step_by(step).map(|text| Row {
            label: label.to_string(),
            lang: "en".to_string(),
            text,
            source: "key_questions_banking77",
        }));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_intent_is_bounded_and_labelled() {
        let mut questions = Vec::new();
        for i in 0..100 {
            questions.push((format!("card {i}"), "card_arrival".to_string()));
            questions.push((format!("refund {i}"), "request_refund".to_string()));
        }
        let rows = bounded(questions);
        let others = rows.iter().filter(|r| r.label == "other").count();
        let refunds = rows.iter().filter(|r| r.label == "refund").count();
        assert_eq!(others, PER_OTHER_INTENT);
        assert_eq!(refunds, 100);
        assert!(rows.iter().all(|r| r.source.starts_with("key_questions")));
    }

    #[test]
    fn reads_the_train_split_by_column_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BANKING_TRAIN);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "text,category\n\"Where is my card, it's been a week?\",card_arrival\nI want my money back,request_refund\n",
        )
        .unwrap();
        let rows = rows(dir.path()).unwrap();
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["other", "refund"]);
        assert_eq!(rows[0].text, "Where is my card, it's been a week?");
    }

    #[test]
    fn a_missing_directory_adds_nothing() {
        assert!(rows(Path::new("/nonexistent")).unwrap().is_empty());
    }
}
