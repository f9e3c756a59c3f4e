//! Sensitivity detectors, FR + EN. Each produces a [`Flag`] whose evidence names the
//! rule or lexicon term that fired, never the personal data itself.

pub mod lexicon;
mod literal_need;
pub mod patterns;
pub mod personal_data;
pub mod phrase_set;

use firebreak_core::{Flag, Priority};

use self::lexicon::{LexiconHit, LexiconMatcher, Term, apply_override, parse_terms};
use crate::playbook::LexiconOverrides;

/// Flag kinds, as they appear in decisions and on the wire.
pub mod kind {
    pub const SELF_HARM: &str = "self_harm";
    pub const THREAT: &str = "threat";
    pub const LEGAL: &str = "legal";
    pub const PRESS: &str = "press";
    pub const SPILL_OVER: &str = "spill_over";
    pub const PERSONAL_DATA: &str = "personal_data";
    pub const INFLUENCER: &str = "influencer";
    pub const HOSTILITY: &str = "hostility";
    pub const REPEAT_COMPLAINER: &str = "repeat_complainer";
    pub const SPAM: &str = "spam";
    pub const HATE: &str = "hate";
    pub const HEALTH_INCIDENT: &str = "health_incident";
    /// An explicit request to reach a person ("real person please", "je veux parler à
    /// quelqu'un").
    pub const HUMAN_REQUEST: &str = "human_request";

    /// Kinds that must reach a human whatever the budgets, thresholds or crisis mode.
    pub const ALWAYS_ESCALATE: &[&str] = &[
        SELF_HARM,
        THREAT,
        LEGAL,
        PRESS,
        HATE,
        HEALTH_INCIDENT,
        PERSONAL_DATA,
    ];

    /// Kinds that are evidence but do not need a human on their own: hostile words in a
    /// venting post or beside a key question do not open a case.
    pub const SIGNAL_ONLY: &[&str] = &[HOSTILITY];
}

/// The priority a flag kind asks for on its own.
pub fn priority_of(kind: &str) -> Priority {
    match kind {
        kind::SELF_HARM | kind::THREAT | kind::SPILL_OVER => Priority::P1,
        kind::LEGAL | kind::PRESS | kind::PERSONAL_DATA | kind::HATE | kind::HEALTH_INCIDENT => {
            Priority::P2
        }
        kind::INFLUENCER | kind::HOSTILITY | kind::REPEAT_COMPLAINER | kind::HUMAN_REQUEST => {
            Priority::P3
        }
        _ => Priority::P4,
    }
}

/// Evidence prefix of a health incident that involves a child or an emergency: such a
/// flag asks for P1 instead of P2.
pub const URGENT: &str = "child or emergency";

/// Evidence prefix of a self-harm or threat alarm that only the model raised, below
/// its P1 threshold: a human should look soon, at P2.
pub const POSSIBLE: &str = "possible";

/// The priority one flag asks for: its kind's, P1 for an urgent health incident, P2 for
/// a possible self-harm or threat that only the model saw.
pub fn flag_priority(flag: &Flag) -> Priority {
    if flag.kind == kind::HEALTH_INCIDENT && flag.evidence.starts_with(URGENT) {
        Priority::P1
    } else if flag.evidence.starts_with(POSSIBLE) {
        Priority::P2
    } else {
        priority_of(&flag.kind)
    }
}

/// Built-in lexicons; the playbook adds and removes terms on top.
const LEXICONS: [(&str, &str); 5] = [
    (
        kind::SELF_HARM,
        include_str!("../../lexicons/self_harm.txt"),
    ),
    (kind::THREAT, include_str!("../../lexicons/threat.txt")),
    (kind::LEGAL, include_str!("../../lexicons/legal.txt")),
    (kind::PRESS, include_str!("../../lexicons/press.txt")),
    (kind::SPAM, include_str!("../../lexicons/spam.txt")),
];
const HOSTILITY_LEXICON: &str = include_str!("../../lexicons/hostility.txt");

/// Lexicon scores for one message, one per detector.
#[derive(Clone, Debug, Default)]
pub struct LexiconScores {
    pub self_harm: LexiconHit,
    pub threat: LexiconHit,
    pub legal: LexiconHit,
    pub press: LexiconHit,
    pub spam: LexiconHit,
    pub hostility: LexiconHit,
}

impl LexiconScores {
    /// The lexicon-backed flags that fired, strongest evidence first within each kind.
    pub fn flags(&self) -> Vec<Flag> {
        [
            (kind::SELF_HARM, &self.self_harm),
            (kind::THREAT, &self.threat),
            (kind::LEGAL, &self.legal),
            (kind::PRESS, &self.press),
            (kind::HOSTILITY, &self.hostility),
        ]
        .into_iter()
        .filter(|(_, hit)| hit.score >= 1.0)
        .map(|(kind, hit)| {
            let term = hit.strongest.as_deref().unwrap_or("?");
            Flag::new(kind, format!("term \"{term}\""), hit.score.min(1.0))
        })
        .collect()
    }
}

/// The lexicon detectors of one playbook, compiled.
#[derive(Debug)]
pub struct Detectors {
    plain: LexiconMatcher,
    hostility: LexiconMatcher,
}

