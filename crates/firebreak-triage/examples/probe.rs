//! Prints the decision for each line of standard input (development aid).
use std::io::BufRead;
fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let msg = firebreak_triage::dry_run_message(&line, firebreak_core::Visibility::Private);
        let d = engine.classify_with(&msg, &firebreak_core::rules::TriageContext::default());
        println!(
            "{:?} {:?} kq={:?} {:.2} lang={:?} | {}\n    {}",
            d.route,
            d.priority,
            d.key_question,
            d.key_question_confidence,
            d.language,
            line,
            d.reasons.join(" / ")
        );
    }
}
