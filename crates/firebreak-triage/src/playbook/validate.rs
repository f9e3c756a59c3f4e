//! Semantic checks that the YAML types cannot express: regexes compile, templates parse
//! and fit in a post, numbers are in range, names are known. Every problem is collected,
//! not just the first, so a crisis team fixes a playbook in one round.

use std::collections::HashSet;

use firebreak_core::Channel;

use super::schema::*;
use super::{MAX_REPLY_CHARS, ReplyVars, TEMPLATE_VARIABLES, render};

/// One problem, with the path of the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

/// The first problem only: the limits stop at the first, since every later check costs
/// in proportion to what they bound.
pub(super) type Check = Result<(), Issue>;

pub(super) fn fail(path: impl Into<String>, message: impl Into<String>) -> Check {
    Err(Issue {
        path: path.into(),
        message: message.into(),
    })
}

/// Every problem found.
#[derive(Debug, Default)]
pub(super) struct Issues(pub Vec<Issue>);

impl Issues {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Issue {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Every problem of `spec`. The limits are checked first and alone: when one is
/// crossed, nothing else is looked at, since every check below costs in proportion to
/// what they bound.
pub fn validate(spec: &PlaybookSpec) -> Vec<Issue> {
    if let Err(issue) = super::limits::check_spec(spec) {
        return vec![issue];
    }
    let mut issues = Issues::default();
    let out = &mut issues;
    if spec.name.trim().is_empty() {
        out.add("name", "required, and must not be empty");
    }
    key_questions(out, "key_questions", &spec.key_questions, &[]);
    if let Some(crisis_questions) = &spec.crisis.key_questions {
        // A crisis question written as an alias of a normal one (`*order_status`) is
        // that question: its problems are reported once, where it is written.
        key_questions(
            out,
            "crisis.key_questions",
            crisis_questions,
            &spec.key_questions,
        );
    }
    for (detector, terms) in spec.sensitivity.lexicon.by_detector() {
        for (list, entries) in [("add", &terms.add), ("remove", &terms.remove)] {
            for (i, term) in entries.iter().enumerate() {
                if crate::normalize::normalize(term).is_empty() {
                    out.add(
                        format!("sensitivity.lexicon.{detector}.{list}[{i}]"),
                        "term is empty once normalised",
                    );
                }
            }
        }
    }
    thresholds(out, "thresholds", &spec.thresholds);
    // The crisis values are checked as overrides only: an invalid normal value is
    // reported once, under `thresholds`, not again under `crisis.thresholds`.
    thresholds(
        out,
        "crisis.thresholds",
        &spec.crisis.thresholds.apply(&Thresholds::default()),
    );
    super::first_line::validate(out, "first_line", &spec.first_line);
    if let Some(first_line) = &spec.crisis.first_line {
        super::first_line::validate(out, "crisis.first_line", first_line);
    }
    budgets(out, "budgets", &spec.budgets);
    budgets(
        out,
        "crisis.budgets",
        &spec.crisis.budgets.apply(&Budgets::default()),
    );
    for (name, target) in [
        ("P1", &spec.sla.p1),
        ("P2", &spec.sla.p2),
        ("P3", &spec.sla.p3),
        ("P4", &spec.sla.p4),
    ] {
        if target.claim_secs == 0 {
            out.add(format!("sla.{name}.claim_secs"), "must be at least 1");
        } else if target.ack_secs < target.claim_secs {
            out.add(
                format!("sla.{name}.ack_secs"),
                "must not be shorter than claim_secs",
            );
        }
        if target.tiers.is_empty() || target.tiers.iter().any(|t| t.trim().is_empty()) {
            out.add(
                format!("sla.{name}.tiers"),
                "needs at least one non-empty notify target",
            );
        }
    }
    let surge = &spec.surge;
    if !(surge.negative_rate_multiple > 1.0 && surge.negative_rate_multiple.is_finite()) {
        out.add("surge.negative_rate_multiple", "must be a number above 1");
    }
    if surge.baseline_window_secs == 0 {
        out.add("surge.baseline_window_secs", "must be at least 1");
    }
    issues.0
}

fn key_questions(
    out: &mut Issues,
    path: &str,
    questions: &[KeyQuestionSpec],
    checked: &[KeyQuestionSpec],
) {
    if questions.is_empty() {
        out.add(path, "needs at least one key question");
        return;
    }
    let mut seen = HashSet::new();
    for (i, question) in questions.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if checked.contains(question) {
            seen.insert(question.id.as_str());
            continue;
        }
        let id_ok = !question.id.is_empty()
            && question
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !id_ok {
            out.add(format!("{at}.id"), "required, and must match [a-z0-9_]+");
        } else if !seen.insert(question.id.as_str()) {
            out.add(
                format!("{at}.id"),
                format!("duplicate key question id `{}`", question.id),
            );
        }
        for (language, patterns) in question.patterns.iter() {
            for (j, pattern) in patterns.iter().enumerate() {
                // Syntax only: the sizes are checked once, for the whole set.
                if let Err(problem) = super::limits::check_pattern_syntax(pattern) {
                    out.add(
                        format!("{at}.patterns.{language}[{j}]"),
                        format!("invalid regex: {problem}"),
                    );
                } else if let Some(problem) = unmatchable_literal(pattern) {
                    out.add(format!("{at}.patterns.{language}[{j}]"), problem);
                }
            }
        }
        // Examples are matched by meaning across languages, so one language's examples
        // (or patterns) are enough.
        let described = question
            .patterns
            .iter()
            .chain(question.examples.iter())
            .any(|(_, v)| !v.is_empty());
        if !described {
            out.add(
                format!("{at}.examples"),
                "needs at least one pattern or example, in any language",
            );
        }
        reply_variants(out, &at, &question.replies, &question.link, 3);
    }
}

/// The `replies` of a reply set at `path`: variants in at least one language, at
/// least `min` in each language that has any, each a template that renders and fits.
pub(super) fn reply_variants(
    out: &mut Issues,
    path: &str,
    replies: &PerLanguage<Vec<String>>,
    link: &str,
    min: usize,
) {
    if replies.iter().all(|(_, variants)| variants.is_empty()) {
        out.add(
            format!("{path}.replies"),
            "needs reply variants in at least one language",
        );
    }
    for (language, variants) in replies.iter() {
        // A language without replies is answered with another language's variants.
        if variants.is_empty() {
            continue;
        }
        if variants.len() < min {
            out.add(
                format!("{path}.replies.{language}"),
                format!(
                    "needs at least {min} reply variants, found {}",
                    variants.len()
                ),
            );
        }
        for (j, template) in variants.iter().enumerate() {
            let at = format!("{path}.replies.{language}[{j}]");
            if let Err(issue) = reply_template(&at, template, link) {
                out.0.push(issue);
            }
        }
    }
}

/// Patterns run on normalised text (lowercase, no accents), so an uppercase or accented
/// literal can never match; refusing it beats a key question that silently never fires.
fn unmatchable_literal(pattern: &str) -> Option<String> {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            // Skip the escaped character, and a whole class name such as `\p{Lu}`.
            if matches!(chars.next(), Some('p' | 'P')) && chars.peek() == Some(&'{') {
                chars.by_ref().find(|&c| c == '}');
            }
        } else if c.is_uppercase() || (!c.is_ascii() && c.is_alphabetic()) {
            return Some(format!(
                "`{c}` can never match: patterns see normalised text (lowercase, no accents)"
            ));
        }
    }
    None
}

