//! Phrase-family patterns: regular expressions over normalised text, one file per kind
//! (`lexicons/patterns/*.txt`, `label<TAB>regex` lines). They generalise the exact-term
//! lexicons to verb × object families ("took|swallowed … all … pills"), and their label
//! is the evidence a moderator reads.
//!
//! `figurative.txt` lists benign look-alikes ("je meurs de rire", "this burger is
//! killer"): a model-only or term-only alarm on such a message is dropped.

use std::sync::OnceLock;

use super::kind;
use super::phrase_set::PhraseSet;

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
const NOT_A_KEY_QUESTION: &str = include_str!("../../lexicons/patterns/not_a_key_question.txt");

/// One kind's patterns and their labels, as read from its file.
#[derive(Debug)]
struct Family {
    labels: Vec<String>,
    regexes: Vec<String>,
    /// The file line of each pattern, for errors.
    lines: Vec<usize>,
}

impl Family {
    fn parse(kind: &'static str, source: &str) -> Result<Family, String> {
        let mut labels = Vec::new();
        let mut regexes = Vec::new();
        let mut lines = Vec::new();
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
            lines.push(n + 1);
        }
        Ok(Family {
            labels,
            regexes,
            lines,
        })
    }

    /// Compiles the family alone: an error names its kind and line.
    #[cfg(test)]
    fn compile(kind: &'static str, source: &str) -> Result<(Family, PhraseSet), String> {
        let family = Family::parse(kind, source)?;
        let set = PhraseSet::new(&family.regexes)
            .map_err(|(i, e)| format!("{kind} line {}: {e}", family.lines[i]))?;
        Ok((family, set))
    }
}

/// Every kind's patterns, the figurative look-alikes and the not-a-key-question
/// families, in one set: one literal pass per message for all three.
#[derive(Debug)]
pub struct Patterns {
    all: PhraseSet,
    /// For each kind pattern of `all` (the first `owners.len()`): its kind and label.
    owners: Vec<(&'static str, String)>,
    /// The figurative patterns follow the kinds' in `all`, then the others.
    figurative_labels: Vec<String>,
    not_a_key_question_labels: Vec<String>,
    counts: Vec<(&'static str, usize)>,
}

/// What the patterns read in one text.
#[derive(Debug, Default)]
pub struct PatternReading<'a> {
    /// (kind, label) of each kind with a matching pattern, the first pattern of each.
    pub kinds: Vec<(&'static str, &'a str)>,
    /// The label of the first figurative look-alike that matches.
    pub figurative: Option<&'a str>,
    /// The label of the first not-a-key-question family that matches.
    pub not_a_key_question: Option<&'a str>,
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
        let mut lines = Vec::new();
        for (kind, source) in FILES {
            let family = Family::parse(kind, source)?;
            counts.push((kind, family.labels.len()));
            regexes.extend(family.regexes);
            lines.extend(family.lines.into_iter().map(|line| (kind, line)));
            owners.extend(family.labels.into_iter().map(|label| (kind, label)));
        }
        let mut others = Vec::new();
        for (name, source) in [
            ("figurative", FIGURATIVE),
            ("not_a_key_question", NOT_A_KEY_QUESTION),
        ] {
            let family = Family::parse(name, source)?;
            counts.push((name, family.labels.len()));
            regexes.extend(family.regexes);
            lines.extend(family.lines.into_iter().map(|line| (name, line)));
            others.push(family.labels);
        }
        let all = PhraseSet::new(&regexes).map_err(|(i, e)| {
            let (kind, line) = lines[i];
            format!("{kind} line {line}: {e}")
        })?;
        let not_a_key_question_labels = others.pop().unwrap_or_default();
        let figurative_labels = others.pop().unwrap_or_default();
        Ok(Patterns {
            all,
            owners,
            figurative_labels,
            not_a_key_question_labels,
            counts,
        })
    }

