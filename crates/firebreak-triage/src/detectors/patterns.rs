//! Phrase-family patterns: regular expressions over normalised text, one file per kind
//! (`lexicons/patterns/*.txt`, `label<TAB>regex` lines). They generalise the exact-term
//! lexicons to verb × object families ("took|swallowed … all … pills"), and their label
//! is the evidence a moderator reads.
//!
//! `figurative.txt` lists benign look-alikes ("je meurs de rire", "this burger is
//! killer"): a model-only or term-only alarm on such a message is dropped.

use std::sync::OnceLock;

use regex::{RegexSet, RegexSetBuilder};

use super::kind;

const FILES: [(&str, &str); 7] = [
    (
        kind::SELF_HARM,
        include_str!("../../lexicons/patterns/self_harm.txt"),
    ),
    (
        kind::THREAT,
        include_str!("../../lexicons/patterns/threat.txt"),
    ),
    (kind::HATE, include_str!("../../lexicons/patterns/hate.txt")),
    (
        kind::HEALTH_INCIDENT,
        include_str!("../../lexicons/patterns/health_incident.txt"),
    ),
    (
        kind::LEGAL,
        include_str!("../../lexicons/patterns/legal.txt"),
    ),
    (
        kind::PRESS,
        include_str!("../../lexicons/patterns/press.txt"),
    ),
    (
        kind::HUMAN_REQUEST,
        include_str!("../../lexicons/patterns/human_request.txt"),
    ),
];
const FIGURATIVE: &str = include_str!("../../lexicons/patterns/figurative.txt");

/// One kind's compiled patterns and their labels.
#[derive(Debug)]
struct Family {
    set: RegexSet,
    labels: Vec<String>,
}

impl Family {
    fn compile(kind: &'static str, source: &str) -> Result<Family, String> {
        let mut labels = Vec::new();
        let mut regexes = Vec::new();
        for (n, line) in source.lines().enumerate() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (label, regex) = line
                .split_once('\t')
                .ok_or_else(|| format!("{kind} line {}: expected label<TAB>regex", n + 1))?;
            labels.push(label.trim().to_string());
            regexes.push(regex.trim().to_string());
        }
        let set = RegexSetBuilder::new(&regexes)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .map_err(|e| format!("{kind}: {e}"))?;
        Ok(Family { set, labels })
    }

    /// The label of the first pattern that matches.
    fn first_match(&self, normalized: &str) -> Option<&str> {
        self.set
            .matches(normalized)
            .iter()
            .next()
            .map(|i| self.labels[i].as_str())
    }
}

/// Every kind's patterns in one set (one pass over the text), and the figurative
/// look-alikes.
#[derive(Debug)]
pub struct Patterns {
    all: RegexSet,
    /// For each pattern of `all`: its kind and label.
    owners: Vec<(&'static str, String)>,
    figurative: Family,
    counts: Vec<(&'static str, usize)>,
}

impl Patterns {
    /// The committed pattern files, compiled once per process.
    pub fn builtin() -> &'static Patterns {
        static PATTERNS: OnceLock<Patterns> = OnceLock::new();
        PATTERNS.get_or_init(|| Patterns::compile().expect("the committed pattern files compile"))
    }

    pub fn compile() -> Result<Patterns, String> {
        let mut regexes = Vec::new();
        let mut owners = Vec::new();
        let mut counts = Vec::new();
        for (kind, source) in FILES {
            // Compiling each file alone first reports errors with the kind and line.
            let family = Family::compile(kind, source)?;
            counts.push((kind, family.labels.len()));
            regexes.extend(family.set.patterns().iter().cloned());
            owners.extend(family.labels.into_iter().map(|label| (kind, label)));
        }
        let all = RegexSetBuilder::new(&regexes)
            .size_limit(256 << 20)
            .dfa_size_limit(256 << 20)
            .build()
            .map_err(|e| format!("patterns: {e}"))?;
        let figurative = Family::compile("figurative", FIGURATIVE)?;
        counts.push(("figurative", figurative.labels.len()));
        Ok(Patterns {
            all,
            owners,
            figurative,
            counts,
        })
    }

    /// (kind, label) of each kind with a matching pattern, the first pattern of each.
    pub fn scan(&self, normalized: &str) -> Vec<(&'static str, &str)> {
        let mut found: Vec<(&'static str, &str)> = Vec::new();
        for i in self.all.matches(normalized).iter() {
            let (kind, label) = &self.owners[i];
            if !found.iter().any(|(k, _)| k == kind) {
                found.push((kind, label.as_str()));
            }
        }
        found
    }

    /// The label of a figurative look-alike in the text, if any.
    pub fn figurative(&self, normalized: &str) -> Option<&str> {
        self.figurative.first_match(normalized)
    }

    /// Number of patterns per kind, for reports.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        self.counts.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    #[test]
    fn committed_patterns_compile() {
        let patterns = Patterns::compile().unwrap();
        assert!(
            patterns.counts().iter().all(|(_, n)| *n > 0),
            "{:?}",
            patterns.counts()
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_their_line() {
        let error = Family::compile("threat", "# c\nno tab here\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(Family::compile("threat", "bad\t(unclosed\n").is_err());
    }

    #[test]
    fn families_catch_phrasings_and_figures_of_speech_are_recognised() {
        let p = Patterns::builtin();
        let kinds = |t: &str| {
            p.scan(&normalize(t))
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert!(kinds("j'ai avalé toutes mes pilules").contains(&kind::SELF_HARM));
        assert!(kinds("je vais mettre le feu à votre agence").contains(&kind::THREAT));
        assert!(
            kinds("my child got sick after eating your product").contains(&kind::HEALTH_INCIDENT)
        );
        assert!(p.figurative(&normalize("je meurs de rire 😂")).is_some());
        assert!(
            p.figurative(&normalize("I took all my pills an hour ago"))
                .is_none()
        );
    }
}
