//! `playbook check` as a crisis team meets it: every mistake reported in one pass with
//! its field and line, a minimal one-language playbook accepted with the built-in
//! defaults (the hostility model on), and those defaults shown.

use firebreak_triage::playbook::{BUILTIN_YAML, Budgets, Sla, Thresholds};
use firebreak_triage::{Playbook, PlaybookError};

const MINIMAL: &str = include_str!("../playbooks/minimal.yaml");

fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

#[test]
fn five_mistakes_are_reported_in_one_check_with_field_and_line() {
    let yaml = r#"name: broken
key_questions:
  - id: refund
    patterns:
      en: ['\b(refund']
    examples:
      en: [how do I get a refund]
    replies:
      en:
        - "Hi {{ handle }}, refunds: {{ link }}"
        - "Hello {{ customer }}, refunds: {{ link }}"
thresholds:
  spam_min_score: 1.5
budgets:
  thread_capp: 3
sla:
  P1: { claim_secs: 600, ack_secs: 60, tiers: [oncall] }
"#;
    let problems = match Playbook::load(yaml) {
        Err(e @ PlaybookError::Problems { .. }) => e.problems(),
        other => panic!("expected several problems, got {other:?}"),
    };
    let found: Vec<(&str, Option<usize>)> =
        problems.iter().map(|p| (p.path.as_str(), p.line)).collect();
    let expected = [
        ("key_questions[0].patterns.en[0]", line_of(yaml, "(refund'")),
        ("key_questions[0].replies.en", line_of(yaml, "replies:") + 1),
        ("key_questions[0].replies.en[1]", line_of(yaml, "customer")),
        ("thresholds.spam_min_score", line_of(yaml, "spam_min_score")),
        ("budgets.thread_capp", line_of(yaml, "thread_capp")),
        ("sla.P1.ack_secs", line_of(yaml, "claim_secs: 600")),
    ];
    for (path, line) in expected {
        assert!(
            found.iter().any(|(p, l)| *p == path && *l == Some(line)),
            "{path} at line {line} missing from {problems:#?}"
        );
    }
    // One line per problem when printed, each with its line number.
    let text = PlaybookError::Problems {
        problems: problems.clone(),
    }
    .to_string();
    assert_eq!(text.lines().count(), problems.len());
    assert!(text.lines().all(|l| l.starts_with("line ")), "{text}");
    assert!(text.contains("unknown field `thread_capp`"), "{text}");
    assert!(
        text.contains("unknown template variable(s) customer"),
        "{text}"
    );
}

#[test]
fn a_type_error_does_not_hide_the_mistakes_after_it() {
    let yaml = "name: typed\nkey_questions:\n  - id: q\n    examples:\n      en: [where is my order]\n    replies:\n      en: ['a {{ link }}', 'b {{ link }}', 'c {{ link }}']\nthresholds:\n  influencer_followers: many\nbudgets:\n  global_per_sec: -1\n";
    let problems = Playbook::load(yaml).unwrap_err().problems();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["thresholds.influencer_followers", "budgets.global_per_sec"],
        "{problems:#?}"
    );
    assert_eq!(problems[0].line, Some(9));
}

#[test]
fn a_minimal_one_language_playbook_is_valid_on_the_builtin_defaults() {
    let playbook = Playbook::load(MINIMAL).expect("the minimal playbook is valid");
    let spec = playbook.spec();
    assert!(
        spec.sensitivity.hostility_model,
        "leaving out `sensitivity:` keeps the hostility model on"
    );
    assert_eq!(spec.thresholds, Thresholds::default());
    assert_eq!(spec.budgets, Budgets::default());
    assert_eq!(spec.sla, Sla::default());
    assert_eq!(
        playbook.defaulted_sections(),
        [
            "sensitivity",
            "thresholds",
            "budgets",
            "sla",
            "surge",
            "first_line"
        ]
    );
    // English-only replies answer French speakers too, in English.
    assert_eq!(
        playbook
            .reply_variants(false, "refund", firebreak_core::Language::Fr)
            .len(),
        3
    );
}

#[test]
fn the_defaults_are_the_builtin_playbooks_values() {
    let builtin = Playbook::builtin();
    let spec = builtin.spec();
    assert_eq!(spec.thresholds, Thresholds::default());
    assert_eq!(spec.budgets, Budgets::default());
    assert_eq!(spec.sla, Sla::default());
    assert!(
        BUILTIN_YAML.contains("&order_status"),
        "anchors stay in use"
    );
}

#[test]
fn check_prints_what_the_defaults_resolve_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minimal.yaml");
    std::fs::write(&path, MINIMAL).unwrap();
    let summary = firebreak_triage::check_playbook_file(&path).unwrap();
    for expected in [
        "hostility model: on (default)",
        "reply budget: 50/s global",
        "messenger 250/s",
        "SLA P1: claim 60 s, acknowledge 300 s",
        "on the built-in defaults: sensitivity, thresholds, budgets, sla, surge, first_line",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing from:\n{summary}"
        );
    }
}

#[test]
fn sensitivity_without_the_model_setting_keeps_it_on() {
    let yaml = MINIMAL.replace(
        "key_questions:",
        "sensitivity:\n  lexicon:\n    spam: { add: [promo] }\nkey_questions:",
    );
    assert!(
        Playbook::load(&yaml)
            .unwrap()
            .spec()
            .sensitivity
            .hostility_model
    );
    let off = MINIMAL.replace(
        "key_questions:",
        "sensitivity:\n  hostility_model: false\nkey_questions:",
    );
    assert!(
        !Playbook::load(&off)
            .unwrap()
            .spec()
            .sensitivity
            .hostility_model
    );
}
