//! Key-question matching: the playbook's regexes, plus similarity to its example
//! phrasings, by meaning (sentence embeddings, any language against any language) and by
//! spelling (character trigrams). A confidence below the playbook's threshold means "no
//! match": a human answers instead (the fallback idea from Rasa).
//!
//! Look-alikes ("when is my tax refund coming", "is flight AF12 on time") sit close to
//! the examples in meaning. A bank of such look-alikes (the `other` rows of the training
//! split) guards the match: when the message is nearer a look-alike than any example,
//! its confidence is cut.
//!
//! A question that adopts a shipped intent (order status, refund) also takes the
//! trained intent head's verdict (`semantic::intent`), which knows wording no example
//! lists and was trained against those look-alikes.

use std::sync::OnceLock;

use firebreak_encoder::{Embedding, Int8Rows};
use regex::RegexSet;

use crate::features::{QueryVector, SparseIndex, SparseVector};
use crate::playbook::KeyQuestionSpec;
use crate::semantic::intent::IntentScore;
use crate::semantic::{Features, SemanticModel};

/// Matchers for one mode's key questions, compiled once per playbook load.
///
/// The patterns are compiled at load; the examples' embeddings (and with them the
/// adopted intents and the look-alike bank) on the first message matched. Every role
/// loads the playbook, but only classify matches messages: embedding at load made
/// ingest, reply, escalation and control carry the sentence encoder too (≈ 175 MB of
/// each one's ≈ 210 MB).
#[derive(Debug)]
pub struct KeyQuestionMatcher {
    ids: Vec<String>,
    patterns: RegexSet,
    /// For each pattern in `patterns`: (question index, "fr[0]"-style label).
    pattern_owner: Vec<(usize, String)>,
    /// (question index, "fr[0]"-style label, phrasing) of each playbook example.
    phrasings: Vec<(usize, String, String)>,
    meaning: OnceLock<Meaning>,
}

/// What matching by meaning reads, built on first use.
#[derive(Debug)]
struct Meaning {
    examples: Vec<Example>,
    /// Every example's embedding, for one pass of dot products.
    example_rows: Int8Rows,
    /// Every example's trigram vector, inverted (shipped phrasings have none).
    example_trigrams: SparseIndex,
    /// Look-alikes that are not near any of this playbook's examples.
    lookalike_rows: Int8Rows,
    /// For each question, the shipped intent it adopted, if any.
    intents: Vec<Option<String>>,
}

#[derive(Debug)]
struct Example {
    question: usize,
    label: String,
    vector: SparseVector,
    embedding: Embedding,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeyQuestionMatch {
    pub id: String,
    pub confidence: f64,
    /// Which pattern or example matched, for the moderator and the decision's reasons.
    pub evidence: String,
    /// The language of the matched pattern, or else of the nearest example: the best
    /// guess of the reply language when a short message's own language is unclear.
    pub language: Option<firebreak_core::Language>,
}

/// A pattern hit alone is strong evidence; similarity to an example adds the rest.
const PATTERN_BASE: f64 = 0.75;
/// How much a competing question's score discounts the winner: a message that looks
/// like two key questions at once should go to a human. The discount starts when the
/// runner-up reaches `AMBIGUITY_RATIO` of the winner.
const AMBIGUITY_WEIGHT: f64 = 0.5;
const AMBIGUITY_RATIO: f64 = 0.85;
/// Cosine to the nearest example mapped to a confidence: at `SEMANTIC_FLOOR` and below
/// it is 0, at `SEMANTIC_CEILING` and above 1. Tuned on the training split.
const SEMANTIC_FLOOR: f64 = 0.50;
const SEMANTIC_CEILING: f64 = 0.76;
/// A look-alike nearer than every example keeps this share of the confidence.
const LOOKALIKE_DISCOUNT: f64 = 0.5;
/// Under this share of its threshold, the adopted intent head's verdict makes the
/// message a look-alike whatever its words match.
const INTENT_VETO_SHARE: f32 = 0.3;
/// Look-alikes this close to one of the playbook's own examples are dropped from the
/// bank: the playbook asked for that question.
const LOOKALIKE_CONFLICT: f32 = 0.9;

/// Key-question phrasings shipped with Firebreak (the training split's `key_questions`
/// rows), embedded once per process: `(intent, embedding, language)`, intent `other` for
/// the look-alikes.
fn phrasing_bank() -> &'static [(String, Embedding, String)] {
    static BANK: OnceLock<Vec<(String, Embedding, String)>> = OnceLock::new();
    BANK.get_or_init(|| {
        let model = SemanticModel::builtin();
        crate::semantic::data::train_rows()
            .into_iter()
            .filter(|r| r.source == "key_questions")
            .map(|r| {
                let embedding = model.embed(&r.text);
                (r.label, embedding, r.lang)
            })
            .collect()
    })
}

