//! The issue's targets on the committed evaluation corpus.

use firebreak_triage::TriageEngine;
use firebreak_triage::corpus::{BUILTIN_CORPUS, evaluate_corpus, parse_corpus};

#[test]
fn corpus_is_large_and_covers_every_category() {
    let rows = parse_corpus(BUILTIN_CORPUS).unwrap();
    assert!(rows.len() >= 300, "{}", rows.len());
    for kind in [
        "self_harm",
        "threat",
        "legal",
        "press",
        "influencer",
        "hostility",
        "personal_data",
        "spill_over",
        "repeat_complainer",
        "spam",
    ] {
        assert!(
            rows.iter()
                .filter(|r| r.expected_flags.iter().any(|f| f == kind))
                .count()
                >= 8,
            "{kind}"
        );
    }
    for question in [
        "order_status",
        "refund",
        "affected_products",
        "consumption_safety",
    ] {
        assert!(
            rows.iter()
                .filter(|r| r.expected_key_question.as_deref() == Some(question))
                .count()
                >= 10,
            "{question}"
        );
    }
    assert!(rows.iter().filter(|r| r.lang == "fr").count() >= 120);
    assert!(rows.iter().filter(|r| r.lang == "en").count() >= 120);
}

#[test]
fn engine_meets_the_issue_targets_on_the_corpus() {
    let report = evaluate_corpus(&TriageEngine::builtin(), BUILTIN_CORPUS).unwrap();
    let shown = format!(
        "{report}\nmisrouted:\n{}\n{}",
        report.misrouted.join("\n"),
        report.missed_flags.join("\n")
    );
    for kind in ["self_harm", "threat", "legal"] {
        let recall = report.get(&format!("flag:{kind}")).unwrap().recall;
        assert!(recall >= 0.95, "{kind} recall {recall}\n{shown}");
    }
    let replies = report.get("key_question_reply").unwrap();
    assert!(
        replies.precision >= 0.90,
        "key-question precision {}\n{shown}",
        replies.precision
    );
    assert_eq!(report.sensitive_replied, 0, "{shown}");
}