    /// Everything the patterns read in `normalized`, in one pass.
    pub fn read(&self, normalized: &str) -> PatternReading<'_> {
        let kinds = self.owners.len();
        let figures = kinds + self.figurative_labels.len();
        let mut reading = PatternReading::default();
        for i in self.all.matches(normalized) {
            if i < kinds {
                let (kind, label) = &self.owners[i];
                if !reading.kinds.iter().any(|(k, _)| k == kind) {
                    reading.kinds.push((kind, label.as_str()));
                }
            } else if i < figures {
                reading
                    .figurative
                    .get_or_insert(self.figurative_labels[i - kinds].as_str());
            } else {
                reading
                    .not_a_key_question
                    .get_or_insert(self.not_a_key_question_labels[i - figures].as_str());
            }
        }
        reading
    }

    /// (kind, label) of each kind with a matching pattern, the first pattern of each.
    pub fn scan(&self, normalized: &str) -> Vec<(&'static str, &str)> {
        self.read(normalized).kinds
    }

    /// The label of a figurative look-alike in the text, if any.
    pub fn figurative(&self, normalized: &str) -> Option<&str> {
        self.read(normalized).figurative
    }

    /// The label of a family saying that the text's key-question words are about
    /// something other than this brand's open order or refund (an order not placed
    /// yet, another company's matter), if any.
    pub fn not_a_key_question(&self, normalized: &str) -> Option<&str> {
        self.read(normalized).not_a_key_question
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
        // Patterns compile on first use: each must compile within its limit.
        patterns.all.compile_all().unwrap();
        assert!(
            patterns.counts().iter().all(|(_, n)| *n > 0),
            "{:?}",
            patterns.counts()
        );
    }

    /// The literal-filtered set finds exactly what one `RegexSet` over every pattern
    /// finds, on one text in five of the training and held-out files (all of them
    /// take minutes in a debug build: the reference set is the slow one).
    #[test]
    fn finds_what_one_regex_set_finds_on_the_corpus() {
        let patterns = Patterns::builtin();
        let sources: Vec<&str> = (0..patterns.all.len())
            .map(|i| patterns.all.pattern(i))
            .collect();
        let reference = regex::RegexSetBuilder::new(&sources)
            .size_limit(256 << 20)
            .dfa_size_limit(256 << 20)
            .build()
            .unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("training");
        let mut checked = 0;
        for split in ["train", "heldout", "independent"] {
            for entry in std::fs::read_dir(root.join(split)).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for line in text.lines().step_by(5) {
                    let normalized = normalize(line);
                    let expected: Vec<usize> = reference.matches(&normalized).iter().collect();
                    assert_eq!(patterns.all.matches(&normalized), expected, "{line}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 2_000, "{checked} texts");
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
        // Warning signs and threats that name no act of harm.
        for text in [
            "the note is on the fridge",
            "💊💊💊 bonne nuit pour toujours",
            "la boîte est ouverte, les cachets dans ma main",
            "I've been looking up how many paracetamol it takes",
        ] {
            assert!(kinds(text).contains(&kind::SELF_HARM), "{text}");
        }
        for text in [
            "Got my dad's rifle out of the loft. Your HQ is 20 minutes from me",
            "je vais le retrouver, il peut se cacher où il veut",
            "I'm going to hunt down the exec who signed off on this",
        ] {
            assert!(kinds(text).contains(&kind::THREAT), "{text}");
        }
        for text in [
            "got the axe out to split logs for the fire",
            "j'ai écrit une lettre de réclamation",
            "the note on my order said fragile",
        ] {
            let found = kinds(text);
            assert!(
                !found.contains(&kind::THREAT) && !found.contains(&kind::SELF_HARM),
                "{text}: {found:?}"
            );
        }
        assert!(p.figurative(&normalize("je meurs de rire 😂")).is_some());
        assert!(
            p.figurative(&normalize("I took all my pills an hour ago"))
                .is_none()
        );
    }
}
