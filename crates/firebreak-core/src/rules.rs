//! The triage port, and a small keyword rule set used until a playbook-driven engine is
//! plugged in. It is deliberately conservative: anything sensitive escalates.

use crate::{Classification, Flag, Language, Message, Priority, Route};

/// What the classifier knows beyond the message itself, gathered from thread and author
/// memory by the classify service.
#[derive(Clone, Debug, Default)]
pub struct TriageContext {
    pub crisis_active: bool,
    /// An open private case for this author or thread, for spill-over detection.
    pub open_private_case: Option<String>,
    /// How many complaints the author made recently.
    pub recent_complaints: u32,
}

/// Decides what happens to a message. Pure: no I/O, so it can be benchmarked and
/// property-tested on its own.
pub trait Triage: Send + Sync + 'static {
    fn classify(&self, message: &Message, context: &TriageContext) -> Classification;
    fn version(&self) -> String;
}

/// Keyword rules: sensitive words escalate, a few known questions get an answer.
#[derive(Debug, Default)]
pub struct KeywordRules;

const SENSITIVE: &[(&str, &str, Priority)] = &[
    ("suicide", "self_harm", Priority::P1),
    ("kill myself", "self_harm", Priority::P1),
    ("me tuer", "self_harm", Priority::P1),
    ("kill you", "threat", Priority::P1),
    ("lawyer", "legal", Priority::P2),
    ("lawsuit", "legal", Priority::P2),
    ("avocat", "legal", Priority::P2),
    ("plainte", "legal", Priority::P2),
    ("journalist", "press", Priority::P2),
    ("journaliste", "press", Priority::P2),
];

const QUESTIONS: &[(&str, &str)] = &[
    ("refund", "refund"),
    ("rembours", "refund"),
    ("recall", "product_recall"),
    ("rappel", "product_recall"),
];

impl Triage for KeywordRules {
    fn classify(&self, message: &Message, context: &TriageContext) -> Classification {
        let text = message.text.to_lowercase();
        let mut decision = Classification {
            language: if text.contains(" le ") || text.contains(" je ") {
                Language::Fr
            } else {
                Language::En
            },
            language_confidence: 0.5,
            sentiment: 0.0,
            route: Route::Escalate,
            priority: Priority::P4,
            key_question: None,
            key_question_confidence: 0.0,
            flags: Vec::new(),
            reasons: Vec::new(),
            confidence: 0.5,
            linked_case_id: None,
            playbook_version: self.version(),
        };
        if text.trim().is_empty() {
            decision.route = Route::Ignore;
            decision.reasons.push("empty text".into());
            return decision;
        }
        if message.author.is_bot
            || message
                .mail
                .as_ref()
                .is_some_and(|m| m.forbids_auto_reply())
        {
            decision.route = Route::Ignore;
            decision.reasons.push("automated sender".into());
            return decision;
        }
        for (term, kind, priority) in SENSITIVE {
            if text.contains(term) {
                decision
                    .flags
                    .push(Flag::new(*kind, format!("term:{term}"), 1.0));
                decision.priority = decision.priority.min(*priority);
            }
        }
        if let Some(case) = &context.open_private_case
            && message.visibility == crate::Visibility::Public
        {
            decision
                .flags
                .push(Flag::new("spill_over", "open private case", 1.0));
            decision.priority = Priority::P1;
            decision.linked_case_id = Some(case.clone());
        }
        if !decision.flags.is_empty() {
            decision.reasons = decision
                .flags
                .iter()
                .map(|f| format!("{}: {}", f.kind, f.evidence))
                .collect();
            return decision;
        }
        if let Some((_, question)) = QUESTIONS.iter().find(|(term, _)| text.contains(term)) {
            decision.route = Route::Reply;
            decision.key_question = Some((*question).to_string());
            decision.key_question_confidence = 0.9;
            decision.reasons.push(format!("key question {question}"));
            return decision;
        }
        decision.priority = Priority::P3;
        decision
            .reasons
            .push("no key question matched: fallback to a human".into());
        decision
    }

    fn version(&self) -> String {
        "keyword-rules".into()
    }
}
