//! The crisis playbook: key questions and their reply variants, sensitivity settings,
//! thresholds, reply budgets, SLA targets, surge alerts, and what crisis mode changes.
//!
//! A playbook is validated whole at load; an invalid one is an `Err` naming the field
//! path and line, so the caller keeps the playbook it already runs.

pub mod abuse;
mod first_line;
pub mod limits;
mod locate;
mod parse;
mod schema;
pub mod template;
mod validate;

use std::sync::{Arc, LazyLock};

use firebreak_core::{FirstLine, Language};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use schema::*;

use crate::keyquestion::KeyQuestionMatcher;

/// The built-in default playbook (FR + EN), used when none is configured.
pub const BUILTIN_YAML: &str = include_str!("../../playbooks/default.yaml");

/// Parsed once; clones share it. The embedded file is checked by a unit test, so this
/// cannot fail in a build that passed its tests, and a fallback would hide a broken
/// default.
static BUILTIN: LazyLock<Playbook> =
    LazyLock::new(|| Playbook::load(BUILTIN_YAML).expect("the built-in playbook is valid"));

/// Template variables every reply may use. Anything else is refused at load.
pub const TEMPLATE_VARIABLES: &[&str] = &["handle", "first_name", "case_ref", "link", "brand"];

/// X's limit; replies are sent on every channel, so every variant must fit the tightest.
pub const MAX_REPLY_CHARS: usize = 280;

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("{}{path}: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Invalid {
        /// Dotted field path, e.g. `key_questions[0].replies.en[2]`.
        path: String,
        /// 1-based line in the YAML source, when known.
        line: Option<usize>,
        message: String,
    },
    /// Every problem found in one pass, in the order of the file, one per line when
    /// displayed.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Problems { problems: Vec<Problem> },
    #[error("cannot read playbook {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One problem of an invalid playbook: the field path, its line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl PlaybookError {
    /// Each problem on its own, for APIs that list them.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            PlaybookError::Invalid {
                path,
                line,
                message,
            } => vec![Problem {
                path: path.clone(),
                line: *line,
                message: message.clone(),
            }],
            PlaybookError::Problems { problems } => problems.clone(),
            PlaybookError::Io { .. } => vec![Problem {
                path: "(file)".into(),
                line: None,
                message: self.to_string(),
            }],
        }
    }
}

/// Settings in force for one mode (normal or crisis), merged at load.
#[derive(Debug)]
pub struct ModeSettings {
    pub key_questions: Vec<KeyQuestionSpec>,
    pub first_line: FirstLineSpec,
    pub thresholds: Thresholds,
    pub budgets: Budgets,
    pub(crate) matcher: KeyQuestionMatcher,
}

/// A validated playbook, ready for the engine and the reply service.
#[derive(Debug, Clone)]
pub struct Playbook {
    spec: Arc<PlaybookSpec>,
    normal: Arc<ModeSettings>,
    crisis: Arc<ModeSettings>,
    version: String,
    /// The YAML it was loaded from, for `show`, `diff` and rollback.
    source: Arc<str>,
    /// Top-level sections the source leaves out, which run on their defaults.
    defaulted: Arc<[&'static str]>,
}

/// Values for the reply templates. `link` defaults to the key question's own link.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplyVars {
    pub handle: String,
    pub first_name: String,
    pub case_ref: String,
    pub link: String,
    pub brand: String,
}

impl Playbook {
    /// Parses and validates a playbook. Never panics on bad input.
    pub fn load(yaml: &str) -> Result<Playbook, PlaybookError> {
        limits::check_source(yaml)?;
        let parsed = parse::parse(yaml).map_err(|(line, message)| PlaybookError::Invalid {
            path: "(root)".into(),
            line,
            message,
        })?;
        let lines = locate::LineIndex::build(yaml);
        let invalid = |path: String, message: String| PlaybookError::Invalid {
            line: lines.line_of(&path),
            path,
            message,
        };
        let mut issues = parsed.issues;
        if let Some(spec) = &parsed.spec {
            let semantic = validate::validate(spec);
            issues.extend(
                semantic
                    .into_iter()
                    .filter(|issue| !parse::under(&issue.path, &parsed.removed)),
            );
        }
        let spec = match (parsed.spec, issues.is_empty()) {
            (Some(spec), true) => spec,
            _ => return Err(problems(issues, &lines)),
        };
        let normal_questions = spec.key_questions.clone();
        // Both modes' pattern sets are compiled, and size-checked, before any example
        // is embedded.
        let normal_patterns = limits::pattern_set("key_questions", &normal_questions)
            .map_err(|(path, message)| invalid(path, message))?;
        let (crisis_questions, crisis_patterns) = match &spec.crisis.key_questions {
            Some(questions) => (
                questions.clone(),
                limits::pattern_set("crisis.key_questions", questions)
                    .map_err(|(path, message)| invalid(path, message))?,
            ),
            None => (normal_questions.clone(), normal_patterns.clone()),
        };
        let normal = mode(
            normal_questions,
            normal_patterns,
            spec.first_line.clone(),
            spec.thresholds.clone(),
            spec.budgets.clone(),
        );
        let crisis = mode(
            crisis_questions,
            crisis_patterns,
            spec.crisis
                .first_line
                .clone()
                .unwrap_or_else(|| spec.first_line.clone()),
            spec.crisis.thresholds.apply(&spec.thresholds),
            spec.crisis.budgets.apply(&spec.budgets),
        );
        let digest = Sha256::digest(yaml.as_bytes());
        let version = format!("{}@{}", spec.name, &hex::encode(digest)[..12]);
        Ok(Playbook {
            spec: Arc::new(spec),
            normal: Arc::new(normal),
            crisis: Arc::new(crisis),
            version,
            source: Arc::from(yaml),
            defaulted: Arc::from(parsed.absent),
        })
    }

