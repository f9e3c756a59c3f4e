//! The urgent pre-screen ingest runs on every accepted message: does it look like a
//! P1 kind (self-harm, a threat of violence)? Such a message is sent down the urgent
//! lane, which classify reads ahead of the normal backlog, so a person in danger never
//! waits behind a surge of ordinary messages.
//!
//! It is only a routing hint: classify still decides, with the full engine. So it uses
//! the cheap half of the detectors (the built-in term lexicons and phrase-family
//! patterns of the two kinds, one Aho-Corasick pass and one regex set), the health
//! incident patterns when a child or an emergency is named (P1 too), and a small
//! linear model over hashed n-grams (`models/urgent.bin`, 64 KiB, trained on the
//! training split's self-harm and threats by the `train_urgent` example) for phrasings
//! no term or pattern names. It never runs the sentence encoder, which would cost
//! ingest its model's memory and milliseconds. The model's threshold is set for recall:
//! a message sent down the lane for nothing only costs the lane a classification.
//!
//! It reads the built-in lexicons, not the playbook's overrides, so its answer depends
//! on the text alone: a platform's retry of a message always takes the lane its first
//! delivery took, and JetStream's per-stream dedup still sees it.

use std::ops::Range;
use std::sync::OnceLock;

use crate::detectors::lexicon::{LexiconMatcher, parse_terms};
use crate::detectors::phrase_set::PhraseSet;
use crate::detectors::{kind, mentions_child_or_emergency, states_no_harm};
use crate::model::HostilityModel;
use crate::normalize::{normalize, normalize_leet};

/// The P1 kinds the pre-screen looks for, with their term lexicon and pattern file.
const KINDS: [(&str, &str, &str); 2] = [
    (
        kind::SELF_HARM,
        include_str!("../lexicons/self_harm.txt"),
        include_str!("../lexicons/patterns/self_harm.txt"),
    ),
    (
        kind::THREAT,
        include_str!("../lexicons/threat.txt"),
        include_str!("../lexicons/patterns/threat.txt"),
    ),
];
const FIGURATIVE: &str = include_str!("../lexicons/patterns/figurative.txt");
const HEALTH_INCIDENT: &str = include_str!("../lexicons/patterns/health_incident.txt");
/// The pre-screen's model, written by the `train_urgent` example.
const MODEL: &[u8] = include_bytes!("../models/urgent.bin");

/// The model's score from which a message takes the lane. Chosen on the held-out
/// split for recall (figures in DATA.md); `train_urgent` prints what others would do.
pub const MODEL_THRESHOLD: f64 = 0.4;

/// The hint of a message only the model finds urgent.
pub const MODEL_KIND: &str = "model";

/// Label prefix of the phrase families that foretell harm without naming an act: the
/// engine files those at P2, so they do not need the urgent lane.
const VEILED: &str = "veiled";

/// Why a message was sent down the urgent lane: the kind it looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrgentHint {
    pub kind: &'static str,
}

/// The compiled pre-screen. Build it once ([`UrgentScreen::builtin`]) and share it.
#[derive(Debug)]
pub struct UrgentScreen {
    terms: LexiconMatcher,
    /// Every kind's phrase families, then the health-incident and figurative ones, in
    /// one set: one literal pass per message for all of them.
    patterns: PhraseSet,
    /// Each kind's patterns in `patterns`, in [`KINDS`] order.
    kinds: Vec<(&'static str, Range<usize>)>,
    health: Range<usize>,
    figurative: Range<usize>,
    model: HostilityModel,
}

impl UrgentScreen {
    /// The committed lexicons and patterns, compiled once per process.
    pub fn builtin() -> &'static UrgentScreen {
        static SCREEN: OnceLock<UrgentScreen> = OnceLock::new();
        SCREEN.get_or_init(|| UrgentScreen::compile().expect("the committed pattern files compile"))
    }

    fn compile() -> Result<UrgentScreen, String> {
        let terms = LexiconMatcher::new(
            KINDS
                .iter()
                .map(|(_, lexicon, _)| parse_terms(lexicon))
                .collect(),
        );
        let mut regexes: Vec<&str> = Vec::new();
        let mut range_of = |lines: Vec<&'static str>| {
            let start = regexes.len();
            regexes.extend(lines);
            start..regexes.len()
        };
        let mut kinds = Vec::new();
        for (kind, _, source) in KINDS {
            let lines = pattern_lines(source)?
                .into_iter()
                .filter(|(label, _)| !label.starts_with(VEILED))
                .map(|(_, regex)| regex)
                .collect();
            kinds.push((kind, range_of(lines)));
        }
        let regexes_of = |source: &'static str| -> Result<Vec<&'static str>, String> {
            Ok(pattern_lines(source)?
                .into_iter()
                .map(|(_, regex)| regex)
                .collect())
        };
        let health = range_of(regexes_of(HEALTH_INCIDENT)?);
        let figurative = range_of(regexes_of(FIGURATIVE)?);
        Ok(UrgentScreen {
            terms,
            patterns: build_set(&regexes)?,
            kinds,
            health,
            figurative,
            model: HostilityModel::from_bytes(MODEL).map_err(|e| format!("urgent model: {e}"))?,
        })
    }

    /// The P1 kind `text` looks like, if any. A phrase-family pattern is enough on its
    /// own; a term alone is not when the text is a known figure of speech ("je meurs
    /// de rire", "this burger is killer"), as in the engine.
    pub fn screen(&self, text: &str) -> Option<UrgentHint> {
        let normalized = normalize(text);
        let matched = self.patterns.matches(&normalized);
        let any_in = |range: &Range<usize>| matched.iter().any(|i| range.contains(i));
        if let Some((kind, _)) = self.kinds.iter().find(|(_, range)| any_in(range)) {
            return Some(UrgentHint { kind });
        }
        let hits = self.terms.scan(&normalized);
        let term = KINDS
            .iter()
            .zip(&hits)
            .find(|(_, hit)| hit.score >= 1.0)
            .map(|((kind, _, _), _)| *kind);
        if any_in(&self.health)
            && mentions_child_or_emergency(&normalized)
            && !states_no_harm(&normalized)
        {
            return Some(UrgentHint {
                kind: kind::HEALTH_INCIDENT,
            });
        }
        // A figure of speech explains the alarming words, for the terms and the model.
        if any_in(&self.figurative) {
            return None;
        }
        if let Some(kind) = term {
            return Some(UrgentHint { kind });
        }
        self.model_alarmed(text)
            .then_some(UrgentHint { kind: MODEL_KIND })
    }

    /// Whether the pre-screen's hashed n-gram model alone finds `text` urgent: a second
    /// opinion, trained apart from the sentence encoder, that the engine uses to let the
    /// exact network read messages the fast path scored low (see `semantic_flags`).
    pub fn model_alarmed(&self, text: &str) -> bool {
        self.model.predict(&normalize_leet(text)) >= MODEL_THRESHOLD
    }
}

