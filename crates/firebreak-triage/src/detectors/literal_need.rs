//! What literals a regular expression's matches cannot do without, as a small and/or
//! tree: `\b(?:took|swallowed) (?:[a-z0-9]+ ){0,3}pills\b` needs one of `took`,
//! `swallowed` *and* `pills`. [`super::phrase_set::PhraseSet`] finds every literal of
//! every pattern in one pass and runs only the patterns whose need is met.
//!
//! A pattern's first or last literals alone filter poorly on phrase families: most
//! start with a pronoun or a verb that half the messages contain, so about 200 of
//! 1,100 patterns ran on a typical 280-character message. Their conjunction with the
//! object words brings that down to a few.
//!
//! The tree is a necessary condition, never a sufficient one: a leaf stands for "one
//! of these literals occurs somewhere in the text", and a sub-expression that may
//! match the empty string, or whose literals are too short to filter, needs nothing.

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind};

/// Literals shorter than this filter too little to be worth a leaf.
pub(crate) const MIN_LITERAL: usize = 3;

/// How deep into a pattern's structure its need looks: its top-level branches, their
/// parts, and the alternatives within those (deeper adds leaves more than it filters).
const DEPTH: usize = 3;

/// A necessary condition on the literals a text contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Nothing known: every text may match.
    Nothing,
    /// One of the leaf's literals occurs (leaves are numbered by the caller).
    Leaf(Vec<Vec<u8>>),
    All(Vec<Need>),
    OneOf(Vec<Need>),
}

impl Need {
    /// The need of `hir`'s every match, looking `depth` levels into its structure.
    pub(crate) fn of(hir: &Hir, depth: usize) -> Need {
        let inner = |sub: &Hir| Need::of(sub, depth - 1);
        let structural = match hir.kind() {
            _ if depth == 0 => Need::Nothing,
            HirKind::Capture(capture) => Need::of(&capture.sub, depth),
            HirKind::Repetition(repetition) if repetition.min >= 1 => {
                Need::of(&repetition.sub, depth)
            }
            HirKind::Concat(parts) => Need::all(
                parts
                    .iter()
                    .filter(|part| part.properties().minimum_len().is_some_and(|n| n > 0))
                    .map(inner)
                    .collect(),
            ),
            HirKind::Alternation(branches) => Need::one_of(branches.iter().map(inner).collect()),
            _ => Need::Nothing,
        };
        // A literal set of the whole sub-expression is the simplest leaf; the
        // structure may still add what comes after it ("took … pills").
        match literals(hir, ExtractKind::Prefix) {
            Some(prefix) => Need::all(vec![Need::Leaf(prefix), structural]),
            None => structural,
        }
    }

    /// The need of `hir`, with the whole pattern's last literals added: the
    /// extractor reads suffixes through gaps the structure cannot.
    pub(crate) fn of_pattern(hir: &Hir) -> Need {
        let need = Need::of(hir, DEPTH);
        match literals(hir, ExtractKind::Suffix) {
            Some(suffix) => Need::all(vec![need, Need::Leaf(suffix)]),
            None => need,
        }
    }

    fn all(parts: Vec<Need>) -> Need {
        let mut kept: Vec<Need> = Vec::new();
        for part in parts {
            let flattened = match part {
                Need::Nothing => vec![],
                Need::All(inner) => inner,
                other => vec![other],
            };
            for part in flattened {
                if !kept.contains(&part) {
                    kept.push(part);
                }
            }
        }
        match kept.len() {
            0 => Need::Nothing,
            1 => kept.pop().expect("one part"),
            _ => Need::All(kept),
        }
    }

    fn one_of(branches: Vec<Need>) -> Need {
        if branches.contains(&Need::Nothing) || branches.is_empty() {
            return Need::Nothing;
        }
        let mut kept: Vec<Need> = Vec::new();
        for branch in branches {
            match branch {
                Need::OneOf(inner) => kept.extend(inner),
                other => kept.push(other),
            }
        }
        if kept.len() == 1 {
            kept.pop().expect("one branch")
        } else {
            Need::OneOf(kept)
        }
    }

    /// How rare the literals that trigger this need are likely to be: the length of
    /// its shortest trigger literal (a long word is a rarer word).
    fn rarity(&self) -> usize {
        match self {
            Need::Nothing => 0,
            Need::Leaf(literals) => literals.iter().map(Vec::len).min().unwrap_or(0),
            Need::All(parts) => parts.iter().map(Need::rarity).max().unwrap_or(0),
            Need::OneOf(parts) => parts.iter().map(Need::rarity).min().unwrap_or(0),
        }
    }

    /// Whether `self` is the part of an `All` whose leaves trigger it.
    fn is_trigger_of(&self, parts: &[Need]) -> bool {
        let best = parts.iter().max_by_key(|p| p.rarity());
        best.is_some_and(|b| std::ptr::eq(b, self))
    }
}

