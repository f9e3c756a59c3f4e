//! Firebreak's triage engine: what gets an automatic answer and what goes to a person.
//!
//! Pure: no network, no async, no clock. The only I/O is in the explicitly named file
//! loaders ([`check_playbook_file`], [`train_from_datasets`], [`eval_report`]).
//!
//! - [`playbook`]: the crisis playbook (YAML), validated with field paths and lines.
//! - [`normalize`], [`language`], [`sentiment`]: text analysis, FR + EN.
//! - [`keyquestion`]: patterns plus similarity to example phrasings, with a confidence.
//! - [`detectors`]: sensitivity flags with evidence, and [`redact`] for logs.
//! - [`model`]: the hashed logistic-regression hostility model, trained and evaluated.
//! - [`engine`]: [`TriageEngine`], the `firebreak_core::rules::Triage` implementation.
//! - [`semantic`]: trained risk and sentiment heads over the multilingual sentence
//!   encoder (`firebreak-encoder`), with their data and held-out evaluation.
//! - [`corpus`]: the labelled evaluation corpus and its report.

pub mod corpus;
pub mod detectors;
pub mod engine;
mod features;
pub mod first_line;
mod flag_routing;
pub mod keyquestion;
pub mod language;
pub mod model;
pub mod normalize;
pub mod playbook;
pub mod semantic;
mod semantic_flags;
pub mod sentiment;
pub mod urgent;

use std::path::Path;

use firebreak_core::{Author, Channel, Message, MessageId, Visibility};

pub use detectors::personal_data::redact;
pub use engine::{Observed, TriageEngine, is_complaint};
pub use model::train::{TrainReport, train_from_datasets};
pub use model::{HostilityModel, ModelError};
pub use playbook::{Playbook, PlaybookError, ReplyVars};

