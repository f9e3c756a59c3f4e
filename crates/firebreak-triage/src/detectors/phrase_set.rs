//! Many regular expressions matched against one text: a literal pass picks the few
//! that can match, and only those run.
//!
//! One `RegexSet` over every phrase family (about 1,100 patterns, most with bounded
//! word gaps such as `(?:[a-z0-9]+ ){0,3}`) has to track every pattern at once: its
//! lazy DFA keeps adding states on a varied stream of texts, and a classify process
//! grew past 400 MB on a surge. Here each pattern is compiled alone (a small
//! automaton), compiled the first time it may match, and run only on a text that holds
//! the literals its matches need ([`super::literal_need`]): a verb *and* its object,
//! not merely the pronoun most of them start with. One Aho-Corasick pass finds every
//! such literal of every pattern. A pattern with no literal to filter on runs on every
//! text; there are few.
//!
//! On the four 280-character messages of the triage bench, about 200 of the 1,126
//! patterns ran on each when only a pattern's first or last literals filtered, against
//! 4 to 19 now; that halved the fast path's time (`examples/timing`).
//!
//! Memory stays bounded: each pattern's lazy DFA has a small cache that is cleared
//! when full, no one-pass DFA, no capture groups, and a pattern whose words never
//! appear in the stream costs only its source. The literal pass is a contiguous NFA:
//! a DFA over the ~22,000 literals ran no faster in an interleaved comparison and took
//! 40 MB more (start-up RSS 96 → 56 MB).

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;

use super::literal_need::{Compiled, Need};

/// A pattern's own compile limit: one pattern is a small automaton.
const PATTERN_SIZE_LIMIT: usize = 4 << 20;

/// Each pattern's lazy DFA cache (per thread that runs it). Small on purpose: one
/// pattern over a few hundred bytes needs few states, and a full cache is cleared, not
/// grown, so memory stays bounded however varied the stream.
const LAZY_DFA_CACHE: usize = 16 << 10;

#[derive(Debug)]
pub struct PhraseSet {
    sources: Vec<String>,
    /// Each pattern, compiled on first use.
    patterns: Vec<OnceLock<Regex>>,
    /// Over every distinct literal of every pattern's need.
    literals: AhoCorasick,
    /// For each literal of `literals`: the need leaves it satisfies.
    leaves_of: Vec<Vec<u32>>,
    /// For each leaf: the pattern whose need it belongs to, if it is one of the
    /// leaves that wake that pattern up (see [`Compiled::new`]).
    owner: Vec<Option<u32>>,
    /// Each pattern's need; `None` for the few with no literal to filter on, tried on
    /// every text.
    needs: Vec<Option<Compiled>>,
    unfiltered: Vec<u32>,
}

fn compile(source: &str) -> Result<Regex, String> {
    let config = Regex::config()
        .hybrid_cache_capacity(LAZY_DFA_CACHE)
        .dfa(false)
        .onepass(false)
        .which_captures(WhichCaptures::None)
        .nfa_size_limit(Some(PATTERN_SIZE_LIMIT));
    // Texts are normalised to ASCII: ASCII classes and word boundaries make a smaller
    // automaton, and one the lazy DFA runs without falling back.
    let syntax = syntax::Config::new().unicode(false).utf8(false);
    Regex::builder()
        .configure(config)
        .syntax(syntax)
        .build(source)
        .map_err(|e| e.to_string())
}

/// What every match of `source` needs. Parsing it is also what tells a malformed
/// pattern at construction.
fn need(source: &str) -> Result<Need, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(source)
        .map_err(|e| e.to_string())?;
    Ok(Need::of_pattern(&hir))
}

impl PhraseSet {
    /// Compiles `sources`; an error gives the index of the first pattern that does not
    /// compile, and why.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<Self, (usize, String)> {
        let mut owned = Vec::with_capacity(sources.len());
        let mut literal_index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut literal_list: Vec<Vec<u8>> = Vec::new();
        let mut leaves_of: Vec<Vec<u32>> = Vec::new();
        let mut owner = Vec::new();
        let mut needs = Vec::with_capacity(sources.len());
        let mut unfiltered = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let source = source.as_ref();
            owned.push(source.to_string());
            let need = need(source).map_err(|e| (i, e))?;
            let mut number = |literals: &[Vec<u8>], trigger: bool| {
                let leaf = owner.len() as u32;
                owner.push(trigger.then_some(i as u32));
                for literal in literals {
                    let slot = *literal_index.entry(literal.clone()).or_insert_with(|| {
                        literal_list.push(literal.clone());
                        leaves_of.push(Vec::new());
                        literal_list.len() - 1
                    });
                    if leaves_of[slot].last() != Some(&leaf) {
                        leaves_of[slot].push(leaf);
                    }
                }
                leaf
            };
            let compiled = Compiled::new(&need, &mut number);
            if compiled.is_none() {
                unfiltered.push(i as u32);
            }
            needs.push(compiled);
        }
        let literals = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&literal_list)
            .map_err(|e| (0, format!("phrase literals: {e}")))?;
        Ok(PhraseSet {
            patterns: (0..owned.len()).map(|_| OnceLock::new()).collect(),
            sources: owned,
            literals,
            leaves_of,
            owner,
            needs,
            unfiltered,
        })
    }

    /// The patterns that may match `text`, as a bit set: those with no need, and
    /// those whose need the literals found in it meet.
    fn candidates(&self, text: &str) -> Vec<u64> {
        let mut hit = vec![0u64; self.owner.len().div_ceil(64)];
        let mut touched = vec![0u64; self.patterns.len().div_ceil(64)];
        let set = |bits: &mut [u64], id: u32| bits[id as usize / 64] |= 1 << (id % 64);
        for found in self.literals.find_overlapping_iter(text) {
            for leaf in &self.leaves_of[found.pattern().as_usize()] {
                set(&mut hit, *leaf);
                if let Some(owner) = self.owner[*leaf as usize] {
                    set(&mut touched, owner);
                }
            }
        }
        let mut candidate = vec![0u64; touched.len()];
        for id in &self.unfiltered {
            set(&mut candidate, *id);
        }
        for_each_bit(&touched, |id| {
            if self.needs[id].as_ref().is_some_and(|need| need.met(&hit)) {
                set(&mut candidate, id as u32);
            }
            true
        });
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