    /// The YAML source, exactly as loaded.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Top-level sections the source leaves out, which run on the built-in defaults.
    pub fn defaulted_sections(&self) -> &[&'static str] {
        &self.defaulted
    }

    /// The default FR + EN playbook shipped in the binary.
    pub fn builtin() -> Playbook {
        BUILTIN.clone()
    }

    /// `name@<first 12 hex digits of the SHA-256 of the source>`: stable for the same
    /// text, different for any edit.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn spec(&self) -> &PlaybookSpec {
        &self.spec
    }

    /// The key questions, thresholds and budgets in force.
    pub fn mode(&self, crisis_active: bool) -> &ModeSettings {
        if crisis_active {
            &self.crisis
        } else {
            &self.normal
        }
    }

    pub fn sla(&self) -> &Sla {
        &self.spec.sla
    }

    pub fn surge(&self) -> &Surge {
        &self.spec.surge
    }

    /// The reply templates of a reply set (a key question's id, or a first-line set
    /// such as `first_line.acknowledgement`) in a language, for the reply service to
    /// pick a variant from. Empty when the mode in force has no such set.
    pub fn reply_variants(&self, crisis_active: bool, set: &str, language: Language) -> &[String] {
        self.reply_set(crisis_active, set)
            .map(|(replies, _)| replies_for(replies, language))
            .unwrap_or_default()
    }

    /// Renders variant `variant` (modulo the number of variants) of a reply set.
    pub fn render_reply(
        &self,
        crisis_active: bool,
        set: &str,
        language: Language,
        variant: usize,
        vars: &ReplyVars,
    ) -> Option<String> {
        let (replies, link) = self.reply_set(crisis_active, set)?;
        let variants = replies_for(replies, language);
        let template = variants.get(variant % variants.len().max(1))?;
        let mut vars = vars.clone();
        if vars.link.is_empty() {
            vars.link = link.to_string();
        }
        if vars.brand.is_empty() {
            vars.brand.clone_from(&self.spec.brand);
        }
        render(template, &vars).ok()
    }

    /// The replies and link of a reply set in the mode in force.
    fn reply_set(
        &self,
        crisis_active: bool,
        set: &str,
    ) -> Option<(&PerLanguage<Vec<String>>, &str)> {
        let mode = self.mode(crisis_active);
        let first_line = &mode.first_line;
        if set == FirstLine::Acknowledgement.reply_set() {
            return first_line
                .acknowledgement
                .as_ref()
                .map(|a| (&a.replies, a.link.as_str()));
        }
        if set == FirstLine::Holding.reply_set() {
            return first_line
                .holding
                .as_ref()
                .map(|h| (&h.replies, h.link.as_str()));
        }
        mode.key_questions
            .iter()
            .find(|q| q.id == set)
            .map(|q| (&q.replies, q.link.as_str()))
    }

    /// Whether the mode in force still answers this reply set automatically.
    pub fn answers(&self, crisis_active: bool, set: &str) -> bool {
        self.reply_set(crisis_active, set).is_some()
    }
}

/// The variants in `language`, or, when the playbook has none in it, those of the
/// first language that has some: an English-only playbook answers French speakers in
/// English rather than not at all.
fn replies_for(replies: &PerLanguage<Vec<String>>, language: Language) -> &[String] {
    match replies.get(language) {
        Some(own) if !own.is_empty() => own,
        _ => replies
            .iter()
            .map(|(_, v)| v.as_slice())
            .find(|v| !v.is_empty())
            .unwrap_or_default(),
    }
}

/// Renders a reply template within the bounds of [`template::render`].
pub(crate) fn render(template: &str, vars: &ReplyVars) -> Result<String, template::RenderError> {
    template::render(template, vars)
}

fn mode(
    key_questions: Vec<KeyQuestionSpec>,
    patterns: regex::RegexSet,
    first_line: FirstLineSpec,
    thresholds: Thresholds,
    budgets: Budgets,
) -> ModeSettings {
    let matcher = KeyQuestionMatcher::compile(&key_questions, patterns);
    ModeSettings {
        key_questions,
        first_line,
        thresholds,
        budgets,
        matcher,
    }
}

/// Every issue with its line, in the order of the file.
fn problems(issues: Vec<validate::Issue>, lines: &locate::LineIndex) -> PlaybookError {
    let mut problems: Vec<Problem> = issues
        .into_iter()
        .map(|issue| Problem {
            line: lines.line_of(&issue.path),
            path: issue.path,
            message: issue.message,
        })
        .collect();
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    if problems.len() == 1 {
        let Problem {
            path,
            line,
            message,
        } = problems.remove(0);
        return PlaybookError::Invalid {
            path,
            line,
            message,
        };
    }
    PlaybookError::Problems { problems }
}

#[cfg(test)]
mod tests;
