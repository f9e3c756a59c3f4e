//! Prints the corpus report and the hostility model's held-out figures, until the
//! `firebreak eval` subcommand exists: `cargo run --release -p firebreak-triage
//! --example eval -- ../shared/datasets`.

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let datasets = std::env::args().nth(1);
    let engine = firebreak_triage::TriageEngine::builtin();
    let report = firebreak_triage::eval_report(
        &engine,
        None,
        datasets.as_deref().map(std::path::Path::new),
    )?;
    println!("{report}");
    Ok(())
}