/// A playbook question adopts a shipped intent's phrasings when its own examples sit
/// this close to them on average (each example to its nearest phrasing of the intent).
const ADOPT_INTENT: f32 = 0.7;

/// The shipped intent whose phrasings a question's examples are closest to, if close
/// enough: "where is my order" in a playbook adopts the few hundred order-status
/// phrasings Firebreak knows, in both languages.
fn adopted_intent<'a>(
    examples: &[&Embedding],
    bank: &'a [(String, Embedding, String)],
) -> Option<&'a str> {
    if examples.is_empty() {
        return None;
    }
    let mut intents: Vec<&str> = bank
        .iter()
        .map(|(i, _, _)| i.as_str())
        .filter(|i| *i != "other")
        .collect();
    intents.sort_unstable();
    intents.dedup();
    intents
        .into_iter()
        .map(|intent| {
            let mean = examples
                .iter()
                .map(|e| {
                    bank.iter()
                        .filter(|(i, _, _)| i == intent)
                        .map(|(_, b, _)| b.cosine(e))
                        .fold(f32::MIN, f32::max)
                })
                .sum::<f32>()
                / examples.len() as f32;
            (intent, mean)
        })
        .filter(|(_, mean)| *mean >= ADOPT_INTENT)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(intent, _)| intent)
}

impl Meaning {
    fn build(questions: usize, phrasings: &[(usize, String, String)]) -> Meaning {
        let mut examples: Vec<Example> = phrasings
            .iter()
            .map(|(q, label, phrasing)| Example {
                question: *q,
                label: label.clone(),
                vector: SparseVector::from_text(&crate::normalize::normalize(phrasing)),
                embedding: SemanticModel::builtin().embed(phrasing),
            })
            .collect();
        // Widen each question with the shipped phrasings of the intent it matches.
        let bank = phrasing_bank();
        let mut adopted = Vec::new();
        let mut intents = vec![None; questions];
        for (q, adopted_by) in intents.iter_mut().enumerate() {
            let own: Vec<&Embedding> = examples
                .iter()
                .filter(|e| e.question == q)
                .map(|e| &e.embedding)
                .collect();
            if let Some(intent) = adopted_intent(&own, bank) {
                *adopted_by = Some(intent.to_string());
                for (i, (_, embedding, lang)) in
                    bank.iter().filter(|(l, _, _)| l == intent).enumerate()
                {
                    adopted.push(Example {
                        question: q,
                        label: format!("{lang} shipped {intent}[{i}]"),
                        vector: SparseVector::default(),
                        embedding: embedding.clone(),
                    });
                }
            }
        }
        // Look-alikes too close to the playbook's own examples are what it asked for.
        let lookalike_rows: Vec<f32> = bank
            .iter()
            .filter(|(intent, _, _)| intent == "other")
            .map(|(_, l, _)| l)
            .filter(|l| {
                examples
                    .iter()
                    .all(|e| e.embedding.cosine(l) < LOOKALIKE_CONFLICT)
            })
            .flat_map(|l| l.as_slice().iter().copied())
            .collect();
        examples.extend(adopted);
        let example_rows: Vec<f32> = examples
            .iter()
            .flat_map(|e| e.embedding.as_slice().iter().copied())
            .collect();
        let dim = examples
            .first()
            .map_or(firebreak_encoder::STATIC_RANK, |e| {
                e.embedding.as_slice().len()
            });
        Meaning {
            example_rows: Int8Rows::new(&example_rows, dim),
            example_trigrams: SparseIndex::new(examples.iter().map(|e| &e.vector)),
            lookalike_rows: Int8Rows::new(&lookalike_rows, dim),
            examples,
            intents,
        }
    }
}

