//! Trains the hostility model and prints its held-out report, until the `firebreak
//! train` subcommand exists: `cargo run --release -p firebreak-triage --example train --
//! ../shared/datasets crates/firebreak-triage/models/hostility.bin`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let datasets = args.next().unwrap_or_else(|| "../shared/datasets".into());
    let out = args
        .next()
        .unwrap_or_else(|| "crates/firebreak-triage/models/hostility.bin".into());
    let report = firebreak_triage::train_from_datasets(datasets.as_ref(), out.as_ref())?;
    println!("{report}");
    Ok(())
}
