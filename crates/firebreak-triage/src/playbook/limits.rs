//! What a playbook may cost to load and to run. A playbook comes from the crisis team,
//! over HTTP, so its size, its YAML aliases, its lists, its regexes and its templates are
//! all bounded here, and every bound is checked before the expensive step it protects:
//!
//! - the source, before parsing: at most [`MAX_SOURCE_BYTES`], and, with every YAML alias
//!   expanded, at most [`MAX_EXPANDED_BYTES`] (a pre-scan of the event stream, which does
//!   not expand anything, so a "billion laughs" document costs only its own size);
//! - the parsed lists, before any regex is compiled or example embedded ([`check_spec`]);
//! - the regexes, compiled once per mode as one set under [`MAX_REGEX_SET_BYTES`]
//!   ([`pattern_set`]), after a parse-only syntax check per pattern;
//! - the templates: at most [`MAX_TEMPLATE_BYTES`] of source, no string-growing
//!   operators, a minimal set of filters, [`TEMPLATE_FUEL`] instructions and
//!   [`MAX_RENDERED_BYTES`] of output per render ([`super::template`]).

use std::collections::HashMap;

use regex::{RegexSet, RegexSetBuilder};
use yaml_rust2::parser::{Event, Parser};

use super::PlaybookError;
use super::schema::*;
use super::validate::{Check, fail};

/// The largest playbook source, as large as an HTTP body may be.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// The largest document once every alias is expanded. Anchors and aliases stay usable
/// (the built-in playbook shares a key question between modes), but a document cannot
/// grow past this by repeating them.
pub const MAX_EXPANDED_BYTES: usize = 512 * 1024;
/// What one node (a scalar, a list or a mapping) counts for besides its text, so that a
/// flood of empty nodes is bounded too.
const NODE_BYTES: usize = 16;

/// Key questions in one mode.
pub const MAX_KEY_QUESTIONS: usize = 64;
/// Patterns of one key question in one language, and in a whole mode.
pub const MAX_PATTERNS_PER_LANGUAGE: usize = 32;
pub const MAX_PATTERNS: usize = 256;
pub const MAX_PATTERN_BYTES: usize = 512;
/// Examples of one key question in one language, and in a whole mode: each one is
/// embedded by the encoder at load.
pub const MAX_EXAMPLES_PER_LANGUAGE: usize = 64;
pub const MAX_EXAMPLES: usize = 512;
pub const MAX_EXAMPLE_CHARS: usize = 500;
/// Reply variants of one reply set in one language.
pub const MAX_VARIANTS: usize = 16;
/// A reply template's source.
pub const MAX_TEMPLATE_BYTES: usize = 2 * 1024;
/// Lexicon terms added or removed per detector, and one term's length.
pub const MAX_LEXICON_TERMS: usize = 2_000;
pub const MAX_TERM_CHARS: usize = 100;
/// Notify targets per SLA priority.
pub const MAX_TIERS: usize = 16;
/// Short free-text fields (`name`, `brand`, links, tiers) and the description.
pub const MAX_SHORT_CHARS: usize = 512;
pub const MAX_DESCRIPTION_CHARS: usize = 4_096;

/// Heap of one mode's compiled pattern set (the regex crate's `size_limit`), and of its
/// lazy DFA cache. The built-in playbook needs well under a tenth of this.
pub const MAX_REGEX_SET_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_REGEX_DFA_BYTES: usize = 2 * 1024 * 1024;

/// Template instructions one render may execute. A reply needs a few dozen; a loop over
/// a list literal runs out after a few hundred iterations.
pub const TEMPLATE_FUEL: u64 = 2_000;
/// Output of one render. A reply must fit in 280 characters (at most 4 bytes each);
/// rendering stops as soon as it writes more than this.
pub const MAX_RENDERED_BYTES: usize = 2 * 1024;

