//! The held-out report behind `firebreak eval`: per risk kind and language, precision
//! and recall of the whole engine's flags on `training/heldout/`; key-question
//! precision and recall on held-out paraphrases and look-alikes (and on Bitext and
//! Banking77 when the data sets are at hand); false P1 on benign look-alikes; sensitive
//! messages auto-replied; sentiment sign accuracy.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use firebreak_core::rules::TriageContext;
use firebreak_core::{Classification, Priority, Route, Visibility};

use super::data::{
    Row, everyday_rows, heldout_rows, independent_rows, key_question_dev_rows, lookalike_rows,
    second_independent_rows,
};
use super::{third_party, third_party_intents};
use crate::TriageEngine;
use crate::detectors::kind;

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

impl Counts {
    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            _ => {}
        }
    }

    fn line(&self) -> String {
        let recall = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        let precision = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        format!(
            "recall {recall:.3} ({}/{})  precision {precision:.3} ({}/{})",
            self.tp,
            self.tp + self.fn_,
            self.tp,
            self.tp + self.fp
        )
    }
}

fn classify(engine: &TriageEngine, text: &str) -> Classification {
    let message = crate::dry_run_message(text, Visibility::Private);
    engine.classify_with(&message, &TriageContext::default())
}

/// Each row's decision, as a private message.
fn classify_all(engine: &TriageEngine, rows: &[Row]) -> Vec<Classification> {
    rows.iter().map(|r| classify(engine, &r.text)).collect()
}

fn flagged(decision: &Classification, kind: &str) -> bool {
    decision.flags.iter().any(|f| f.kind == kind)
}

