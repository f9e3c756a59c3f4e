use super::*;
use proptest::prelude::*;

fn builtin_with(from: &str, to: &str) -> String {
    assert!(BUILTIN_YAML.contains(from), "fixture drifted: {from}");
    BUILTIN_YAML.replacen(from, to, 1)
}

fn invalid(yaml: &str) -> (String, Option<usize>, String) {
    match Playbook::load(yaml) {
        Err(PlaybookError::Invalid {
            path,
            line,
            message,
        }) => (path, line, message),
        other => panic!("expected an invalid playbook, got {other:?}"),
    }
}

fn line_containing(yaml: &str, needle: &str) -> usize {
    yaml.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn builtin_playbook_is_valid_and_versioned() {
    let playbook = Playbook::builtin();
    assert!(playbook.version().starts_with("default@"));
    assert_eq!(playbook.version(), Playbook::builtin().version());
    assert_eq!(playbook.mode(false).key_questions.len(), 2);
    assert_eq!(playbook.mode(true).key_questions.len(), 4);
    // The first line: an acknowledgement in both modes, a holding reply in crisis only.
    assert!(playbook.mode(false).first_line.acknowledgement.is_some());
    assert!(playbook.mode(false).first_line.holding.is_none());
    assert!(playbook.mode(true).first_line.holding.is_some());
    assert!(playbook.answers(true, "first_line.holding"));
    assert!(!playbook.answers(false, "first_line.holding"));
    // Crisis overrides merge over the normal settings.
    assert_eq!(playbook.mode(true).budgets.thread_cap, 3);
    assert_eq!(
        playbook.mode(true).budgets.per_channel_per_sec,
        playbook.mode(false).budgets.per_channel_per_sec
    );
    assert_eq!(playbook.mode(true).thresholds.influencer_followers, 20_000);
}

#[test]
fn any_edit_changes_the_version() {
    let edited = builtin_with("thread_cap: 2", "thread_cap: 1");
    assert_ne!(
        Playbook::load(&edited).unwrap().version(),
        Playbook::builtin().version()
    );
}

#[test]
fn a_bad_regex_is_refused_with_its_path_and_line() {
    let yaml = builtin_with(r"'\b(refund|refunded", r"'\b(refund|(refunded");
    let (path, line, message) = invalid(&yaml);
    assert_eq!(path, "key_questions[1].patterns.en[0]");
    assert_eq!(line, Some(line_containing(&yaml, r"(refund|(refunded")));
    assert!(message.contains("invalid regex"), "{message}");
}

#[test]
fn an_unknown_field_is_refused_with_its_path_and_line() {
    let yaml = builtin_with("  thread_cap: 2", "  thread_cap: 2\n  thread_capp: 3");
    let (path, line, message) = invalid(&yaml);
    // The unknown field itself, not just its section.
    assert_eq!(path, "budgets.thread_capp");
    assert_eq!(line, Some(line_containing(&yaml, "thread_capp")));
    assert!(message.contains("unknown field `thread_capp`"), "{message}");
}

#[test]
fn a_reply_variant_over_280_characters_is_refused() {
    let long = "x".repeat(300);
    let yaml = builtin_with(
        "- \"Hi {{ handle }}, sorry for the wait!",
        &format!("- \"{long} {{{{ handle }}}}, sorry for the wait!"),
    );
    let (path, line, message) = invalid(&yaml);
    assert_eq!(path, "key_questions[0].replies.en[0]");
    assert_eq!(line, Some(line_containing(&yaml, &long)));
    assert!(message.contains("over X's limit of 280"), "{message}");
}

#[test]
fn template_errors_and_unknown_variables_are_refused() {
    let yaml = builtin_with("{{ first_name }}. Refunds", "{{ first_name }. Refunds");
    let (path, _, message) = invalid(&yaml);
    assert_eq!(path, "key_questions[1].replies.en[1]");
    assert!(message.contains("template syntax error"), "{message}");

    let yaml = builtin_with("{{ first_name }}. Refunds", "{{ surname }}. Refunds");
    let (_, _, message) = invalid(&yaml);
    assert!(
        message.contains("unknown template variable(s) surname"),
        "{message}"
    );
}

#[test]
fn too_few_variants_and_bad_numbers_are_refused() {
    let yaml = builtin_with(
        "key_question_min_confidence: 0.6\n  influencer",
        "key_question_min_confidence: 1.5\n  influencer",
    );
    let (path, line, _) = invalid(&yaml);
    assert_eq!(path, "thresholds.key_question_min_confidence");
    assert_eq!(
        line,
        Some(line_containing(&yaml, "key_question_min_confidence: 1.5"))
    );

    let yaml = builtin_with("    x: 0.15", "    twitter: 0.15");
    let (path, _, message) = invalid(&yaml);
    assert_eq!(path, "budgets.per_channel_per_sec.twitter");
    assert!(message.contains("unknown channel"), "{message}");
}

#[test]
fn type_errors_carry_serde_locations() {
    let yaml = builtin_with("thread_cap: 2", "thread_cap: lots");
    let (path, line, _) = invalid(&yaml);
    assert_eq!(path, "budgets.thread_cap");
    assert_eq!(line, Some(line_containing(&yaml, "thread_cap: lots")));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for input in [
        "",
        "[",
        "name: [",
        "- a\n- b",
        "\u{0}\u{1}",
        "key_questions: 3",
    ] {
        assert!(Playbook::load(input).is_err(), "{input:?}");
    }
}

#[test]
fn replies_render_with_defaults_for_link_and_brand() {
    let playbook = Playbook::builtin();
    let vars = ReplyVars {
        handle: "@ana".into(),
        first_name: "Ana".into(),
        ..ReplyVars::default()
    };
    let reply = playbook
        .render_reply(false, "refund", firebreak_core::Language::En, 0, &vars)
        .unwrap();
    assert!(reply.starts_with("Hi @ana,"), "{reply}");
    assert!(reply.contains("https://example.com/refund"), "{reply}");
    assert_eq!(
        playbook
            .reply_variants(true, "consumption_safety", firebreak_core::Language::Fr)
            .len(),
        3
    );
    assert!(
        playbook
            .render_reply(false, "nope", firebreak_core::Language::En, 0, &vars)
            .is_none()
    );
}

#[test]
fn patterns_that_can_never_match_normalised_text_are_refused() {
    let yaml = builtin_with(r"'\b(refund|refunded", r"'\b(Refund|refunded");
    let (path, _, message) = invalid(&yaml);
    assert_eq!(path, "key_questions[1].patterns.en[0]");
    assert!(message.contains("`R` can never match"), "{message}");
    // Escapes such as \W and \B are not literals.
    let yaml = builtin_with(r"'\b(refund|refunded", r"'\B\W?\p{Lu}?\b(refund|refunded");
    assert!(Playbook::load(&yaml).is_ok());
}

proptest! {
    #[test]
    fn a_damaged_playbook_is_an_error_never_a_panic(cut in 0usize..BUILTIN_YAML.len(), len in 1usize..40, junk in "\\PC{0,8}") {
        let mut damaged = BUILTIN_YAML.to_string();
        let start = (0..=cut).rev().find(|&i| damaged.is_char_boundary(i)).unwrap_or(0);
        let end = (start + len..=damaged.len()).find(|&i| damaged.is_char_boundary(i)).unwrap_or(damaged.len());
        damaged.replace_range(start..end, &junk);
        if let Err(PlaybookError::Invalid { path, .. }) = Playbook::load(&damaged) {
            prop_assert!(!path.is_empty());
        }
    }
}

#[test]
fn first_line_settings_are_validated_with_their_path() {
    let yaml = BUILTIN_YAML.replace(
        "human_after_messages: 3\n    human_min_score: 0.6",
        "human_after_messages: 0\n    human_min_score: 0.6",
    );
    let error = Playbook::load(&yaml).unwrap_err().to_string();
    assert!(
        error.contains("first_line.acknowledgement.human_after_messages: must be at least 1"),
        "{error}"
    );
    let yaml = BUILTIN_YAML.replace(
        "  low_confidence_floor: 0.45",
        "  low_confidence_floor: 1.5",
    );
    let error = Playbook::load(&yaml).unwrap_err().to_string();
    assert!(
        error.contains("first_line.low_confidence_floor: must be in [0, 1]"),
        "{error}"
    );
    let yaml = BUILTIN_YAML.replace(
        "we've read it. Our team answers in order of arrival; meanwhile, our help pages are at {{ link }}.",
        "{{ order_number }}",
    );
    let error = Playbook::load(&yaml).unwrap_err().to_string();
    assert!(
        error.contains("first_line.acknowledgement.replies.en[0]")
            && error.contains("unknown template variable"),
        "{error}"
    );
    let yaml = BUILTIN_YAML.replace(
        "  low_confidence_private: acknowledge\n",
        "  low_confidence_private: maybe\n",
    );
    assert!(Playbook::load(&yaml).is_err());
}

#[test]
fn a_playbook_without_a_first_line_section_still_loads() {
    let start = BUILTIN_YAML.find("\nfirst_line:").unwrap();
    let end = BUILTIN_YAML.find("\nsla:").unwrap();
    let yaml = format!("{}{}", &BUILTIN_YAML[..start], &BUILTIN_YAML[end..]);
    let playbook = Playbook::load(&yaml).unwrap();
    assert!(playbook.mode(false).first_line.acknowledgement.is_none());
    assert!(
        playbook
            .reply_variants(
                false,
                "first_line.acknowledgement",
                firebreak_core::Language::En
            )
            .is_empty()
    );
}

#[test]
fn first_line_replies_render_with_their_own_link() {
    let playbook = Playbook::builtin();
    let vars = ReplyVars {
        handle: "@marie".into(),
        ..ReplyVars::default()
    };
    let text = playbook
        .render_reply(
            true,
            "first_line.acknowledgement",
            firebreak_core::Language::Fr,
            0,
            &vars,
        )
        .unwrap();
    assert!(
        text.contains("@marie") && text.contains("https://example.com/recall"),
        "{text}"
    );
    let text = playbook
        .render_reply(
            false,
            "first_line.acknowledgement",
            firebreak_core::Language::En,
            1,
            &vars,
        )
        .unwrap();
    assert!(text.contains("https://example.com/help"), "{text}");
}

mod abuse {
    //! Abusive playbooks are refused before they cost anything, each with its own error.
    //! Timings here are generous (the benches measure); the error names the limit.

    use std::time::{Duration, Instant};

    use super::*;

    const FIRST_PATTERN: &str = "      en:\n        - '\\b(where is|wheres|track";

    fn refused_quickly(yaml: &str) -> (String, String) {
        let begun = Instant::now();
        let (path, _, message) = invalid(yaml);
        assert!(
            begun.elapsed() < Duration::from_secs(1),
            "took {:?}: {message}",
            begun.elapsed()
        );
        (path, message)
    }

    /// The builtin with `extra` added as the first English patterns of the first key
    /// question.
    fn with_patterns(extra: &[String]) -> String {
        let lines: String = extra.iter().map(|p| format!("        - '{p}'\n")).collect();
        builtin_with(
            FIRST_PATTERN,
            &format!("      en:\n{lines}        - '\\b(where is|wheres|track"),
        )
    }

    #[test]
    fn the_builtin_anchor_and_alias_still_load() {
        assert!(BUILTIN_YAML.contains("&order_status") && BUILTIN_YAML.contains("*order_status"));
        limits::check_source(BUILTIN_YAML).unwrap();
    }

    #[test]
    fn alias_amplification_is_refused_before_it_is_expanded() {
        // A 1 KiB anchor repeated 2,000 times in 30 KiB of source: 2 MB expanded.
        let mut yaml = format!("name: bomb\nx: &a \"{}\"\ndescription: [", "A".repeat(1024));
        yaml.push_str(&vec!["*a"; 2_000].join(","));
        yaml.push_str("]\n");
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "(root)");
        assert!(message.contains("aliases expanded"), "{message}");

        // Nested: each level repeats the one before ten times.
        let mut nested = "name: laughs\nl0: &l0 [\"lol\"]\n".to_string();
        for level in 1..9 {
            let items = vec![format!("*l{}", level - 1); 10].join(",");
            nested.push_str(&format!("l{level}: &l{level} [{items}]\n"));
        }
        let (_, message) = refused_quickly(&nested);
        assert!(message.contains("aliases expanded"), "{message}");
    }

    #[test]
    fn an_oversized_source_is_refused() {
        let yaml = format!(
            "{BUILTIN_YAML}\n#{}\n",
            "x".repeat(limits::MAX_SOURCE_BYTES)
        );
        let (_, message) = refused_quickly(&yaml);
        assert!(message.contains("over the limit of 262144"), "{message}");
    }

    #[test]
    fn template_loops_run_out_of_fuel() {
        let list = vec!["1"; 100].join(",");
        let loops = format!(
            "{{% for a in [{list}] %}}{{% for b in [{list}] %}}{{% for c in [{list}] %}}{{% endfor %}}{{% endfor %}}{{% endfor %}}{{{{ handle }}}}"
        );
        let yaml = builtin_with(
            "- \"Hi {{ handle }}, sorry for the wait!",
            &format!("- \"{loops} sorry for the wait!"),
        );
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "key_questions[0].replies.en[0]");
        assert!(
            message.contains("more than 2000 template instructions"),
            "{message}"
        );
    }

    #[test]
    fn growing_operators_and_unsafe_filters_are_refused() {
        let yaml = builtin_with(
            "- \"Hi {{ handle }}, sorry for the wait!",
            "- \"Hi {{ handle ~ handle }}, sorry for the wait!",
        );
        let (_, message) = refused_quickly(&yaml);
        assert!(message.contains("operator `~`"), "{message}");
        let yaml = builtin_with(
            "- \"Hi {{ handle }}, sorry for the wait!",
            "- \"Hi {{ handle|indent(99999999) }}, sorry for the wait!",
        );
        let (_, message) = refused_quickly(&yaml);
        assert!(message.contains("template"), "{message}");
    }

    #[test]
    fn an_oversized_template_is_refused() {
        let padding = "{# padding #}".repeat(200);
        let yaml = builtin_with(
            "- \"Hi {{ handle }}, sorry for the wait!",
            &format!("- \"{padding}Hi {{{{ handle }}}}, sorry for the wait!"),
        );
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "key_questions[0].replies.en[0]");
        assert!(message.contains("at most 2048 bytes"), "{message}");
    }

    #[test]
    fn first_line_replies_get_the_template_limits_too() {
        let list = vec!["1"; 100].join(",");
        let loops = format!(
            "{{% for a in [{list}] %}}{{% for b in [{list}] %}}{{% endfor %}}{{% endfor %}}"
        );
        let yaml = builtin_with(
            "- \"Hi {{ handle }}, thanks for your message",
            &format!("- \"{loops}Hi {{{{ handle }}}}, thanks for your message"),
        );
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "first_line.acknowledgement.replies.en[0]");
        assert!(message.contains("template instructions"), "{message}");
        let many: Vec<String> = (0..20)
            .map(|i| format!("        - \"Hello {i} {{{{ handle }}}}\"\n"))
            .collect();
        let yaml = builtin_with(
            "    replies:\n      en:\n        - \"Hi {{ handle }}, thanks for your message",
            &format!(
                "    replies:\n      en:\n{}        - \"Hi {{{{ handle }}}}, thanks for your message",
                many.concat()
            ),
        );
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "first_line.acknowledgement.replies.en");
        assert!(message.contains("at most 16 reply variants"), "{message}");
    }

    #[test]
    fn too_many_patterns_are_refused_before_compiling_any() {
        let patterns: Vec<String> = (0..200).map(|i| format!("\\w{{100}}{i}")).collect();
        let (path, message) = refused_quickly(&with_patterns(&patterns));
        assert_eq!(path, "key_questions[0].patterns.en");
        assert!(message.contains("at most 32 patterns"), "{message}");
    }

    #[test]
    fn a_pattern_set_over_the_size_limit_is_refused_quickly() {
        let patterns: Vec<String> = (0..25).map(|i| format!("\\w{{100}}{i}")).collect();
        let (path, message) = refused_quickly(&with_patterns(&patterns));
        assert_eq!(path, "key_questions");
        assert!(message.contains("compile to more than"), "{message}");
    }

    #[test]
    fn too_many_examples_and_key_questions_are_refused() {
        let examples: String = (0..70)
            .map(|i| format!("        - example {i}\n"))
            .collect();
        let yaml = builtin_with(
            "      en:\n        - where is my order\n",
            &format!("      en:\n{examples}        - where is my order\n"),
        );
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "key_questions[0].examples.en");
        assert!(message.contains("at most 64 examples"), "{message}");

        let question = "  - id: q\n    patterns: {en: ['x']}\n    replies: {en: [a, b, c]}\n";
        let yaml = builtin_with(
            "key_questions:\n",
            &format!("key_questions:\n{}", question.repeat(70)),
        );
        let (path, message) = refused_quickly(&yaml);
        assert_eq!(path, "key_questions");
        assert!(message.contains("at most 64 key questions"), "{message}");
    }
}