/// Refuses a source that is too large, that does not scan, or whose aliases would
/// expand it past [`MAX_EXPANDED_BYTES`]. Nothing is expanded to find out.
pub fn check_source(yaml: &str) -> Result<(), PlaybookError> {
    if yaml.len() > MAX_SOURCE_BYTES {
        return Err(too_big(
            None,
            format!(
                "playbook is {} bytes, over the limit of {MAX_SOURCE_BYTES}",
                yaml.len()
            ),
        ));
    }
    let mut parser = Parser::new_from_str(yaml);
    // Expanded size of every anchored node, by anchor id.
    let mut anchored: HashMap<usize, usize> = HashMap::new();
    // Open collections: their anchor id and the expanded size when they opened.
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut total = 0usize;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|error| PlaybookError::Invalid {
                path: "(root)".into(),
                line: Some(error.marker().line()),
                message: error.info().to_string(),
            })?;
        match event {
            Event::StreamEnd => return Ok(()),
            Event::Scalar(value, _, anchor, _) => {
                let cost = value.len() + NODE_BYTES;
                total += cost;
                if anchor != 0 {
                    anchored.insert(anchor, cost);
                }
            }
            Event::Alias(anchor) => {
                total += anchored.get(&anchor).copied().unwrap_or(NODE_BYTES);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                open.push((anchor, total));
                total += NODE_BYTES;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = open.pop()
                    && anchor != 0
                {
                    anchored.insert(anchor, total - start);
                }
            }
            _ => {}
        }
        if total > MAX_EXPANDED_BYTES {
            return Err(too_big(
                Some(mark.line()),
                format!(
                    "with its aliases expanded the playbook would exceed {MAX_EXPANDED_BYTES} \
                     bytes; repeat fewer or smaller anchors"
                ),
            ));
        }
    }
}

fn too_big(line: Option<usize>, message: String) -> PlaybookError {
    PlaybookError::Invalid {
        path: "(root)".into(),
        line,
        message,
    }
}

/// The counts and lengths of every list and string, checked before any regex is parsed,
/// template rendered or example embedded.
pub fn check_spec(spec: &PlaybookSpec) -> Check {
    short("name", &spec.name)?;
    short("brand", &spec.brand)?;
    if spec.description.chars().count() > MAX_DESCRIPTION_CHARS {
        fail(
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        )?;
    }
    key_questions("key_questions", &spec.key_questions)?;
    if let Some(questions) = &spec.crisis.key_questions {
        key_questions("crisis.key_questions", questions)?;
    }
    first_line("first_line", &spec.first_line)?;
    if let Some(crisis) = &spec.crisis.first_line {
        first_line("crisis.first_line", crisis)?;
    }
    for (detector, terms) in spec.sensitivity.lexicon.by_detector() {
        for (list, entries) in [("add", &terms.add), ("remove", &terms.remove)] {
            let at = format!("sensitivity.lexicon.{detector}.{list}");
            count(&at, entries.len(), MAX_LEXICON_TERMS, "terms")?;
            for (i, term) in entries.iter().enumerate() {
                if term.chars().count() > MAX_TERM_CHARS {
                    fail(
                        format!("{at}[{i}]"),
                        format!("at most {MAX_TERM_CHARS} characters"),
                    )?;
                }
            }
        }
    }
    for (name, target) in [
        ("P1", &spec.sla.p1),
        ("P2", &spec.sla.p2),
        ("P3", &spec.sla.p3),
        ("P4", &spec.sla.p4),
    ] {
        let at = format!("sla.{name}.tiers");
        count(&at, target.tiers.len(), MAX_TIERS, "notify targets")?;
        for (i, tier) in target.tiers.iter().enumerate() {
            short(&format!("{at}[{i}]"), tier)?;
        }
    }
    Ok(())
}

fn count(path: &str, found: usize, max: usize, what: &str) -> Check {
    if found > max {
        fail(path, format!("at most {max} {what}, found {found}"))?;
    }
    Ok(())
}

fn short(path: &str, value: &str) -> Check {
    if value.chars().count() > MAX_SHORT_CHARS {
        fail(path, format!("at most {MAX_SHORT_CHARS} characters"))?;
    }
    Ok(())
}