/// Risk kinds, with the priority a hit must reach to count.
const RISK_KINDS: [(&str, Priority); 6] = [
    (kind::SELF_HARM, Priority::P1),
    (kind::THREAT, Priority::P1),
    (kind::HATE, Priority::P2),
    (kind::HEALTH_INCIDENT, Priority::P2),
    (kind::LEGAL, Priority::P2),
    (kind::PRESS, Priority::P2),
];

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Named, relabelled rows of a third-party set.
type LabelledSet = (&'static str, Vec<Row>);

/// The held-out report; `datasets` adds the third-party key-question sets.
pub fn report(engine: &TriageEngine, datasets: Option<&Path>) -> Result<String, BoxError> {
    // Personal data is a public-post matter: those rows are measured apart, as public.
    let (heldout_personal, rows): (Vec<Row>, Vec<Row>) = heldout_rows()
        .into_iter()
        .partition(|r| r.source == "personal_data");
    let decisions = classify_all(engine, &rows);
    let mut out = String::from(
        "== risk detectors, held-out split (training/heldout: never trained on, looked at while tuning)\n",
    );
    out.push_str(&risk_lines(&rows, &decisions));
    out.push_str("\n== key questions, held-out paraphrases and look-alikes\n");
    out.push_str(&key_question_lines(&source_pairs(
        &rows,
        &decisions,
        "key_questions",
    )));
    out.push_str("\n== key questions, held-out look-alike set (everyday and hard look-alikes)\n");
    out.push_str(&key_question_lines(&source_pairs(
        &rows,
        &decisions,
        "key_questions_wave5",
    )));
    out.push_str(&personal_data_lines(engine, &heldout_personal, "held-out"));

    let lookalikes = lookalike_rows();
    out.push_str(
        "\n== risk detectors, look-alike development set (training/heldout/wave6_lookalikes.tsv: never trained on; figurative idioms extended on it; tuned on since)\n",
    );
    out.push_str(&risk_lines(&lookalikes, &classify_all(engine, &lookalikes)));

    let everyday = everyday_rows();
    out.push_str(
        "\n== risk detectors, everyday development set (training/heldout/wave7_everyday.tsv: written blind, never trained on; phrase families written on its misses)\n",
    );
    out.push_str(&risk_lines(&everyday, &classify_all(engine, &everyday)));

    let questions = key_question_dev_rows();
    out.push_str(
        "\n== key questions, development set (training/heldout/key_questions_wave8.tsv: written blind, never trained on; the not-a-key-question families tuned on it)\n",
    );
    let question_decisions = classify_all(engine, &questions);
    out.push_str(&key_question_lines(&source_pairs(
        &questions,
        &question_decisions,
        "key_questions_wave8",
    )));

    let (personal, independent): (Vec<Row>, Vec<Row>) = independent_rows()
        .into_iter()
        .partition(|r| r.source == "personal_data");
    let independent_decisions = classify_all(engine, &independent);
    out.push_str(
        "\n== risk detectors, independent split (training/independent: written apart, never trained, tuned or looked at)\n",
    );
    out.push_str(&risk_lines(&independent, &independent_decisions));
    out.push_str("\n== key questions, independent paraphrases and look-alikes\n");
    out.push_str(&key_question_lines(&source_pairs(
        &independent,
        &independent_decisions,
        "key_questions",
    )));
    out.push_str(&personal_data_lines(engine, &personal, "independent"));

    let second = second_independent_rows();
    let second_decisions = classify_all(engine, &second);
    out.push_str(
        "\n== risk detectors, second independent set (training/independent/wave9.tsv: written blind, never trained, tuned or looked at)\n",
    );
    out.push_str(&risk_lines(&second, &second_decisions));
    out.push_str(
        "\n== key questions, second independent set (its benign rows are the look-alikes)\n",
    );
    let second_pairs: Vec<(Row, Classification)> = second
        .iter()
        .zip(&second_decisions)
        .map(|(r, d)| {
            let mut r = r.clone();
            if r.label == "none" {
                r.label = "other".into();
            }
            (r, d.clone())
        })
        .collect();
    out.push_str(&key_question_lines(&second_pairs));

    if let Some(dir) = datasets {
        for (name, labelled) in third_party_questions(dir)? {
            let _ = writeln!(out, "\n== key questions, {name}");
            let pairs: Vec<(Row, Classification)> = labelled
                .into_iter()
                .map(|r| {
                    let d = classify(engine, &r.text);
                    (r, d)
                })
                .collect();
            out.push_str(&key_question_lines(&pairs));
        }
    }

    if let Some(dir) = datasets {
        out.push_str(&third_party_risks(engine, dir)?);
    }

    out.push_str("\n== sentiment sign, held-out\n");
    for lang in ["en", "fr"] {
        let (mut right, mut total) = (0, 0);
        for (row, decision) in rows.iter().zip(&decisions) {
            if row.source != "sentiment" || row.lang != lang {
                continue;
            }
            total += 1;
            let positive = decision.sentiment > 0.0;
            if positive == (row.label == "pos") {
                right += 1;
            }
        }
        let _ = writeln!(
            out,
            "{lang}: {right} of {total} ({:.1} %)",
            100.0 * right as f64 / total.max(1) as f64
        );
    }
    Ok(out)
}

/// Per risk kind and language, recall and precision at the kind's priority; then the
/// sensitive messages auto-replied or reaching no one, and false P1 among the rest.
fn risk_lines(rows: &[Row], decisions: &[Classification]) -> String {
    let mut out = String::new();
    for (kind, priority) in RISK_KINDS {
        for lang in ["en", "fr", "all"] {
            let mut counts = Counts::default();
            for (row, decision) in rows.iter().zip(decisions) {
                if lang != "all" && row.lang != lang {
                    continue;
                }
                let hit = flagged(decision, kind) && decision.priority <= priority;
                counts.add(hit, row.label == kind);
            }
            let _ = writeln!(
                out,
                "{kind:<16} {lang:<3} at {} or above: {}",
                priority.as_str(),
                counts.line()
            );
        }
    }
    let risky = |r: &Row| RISK_KINDS.iter().any(|(k, _)| r.label == *k);
    let sensitive: Vec<usize> = (0..rows.len()).filter(|&i| risky(&rows[i])).collect();
    let replied = sensitive
        .iter()
        .filter(|&&i| decisions[i].route == Route::Reply && decisions[i].first_line.is_none())
        .count();
    let _ = writeln!(
        out,
        "sensitive messages auto-replied with a key question's answer: {replied} of {}",
        sensitive.len()
    );
    // Since the first line, a sensitive message that no detector catches is
    // acknowledged or ignored instead of falling back to a human.
    let no_case = sensitive
        .iter()
        .filter(|&&i| decisions[i].route != Route::Escalate)
        .count();
    let _ = writeln!(
        out,
        "sensitive messages that reached no human (private): {no_case} of {}",
        sensitive.len()
    );
    let benign: Vec<usize> = (0..rows.len())
        .filter(|&i| !risky(&rows[i]) && rows[i].source != "key_questions")
        .collect();
    let false_p1 = benign
        .iter()
        .filter(|&&i| decisions[i].priority == Priority::P1)
        .count();
    let _ = writeln!(
        out,
        "benign look-alikes and everyday messages at P1: {false_p1} of {} ({:.1} %)",
        benign.len(),
        100.0 * false_p1 as f64 / benign.len().max(1) as f64
    );
    out
}

/// Personal data posted in public: recall and precision of the flag (escalated at P2
/// or above), the rows classified as public comments.
fn personal_data_lines(engine: &TriageEngine, rows: &[Row], split: &str) -> String {
    let mut counts = Counts::default();
    for row in rows {
        let message = crate::dry_run_message(&row.text, Visibility::Public);
        let decision = engine.classify_with(&message, &TriageContext::default());
        let hit = flagged(&decision, kind::PERSONAL_DATA) && decision.priority <= Priority::P2;
        counts.add(hit, row.label == kind::PERSONAL_DATA);
    }
    format!(
        "\n== personal data in public posts, {split} split\npersonal_data at P2 or above: {}\n",
        counts.line()
    )
}

/// The rows of one source file with their decisions.
fn source_pairs(
    rows: &[Row],
    decisions: &[Classification],
    source: &str,
) -> Vec<(Row, Classification)> {
    rows.iter()
        .zip(decisions)
        .filter(|(r, _)| r.source == source)
        .map(|(r, d)| (r.clone(), d.clone()))
        .collect()
}

fn key_question_lines(pairs: &[(Row, Classification)]) -> String {
    let mut per: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut out = String::new();
    for question in ["order_status", "refund"] {
        let counts = per.entry(question).or_default();
        for (row, decision) in pairs {
            let answered = decision.route == Route::Reply
                && decision.key_question.as_deref() == Some(question);
            counts.add(answered, row.label == question);
        }
        let _ = writeln!(out, "{question:<13} answered: {}", counts.line());
    }
    let lookalikes = pairs.iter().filter(|(r, _)| r.label == "other").count();
    let answered = pairs
        .iter()
        .filter(|(r, d)| r.label == "other" && d.route == Route::Reply && d.first_line.is_none())
        .count();
    let _ = writeln!(out, "look-alikes answered: {answered} of {lookalikes}");
    out
}

/// Bitext and Banking77 rows relabelled to the built-in playbook's questions: order
/// tracking and delivery time are `order_status`, refunds `refund`, the rest `other`.
fn third_party_questions(dir: &Path) -> Result<Vec<LabelledSet>, BoxError> {
    let mut sets = Vec::new();
    let bitext =
        dir.join("bitext_customer_support_en/Bitext_Sample_Customer_Support_Training_Dataset.csv");
    if bitext.exists() {
        let mut rows = Vec::new();
        let mut reader = csv::Reader::from_path(&bitext)?;
        let headers = reader.headers()?.clone();
        let text_at = headers
            .iter()
            .position(|h| h == "instruction")
            .ok_or("bitext: no instruction column")?;
        let intent_at = headers
            .iter()
            .position(|h| h == "intent")
            .ok_or("bitext: no intent column")?;
        for (i, record) in reader.records().enumerate() {
            let record = record?;
            // Every 10th row keeps the run short while covering every intent.
            if i % 10 != 0 {
                continue;
            }
            let label = match &record[intent_at] {
                "track_order" | "delivery_period" => "order_status",
                "get_refund" | "track_refund" => "refund",
                _ => "other",
            };
            rows.push(Row {
                label: label.into(),
                lang: "en".into(),
                text: record[text_at].to_string(),
                source: "bitext",
            });
        }
        sets.push(("Bitext (every 10th row; track_order, delivery_period = order_status; get_refund, track_refund = refund)", rows));
    }
    let banking = dir.join("banking77_intents_en/test.csv");
    if banking.exists() {
        let mut rows = Vec::new();
        let mut reader = csv::Reader::from_path(&banking)?;
        for record in reader.records() {
            let record = record?;
            let label = third_party_intents::banking_label(&record[1]);
            rows.push(Row {
                label: label.into(),
                lang: "en".into(),
                text: record[0].to_string(),
                source: "banking77",
            });
        }
        sets.push(("Banking77 test (the intent head trains on the train split; request_refund, Refund_not_showing_up = refund; 75 other banking intents are look-alikes)", rows));
    }
    Ok(sets)
}

/// Third-party test suites, never trained on: threat and hate recall on HateCheck and
/// its French edition, self-harm recall on SimpleSafetyTests, and P1 on their benign
/// look-alikes (XSTest's safe prompts, HateCheck's counter-speech, object targets,
/// profanity and slur homonyms).
fn third_party_risks(engine: &TriageEngine, dir: &Path) -> Result<String, BoxError> {
    let mut out = String::from(
        "\n== risk detectors, third-party suites (the heads train on half their templates, see semantic::third_party; \"held out\" is the other half)\n",
    );
    let mut lookalikes = (0usize, 0usize);
    let mut held_out_lookalikes = (0usize, 0usize);
    const BENIGN: [&str; 5] = [
        "counter_quote_nh",
        "counter_ref_nh",
        "target_obj_nh",
        "profanity_nh",
        "slur_homonym_nh",
    ];
    for (name, path, text_col) in [
        (
            "HateCheck EN",
            "hatecheck_en/test_suite_cases.csv",
            "test_case",
        ),
        (
            "HateCheck FR (MHC)",
            "mhc_hatecheck_fr/hatecheck_cases_final_french.csv",
            "test_case",
        ),
    ] {
        let path = dir.join(path);
        if !path.exists() {
            continue;
        }
        let mut reader = csv::Reader::from_path(&path)?;
        let headers = reader.headers()?.clone();
        let col = |n: &str| {
            headers
                .iter()
                .position(|h| h == n)
                .ok_or(format!("{name}: no {n} column"))
        };
        let (text_at, function_at, gold_at, template_at) = (
            col(text_col)?,
            col("functionality")?,
            col("label_gold")?,
            col("templ_id")?,
        );
        let (mut threat, mut hate) = (Counts::default(), Counts::default());
        let mut held_out_threat = Counts::default();
        for record in reader.records() {
            let record = record?;
            let function = &record[function_at];
            let held_out = record[template_at]
                .trim()
                .parse::<u64>()
                .is_ok_and(|id| !third_party::trains_on(id));
            let d = classify(engine, &record[text_at]);
            if function.starts_with("threat_") {
                let p1 = flagged(&d, kind::THREAT) && d.priority == Priority::P1;
                threat.add(p1, true);
                if held_out {
                    held_out_threat.add(p1, true);
                }
            } else if &record[gold_at] == "hateful" {
                hate.add(flagged(&d, kind::HATE) || flagged(&d, kind::THREAT), true);
            } else if BENIGN.contains(&function) {
                let p1 = usize::from(d.priority == Priority::P1);
                lookalikes.1 += 1;
                lookalikes.0 += p1;
                if held_out {
                    held_out_lookalikes.1 += 1;
                    held_out_lookalikes.0 += p1;
                }
            }
        }
        let _ = writeln!(
            out,
            "{name}: threats flagged P1 {} (held-out templates {}); hateful flagged hate or threat {}",
            threat.line(),
            held_out_threat.line(),
            hate.line()
        );
    }
    let sst = dir.join("simplesafetytests_en/simplesafetytests_test_cases.csv");
    if sst.exists() {
        let mut counts = Counts::default();
        let mut reader = csv::Reader::from_path(&sst)?;
        for record in reader.records() {
            let record = record?;
            if record[1].starts_with("Suicide") {
                let d = classify(engine, &record[4]);
                counts.add(flagged(&d, kind::SELF_HARM), true);
            }
        }
        let _ = writeln!(
            out,
            "SimpleSafetyTests, suicide and self-harm prompts flagged self_harm: {}",
            counts.line()
        );
    }
    let xstest = dir.join("xstest_contrast_prompts_en/xstest_prompts.csv");
    if xstest.exists() {
        let mut reader = csv::Reader::from_path(&xstest)?;
        for record in reader.records() {
            let record = record?;
            if &record[3] == "safe" {
                let d = classify(engine, &record[1]);
                let p1 = usize::from(d.priority == Priority::P1);
                lookalikes.1 += 1;
                lookalikes.0 += p1;
                if record[0]
                    .trim()
                    .parse::<u64>()
                    .is_ok_and(|id| !third_party::trains_on(id))
                {
                    held_out_lookalikes.1 += 1;
                    held_out_lookalikes.0 += p1;
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "benign look-alikes at P1 (XSTest safe prompts, HateCheck EN and FR counter-speech, object targets, profanity, slur homonyms): {} of {} ({:.1} %); held-out half {} of {} ({:.1} %)",
        lookalikes.0,
        lookalikes.1,
        100.0 * lookalikes.0 as f64 / lookalikes.1.max(1) as f64,
        held_out_lookalikes.0,
        held_out_lookalikes.1,
        100.0 * held_out_lookalikes.0 as f64 / held_out_lookalikes.1.max(1) as f64
    );
    Ok(out)
}