impl KeyQuestionMatcher {
    /// `patterns` is every question's patterns, in order (question, language, index),
    /// compiled once as one set by the playbook loader under its size limit.
    pub fn compile(questions: &[KeyQuestionSpec], patterns: RegexSet) -> KeyQuestionMatcher {
        let mut pattern_owner = Vec::new();
        let mut phrasings = Vec::new();
        for (q, question) in questions.iter().enumerate() {
            for (language, patterns) in question.patterns.iter() {
                for i in 0..patterns.len() {
                    pattern_owner.push((q, format!("{language}[{i}]")));
                }
            }
            for (language, examples) in question.examples.iter() {
                for (i, phrasing) in examples.iter().enumerate() {
                    phrasings.push((q, format!("{language}[{i}]"), phrasing.clone()));
                }
            }
        }
        KeyQuestionMatcher {
            ids: questions.iter().map(|q| q.id.clone()).collect(),
            patterns,
            pattern_owner,
            phrasings,
            meaning: OnceLock::new(),
        }
    }

    fn meaning(&self) -> &Meaning {
        self.meaning
            .get_or_init(|| Meaning::build(self.ids.len(), &self.phrasings))
    }

    /// The best key question for normalised text, whatever its confidence; the caller
    /// applies the threshold, so it can report near misses.
    /// `features` are the embedding's and the normalised text's, as the risk heads read
    /// them.
    pub fn best(
        &self,
        normalized: &str,
        embedding: &Embedding,
        features: &Features<'_>,
    ) -> Option<KeyQuestionMatch> {
        if normalized.is_empty() || self.ids.is_empty() {
            return None;
        }
        let meaning = self.meaning();
        let mut scores = vec![Score::default(); self.ids.len()];
        if meaning.intents.iter().any(Option::is_some) {
            let verdicts = SemanticModel::builtin().intents(features);
            for (score, intent) in scores.iter_mut().zip(&meaning.intents) {
                score.intent = intent.as_deref().and_then(|intent| {
                    verdicts
                        .iter()
                        .find(|(kind, _)| *kind == intent)
                        .map(|(kind, verdict)| (*kind, *verdict))
                });
            }
        }
        // The early-exit search answers the many messages that match no pattern; only
        // the others pay for the overlapping one that tells which patterns matched.
        let hits = self
            .patterns
            .is_match(normalized)
            .then(|| self.patterns.matches(normalized));
        for hit in hits.iter().flat_map(|m| m.iter()) {
            let (q, label) = &self.pattern_owner[hit];
            scores[*q].pattern.get_or_insert_with(|| label.clone());
        }
        let vector = QueryVector::from_text(normalized);
        // Shipped phrasings carry no trigram vector: meaning only (their similarity is 0).
        let mut similarities = Vec::with_capacity(meaning.examples.len());
        meaning.example_trigrams.cosines(&vector, &mut similarities);
        let mut cosines = Vec::with_capacity(meaning.examples.len());
        meaning
            .example_rows
            .dots(embedding.as_slice(), &mut cosines);
        for ((example, &cosine), &similarity) in
            meaning.examples.iter().zip(&cosines).zip(&similarities)
        {
            let similarity = f64::from(similarity);
            let meaning = f64::from(cosine);
            let score = &mut scores[example.question];
            if similarity > score.similarity {
                score.similarity = similarity;
            }
            if meaning > score.meaning {
                score.meaning = meaning;
                score.example = Some(&example.label);
            }
        }
        meaning
            .lookalike_rows
            .dots(embedding.as_slice(), &mut cosines);
        let lookalike = cosines
            .iter()
            .map(|&c| f64::from(c))
            .fold(f64::MIN, f64::max);
        for score in &mut scores {
            score.lookalike = lookalike > score.meaning;
        }
        let confidences: Vec<f64> = scores.iter().map(Score::confidence).collect();
        let (best, &top) = confidences
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        let runner = confidences
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != best)
            .max_by(|a, b| a.1.total_cmp(b.1));
        // Two questions nearly as likely as each other: cut the winner's confidence, down
        // to half when they tie; unless only the winner's patterns matched.
        let closeness = match runner {
            Some((r, &runner_up))
                if top > 0.0
                    && !(scores[best].pattern.is_some() && scores[r].pattern.is_none()) =>
            {
                (runner_up / top - AMBIGUITY_RATIO) / (1.0 - AMBIGUITY_RATIO)
            }
            _ => 0.0,
        };
        let confidence =
            (top * (1.0 - AMBIGUITY_WEIGHT * closeness.clamp(0.0, 1.0))).clamp(0.0, 1.0);
        let score = &scores[best];
        let mut evidence = match (&score.pattern, score.example) {
            (Some(pattern), Some(example)) => format!(
                "pattern {pattern}, nearest example {example} ({:.2})",
                score.meaning
            ),
            (Some(pattern), None) => format!("pattern {pattern}"),
            (None, Some(example)) => {
                format!("nearest example {example} ({:.2})", score.meaning)
            }
            (None, None) => "no evidence".to_string(),
        };
        if score.lookalike {
            evidence.push_str(", nearer a known look-alike");
        }
        if let Some((intent, verdict)) = score.intent {
            evidence.push_str(&format!(
                ", {intent} model {:.2} (threshold {:.2})",
                verdict.probability, verdict.threshold
            ));
        }
        let label = score
            .pattern
            .as_deref()
            .or(score.example.map(String::as_str));
        let language = label.and_then(|l| match l.get(..2) {
            Some("fr") => Some(firebreak_core::Language::Fr),
            Some("en") => Some(firebreak_core::Language::En),
            _ => None,
        });
        Some(KeyQuestionMatch {
            id: self.ids[best].clone(),
            confidence,
            evidence,
            language,
        })
    }
}

