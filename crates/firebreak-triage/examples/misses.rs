//! Development aid: the development sets' rows of one label that do not reach the
//! priority `firebreak eval` counts (`misses LABEL [SET]`, SET one of heldout,
//! lookalike, everyday), with the decision's reasons.
use firebreak_core::Priority;
use firebreak_triage::semantic::data;

fn main() {
    let mut args = std::env::args().skip(1);
    let label = args.next().unwrap_or_else(|| "self_harm".into());
    let set = args.next().unwrap_or_else(|| "heldout".into());
    let rows = match set.as_str() {
        "lookalike" => data::lookalike_rows(),
        "everyday" => data::everyday_rows(),
        _ => data::heldout_rows(),
    };
    let bar = if matches!(label.as_str(), "self_harm" | "threat") {
        Priority::P1
    } else {
        Priority::P2
    };
    let engine = firebreak_triage::TriageEngine::builtin();
    for r in rows.iter().filter(|r| r.label == label) {
        let msg = firebreak_triage::dry_run_message(&r.text, firebreak_core::Visibility::Private);
        let d = engine.classify_with(&msg, &firebreak_core::rules::TriageContext::default());
        let hit = d.flags.iter().any(|f| f.kind == label) && d.priority <= bar;
        if !hit {
            println!(
                "{} {:?} {:?} | {}\n    {}",
                r.lang,
                d.route,
                d.priority,
                r.text,
                d.reasons.join(" / ")
            );
        }
    }
}
