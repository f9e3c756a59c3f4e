//! Whole-word phrase lexicons matched in one pass over normalised text.
//!
//! Each detector's terms carry a weight; a detector fires when the weights of the
//! distinct terms it found add up to 1. Weak terms (`court 0.7`) therefore need
//! company (`court` + `complaint`), which keeps ambiguous words from escalating alone.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::normalize::normalize;
use crate::playbook::TermOverride;

#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub text: String,
    pub weight: f64,
    /// `suicid*`: the match may end inside a word.
    pub prefix: bool,
}

/// Parses the `term [weight]` lines of a lexicon file, normalising each term.
pub fn parse_terms(source: &str) -> Vec<Term> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (phrase, weight) = match line.rsplit_once(' ') {
                Some((phrase, w)) if w.parse::<f64>().is_ok() => (phrase, w.parse().ok()?),
                _ => (line, 1.0),
            };
            parse_term(phrase, weight)
        })
        .collect()
}

fn parse_term(phrase: &str, weight: f64) -> Option<Term> {
    let prefix = phrase.ends_with('*');
    let text = normalize(phrase.trim_end_matches('*'));
    (!text.is_empty()).then_some(Term {
        text,
        weight,
        prefix,
    })
}

/// Applies a playbook's overrides: removed terms go, added ones join at full weight.
pub fn apply_override(mut terms: Vec<Term>, overrides: &TermOverride) -> Vec<Term> {
    let removed: Vec<String> = overrides
        .remove
        .iter()
        .map(|t| normalize(t.trim_end_matches('*')))
        .collect();
    terms.retain(|t| !removed.contains(&t.text));
    terms.extend(overrides.add.iter().filter_map(|t| parse_term(t, 1.0)));
    terms
}

/// One automaton for several detectors.
#[derive(Debug)]
pub struct LexiconMatcher {
    automaton: AhoCorasick,
    /// Per pattern: detector index and term.
    owners: Vec<(usize, Term)>,
    detectors: usize,
}

/// What one detector found in a text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LexiconHit {
    pub score: f64,
    /// The heaviest term found, as evidence for the moderator.
    pub strongest: Option<String>,
}

impl LexiconMatcher {
    pub fn new(detectors: Vec<Vec<Term>>) -> LexiconMatcher {
        let count = detectors.len();
        let owners: Vec<(usize, Term)> = detectors
            .into_iter()
            .enumerate()
            .flat_map(|(d, terms)| terms.into_iter().map(move |t| (d, t)))
            .collect();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(owners.iter().map(|(_, t)| t.text.as_bytes()))
            // Terms are short normalised strings; building cannot exceed any limit.
            .expect("lexicon automaton builds");
        LexiconMatcher {
            automaton,
            owners,
            detectors: count,
        }
    }

    /// Scores every detector on normalised text.
    pub fn scan(&self, normalized: &str) -> Vec<LexiconHit> {
        let mut hits = vec![LexiconHit::default(); self.detectors];
        let mut seen: Vec<usize> = Vec::new();
        let bytes = normalized.as_bytes();
        for found in self.automaton.find_overlapping_iter(normalized) {
            let pattern = found.pattern().as_usize();
            let (detector, term) = &self.owners[pattern];
            let starts_word = found.start() == 0 || bytes[found.start() - 1] == b' ';
            let ends_word = found.end() == bytes.len() || bytes[found.end()] == b' ';
            if !starts_word || !(ends_word || term.prefix) || seen.contains(&pattern) {
                continue;
            }
            seen.push(pattern);
            let hit = &mut hits[*detector];
            hit.score += term.weight;
            let stronger = hit
                .strongest
                .as_ref()
                .is_none_or(|s| self.weight_of(*detector, s) < term.weight);
            if stronger {
                hit.strongest = Some(term.text.clone());
            }
        }
        hits
    }

    fn weight_of(&self, detector: usize, text: &str) -> f64 {
        self.owners
            .iter()
            .find(|(d, t)| *d == detector && t.text == text)
            .map_or(0.0, |(_, t)| t.weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(lines: &str) -> LexiconMatcher {
        LexiconMatcher::new(vec![parse_terms(lines)])
    }

    #[test]
    fn whole_words_only_unless_prefix() {
        let m = matcher("sue\nsuicid*");
        assert_eq!(m.scan("i will sue you")[0].score, 1.0);
        assert_eq!(m.scan("a suede jacket")[0].score, 0.0);
        assert_eq!(
            m.scan("pensees suicidaires")[0].strongest.as_deref(),
            Some("suicid")
        );
    }

    #[test]
    fn weak_terms_add_up() {
        let m = matcher("court 0.7\ncomplaint 0.5\nlawyer");
        assert!(m.scan("see you in court")[0].score < 1.0);
        let both = &m.scan("a complaint then court")[0];
        assert!(both.score >= 1.0);
        assert_eq!(both.strongest.as_deref(), Some("court"));
    }

    #[test]
    fn overrides_add_and_remove_terms() {
        let terms = apply_override(
            parse_terms("avocat\nplainte"),
            &TermOverride {
                add: vec!["Conseil juridique".into()],
                remove: vec!["plainte".into()],
            },
        );
        let m = LexiconMatcher::new(vec![terms]);
        assert_eq!(m.scan("une plainte")[0].score, 0.0);
        assert_eq!(m.scan("mon conseil juridique")[0].score, 1.0);
    }
}
