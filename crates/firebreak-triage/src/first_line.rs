//! The first line: what happens to a message that is neither sensitive nor a key
//! question the playbook answers with confidence. Only what needs a person reaches
//! one; the rest is acknowledged (private), held or ignored (public), and counted in
//! the insights. The playbook's `first_line` section sets each choice.

use firebreak_core::{Classification, FirstLine, Language, Priority, Route, Visibility};

use crate::playbook::{FirstLineSpec, LowConfidence};

/// Reason prefix of a private message ignored because its author was acknowledged
/// recently; such messages count towards the author's way to a human.
pub const ALREADY_ACKNOWLEDGED: &str = "already acknowledged";

/// Reason prefix of noise, which counts for nothing (not even as a complaint).
pub const NOISE: &str = "noise";

/// Below this, a detected language is a guess, not grounds to call a message foreign.
const FOREIGN_CONFIDENCE: f64 = 0.6;

/// What the first line knows about a message it has to route.
#[derive(Debug)]
pub(crate) struct Unmatched<'a> {
    pub text: &'a str,
    pub normalized: &'a str,
    pub visibility: Visibility,
    /// The best key question below the answering threshold, and its confidence.
    pub near_key_question: Option<(&'a str, f64)>,
    pub min_key_question_confidence: f64,
    /// Private messages of the author the first line took recently.
    pub recent_first_line: u32,
    /// The needs-a-human model score, in [0, 1].
    pub needs_human: f64,
}

/// Noise: nothing a person could answer. Checked before anything costly.
pub(crate) fn noise_reason(text: &str, spec: &FirstLineSpec) -> Option<String> {
    let mut letters = 0usize;
    let mut distinct = [None::<char>; 2];
    for c in text.chars().filter(|c| c.is_alphanumeric()) {
        letters += 1;
        let lower = c.to_lowercase().next().unwrap_or(c);
        match distinct {
            [None, _] => distinct[0] = Some(lower),
            [Some(first), None] if first != lower => distinct[1] = Some(lower),
            _ => {}
        }
    }
    if letters < spec.min_letters {
        return Some(format!(
            "{NOISE}: {letters} letter(s) or digit(s), under {}",
            spec.min_letters
        ));
    }
    if distinct[1].is_none() {
        return Some(format!("{NOISE}: one character repeated"));
    }
    None
}

/// Routes a message the playbook does not answer, filling the decision's route,
/// priority, first-line reply and reason.
pub(crate) fn route(decision: &mut Classification, message: &Unmatched<'_>, spec: &FirstLineSpec) {
    let near = message.near_key_question.map_or_else(
        || "no key question near".to_string(),
        |(id, confidence)| {
            format!(
                "best key question {id} at {confidence:.2} < {:.2}",
                message.min_key_question_confidence
            )
        },
    );
    let foreign =
        decision.language == Language::Other && decision.language_confidence >= FOREIGN_CONFIDENCE;
    if foreign || other_language(message.normalized) {
        return ignore(
            decision,
            format!("{NOISE}: written in a language the playbook does not answer"),
        );
    }
    match message.visibility {
        Visibility::Public => public(decision, message, spec, &near),
        Visibility::Private => private(decision, message, spec, &near),
    }
}

fn public(
    decision: &mut Classification,
    message: &Unmatched<'_>,
    spec: &FirstLineSpec,
    near: &str,
) {
    let question = is_question(message.text, message.normalized);
    match (question, &spec.holding) {
        (true, Some(_)) => reply(
            decision,
            FirstLine::Holding,
            format!("public question outside the playbook ({near}): holding reply"),
        ),
        (true, None) => ignore(
            decision,
            format!(
                "public question outside the playbook ({near}), no holding reply set: \
                 ignored, counted in the insights"
            ),
        ),
        (false, _) => {
            let tone = if decision.sentiment <= -0.25 {
                "venting or mockery"
            } else {
                "comment"
            };
            ignore(
                decision,
                format!(
                    "public {tone} without risk, author not an influencer ({near}): \
                     ignored, counted in the insights"
                ),
            );
        }
    }
}

fn private(
    decision: &mut Classification,
    message: &Unmatched<'_>,
    spec: &FirstLineSpec,
    near: &str,
) {
    if let Some((id, confidence)) = message.near_key_question
        && spec.low_confidence_private == LowConfidence::Escalate
        && confidence >= spec.low_confidence_floor
    {
        return escalate(
            decision,
            Priority::P4,
            format!(
                "low-confidence key question {id} ({confidence:.2}, between {:.2} and {:.2}) \
                 in private: the playbook sends these to a human",
                spec.low_confidence_floor, message.min_key_question_confidence
            ),
        );
    }
    let Some(ack) = &spec.acknowledgement else {
        return escalate(
            decision,
            Priority::P4,
            format!(
                "private message not understood ({near}), no acknowledgement in the playbook: a human answers"
            ),
        );
    };
    if message.recent_first_line >= ack.human_after_messages {
        return escalate(
            decision,
            Priority::P3,
            format!(
                "wrote {} times since the acknowledgement within {} s (threshold {}): a human answers",
                message.recent_first_line, ack.window_secs, ack.human_after_messages
            ),
        );
    }
    if message.needs_human >= ack.human_min_score {
        return escalate(
            decision,
            Priority::P4,
            format!(
                "long and specific private message (needs-a-human score {:.2} ≥ {:.2}): a human reads it",
                message.needs_human, ack.human_min_score
            ),
        );
    }
    if message.recent_first_line > 0 {
        return ignore(
            decision,
            format!(
                "{ALREADY_ACKNOWLEDGED} within {} s: message {} of {} before a human answers",
                ack.window_secs,
                message.recent_first_line + 1,
                ack.human_after_messages + 1
            ),
        );
    }
    reply(
        decision,
        FirstLine::Acknowledgement,
        format!(
            "private message not understood ({near}): acknowledgement, at most once per author within {} s",
            ack.window_secs
        ),
    );
}

