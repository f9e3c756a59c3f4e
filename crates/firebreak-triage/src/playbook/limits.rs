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
//!   [`MAX_RENDERED_BYTES`] of output per render ([`render`]).

use std::collections::HashMap;

use regex::{RegexSet, RegexSetBuilder};
use yaml_rust2::parser::{Event, Parser};

use super::schema::*;
use super::validate::{Check, fail};
use super::{PlaybookError, ReplyVars};

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

/// Operators that grow a string or list (`*` repeats, `~` and `+` concatenate): with
/// them a short template can build gigabytes in a few instructions, which neither the
/// fuel nor the output bound would catch.
const GROWING_OPERATORS: &[char] = &['*', '~', '+'];

/// The template-language subset replies may use: variables, filters that do not grow
/// their input, conditions and loops. Refuses growing operators inside tags; the syntax
/// itself is checked by minijinja.
pub fn check_template_source(template: &str) -> Result<(), String> {
    let chars: Vec<char> = template.chars().collect();
    // Inside a tag: the character that closes it (`}` for `}}`, `%` for `%}`, `#` for
    // `#}`), and the quote of the string literal we are in, if any.
    let mut tag: Option<char> = None;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        match tag {
            None => {
                if c == '{'
                    && let Some(kind @ ('{' | '%' | '#')) = next
                {
                    tag = Some(if kind == '{' { '}' } else { kind });
                    i += 1;
                }
            }
            Some('#') => {
                if c == '#' && next == Some('}') {
                    tag = None;
                    i += 1;
                }
            }
            Some(closer) => match quote {
                Some(q) => {
                    if c == '\\' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == closer && next == Some('}') => {
                    tag = None;
                    i += 1;
                }
                None if GROWING_OPERATORS.contains(&c) => {
                    return Err(format!(
                        "the operator `{c}` is not allowed in reply templates: they \
                         substitute variables, they do not build text"
                    ));
                }
                None => {}
            },
        }
        i += 1;
    }
    Ok(())
}

/// The template environment for replies: no globals (no `range`, no `namespace`), only
/// filters that do not grow their input, strict undefined variables, bounded fuel.
pub fn template_env() -> minijinja::Environment<'static> {
    use minijinja::{filters, tests};
    let mut env = minijinja::Environment::empty();
    env.add_filter("upper", filters::upper);
    env.add_filter("lower", filters::lower);
    env.add_filter("title", filters::title);
    env.add_filter("capitalize", filters::capitalize);
    env.add_filter("trim", filters::trim);
    env.add_filter("default", filters::default);
    env.add_filter("d", filters::default);
    env.add_filter("length", filters::length);
    env.add_test("defined", tests::is_defined);
    env.add_test("undefined", tests::is_undefined);
    env.add_test("none", tests::is_none);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

/// Renders a reply template within the fuel and output bounds.
pub fn render(template: &str, vars: &ReplyVars) -> Result<String, RenderError> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(RenderError::TooLong);
    }
    check_template_source(template).map_err(RenderError::Refused)?;
    let env = template_env();
    let compiled = env
        .template_from_str(template)
        .map_err(RenderError::Template)?;
    let mut out = Bounded::default();
    match compiled.render_captured_to(vars, &mut out) {
        Ok(_) => Ok(String::from_utf8_lossy(&out.bytes).into_owned()),
        Err(_) if out.overflowed => Err(RenderError::TooLong),
        Err(error) if error.kind() == minijinja::ErrorKind::OutOfFuel => {
            Err(RenderError::OutOfFuel)
        }
        Err(error) => Err(RenderError::Template(error)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("renders to more than {MAX_RENDERED_BYTES} bytes")]
    TooLong,
    #[error("runs more than {TEMPLATE_FUEL} template instructions")]
    OutOfFuel,
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Template(minijinja::Error),
}

/// A writer that refuses to hold more than [`MAX_RENDERED_BYTES`].
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("reply too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_operators_are_found_outside_strings_only() {
        assert!(check_template_source("Hi {{ handle }}, 2 * 3 ~ 4 + 5").is_ok());
        assert!(check_template_source("{{ handle ~ '*' }}").is_err());
        assert!(check_template_source("{{ 'a*b~c+d' }} {# x * y #}").is_ok());
        assert!(check_template_source("{% set a = 'x' * 9 %}").is_err());
        assert!(check_template_source("{{ handle }} {{ \"\\\"*\" }}").is_ok());
        assert!(check_template_source("{{ [1] + [2] }}").is_err());
        assert!(check_template_source("unclosed {{ a * b").is_err());
        assert!(
            check_template_source("{{ \"}}\" ~ handle }}").is_err(),
            "closer in a string"
        );
        assert!(
            check_template_source("{% if a %}*{% endif %} x+y").is_ok(),
            "text is text"
        );
    }

    #[test]
    fn pattern_syntax_errors_name_the_problem() {
        assert!(check_pattern_syntax(r"\b(refund|money back)\b").is_ok());
        let error = check_pattern_syntax(r"(refund").unwrap_err();
        assert!(error.contains("unclosed group"), "{error}");
    }

    #[test]
    fn rendering_is_bounded_in_steps_and_output() {
        let vars = ReplyVars {
            handle: "@a".into(),
            ..ReplyVars::default()
        };
        assert_eq!(render("Hi {{ handle|upper }}", &vars).unwrap(), "Hi @A");
        let list = vec!["1"; 40].join(",");
        let loops = format!(
            "{{% for a in [{list}] %}}{{% for b in [{list}] %}}{{% for c in [{list}] %}}.{{% endfor %}}{{% endfor %}}{{% endfor %}}"
        );
        assert!(matches!(render(&loops, &vars), Err(RenderError::OutOfFuel)));
        let long = format!("{{% for a in [{list}] %}}{}{{% endfor %}}", "x".repeat(100));
        assert!(matches!(render(&long, &vars), Err(RenderError::TooLong)));
        assert!(render("{{ range(3) }}", &vars).is_err(), "no globals");
        assert!(
            render("{{ handle|indent(9) }}", &vars).is_err(),
            "no indent"
        );
    }
}