#[derive(Clone, Default)]
struct Score<'a> {
    pattern: Option<String>,
    /// Character-trigram cosine to the nearest example.
    similarity: f64,
    /// Embedding cosine to the nearest example, in any language.
    meaning: f64,
    example: Option<&'a String>,
    lookalike: bool,
    /// The adopted intent's head verdict.
    intent: Option<(&'a str, IntentScore)>,
}

impl Score<'_> {
    fn confidence(&self) -> f64 {
        let meaning =
            ((self.meaning - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR)).clamp(0.0, 1.0);
        // Character-trigram cosine rarely exceeds 0.8 for true paraphrases, so stretch
        // it a little; unrelated text sits near 0.2.
        let similar = meaning.max((self.similarity * 1.1).min(1.0));
        let confidence = if self.pattern.is_some() {
            PATTERN_BASE + (1.0 - PATTERN_BASE) * similar
        } else {
            similar
        };
        // Nearer a known look-alike than any example, or read by the intent head as
        // something else entirely: the resemblance is in the words, not the meaning.
        let unlike = self.intent.is_some_and(|(_, verdict)| {
            verdict.probability < INTENT_VETO_SHARE * verdict.threshold
        });
        let confidence = if self.lookalike || unlike {
            confidence * LOOKALIKE_DISCOUNT
        } else {
            confidence
        };
        // The head was trained against the look-alikes: its verdict needs no discount.
        let intent = self.intent.map_or(0.0, |(_, verdict)| verdict.confidence());
        confidence.max(intent)
    }
}