fn key_questions(path: &str, questions: &[KeyQuestionSpec]) -> Check {
    count(path, questions.len(), MAX_KEY_QUESTIONS, "key questions")?;
    let (mut patterns, mut examples) = (0, 0);
    for (i, question) in questions.iter().enumerate() {
        let at = format!("{path}[{i}]");
        short(&format!("{at}.id"), &question.id)?;
        short(&format!("{at}.link"), &question.link)?;
        for (language, list) in question.patterns.iter() {
            let here = format!("{at}.patterns.{language}");
            count(&here, list.len(), MAX_PATTERNS_PER_LANGUAGE, "patterns")?;
            patterns += list.len();
            count(path, patterns, MAX_PATTERNS, "patterns in all")?;
            for (j, pattern) in list.iter().enumerate() {
                if pattern.len() > MAX_PATTERN_BYTES {
                    fail(
                        format!("{here}[{j}]"),
                        format!("a pattern is at most {MAX_PATTERN_BYTES} bytes"),
                    )?;
                }
            }
        }
        for (language, list) in question.examples.iter() {
            let here = format!("{at}.examples.{language}");
            count(&here, list.len(), MAX_EXAMPLES_PER_LANGUAGE, "examples")?;
            examples += list.len();
            count(path, examples, MAX_EXAMPLES, "examples in all")?;
            for (j, example) in list.iter().enumerate() {
                if example.chars().count() > MAX_EXAMPLE_CHARS {
                    fail(
                        format!("{here}[{j}]"),
                        format!("an example is at most {MAX_EXAMPLE_CHARS} characters"),
                    )?;
                }
            }
        }
        variants(&at, &question.replies)?;
    }
    Ok(())
}

fn first_line(path: &str, spec: &FirstLineSpec) -> Check {
    if let Some(ack) = &spec.acknowledgement {
        let at = format!("{path}.acknowledgement");
        short(&format!("{at}.link"), &ack.link)?;
        variants(&at, &ack.replies)?;
    }
    if let Some(holding) = &spec.holding {
        let at = format!("{path}.holding");
        short(&format!("{at}.link"), &holding.link)?;
        variants(&at, &holding.replies)?;
    }
    Ok(())
}

/// Every reply set: at most [`MAX_VARIANTS`] per language, each template at most
/// [`MAX_TEMPLATE_BYTES`].
fn variants(path: &str, replies: &PerLanguage<Vec<String>>) -> Check {
    for (language, list) in replies.iter() {
        let here = format!("{path}.replies.{language}");
        count(&here, list.len(), MAX_VARIANTS, "reply variants")?;
        for (j, template) in list.iter().enumerate() {
            if template.len() > MAX_TEMPLATE_BYTES {
                fail(
                    format!("{here}[{j}]"),
                    format!("a reply template is at most {MAX_TEMPLATE_BYTES} bytes"),
                )?;
            }
        }
    }
    Ok(())
}

/// Parses a pattern without compiling it: syntax errors are found per pattern, sizes
/// once for the whole set ([`pattern_set`]).
pub fn check_pattern_syntax(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(|_| ())
        .map_err(|error| {
            // The message is multi-line (the pattern, a caret, the problem): keep the last.
            let text = error.to_string();
            let last = text.lines().last().unwrap_or("").trim();
            last.strip_prefix("error: ").unwrap_or(last).to_string()
        })
}

/// One mode's patterns compiled once, as one set, under [`MAX_REGEX_SET_BYTES`]. The
/// compiler stops as soon as the set outgrows the limit, so an oversized set is refused
/// in milliseconds, not after compiling every pattern.
pub fn pattern_set(
    path: &str,
    questions: &[KeyQuestionSpec],
) -> Result<RegexSet, (String, String)> {
    let sources = questions
        .iter()
        .flat_map(|q| q.patterns.iter().flat_map(|(_, list)| list.iter()));
    RegexSetBuilder::new(sources)
        .size_limit(MAX_REGEX_SET_BYTES)
        .dfa_size_limit(MAX_REGEX_DFA_BYTES)
        .build()
        .map_err(|error| {
            let message = match error {
                regex::Error::CompiledTooBig(limit) => format!(
                    "the patterns compile to more than {limit} bytes together; use fewer \
                     or simpler patterns (a repetition such as \\w{{100}} is compiled 100 times)"
                ),
                other => format!("patterns do not compile together: {other}"),
            };
            (path.to_string(), message)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_syntax_errors_name_the_problem() {
        assert!(check_pattern_syntax(r"\b(refund|money back)\b").is_ok());
        let error = check_pattern_syntax(r"(refund").unwrap_err();
        assert!(error.contains("unclosed group"), "{error}");
    }
}
