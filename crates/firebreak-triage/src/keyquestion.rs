//! Key-question matching: the playbook's regexes, plus similarity to its example
//! phrasings. A confidence below the playbook's threshold means "no match": a human
//! answers instead (the fallback idea from Rasa).

use regex::RegexSet;

use crate::features::{QueryVector, SparseVector};
use crate::playbook::KeyQuestionSpec;

/// Matchers for one mode's key questions, compiled once per playbook load.
#[derive(Debug)]
pub struct KeyQuestionMatcher {
    ids: Vec<String>,
    patterns: RegexSet,
    /// For each pattern in `patterns`: (question index, "fr[0]"-style label).
    pattern_owner: Vec<(usize, String)>,
    examples: Vec<Example>,
}

#[derive(Debug)]
struct Example {
    question: usize,
    label: String,
    vector: SparseVector,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeyQuestionMatch {
    pub id: String,
    pub confidence: f64,
    /// Which pattern or example matched, for the moderator and the decision's reasons.
    pub evidence: String,
}

/// A pattern hit alone is strong evidence; similarity to an example adds the rest.
const PATTERN_BASE: f64 = 0.75;
/// How much a competing question's score discounts the winner: a message that looks
/// like two key questions at once should go to a human.
const AMBIGUITY_WEIGHT: f64 = 0.5;

impl KeyQuestionMatcher {
    /// Errors carry the path of the offending pattern; the playbook validator reports
    /// invalid regexes first, so this only fails on a size limit.
    pub fn compile(questions: &[KeyQuestionSpec]) -> Result<KeyQuestionMatcher, (String, String)> {
        let mut sources = Vec::new();
        let mut pattern_owner = Vec::new();
        let mut examples = Vec::new();
        for (q, question) in questions.iter().enumerate() {
            for (language, patterns) in question.patterns.iter() {
                for (i, pattern) in patterns.iter().enumerate() {
                    sources.push(pattern.clone());
                    pattern_owner.push((q, format!("{language}[{i}]")));
                }
            }
            for (language, phrasings) in question.examples.iter() {
                for (i, phrasing) in phrasings.iter().enumerate() {
                    examples.push(Example {
                        question: q,
                        label: format!("{language}[{i}]"),
                        vector: SparseVector::from_text(&crate::normalize::normalize(phrasing)),
                    });
                }
            }
        }
        let patterns = RegexSet::new(&sources).map_err(|e| {
            (
                "key_questions".to_string(),
                format!("patterns do not compile together: {e}"),
            )
        })?;
        Ok(KeyQuestionMatcher {
            ids: questions.iter().map(|q| q.id.clone()).collect(),
            patterns,
            pattern_owner,
            examples,
        })
    }

    /// The best key question for normalised text, whatever its confidence; the caller
    /// applies the threshold, so it can report near misses.
    pub fn best(&self, normalized: &str) -> Option<KeyQuestionMatch> {
        if normalized.is_empty() || self.ids.is_empty() {
            return None;
        }
        let mut scores = vec![Score::default(); self.ids.len()];
        for hit in self.patterns.matches(normalized).iter() {
            let (q, label) = &self.pattern_owner[hit];
            scores[*q].pattern.get_or_insert_with(|| label.clone());
        }
        let vector = QueryVector::from_text(normalized);
        for example in &self.examples {
            let similarity = vector.cosine(&example.vector);
            let score = &mut scores[example.question];
            if similarity > score.similarity {
                score.similarity = similarity;
                score.example = Some(&example.label);
            }
        }
        let confidences: Vec<f64> = scores.iter().map(Score::confidence).collect();
        let (best, &top) = confidences
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        let runner_up = confidences
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != best)
            .map(|(_, c)| *c)
            .fold(0.0_f64, f64::max);
        let confidence = (top - AMBIGUITY_WEIGHT * runner_up.min(top) * runner_up).clamp(0.0, 1.0);
        let score = &scores[best];
        let evidence = match (&score.pattern, score.example) {
            (Some(pattern), _) => format!("pattern {pattern}, similarity {:.2}", score.similarity),
            (None, Some(example)) => {
                format!("similar to example {example} ({:.2})", score.similarity)
            }
            (None, None) => "no evidence".to_string(),
        };
        Some(KeyQuestionMatch {
            id: self.ids[best].clone(),
            confidence,
            evidence,
        })
    }
}

#[derive(Clone, Default)]
struct Score<'a> {
    pattern: Option<String>,
    similarity: f64,
    example: Option<&'a String>,
}

impl Score<'_> {
    fn confidence(&self) -> f64 {
        if self.pattern.is_some() {
            PATTERN_BASE + (1.0 - PATTERN_BASE) * self.similarity
        } else {
            // Character-trigram cosine rarely exceeds 0.8 for true paraphrases, so
            // stretch it a little; unrelated text sits near 0.2.
            (self.similarity * 1.1).min(1.0)
        }
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
}
