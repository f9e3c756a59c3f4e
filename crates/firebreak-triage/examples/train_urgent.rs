//! Trains the urgent pre-screen's model (`models/urgent.bin`: logistic regression over
//! hashed word and character n-grams, the hostility model's format) on the training
//! split's self-harm and threat rows against every other row, and prints, for a range
//! of thresholds, its recall on self-harm and threats and how often it fires on the
//! rest, on the held-out split (where the threshold is chosen) and on rows it was never
//! tuned on (the independent split, and the extra files given).
//!
//! `cargo run --release -p firebreak-triage --example train_urgent -- OUT.bin [EXTRA.tsv ...]`

use firebreak_triage::model::train::{LabelledText, TrainConfig, train};
use firebreak_triage::normalize::normalize_leet;
use firebreak_triage::semantic::data::{Row, heldout_rows, independent_rows, train_rows};
use firebreak_triage::urgent::MODEL_THRESHOLD;

/// The kinds the lane is for.
fn urgent(label: &str) -> bool {
    matches!(label, "self_harm" | "threat")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .unwrap_or_else(|| "crates/firebreak-triage/models/urgent.bin".into());
    let extra: Vec<(String, Vec<Row>)> = args.map(|p| (p.clone(), read_rows(&p))).collect();
    // The training split, and the fourth wave of everyday rows (written for training,
    // left out of the semantic heads' list, see DATA.md).
    let mut rows = train_rows();
    rows.extend(parse_rows(include_str!(
        "../training/train/everyday_wave4.tsv"
    )));
    let examples: Vec<LabelledText> = rows
        .into_iter()
        .map(|row| LabelledText {
            hostile: urgent(&row.label),
            text: row.text,
            source: row.source.to_string(),
        })
        .collect();
    let config = TrainConfig {
        bits: 16,
        ..TrainConfig::default()
    };
    let model = train(&examples, &config);
    model.save(out.as_ref()).expect("writing the model");
    println!(
        "trained on {} rows ({} self-harm or threat), written to {out}",
        examples.len(),
        examples.iter().filter(|e| e.hostile).count()
    );
    let score = |row: &Row| model.predict(&normalize_leet(&row.text));
    let mut splits = vec![
        (
            "held-out (threshold chosen here)".to_string(),
            heldout_rows(),
        ),
        ("independent".to_string(), independent_rows()),
    ];
    splits.extend(extra);
    for (name, rows) in splits {
        println!("\n{name}: threshold, recall self_harm, recall threat, fires on the rest");
        for threshold in [0.3, 0.4, MODEL_THRESHOLD, 0.6, 0.7] {
            let recall = |kind: &str| {
                let of_kind: Vec<&Row> = rows.iter().filter(|r| r.label == kind).collect();
                let hits = of_kind.iter().filter(|r| score(r) >= threshold).count();
                format!("{hits}/{}", of_kind.len())
            };
            let rest: Vec<&Row> = rows.iter().filter(|r| !urgent(&r.label)).collect();
            let fired = rest.iter().filter(|r| score(r) >= threshold).count();
            println!(
                "  {threshold:.2}: {} {} {fired}/{} ({:.1} %)",
                recall("self_harm"),
                recall("threat"),
                rest.len(),
                100.0 * fired as f64 / rest.len().max(1) as f64
            );
        }
        // The whole pre-screen as built into this binary (its model is the one
        // `models/urgent.bin` held when it was compiled, not the one just trained).
        let screened = |row: &&&Row| firebreak_triage::urgent::looks_urgent(&row.text).is_some();
        let kind = |k: &str| {
            let of_kind: Vec<&Row> = rows.iter().filter(|r| r.label == k).collect();
            format!(
                "{}/{}",
                of_kind.iter().filter(screened).count(),
                of_kind.len()
            )
        };
        let rest: Vec<&Row> = rows.iter().filter(|r| !urgent(&r.label)).collect();
        let fired = rest.iter().filter(screened).count();
        println!(
            "  whole pre-screen: {} {} {fired}/{} ({:.1} %)",
            kind("self_harm"),
            kind("threat"),
            rest.len(),
            100.0 * fired as f64 / rest.len().max(1) as f64
        );
    }
}

/// `label<TAB>lang<TAB>text` rows after a header, as in `training/`.
fn read_rows(path: &str) -> Vec<Row> {
    parse_rows(&std::fs::read_to_string(path).expect("reading the extra file"))
}

fn parse_rows(body: &str) -> Vec<Row> {
    body.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            Some(Row {
                label: fields.next()?.to_string(),
                lang: fields.next()?.to_string(),
                text: fields.next()?.to_string(),
                source: "extra",
            })
        })
        .collect()
}