/// The literals every match of `hir` starts (or ends) with, if they are few and long
/// enough to filter on.
fn literals(hir: &Hir, kind: ExtractKind) -> Option<Vec<Vec<u8>>> {
    let mut extractor = Extractor::new();
    extractor.kind(kind.clone());
    let mut seq: Seq = extractor.extract(hir);
    match kind {
        ExtractKind::Prefix => seq.optimize_for_prefix_by_preference(),
        _ => seq.optimize_for_suffix_by_preference(),
    }
    let literals = seq.literals()?;
    let useful = !literals.is_empty() && literals.iter().all(|l| l.len() >= MIN_LITERAL);
    useful.then(|| literals.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// A [`Need`] with its leaves numbered, evaluated against the leaves a text hit.
#[derive(Debug)]
pub(crate) enum Compiled {
    Leaf(u32),
    All(Vec<Compiled>),
    OneOf(Vec<Compiled>),
}

impl Compiled {
    /// Numbers `need`'s leaves with `number` (called once per leaf, depth first, with
    /// whether it is a trigger); `None` for a need of nothing.
    ///
    /// Only trigger leaves wake a pattern up: a need met has at least one trigger
    /// leaf hit (an `All`'s triggers are those of its rarest part, a `OneOf`'s those
    /// of every branch), so a text full of common words ("you", "les") wakes only the
    /// patterns whose rare word is in it too.
    pub(crate) fn new(
        need: &Need,
        number: &mut impl FnMut(&[Vec<u8>], bool) -> u32,
    ) -> Option<Self> {
        Compiled::numbered(need, true, number)
    }

    fn numbered(
        need: &Need,
        trigger: bool,
        number: &mut impl FnMut(&[Vec<u8>], bool) -> u32,
    ) -> Option<Self> {
        match need {
            Need::Nothing => None,
            Need::Leaf(literals) => Some(Compiled::Leaf(number(literals, trigger))),
            Need::All(parts) => Some(Compiled::All(
                parts
                    .iter()
                    .filter_map(|p| {
                        Compiled::numbered(p, trigger && p.is_trigger_of(parts), number)
                    })
                    .collect(),
            )),
            Need::OneOf(parts) => Some(Compiled::OneOf(
                parts
                    .iter()
                    .filter_map(|p| Compiled::numbered(p, trigger, number))
                    .collect(),
            )),
        }
    }

    /// Whether the need is met, `hit` being the bit set of leaves found in the text.
    pub(crate) fn met(&self, hit: &[u64]) -> bool {
        match self {
            Compiled::Leaf(id) => hit[*id as usize / 64] & (1 << (id % 64)) != 0,
            Compiled::All(parts) => parts.iter().all(|p| p.met(hit)),
            Compiled::OneOf(parts) => parts.iter().any(|p| p.met(hit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(source: &str) -> Need {
        Need::of_pattern(&regex_syntax::Parser::new().parse(source).unwrap())
    }

    /// Whether `text` meets `need`, leaves tested by substring search.
    fn met(need: &Need, text: &str) -> bool {
        let leaf_hit = |literals: &[Vec<u8>]| {
            literals
                .iter()
                .any(|l| text.contains(std::str::from_utf8(l).unwrap()))
        };
        match need {
            Need::Nothing => true,
            Need::Leaf(literals) => leaf_hit(literals),
            Need::All(parts) => parts.iter().all(|p| met(p, text)),
            Need::OneOf(parts) => parts.iter().any(|p| met(p, text)),
        }
    }

    #[test]
    fn a_verb_and_its_object_are_both_needed() {
        let found = need(r"\b(?:took|swallowed) (?:[a-z0-9]+ ){0,3}pills\b");
        assert!(met(&found, "i took all my pills"));
        assert!(!met(&found, "i took the bus"), "{found:?}");
        assert!(!met(&found, "where are my pills"), "{found:?}");
    }

    #[test]
    fn branches_are_alternatives_and_optional_parts_need_nothing() {
        let found = need(r"\bkill (?:you|them)\b|\bburn (?:it|this) down\b");
        assert!(met(&found, "i will kill you") && met(&found, "gonna burn it down"));
        assert!(!met(&found, "kill the lights and calm down"), "{found:?}");
        assert_eq!(need(r"(?:abc)?"), Need::Nothing);
        assert_eq!(need(r"\w+ \w+"), Need::Nothing);
    }

    #[test]
    fn every_leaf_of_a_met_need_wakes_its_pattern_through_a_trigger() {
        let found = need(r"\b(?:took|swallowed) (?:[a-z0-9]+ ){0,3}pills\b|\bend it all\b");
        let mut triggers = Vec::new();
        Compiled::new(&found, &mut |literals: &[Vec<u8>], trigger: bool| {
            if trigger {
                triggers.push(literals.to_vec());
            }
            0
        });
        let hit = |text: &str| {
            triggers.iter().any(|literals| {
                literals
                    .iter()
                    .any(|l| text.contains(std::str::from_utf8(l).unwrap()))
            })
        };
        for text in ["i took all my pills", "i just want to end it all"] {
            assert!(met(&found, text) && hit(text), "{text}");
        }
        // The common verb alone wakes nothing.
        assert!(!hit("i took the bus"), "{triggers:?}");
    }
}