impl Detectors {
    pub fn new(overrides: &LexiconOverrides) -> Detectors {
        let by_kind = overrides.by_detector();
        let override_for = |kind: &str| {
            by_kind
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, o)| (*o).clone())
                .unwrap_or_default()
        };
        let plain: Vec<Vec<Term>> = LEXICONS
            .iter()
            .map(|(kind, source)| apply_override(parse_terms(source), &override_for(kind)))
            .collect();
        let hostility = apply_override(
            parse_terms(HOSTILITY_LEXICON),
            &override_for(kind::HOSTILITY),
        );
        Detectors {
            plain: LexiconMatcher::new(plain),
            hostility: LexiconMatcher::new(vec![hostility]),
        }
    }

    /// `normalized` is the plain form; `folded` the leetspeak-folded one for insults.
    pub fn scan(&self, normalized: &str, folded: &str) -> LexiconScores {
        let mut plain = self.plain.scan(normalized).into_iter();
        let mut next = || plain.next().unwrap_or_default();
        LexiconScores {
            self_harm: next(),
            threat: next(),
            legal: next(),
            press: next(),
            spam: next(),
            hostility: self
                .hostility
                .scan(folded)
                .into_iter()
                .next()
                .unwrap_or_default(),
        }
    }
}

/// Spam score in [0, 1]: promotional terms, links and mention floods.
pub fn spam_score(raw: &str, lexicon: &LexiconHit) -> f64 {
    let links = raw.matches("http").count() + raw.matches("www.").count();
    let mentions = raw
        .split_whitespace()
        .filter(|w| w.starts_with('@'))
        .count();
    let mut score = 0.6 * lexicon.score;
    score += 0.25 * links.saturating_sub(1).min(3) as f64;
    if mentions >= 5 {
        score += 0.4;
    }
    score.min(1.0)
}

/// A `personal_data` flag when the text holds any; evidence lists the kinds only.
pub fn personal_data_flag(raw: &str) -> Option<Flag> {
    let found = personal_data::find(raw);
    if found.is_empty() {
        return None;
    }
    let mut kinds: Vec<&str> = found.iter().map(|(_, k)| k.as_str()).collect();
    kinds.dedup();
    Some(Flag::new(
        kind::PERSONAL_DATA,
        format!("public post contains {}", kinds.join(", ")),
        1.0,
    ))
}

/// Whether normalised text says that nobody was harmed ("everyone's fine", "nobody got
/// sick", "tout le monde va bien", "aucun symptôme"): a worried question, not an
/// incident in progress, so a child named in it does not make it P1.
pub fn states_no_harm(normalized: &str) -> bool {
    static NO_HARM: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    NO_HARM
        .get_or_init(|| {
            regex::Regex::new(concat!(
                r"\b(?:everyones?|everybodys?|every one|we re|were all|theyre|they re|they are|",
                r"kids are|children are|both are|all are|all of us are|were both) ",
                r"(?:(?:is|s|are|all|both|doing|feeling|totally|completely|perfectly|absolutely) ){0,2}",
                r"(?:fine|ok|okay|alright|all right|well)\b",
                r"|\b(?:everyone|everybody|all of us|both of them|we|they) (?:is|are|s|re) (?:fine|ok|okay|alright|well)\b",
                r"|\b(?:nobody|no one|noone|none of us|none of them|neither of them) (?:has |have )?",
                r"(?:got|gets|get|is|was|were|has been|have been|been|felt|feels|fell) (?:sick|ill|unwell|poorly)\b",
                r"|\bno (?:symptoms?|reaction|reactions)\b",
                r"|\btout le monde (?:va|allait|se porte) bien\b|\b(?:ils|elles) vont (?:tres |tous |toutes )?bien\b",
                r"|\bpersonne (?:n )?(?:a ete|est|n est|a eu|n a eu|n a ete)? ?malade\b",
                r"|\b(?:aucun|pas de|sans) (?:symptomes?|reaction)\b",
            ))
            .expect("the no-harm pattern compiles")
        })
        .is_match(normalized)
}

/// Whether normalised text mentions a child or an emergency, which makes a health
/// incident P1.
pub fn mentions_child_or_emergency(normalized: &str) -> bool {
    normalized
        .split(' ')
        .any(|w| CHILD_OR_EMERGENCY.contains(&w))
        || [
            "cant breathe",
            "can t breathe",
            "respire plus",
            "respire pas",
            "arrive plus a respirer",
        ]
        .iter()
        .any(|p| normalized.contains(p))
}

const CHILD_OR_EMERGENCY: &[&str] = &[
    "child",
    "children",
    "kid",
    "kids",
    "son",
    "daughter",
    "baby",
    "babies",
    "toddler",
    "infant",
    "newborn",
    "boy",
    "girl",
    "enfant",
    "enfants",
    "fils",
    "fille",
    "bebe",
    "bebes",
    "gamin",
    "gamine",
    "petit",
    "petite",
    "nourrisson",
    "ado",
    "emergency",
    "ambulance",
    "er",
    "hospital",
    "hospitalized",
    "hospitalised",
    "icu",
    "911",
    "999",
    "112",
    "urgences",
    "urgence",
    "samu",
    "hopital",
    "hospitalise",
    "hospitalisee",
    "reanimation",
    "pompiers",
    "unconscious",
    "inconscient",
    "inconsciente",
    "seizure",
    "convulsions",
    "anaphylactic",
    "anaphylaxie",
    "epipen",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    #[test]
    fn a_statement_that_nobody_was_harmed_is_recognised() {
        for text in [
            "kids ate some yesterday, everyone's fine, should we see a doctor?",
            "we had the recalled batch but nobody got sick",
            "my son ate two, he shows no symptoms so far",
            "mes enfants en ont mangé, tout le monde va bien",
            "on en a mangé hier, personne n'a été malade",
            "aucun symptôme pour l'instant chez ma fille",
        ] {
            assert!(states_no_harm(&normalize(text)), "{text}");
        }
        for text in [
            "my daughter threw up all night after your biscuits",
            "mon fils est aux urgences après vos gâteaux",
            "everyone is sick since the party, the kids too",
        ] {
            assert!(!states_no_harm(&normalize(text)), "{text}");
        }
    }
}
