//! Retrains `models/semantic.json` from the training split (same as
//! `firebreak train --semantic`): `cargo run --release -p firebreak-triage --example train_semantic`.

fn main() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/semantic.json");
    let report = firebreak_triage::semantic::train_to_file(&out).expect("model written");
    print!("{report}");
}