fn reply_template(path: &str, template: &str, link: &str) -> Check {
    if template.trim().is_empty() {
        return fail(path, "reply variant is empty");
    }
    if let Err(problem) = super::template::check_template_source(template) {
        return fail(path, problem);
    }
    let env = super::template::template_env();
    let parsed = match env.template_from_str(template) {
        Ok(parsed) => parsed,
        Err(error) => return fail(path, format!("template syntax error: {error}")),
    };
    let mut unknown: Vec<String> = parsed
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !TEMPLATE_VARIABLES.contains(&v.as_str()))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return fail(
            path,
            format!(
                "unknown template variable(s) {}; allowed: {}",
                unknown.join(", "),
                TEMPLATE_VARIABLES.join(", ")
            ),
        );
    }
    // Render with long but realistic values: a variant must fit X's limit in practice.
    let sample = ReplyVars {
        handle: "@a_fifteen_char".into(),
        first_name: "Marie-Christine".into(),
        case_ref: "FB-2026-000123".into(),
        link: if link.is_empty() {
            "https://example.com/r/abc123".into()
        } else {
            link.into()
        },
        brand: "Brand".into(),
    };
    match render(template, &sample) {
        Ok(text) if text.chars().count() > MAX_REPLY_CHARS => fail(
            path,
            format!(
                "reply variant renders to {} characters, over X's limit of {MAX_REPLY_CHARS}",
                text.chars().count()
            ),
        ),
        Ok(_) => Ok(()),
        Err(error) => fail(path, format!("template does not render: {error}")),
    }
}

fn thresholds(out: &mut Issues, path: &str, t: &Thresholds) {
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    if !(unit(t.key_question_min_confidence) && t.key_question_min_confidence > 0.0) {
        out.add(
            format!("{path}.key_question_min_confidence"),
            "must be in (0, 1]",
        );
    }
    if !unit(t.hostility_min_score) {
        out.add(format!("{path}.hostility_min_score"), "must be in [0, 1]");
    }
    if !unit(t.spam_min_score) {
        out.add(format!("{path}.spam_min_score"), "must be in [0, 1]");
    }
    if t.repeat_complainer.count == 0 {
        out.add(
            format!("{path}.repeat_complainer.count"),
            "must be at least 1",
        );
    }
    if t.repeat_complainer.window_secs == 0 {
        out.add(
            format!("{path}.repeat_complainer.window_secs"),
            "must be at least 1",
        );
    }
}

fn budgets(out: &mut Issues, path: &str, b: &Budgets) {
    let rate = |v: f64| v.is_finite() && v > 0.0;
    if !rate(b.global_per_sec) {
        out.add(
            format!("{path}.global_per_sec"),
            "must be a positive number",
        );
    }
    for (channel, per_sec) in &b.per_channel_per_sec {
        let at = format!("{path}.per_channel_per_sec.{channel}");
        if channel != "default" && Channel::parse(channel).is_none() {
            let known: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
            out.add(
                &at,
                format!(
                    "unknown channel; expected default or one of {}",
                    known.join(", ")
                ),
            );
        }
        if !rate(*per_sec) {
            out.add(&at, "must be a positive number");
        }
    }
    if b.thread_cap == 0 {
        out.add(
            format!("{path}.thread_cap"),
            "must be at least 1 (turn crisis mode off to stop replies)",
        );
    }
}