/// A question rather than a statement: a question mark, or a first word that opens a
/// question or a request ("how", "can", "est-ce", "pouvez").
pub(crate) fn is_question(raw: &str, normalized: &str) -> bool {
    const OPENERS: &[&str] = &[
        "how", "what", "whats", "when", "where", "wheres", "which", "who", "why", "can", "could",
        "do", "does", "did", "is", "are", "will", "would", "should", "any", "comment", "quand",
        "ou", "pourquoi", "quel", "quels", "quelle", "quelles", "qui", "combien", "est", "peut",
        "peux", "pouvez", "puis", "avez", "etes", "vous", "y", "existe",
    ];
    raw.contains('?')
        || normalized
            .split(' ')
            .find(|w| !w.is_empty())
            .is_some_and(|first| OPENERS.contains(&first))
}

/// Words common in German, Spanish, Italian, Portuguese and Dutch and absent from
/// French and English.
const OTHER_LANGUAGE_WORDS: &[&str] = &[
    "ich", "nicht", "und", "ist", "das", "der", "wir", "sie", "mit", "auf", "fur", "ein", "eine",
    "einen", "mein", "meine", "wo", "wie", "warum", "bitte", "danke", "haben", "habe", "noch",
    "kein", "keine", "auch", "sind", "wurde", "werden", "zuruck", "nur", "oder", "aber", "sehr",
    "ihre", "ihr", "los", "las", "una", "por", "para", "pero", "muy", "esta", "estan", "tengo",
    "gracias", "donde", "hola", "tambien", "del", "usted", "porque", "hay", "di", "che", "non",
    "sono", "gli", "della", "delle", "perche", "grazie", "ciao", "dove", "questo", "questa",
    "anche", "molto", "ho", "nao", "obrigado", "obrigada", "voce", "muito", "onde", "isso", "esse",
    "essa", "meu", "minha", "com", "het", "een", "niet", "ik", "wij", "waar", "wanneer", "bedankt",
    "dank", "mijn", "ook", "maar", "heb", "hebben", "zijn",
];

/// Whether the words say another language than French or English.
fn other_language(normalized: &str) -> bool {
    let (mut other, mut ours) = (0usize, 0usize);
    for word in normalized.split(' ').filter(|w| !w.is_empty()) {
        if OTHER_LANGUAGE_WORDS.contains(&word) {
            other += 1;
        } else if crate::language::is_stopword(word) {
            ours += 1;
        }
    }
    other >= 2 && other * 2 > ours * 3
}

fn ignore(decision: &mut Classification, reason: String) {
    decision.route = Route::Ignore;
    decision.priority = Priority::P4;
    decision.first_line = None;
    decision.confidence = 1.0 - decision.key_question_confidence;
    decision.reasons.insert(0, reason);
}

fn reply(decision: &mut Classification, first_line: FirstLine, reason: String) {
    decision.route = Route::Reply;
    decision.priority = Priority::P4;
    decision.first_line = Some(first_line);
    decision.confidence = 1.0 - decision.key_question_confidence;
    decision.reasons.insert(0, reason);
}

fn escalate(decision: &mut Classification, priority: Priority, reason: String) {
    decision.route = Route::Escalate;
    decision.priority = priority;
    decision.first_line = None;
    decision.confidence = 1.0 - decision.key_question_confidence;
    decision.reasons.insert(0, reason);
}

/// Whether this decision counts towards its author's way to a human: an
/// acknowledgement, or a private message ignored because one was sent.
pub fn counts_towards_human(decision: &Classification) -> bool {
    decision.first_line == Some(FirstLine::Acknowledgement)
        || decision
            .reasons
            .first()
            .is_some_and(|r| r.starts_with(ALREADY_ACKNOWLEDGED))
}

/// Whether the decision ignored the message as noise.
pub fn is_noise(decision: &Classification) -> bool {
    decision.route == Route::Ignore
        && decision
            .reasons
            .first()
            .is_some_and(|r| r.starts_with(NOISE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_short_or_one_character_repeated() {
        let spec = FirstLineSpec::default();
        assert!(noise_reason("a", &spec).is_some());
        assert!(noise_reason("😡😡😡", &spec).is_some());
        assert!(noise_reason(&"a".repeat(5000), &spec).is_some());
        assert!(noise_reason("!!!!", &spec).is_some());
        assert!(noise_reason("ok", &spec).is_none());
        assert!(noise_reason("où est ma commande", &spec).is_none());
    }

    #[test]
    fn other_languages_are_told_apart_from_french_and_english() {
        use crate::normalize::normalize;
        let german = "Wo finde ich Ihre Filiale in Berlin? Ich möchte dort einkaufen.";
        assert!(other_language(&normalize(german)));
        assert!(other_language(&normalize(
            "hola, donde puedo devolver las galletas por favor"
        )));
        assert!(!other_language(&normalize(
            "où est ma commande, je l'attends depuis lundi"
        )));
        assert!(!other_language(&normalize(
            "where is my order, still waiting"
        )));
    }

    #[test]
    fn questions_are_told_apart_from_statements() {
        use crate::normalize::normalize;
        for (text, question) in [
            ("are you hiring?", true),
            ("est-ce que vous recrutez", true),
            ("how do I apply", true),
            ("you knew for weeks and said nothing, shameful", false),
            ("never buying again", false),
        ] {
            assert_eq!(is_question(text, &normalize(text)), question, "{text}");
        }
    }
}
