//! Writes every labelled row's fast embedding as TSV (split, source, label, lang, then the
//! vector) for offline comparisons of classifiers: `dump_embeddings OUT.tsv [exact]
//! [EXTRA.tsv | DATASETS-DIR ...]`; rows of extra files (label, lang, text, as in
//! `training/`) come under the split `extra` with their file stem as source; a datasets
//! directory adds the third-party suites' training half under `train` and their other
//! half under `third_party` (see `semantic::third_party`).
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("output path");
    let exact = args.next().as_deref() == Some("exact");
    use firebreak_triage::semantic::third_party::{Half, rows as third_party_rows};
    let mut extra: Vec<(&'static str, Vec<firebreak_triage::semantic::data::Row>)> = Vec::new();
    for path in args {
        if std::path::Path::new(&path).is_dir() {
            let dir = std::path::Path::new(&path);
            extra.push((
                "train",
                third_party_rows(dir, Half::Train).expect("datasets"),
            ));
            extra.push((
                "third_party",
                third_party_rows(dir, Half::HeldOut).expect("datasets"),
            ));
        } else {
            extra.push(("extra", extra_rows(&path)));
        }
    }
    let model = firebreak_triage::semantic::SemanticModel::builtin();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).expect("create"));
    use firebreak_triage::semantic::data::{heldout_rows, independent_rows, train_rows};
    for (split, rows) in [
        ("train", train_rows()),
        ("heldout", heldout_rows()),
        ("independent", independent_rows()),
    ]
    .into_iter()
    .chain(extra)
    {
        for row in rows {
            let e = if exact {
                model.encoder().embed_exact(&row.text)
            } else {
                model.embed(&row.text)
            };
            let fast = model.embed(&row.text);
            let normalized = firebreak_triage::normalize::normalize(&row.text);
            let features = firebreak_triage::semantic::Features::new(fast.as_slice(), &normalized);
            let risks: Vec<String> = model
                .risks(&features)
                .iter()
                .map(|r| format!("{}={:.4}", r.kind, r.probability))
                .collect();
            let v: Vec<String> = e.as_slice().iter().map(|x| format!("{x:.5}")).collect();
            writeln!(
                file,
                "{split}\t{}\t{}\t{}\t{}\t{}",
                row.source,
                row.label,
                row.lang,
                risks.join(","),
                v.join(" ")
            )
            .unwrap();
        }
    }
}

/// Rows of a labelled TSV outside the compiled-in splits.
fn extra_rows(path: &str) -> Vec<firebreak_triage::semantic::data::Row> {
    let body = std::fs::read_to_string(path).expect("read extra rows");
    let stem = std::path::Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("extra")
        .to_string();
    let source: &'static str = Box::leak(stem.into_boxed_str());
    body.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            Some(firebreak_triage::semantic::data::Row {
                label: fields.next()?.to_string(),
                lang: fields.next()?.to_string(),
                text: fields.next()?.to_string(),
                source,
            })
        })
        .collect()
}
