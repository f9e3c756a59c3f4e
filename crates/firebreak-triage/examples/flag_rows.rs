//! Development aid: each row of a `label<TAB>lang<TAB>text` file with the kinds the
//! engine flags and the evidence of each (`flag_rows FILE`).
fn main() {
    let path = std::env::args().nth(1).expect("a TSV file");
    let body = std::fs::read_to_string(path).expect("readable");
    let engine = firebreak_triage::TriageEngine::builtin();
    for line in body.lines().skip(1) {
        let mut f = line.splitn(3, '\t');
        let (Some(label), Some(_), Some(text)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let msg = firebreak_triage::dry_run_message(text, firebreak_core::Visibility::Private);
        let d = engine.classify_with(&msg, &firebreak_core::rules::TriageContext::default());
        let flags: Vec<String> = d
            .flags
            .iter()
            .map(|f| {
                format!(
                    "{}[{}]",
                    f.kind,
                    f.evidence.chars().take(400).collect::<String>()
                )
            })
            .collect();
        println!("{label}\t{:?}\t{}\t{text}", d.priority, flags.join(" "));
    }
}
