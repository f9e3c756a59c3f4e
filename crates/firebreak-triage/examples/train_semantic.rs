//! Retrains `models/semantic.json` from the training split and, given the shared
//! datasets directory, the training half of the third-party suites (same as
//! `firebreak train --semantic [DATASETS]`):
//! `cargo run --release -p firebreak-triage --example train_semantic -- ../shared/datasets`.

fn main() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/semantic.json");
    let datasets = std::env::args().nth(1).map(std::path::PathBuf::from);
    let report = firebreak_triage::semantic::train_to_file(&out, datasets.as_deref())
        .expect("model written");
    print!("{report}");
}
