//! Many regular expressions matched against one text: a literal pass picks the few
//! that can match, and only those run.
//!
//! One `RegexSet` over every phrase family (about 1,100 patterns, most with bounded
//! word gaps such as `(?:[a-z0-9]+ ){0,3}`) has to track every pattern at once: its
//! lazy DFA keeps adding states on a varied stream of texts, and a classify process
//! grew past 400 MB on a surge. Here each pattern is compiled alone (a small
//! automaton), and the literals that every match of it must start (or end) with are
//! found once with an Aho-Corasick automaton over all of them. A pattern with no such
//! literal runs on every text; there are few.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

/// Each pattern's own compile limits: one pattern is a small automaton.
const PATTERN_SIZE_LIMIT: usize = 4 << 20;
const PATTERN_DFA_LIMIT: usize = 0;

/// Literals shorter than this filter too little to be worth it (a pattern whose
/// literals are all shorter runs on every text).
const MIN_LITERAL: usize = 2;

#[derive(Debug)]
pub struct PhraseSet {
    patterns: Vec<Regex>,
    /// Over every distinct required literal.
    literals: AhoCorasick,
    /// For each literal of `literals`: the patterns that need it.
    needed_by: Vec<Vec<u32>>,
    /// Patterns with no required literal: tried on every text.
    unfiltered: Vec<u32>,
}

/// The literals every match of `source` starts with or ends with, whichever filters
/// better, or `None` when it has none worth filtering on.
fn required_literals(source: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(source)
        .map_err(|e| e.to_string())?;
    let mut best: Option<Vec<Vec<u8>>> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let mut extractor = Extractor::new();
        extractor.kind(kind.clone());
        let mut seq: Seq = extractor.extract(&hir);
        match kind {
            ExtractKind::Prefix => seq.optimize_for_prefix_by_preference(),
            _ => seq.optimize_for_suffix_by_preference(),
        }
        let Some(literals) = seq.literals() else {
            continue;
        };
        let shortest = literals.iter().map(|l| l.len()).min().unwrap_or(0);
        if literals.is_empty() || shortest < MIN_LITERAL {
            continue;
        }
        let candidate: Vec<Vec<u8>> = literals.iter().map(|l| l.as_bytes().to_vec()).collect();
        let better = match &best {
            None => true,
            Some(current) => {
                let current_shortest = current.iter().map(Vec::len).min().unwrap_or(0);
                shortest > current_shortest
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    Ok(best)
}

impl PhraseSet {
    /// Compiles `sources`; an error gives the index of the first pattern that does not
    /// compile, and why.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<Self, (usize, String)> {
        let mut patterns = Vec::with_capacity(sources.len());
        let mut literal_index: std::collections::HashMap<Vec<u8>, usize> = Default::default();
        let mut literal_list: Vec<Vec<u8>> = Vec::new();
        let mut needed_by: Vec<Vec<u32>> = Vec::new();
        let mut unfiltered = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let source = source.as_ref();
            let regex = RegexBuilder::new(source)
                .size_limit(PATTERN_SIZE_LIMIT)
                .dfa_size_limit(PATTERN_DFA_LIMIT)
                .build()
                .map_err(|e| (i, e.to_string()))?;
            patterns.push(regex);
            let id = i as u32;
            match required_literals(source).map_err(|e| (i, e))? {
                None => unfiltered.push(id),
                Some(literals) => {
                    for literal in literals {
                        let slot = *literal_index.entry(literal.clone()).or_insert_with(|| {
                            literal_list.push(literal);
                            needed_by.push(Vec::new());
                            literal_list.len() - 1
                        });
                        if needed_by[slot].last() != Some(&id) {
                            needed_by[slot].push(id);
                        }
                    }
                }
            }
        }
        let literals = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&literal_list)
            .map_err(|e| (0, format!("phrase literals: {e}")))?;
        Ok(PhraseSet {
            patterns,
            literals,
            needed_by,
            unfiltered,
        })
    }

    /// Indices of the patterns that match `text`, in ascending order.
    pub fn matches(&self, text: &str) -> Vec<usize> {
        let mut candidate = vec![0u64; self.patterns.len().div_ceil(64)];
        let mut mark = |id: u32| candidate[id as usize / 64] |= 1 << (id % 64);
        for id in &self.unfiltered {
            mark(*id);
        }
        for found in self.literals.find_overlapping_iter(text) {
            for id in &self.needed_by[found.pattern().as_usize()] {
                mark(*id);
            }
        }
        let mut matched = Vec::new();
        for (word, bits) in candidate.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let id = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.patterns[id].is_match(text) {
                    matched.push(id);
                }
            }
        }
        matched
    }

    /// The first pattern (lowest index) that matches `text`.
    pub fn first_match(&self, text: &str) -> Option<usize> {
        // Few texts match anything, so finding them all costs about the same.
        self.matches(text).into_iter().next()
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Patterns tried on every text, for reports and tests.
    pub fn unfiltered(&self) -> usize {
        self.unfiltered.len()
    }

    /// The source of pattern `i`.
    pub fn pattern(&self, i: usize) -> &str {
        self.patterns[i].as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SOURCES: [&str; 6] = [
        r"\b(?:took|swallowed) (?:[a-z0-9]+ ){0,3}pills\b",
        r"\bburn (?:your|ur) (?:shop|store)\b",
        r"(?:[a-z]+ ){0,2}end it all\b",
        r"\b[a-z]+ to death\b",
        r"\bkill\b",
        r"^$",
    ];

    #[test]
    fn finds_what_a_regex_set_finds() {
        let set = PhraseSet::new(&SOURCES).unwrap();
        let reference = regex::RegexSet::new(SOURCES).unwrap();
        for text in [
            "i took all my pills",
            "i swallowed them pills",
            "i will burn your shop",
            "thinking about how to end it all",
            "scared to death",
            "skill issue",
            "kill",
            "",
            "nothing here",
        ] {
            let expected: Vec<usize> = reference.matches(text).iter().collect();
            assert_eq!(set.matches(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_pattern_without_a_literal_runs_on_every_text() {
        let set = PhraseSet::new(&[r"\w+ \w+", r"\bpills\b"]).unwrap();
        assert_eq!(set.unfiltered(), 1);
        assert_eq!(set.matches("abc def"), vec![0]);
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let (index, _) = PhraseSet::new(&["ok", "(unclosed"]).unwrap_err();
        assert_eq!(index, 1);
    }

    proptest! {
        #[test]
        fn agrees_with_a_regex_set_on_any_text(text in "[a-z ]{0,40}|(i took|swallowed|burn your|end it all|to death|kill| )*") {
            let set = PhraseSet::new(&SOURCES).unwrap();
            let reference = regex::RegexSet::new(SOURCES).unwrap();
            let expected: Vec<usize> = reference.matches(&text).iter().collect();
            prop_assert_eq!(set.matches(&text), expected);
        }
    }
}
