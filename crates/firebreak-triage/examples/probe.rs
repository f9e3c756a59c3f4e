//! Prints the decision for each line of standard input (development aid); as public
//! posts with `--public`, private messages otherwise.
use std::io::BufRead;
fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    let visibility = if std::env::args().any(|a| a == "--public") {
        firebreak_core::Visibility::Public
    } else {
        firebreak_core::Visibility::Private
    };
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let msg = firebreak_triage::dry_run_message(&line, visibility);
        let d = engine.classify_with(&msg, &firebreak_core::rules::TriageContext::default());
        println!(
            "{:?} {:?} urgent={:?} kq={:?} {:.2} lang={:?} | {}\n    {}",
            d.route,
            d.priority,
            firebreak_triage::urgent::looks_urgent(&line).map(|h| h.kind),
            d.key_question,
            d.key_question_confidence,
            d.language,
            line,
            d.reasons.join(" / ")
        );
        let model = firebreak_triage::semantic::SemanticModel::builtin();
        let embedding = model.embed(&line);
        let normalized = firebreak_triage::normalize::normalize(&line);
        let features = firebreak_triage::semantic::Features::new(embedding.as_slice(), &normalized);
        let risks: Vec<String> = model
            .risks(&features)
            .iter()
            .filter(|r| r.probability >= 0.1)
            .map(|r| format!("{} {:.2}/{:.2}", r.kind, r.probability, r.threshold))
            .collect();
        eprintln!("    fast: {}", risks.join(", "));
    }
}
