//! Times each line of standard input through triage (development aid).
use std::io::BufRead;
fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    let context = firebreak_core::rules::TriageContext::default();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let msg = firebreak_triage::dry_run_message(&line, firebreak_core::Visibility::Public);
        let _ = engine.classify_with(&msg, &context);
        let start = std::time::Instant::now();
        for _ in 0..20 {
            std::hint::black_box(engine.classify_with(&msg, &context));
        }
        println!(
            "{:>8.0} µs  {}",
            start.elapsed().as_micros() as f64 / 20.0,
            line.chars().take(60).collect::<String>()
        );
    }
}
