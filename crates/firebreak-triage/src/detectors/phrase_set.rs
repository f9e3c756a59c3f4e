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
//!
//! Memory is what this is for, so each pattern is as lean as a match test allows: no
//! lazy DFA (its cache is what grows; a text is a few hundred bytes, which the
//! bounded backtracker handles), no one-pass DFA, no capture groups, and it is compiled
//! the first time one of its literals turns up: a pattern whose words never appear in
//! the stream costs only its source. Each compiled pattern is about 24 KB; all of
//! them, with their caches, about 40 MB (against 60 MB with the default engines and
//! over 250 MB for one set on a varied stream).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

/// A pattern's own compile limit: one pattern is a small automaton.
const PATTERN_SIZE_LIMIT: usize = 4 << 20;

/// Literals shorter than this filter too little to be worth it (a pattern whose
/// literals are all shorter runs on every text).
const MIN_LITERAL: usize = 2;

#[derive(Debug)]
pub struct PhraseSet {
    sources: Vec<String>,
    /// Each pattern, compiled on first use.
    patterns: Vec<OnceLock<Regex>>,
    /// Over every distinct required literal.
    literals: AhoCorasick,
    /// For each literal of `literals`: the patterns that need it.
    needed_by: Vec<Vec<u32>>,
    /// Patterns with no required literal: tried on every text.
    unfiltered: Vec<u32>,
}

fn compile(source: &str) -> Result<Regex, String> {
    let config = Regex::config()
        .hybrid(false)
        .dfa(false)
        .onepass(false)
        .which_captures(WhichCaptures::None)
        .nfa_size_limit(Some(PATTERN_SIZE_LIMIT));
    Regex::builder()
        .configure(config)
        .build(source)
        .map_err(|e| e.to_string())
}

/// The literals every match of `source` starts with or ends with, whichever filters
/// better, or `None` when it has none worth filtering on. Parsing it is also what
/// tells a malformed pattern at construction.
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
        let mut owned = Vec::with_capacity(sources.len());
        let mut literal_index: std::collections::HashMap<Vec<u8>, usize> = Default::default();
        let mut literal_list: Vec<Vec<u8>> = Vec::new();
        let mut needed_by: Vec<Vec<u32>> = Vec::new();
        let mut unfiltered = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let source = source.as_ref();
            owned.push(source.to_string());
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
            patterns: (0..owned.len()).map(|_| OnceLock::new()).collect(),
            sources: owned,
            literals,
            needed_by,
            unfiltered,
        })
    }

    /// The patterns that may match `text`, as a bit set: those with no required
    /// literal, and those one of whose literals occurs in it.
    fn candidates(&self, text: &str) -> Vec<u64> {
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
        candidate
    }

    /// Indices of the patterns that match `text`, in ascending order.
    pub fn matches(&self, text: &str) -> Vec<usize> {
        let mut matched = Vec::new();
        for_each_bit(&self.candidates(text), |id| {
            if self.regex(id).is_match(text) {
                matched.push(id);
            }
            true
        });
        matched
    }

    /// Whether any pattern matches `text` (stops at the first).
    pub fn is_match(&self, text: &str) -> bool {
        let mut found = false;
        for_each_bit(&self.candidates(text), |id| {
            found = self.regex(id).is_match(text);
            !found
        });
        found
    }

    /// Pattern `i`, compiled now if it was not yet. Its syntax was checked at
    /// construction; [`PhraseSet::compile_all`] checks the rest (the size limit) for
    /// the committed files in their tests.
    fn regex(&self, i: usize) -> &Regex {
        self.patterns[i].get_or_init(|| {
            compile(&self.sources[i]).unwrap_or_else(|e| panic!("phrase pattern {i}: {e}"))
        })
    }

    /// Compiles every pattern now; the index and error of the first that fails.
    pub fn compile_all(&self) -> Result<(), (usize, String)> {
        for (i, (source, slot)) in self.sources.iter().zip(&self.patterns).enumerate() {
            if slot.get().is_none() {
                let regex = compile(source).map_err(|e| (i, e))?;
                let _ = slot.set(regex);
            }
        }
        Ok(())
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
        &self.sources[i]
    }
}

/// Calls `f` with each set bit's index, lowest first, while it returns true.
fn for_each_bit(words: &[u64], mut f: impl FnMut(usize) -> bool) {
    for (word, bits) in words.iter().enumerate() {
        let mut bits = *bits;
        while bits != 0 {
            let id = word * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if !f(id) {
                return;
            }
        }
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
            assert_eq!(set.is_match(text), reference.is_match(text), "{text:?}");
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
        let set = PhraseSet::new(&["ok", r"(?:\w{1,200}){1,200}"]).unwrap();
        let (index, _) = set.compile_all().unwrap_err();
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