/// Validates a playbook file: `Ok` holds a one-paragraph summary, `Err` names the field
/// path and line. Backs `firebreak playbook check FILE`.
pub fn check_playbook_file(path: &Path) -> Result<String, PlaybookError> {
    let source = std::fs::read_to_string(path).map_err(|source| PlaybookError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let playbook = Playbook::load(&source)?;
    Ok(summary(&playbook))
}

/// A short human-readable description of a valid playbook.
pub fn summary(playbook: &Playbook) -> String {
    let ids = |crisis| {
        playbook
            .mode(crisis)
            .key_questions
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let normal = playbook.mode(false);
    let crisis = playbook.mode(true);
    let first_line = |crisis: bool| {
        let spec = &playbook.mode(crisis).first_line;
        let acknowledgement = spec.acknowledgement.as_ref().map_or_else(
            || "none (private messages not understood go to a person)".to_string(),
            |a| {
                format!(
                    "once per {} s, a person after {} more messages or a needs-a-human score ≥ {:.2}",
                    a.window_secs, a.human_after_messages, a.human_min_score
                )
            },
        );
        let holding = if spec.holding.is_some() {
            "holding reply"
        } else {
            "ignored"
        };
        format!(
            "acknowledgement {acknowledgement}; public questions outside the playbook: {holding}"
        )
    };
    format!(
        "playbook {} is valid\n  key questions: {}\n  crisis key questions: {}\n  key-question threshold: {:.2} (crisis {:.2})\n  reply budget: {}/s global, author cooldown {} s, thread cap {} (crisis {}/s, {} s, {})\n  first line: {}\n  first line in crisis: {}",
        playbook.version(),
        ids(false),
        ids(true),
        normal.thresholds.key_question_min_confidence,
        crisis.thresholds.key_question_min_confidence,
        normal.budgets.global_per_sec,
        normal.budgets.author_cooldown_secs,
        normal.budgets.thread_cap,
        crisis.budgets.global_per_sec,
        crisis.budgets.author_cooldown_secs,
        crisis.budgets.thread_cap,
        first_line(false),
        first_line(true),
    ) + &resolved_defaults(playbook)
}

/// What the settings resolve to once the defaults are applied: the hostility model, the
/// budgets per channel and the SLA, and which sections the file leaves to the defaults.
fn resolved_defaults(playbook: &Playbook) -> String {
    let spec = playbook.spec();
    let defaulted = playbook.defaulted_sections();
    let mut out = format!(
        "\n  hostility model: {}{}",
        if spec.sensitivity.hostility_model {
            "on"
        } else {
            "off"
        },
        if defaulted.contains(&"sensitivity") {
            " (default)"
        } else {
            ""
        }
    );
    let budgets = &playbook.mode(false).budgets;
    let channels: Vec<String> = budgets
        .per_channel_per_sec
        .iter()
        .map(|(channel, rate)| format!("{channel} {rate}/s"))
        .collect();
    out.push_str(&format!(
        "\n  reply budget per channel: {}",
        if channels.is_empty() {
            "the global budget".to_string()
        } else {
            channels.join(", ")
        }
    ));
    for (name, target) in [
        ("P1", &spec.sla.p1),
        ("P2", &spec.sla.p2),
        ("P3", &spec.sla.p3),
        ("P4", &spec.sla.p4),
    ] {
        out.push_str(&format!(
            "\n  SLA {name}: claim {} s, acknowledge {} s, notify {}",
            target.claim_secs,
            target.ack_secs,
            target.tiers.join(" > ")
        ));
    }
    if !defaulted.is_empty() {
        out.push_str(&format!(
            "\n  on the built-in defaults: {}",
            defaulted.join(", ")
        ));
    }
    out
}

/// A message for dry runs (`firebreak classify`, `POST /v1/classify`) built from text.
pub fn dry_run_message(text: &str, visibility: Visibility) -> Message {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    Message {
        id: MessageId::derive(Channel::Web, "dry-run"),
        channel: Channel::Web,
        external_id: "dry-run".into(),
        thread_id: "dry-run".into(),
        visibility,
        author: Author {
            id: "dry-run".into(),
            ..Author::default()
        },
        text: text.to_string(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: now,
        received_at: now,
        mail: None,
        edit_of: None,
    }
}

/// The printable evaluation behind `firebreak eval`: the corpus report (the committed
/// corpus unless `corpus_csv` is given) and, when `datasets_dir` is given, the
/// hostility model's precision, recall and F1 on the held-out split.
pub fn eval_report(
    engine: &TriageEngine,
    corpus_csv: Option<&Path>,
    datasets_dir: Option<&Path>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let corpus = match corpus_csv {
        Some(path) => std::fs::read_to_string(path)?,
        None => corpus::BUILTIN_CORPUS.to_string(),
    };
    let mut out = semantic::eval::report(engine, datasets_dir)?;
    let report = corpus::evaluate_corpus(engine, &corpus)?;
    out.push_str(&format!(
        "\n== corpus ({})\n{report}\n",
        engine.playbook().version()
    ));
    if let Some(dir) = datasets_dir {
        let model = HostilityModel::builtin()?;
        let held_out = model::train::eval_held_out(&model, dir)?;
        out.push_str(&format!(
            "\n== hostility model, held-out split\n{held_out}\n"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playbook_check_reports_valid_missing_and_invalid_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(&good, playbook::BUILTIN_YAML).unwrap();
        let summary = check_playbook_file(&good).unwrap();
        assert!(
            summary.contains("is valid")
                && summary.contains("order_status, refund")
                && summary.contains("first line in crisis: acknowledgement once per 43200 s"),
            "{summary}"
        );

        let missing = check_playbook_file(&dir.path().join("nope.yaml"));
        assert!(matches!(missing, Err(PlaybookError::Io { .. })));

        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            playbook::BUILTIN_YAML.replace("thread_cap: 2", "thread_cap: 0"),
        )
        .unwrap();
        let error = check_playbook_file(&bad).unwrap_err().to_string();
        assert!(
            error.starts_with("line ") && error.contains("budgets.thread_cap: must be at least 1"),
            "{error}"
        );
    }
}
