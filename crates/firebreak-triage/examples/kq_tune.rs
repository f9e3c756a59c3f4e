//! Key-question matching on the TRAINING split only (for tuning the similarity
//! constants): `cargo run --release -p firebreak-triage --example kq_tune`.

use firebreak_core::Route;
use firebreak_core::rules::TriageContext;

fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    let rows: Vec<_> = firebreak_triage::semantic::data::train_rows()
        .into_iter()
        .filter(|r| r.source == "key_questions")
        .collect();
    let (mut tp, mut fp, mut pos, mut wrong) = (0, 0, 0, 0);
    for r in &rows {
        let d = engine.classify_with(
            &firebreak_triage::dry_run_message(&r.text, firebreak_core::Visibility::Private),
            &TriageContext::default(),
        );
        let answered = d.route == Route::Reply;
        let expected = r.label != "other";
        if expected {
            pos += 1;
        }
        if answered && expected && d.key_question.as_deref() == Some(r.label.as_str()) {
            tp += 1
        } else if answered && expected {
            wrong += 1
        } else if answered {
            fp += 1;
            println!(
                "FP {:.2} {} | {}",
                d.key_question_confidence,
                r.text,
                d.reasons.join("; ")
            );
        }
        if expected && !answered && std::env::var("MISSES").is_ok() {
            println!(
                "MISS {:.2} {} | {}",
                d.key_question_confidence,
                r.text,
                d.reasons.join("; ")
            );
        }
    }
    println!("train: recall {tp}/{pos}, wrong question {wrong}, look-alikes answered {fp}");
    let (mut btp, mut bfp, mut bpos, mut bneg) = (0, 0, 0, 0);
    for (text, refund) in banking_train().iter().step_by(3) {
        let d = engine.classify_with(
            &firebreak_triage::dry_run_message(text, firebreak_core::Visibility::Private),
            &TriageContext::default(),
        );
        let answered = d.route == Route::Reply;
        if *refund {
            bpos += 1;
            if answered && d.key_question.as_deref() == Some("refund") {
                btp += 1
            }
        } else {
            bneg += 1;
            if answered {
                bfp += 1;
                if std::env::var("BFP").is_ok() {
                    println!(
                        "BFP {:.2} {text} | {}",
                        d.key_question_confidence,
                        d.reasons.join("; ")
                    );
                }
            }
        }
    }
    println!(
        "banking77 train (every 3rd): refund recall {btp}/{bpos}, look-alikes answered {bfp}/{bneg}"
    );
}

/// Banking77's train split: every intent but the two refund ones is a look-alike.
#[allow(dead_code)]
fn banking_train() -> Vec<(String, bool)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/banking77_intents_en/train.csv");
    let mut out = Vec::new();
    if let Ok(mut reader) = csv::Reader::from_path(path) {
        for r in reader.records().flatten() {
            out.push((
                r[0].to_string(),
                matches!(&r[1], "request_refund" | "Refund_not_showing_up"),
            ));
        }
    }
    out
}
