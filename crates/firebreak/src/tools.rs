//! The local tools for crisis teams, which need no server: `firebreak playbook check`,
//! `firebreak classify`, `firebreak eval` and `firebreak train`. Exit code 1 when the
//! input is invalid, with the field and line at fault.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use firebreak_core::Visibility;
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_triage::{Playbook, TriageEngine};

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Validate a playbook file: every problem with its field and line, or a summary
    /// with what the defaults resolve to.
    Check { file: PathBuf },
    #[command(flatten)]
    Lifecycle(crate::client::playbooks::LifecycleCommand),
}

fn load_engine(playbook: Option<&Path>) -> Result<TriageEngine, String> {
    let playbook = match playbook {
        Some(path) => {
            let source = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Playbook::load(&source).map_err(|e| format!("playbook {}: {e}", path.display()))?
        }
        None => Playbook::builtin(),
    };
    Ok(TriageEngine::new(playbook))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

pub fn playbook(command: PlaybookCommand) -> ExitCode {
    match command {
        PlaybookCommand::Check { file } => match firebreak_triage::check_playbook_file(&file) {
            Ok(summary) => {
                crate::outln!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                let problems = e.problems();
                eprintln!(
                    "error: {}: {} problem{}",
                    file.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                for problem in problems {
                    eprintln!("  {problem}");
                }
                ExitCode::FAILURE
            }
        },
        PlaybookCommand::Lifecycle(command) => {
            crate::client::block_on(crate::client::playbooks::run(command))
        }
    }
}

/// Who a `classify` preview renders its replies for.
#[derive(Clone, Debug, Default)]
pub struct PreviewAuthor {
    pub handle: Option<String>,
    pub name: Option<String>,
}

/// The triage decision for one text, as `POST /v1/classify` would give it.
pub fn classify(
    text: &str,
    private: bool,
    crisis: bool,
    playbook: Option<&Path>,
    json: bool,
    author: &PreviewAuthor,
) -> ExitCode {
    let engine = match load_engine(playbook) {
        Ok(engine) => engine,
        Err(e) => return fail(e),
    };
    let visibility = if private {
        Visibility::Private
    } else {
        Visibility::Public
    };
    let mut message = firebreak_triage::dry_run_message(text, visibility);
    if let Some(handle) = &author.handle {
        message.author.handle.clone_from(handle);
    }
    if let Some(name) = &author.name {
        message.author.name.clone_from(name);
    }
    let context = TriageContext {
        crisis_active: crisis,
        ..TriageContext::default()
    };
    let decision = engine.classify(&message, &context);
    let replies = firebreak_reply::render::preview(engine.playbook(), crisis, &message, &decision);
    if json {
        let mut json = firebreak_server::http::decision_json(&decision);
        json["replies"] = firebreak_server::http::replies_json(&replies);
        crate::outln!("{json}");
        return ExitCode::SUCCESS;
    }
    crate::outln!(
        "route: {}  priority: {}  language: {} ({:.2})  sentiment: {:.2}",
        decision.route.as_str(),
        decision.priority.as_str(),
        decision.language.as_str(),
        decision.language_confidence,
        decision.sentiment,
    );
    if let Some(question) = &decision.key_question {
        crate::outln!(
            "key question: {question} ({:.2})",
            decision.key_question_confidence
        );
    }
    for flag in &decision.flags {
        crate::outln!("flag: {} ({}, {:.2})", flag.kind, flag.evidence, flag.score);
    }
    for reason in &decision.reasons {
        crate::outln!("reason: {reason}");
    }
    for (variant, reply) in &replies {
        crate::outln!("reply variant {variant}: {reply}");
    }
    ExitCode::SUCCESS
}

pub fn eval(playbook: Option<&Path>, corpus: Option<&Path>, datasets: Option<&Path>) -> ExitCode {
    let engine = match load_engine(playbook) {
        Ok(engine) => engine,
        Err(e) => return fail(e),
    };
    match firebreak_triage::eval_report(&engine, corpus, datasets) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn train(datasets: &Path, out: &Path) -> ExitCode {
    match firebreak_triage::train_from_datasets(datasets, out) {
        Ok(report) => {
            print!("{report}");
            crate::outln!("model written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn train_semantic(out: &Path, datasets: Option<&Path>) -> ExitCode {
    match firebreak_triage::semantic::train_to_file(out, datasets) {
        Ok(report) => {
            print!("{report}");
            crate::outln!("heads written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