/// Whether a message asks for something: a question mark, or a request or complaint
/// cue. "I got my refund, thanks!" mentions a key question without asking it, and an
/// automatic answer to it would be noise.
pub fn looks_like_request(raw: &str, normalized: &str) -> bool {
    raw.contains('?')
        || normalized
            .split(' ')
            .any(|word| REQUEST_CUES.contains(&word))
}

/// Whether normalised text says its order or refund already came ("refund came
/// through today", "colis bien reçu", "j'ai été remboursé"): with no request in it,
/// a thank-you or a review, not a question.
pub fn says_settled(normalized: &str) -> bool {
    static SETTLED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    SETTLED
        .get_or_init(|| {
            regex::Regex::new(concat!(
                r"\b(?:refund|money|parcel|package|order|delivery)s? (?:has |have |finally |just )?(?:came|come|arrived|landed|turned up|showed up|went through)\b",
                r"|\b(?:got|received|had) (?:my|the) (?:refund|money|parcel|package|order|delivery)\b",
                r"|\b(?:all sorted|sorted now|all good now|delivered safely)\b",
                r"|\b(?:remboursement|colis|commande|argent|livraison|virement) (?:bien |enfin )?(?:recue?s?|arrivee?s?|passee?)\b",
                r"|\b(?:bien|enfin) (?:ete )?(?:rembourse|remboursee|recu|recue|livre|livree)\b",
                r"|\b(?:j ai|jai|on a) (?:bien |enfin )?(?:recu|ete rembourse|ete remboursee|ete livre|ete livree)\b",
            ))
            .expect("the settled pattern compiles")
        })
        .is_match(normalized)
}

/// Interrogatives, requests, and the words of a complaint that expects an answer
/// ("still not here", "toujours pas arrivée"), in normalised form.
const REQUEST_CUES: &[&str] = &[
    "how",
    "when",
    "where",
    "wheres",
    "what",
    "whats",
    "which",
    "why",
    "can",
    "could",
    "would",
    "will",
    "want",
    "need",
    "id",
    "please",
    "pls",
    "still",
    "not",
    "no",
    "never",
    "again",
    "late",
    "delayed",
    "waiting",
    "requesting",
    "request",
    "help",
    "call",
    "contact",
    "tell",
    "send",
    "comment",
    "quand",
    "ou",
    "quel",
    "quels",
    "quelle",
    "quelles",
    "pourquoi",
    "combien",
    "peux",
    "puis",
    "pouvez",
    "veux",
    "voudrais",
    "souhaite",
    "svp",
    "stp",
    "toujours",
    "pas",
    "encore",
    "retard",
    "appelez",
    "rappelez",
    "contactez",
    "dites",
    "envoyez",
    "verifiez",
    "attends",
    "attente",
    "demande",
    "aide",
    "faut",
    "hasnt",
    "havent",
    "didnt",
    "nothing",
    "yet",
    "update",
    "eta",
    "missing",
    "lost",
    "rien",
    "aucun",
    "aucune",
    "nouvelles",
    "delai",
    "delais",
    "bloque",
    "bloquee",
    "perdu",
    "svp",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    #[test]
    fn requests_and_mere_mentions_are_told_apart() {
        let check = |t: &str| looks_like_request(t, &normalize(t));
        assert!(check("how do I get a refund"));
        assert!(check("Ma commande n'est toujours pas arrivée"));
        assert!(check("refund??"));
        assert!(!check("I got my refund, thank you so much!"));
        assert!(!check("Check out my blog post about my refund saga"));
    }

    #[test]
    fn a_settled_matter_is_recognised() {
        let settled = |t: &str| says_settled(&normalize(t));
        assert!(settled("refund came through today, all sorted, thanks!"));
        assert!(settled("commande reçue ce matin, merci !"));
        assert!(settled("j'ai bien été remboursé, merci"));
        assert!(!settled("my refund never came"));
        assert!(!settled("when will my parcel arrive"));
    }
}
