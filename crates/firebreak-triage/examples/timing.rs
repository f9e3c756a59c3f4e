//! Times each line of standard input through triage (development aid). With `--once`,
//! classifies every line once and prints only the total (messages per second over a
//! varied stream, where caches such as the lazy DFA's keep growing).
use std::io::BufRead;
fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    let context = firebreak_core::rules::TriageContext::default();
    let once = std::env::args().any(|a| a == "--once");
    let lines: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .collect();
    if once {
        engine.warm_up();
        let start = std::time::Instant::now();
        for line in &lines {
            let msg = firebreak_triage::dry_run_message(line, firebreak_core::Visibility::Public);
            std::hint::black_box(engine.classify_with(&msg, &context));
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} messages in {secs:.2} s: {:.0}/s",
            lines.len(),
            lines.len() as f64 / secs
        );
        return;
    }
    for line in &lines {
        let msg = firebreak_triage::dry_run_message(line, firebreak_core::Visibility::Public);
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