/// `label<TAB>regex` lines of a pattern file, comments and blanks skipped.
fn pattern_lines(source: &str) -> Result<Vec<(&str, &str)>, String> {
    source
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.split_once('\t')
                .map(|(label, regex)| (label.trim(), regex.trim()))
                .ok_or_else(|| format!("pattern line without a tab: {}", line.len()))
        })
        .collect()
}

/// Literal-filtered, each pattern compiled on first use (see `detectors::phrase_set`):
/// one lazy DFA per kind over a varied stream cost ingest about 0.2 ms a message.
fn build_set(regexes: &[&str]) -> Result<PhraseSet, String> {
    PhraseSet::new(regexes).map_err(|(i, e)| format!("urgent patterns, {}: {e}", regexes[i]))
}

/// Shorthand for [`UrgentScreen::builtin`]`.screen(text)`.
pub fn looks_urgent(text: &str) -> Option<UrgentHint> {
    UrgentScreen::builtin().screen(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_self_harm_and_threats_are_flagged_with_their_kind() {
        for (text, kind) in [
            ("I want to kill myself tonight", kind::SELF_HARM),
            ("j'ai avalé toutes mes pilules", kind::SELF_HARM),
            (
                "je vais me suicider, plus rien n'a de sens",
                kind::SELF_HARM,
            ),
            ("I'm going to kill your manager", kind::THREAT),
            ("je vais mettre le feu à votre agence", kind::THREAT),
        ] {
            assert_eq!(looks_urgent(text).map(|h| h.kind), Some(kind), "{text}");
        }
    }

    #[test]
    fn figures_of_speech_and_everyday_complaints_stay_in_the_normal_lane() {
        for text in [
            "this burger is killer",
            "je meurs de rire",
            "where is my refund? order 12345 still not here",
            "votre service client est nul, je veux un remboursement",
            "kill the lights when you leave",
        ] {
            assert_eq!(looks_urgent(text), None, "{text}");
        }
    }

    #[test]
    fn a_long_angry_complaint_is_not_taken_for_self_harm_or_a_threat() {
        let text = "I ordered three weeks ago and nothing arrived, your support line \
                    hangs up on me, I want my money back now or I will post everywhere \
                    about how you treat customers, this is the worst service I have ever \
                    seen in my life and everyone should know it, seriously fix this";
        assert!(text.len() >= 250);
        // No term or phrase family of self-harm or threats is in it. The model may
        // still send its ultimatum ("now or I will...") down the lane: it is set for
        // recall, and a wasted place in the lane costs one classification.
        let kind = looks_urgent(text).map(|h| h.kind);
        assert!(
            !matches!(kind, Some(kind::SELF_HARM | kind::THREAT)),
            "{kind:?}"
        );
    }

    #[test]
    fn a_health_incident_with_a_child_or_an_emergency_takes_the_lane() {
        for text in [
            "my daughter threw up all night after eating your biscuits",
            "mon fils a vomi toute la nuit après vos gâteaux",
        ] {
            assert_eq!(
                looks_urgent(text).map(|h| h.kind),
                Some(kind::HEALTH_INCIDENT),
                "{text}"
            );
        }
        // Symptoms of an adult with no emergency are P2: the normal lane.
        assert_eq!(looks_urgent("I threw up after eating your biscuits"), None);
        // A child with no symptom is not a health incident.
        assert_eq!(
            looks_urgent("my son loves your biscuits, when are they back?"),
            None
        );
    }

    #[test]
    fn the_model_catches_phrasings_no_term_or_pattern_names() {
        let screen = UrgentScreen::builtin();
        let score = |text: &str| screen.model.predict(&normalize_leet(text));
        // Written for this test, not in any data file.
        let alarming = "honestly I'm done, I've written my letters and it ends this weekend";
        let ordinary = "is the 500g pack of the lemon biscuits also part of the recall?";
        assert!(score(alarming) >= MODEL_THRESHOLD, "{}", score(alarming));
        assert!(score(ordinary) < MODEL_THRESHOLD, "{}", score(ordinary));
        assert_eq!(looks_urgent(ordinary), None);
    }

    #[test]
    fn the_committed_model_loads_and_a_damaged_one_is_refused() {
        assert!(HostilityModel::from_bytes(MODEL).is_ok());
        assert!(HostilityModel::from_bytes(&MODEL[..MODEL.len() - 1]).is_err());
    }
}
