//! Loads the engine and classifies one message: for start-up time and resident memory
//! (`/usr/bin/time -v target/release/examples/startup`).
fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    let msg = firebreak_triage::dry_run_message(
        "I took all my pills an hour ago",
        firebreak_core::Visibility::Private,
    );
    let d = engine.classify_with(&msg, &firebreak_core::rules::TriageContext::default());
    println!("{:?} {:?}", d.route, d.priority);
}
