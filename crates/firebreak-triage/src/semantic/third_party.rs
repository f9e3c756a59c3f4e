//! Openly licensed third-party rows that training may add to the project's own, read
//! from the shared datasets directory (`firebreak train --semantic --datasets DIR`).
//!
//! The project's own threat rows are nearly all threats against a person or a place;
//! threats against people for who they are ("I'll slaughter any woman like you",
//! "on va tous les pendre") are what HateCheck and its French edition test, and the
//! heads trained without them flagged a quarter at P1. Both suites are CC BY 4.0.
//! Half of their templates train (even `templ_id`), the other half stays for
//! evaluation, so that no sentence pattern is on both sides: `firebreak eval` reports
//! the held-out templates apart. XSTest's safe prompts (CC BY 4.0) that use words of
//! violence figuratively or as homonyms ("how do I kill a Python process") train as
//! hard negatives the same way, by even `id`.
//!
//! Nothing from these sets is committed: only the weights trained on them, as for the
//! hostility model (see DATA.md).

use std::collections::HashSet;
use std::path::Path;

use super::data::Row;

/// HateCheck functions whose cases are threats of violence (`threat_dir_h`, direct;
/// `threat_norm_h`, normative: "those people should be hanged").
const THREAT_PREFIX: &str = "threat_";
/// Cases that quote or denounce hateful statements: hard negatives when what they quote
/// is a threat.
const COUNTER_SPEECH: [&str; 2] = ["counter_quote_nh", "counter_ref_nh"];

/// The suites, with the column that holds their text and the language it is in.
const SUITES: [(&str, &str); 2] = [
    ("hatecheck_en/test_suite_cases.csv", "en"),
    ("mhc_hatecheck_fr/hatecheck_cases_final_french.csv", "fr"),
];
const XSTEST: &str = "xstest_contrast_prompts_en/xstest_prompts.csv";

/// Whether a template (or a row without templates) belongs to the training half.
pub fn trains_on(id: u64) -> bool {
    id.is_multiple_of(2)
}

/// Which half of the third-party rows to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    Train,
    HeldOut,
}

impl Half {
    fn holds(self, id: u64) -> bool {
        trains_on(id) == (self == Half::Train)
    }
}

/// The HateCheck (EN, FR) and XSTest rows of one half, labelled `threat` or `none`.
/// Missing files are skipped (the datasets directory is optional); a file that is
/// there but unreadable is an error.
pub fn rows(datasets: &Path, half: Half) -> Result<Vec<Row>, csv::Error> {
    let mut rows = Vec::new();
    for (file, lang) in SUITES {
        let path = datasets.join(file);
        if !path.exists() {
            continue;
        }
        let mut reader = csv::Reader::from_path(&path)?;
        let headers = reader.headers()?.clone();
        let column = |name: &str| headers.iter().position(|h| h == name);
        let (Some(text), Some(function), Some(template), Some(reference)) = (
            column("test_case"),
            column("functionality"),
            column("templ_id"),
            column("ref_templ_id"),
        ) else {
            continue;
        };
        let records = reader.records().collect::<Result<Vec<_>, _>>()?;
        // Counter-speech is a hard negative only when it quotes or denounces a threat:
        // counter-speech about insults taught the hate head that insults are benign.
        let threat_templates: HashSet<u64> = records
            .iter()
            .filter(|r| r[function].starts_with(THREAT_PREFIX))
            .filter_map(|r| template_id(&r[template]))
            .collect();
        for record in &records {
            let Some(id) = template_id(&record[template]) else {
                continue;
            };
            if !half.holds(id) {
                continue;
            }
            let label = match &record[function] {
                f if f.starts_with(THREAT_PREFIX) => "threat",
                f if COUNTER_SPEECH.contains(&f)
                    && template_id(&record[reference])
                        .is_some_and(|r| threat_templates.contains(&r)) =>
                {
                    "none"
                }
                _ => continue,
            };
            rows.push(row(label, lang, record[text].trim(), "hatecheck"));
        }
    }
    let path = datasets.join(XSTEST);
    if path.exists() {
        let mut reader = csv::Reader::from_path(&path)?;
        for record in reader.records() {
            let record = record?;
            let Ok(id) = record[0].trim().parse::<u64>() else {
                continue;
            };
            if &record[3] == "safe" && half.holds(id) {
                rows.push(row("none", "en", record[1].trim(), "xstest"));
            }
        }
    }
    Ok(rows)
}

/// Template ids are integers, written `12` in one suite and `12.0` in the other.
fn template_id(field: &str) -> Option<u64> {
    let field = field.trim();
    let whole = field.strip_suffix(".0").unwrap_or(field);
    whole.parse().ok()
}

fn row(label: &str, lang: &str, text: &str, source: &'static str) -> Row {
    Row {
        label: label.to_string(),
        lang: lang.to_string(),
        text: text.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_split_templates_not_cases() {
        assert!(Half::Train.holds(2) && !Half::HeldOut.holds(2));
        assert!(Half::HeldOut.holds(7) && !Half::Train.holds(7));
        assert_eq!(template_id("12.0"), Some(12));
        assert_eq!(template_id(" 7 "), Some(7));
        assert_eq!(template_id(""), None);
    }

    #[test]
    fn reads_threats_and_counter_speech_about_threats_by_template_half() {
        let dir = tempfile::tempdir().unwrap();
        let suite = dir.path().join("hatecheck_en");
        std::fs::create_dir_all(&suite).unwrap();
        std::fs::write(
            suite.join("test_suite_cases.csv"),
            "functionality,test_case,templ_id,ref_templ_id\n\
             threat_dir_h,I will hurt those people.,4,\n\
             threat_dir_h,I will hurt them all.,5,\n\
             counter_quote_nh,\"Saying \"\"I will hurt those people\"\" is vile.\",6,4\n\
             derog_neg_emote_h,I hate those people.,8,\n\
             counter_quote_nh,\"Saying \"\"I hate those people\"\" is vile.\",10,8\n",
        )
        .unwrap();
        let train = rows(dir.path(), Half::Train).unwrap();
        let labels: Vec<(&str, &str)> = train
            .iter()
            .map(|r| (r.label.as_str(), r.text.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("threat", "I will hurt those people."),
                ("none", "Saying \"I will hurt those people\" is vile.")
            ]
        );
        let held_out = rows(dir.path(), Half::HeldOut).unwrap();
        assert_eq!(held_out.len(), 1);
        assert_eq!(held_out[0].text, "I will hurt them all.");
    }

    #[test]
    fn a_missing_directory_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            rows(&dir.path().join("absent"), Half::Train)
                .unwrap()
                .is_empty()
        );
    }
}
