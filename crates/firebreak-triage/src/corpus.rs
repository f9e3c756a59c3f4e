//! The labelled evaluation corpus (`corpus/eval.csv`) and per-category precision and
//! recall of the engine on it.
//!
//! Columns: `text,lang,visibility,crisis,context,expected_route,expected_flags,expected_key_question`.
//! `context` holds `;`-separated author and memory settings (`followers=80000`,
//! `verified`, `bot`, `open_case=ID`, `complaints=N`); `expected_flags` is a
//! `;`-separated list of flag kinds that must be raised.

use std::collections::BTreeMap;
use std::fmt;

use firebreak_core::rules::TriageContext;
use firebreak_core::{Route, Visibility};

use crate::detectors::kind;
use crate::engine::TriageEngine;
use crate::model::train::{ClassMetrics, metrics};

/// The corpus committed with the crate.
pub const BUILTIN_CORPUS: &str = include_str!("../corpus/eval.csv");

#[derive(Clone, Debug)]
pub struct CorpusRow {
    pub text: String,
    pub lang: String,
    pub visibility: Visibility,
    pub crisis: bool,
    pub context: String,
    pub expected_route: Route,
    pub expected_flags: Vec<String>,
    pub expected_key_question: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("corpus line {line}: {message}")]
pub struct CorpusError {
    pub line: usize,
    pub message: String,
}

pub fn parse_corpus(csv_text: &str) -> Result<Vec<CorpusRow>, CorpusError> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let bad = |message: String| CorpusError { line, message };
        let record = record.map_err(|e| bad(e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let visibility = match field(2).as_str() {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            other => return Err(bad(format!("visibility `{other}`"))),
        };
        let expected_route = match field(5).as_str() {
            "reply" => Route::Reply,
            "escalate" => Route::Escalate,
            "ignore" => Route::Ignore,
            other => return Err(bad(format!("expected_route `{other}`"))),
        };
        let list = |s: String| {
            s.split(';')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect()
        };
        rows.push(CorpusRow {
            text: field(0),
            lang: field(1),
            visibility,
            crisis: field(3) == "1",
            context: field(4),
            expected_route,
            expected_flags: list(field(6)),
            expected_key_question: Some(field(7)).filter(|q| !q.is_empty()),
        });
    }
    Ok(rows)
}

impl CorpusRow {
    fn message_and_context(&self) -> (firebreak_core::Message, TriageContext) {
        let mut message = crate::dry_run_message(&self.text, self.visibility);
        let mut context = TriageContext {
            crisis_active: self.crisis,
            ..TriageContext::default()
        };
        for setting in self.context.split(';').map(str::trim) {
            match setting.split_once('=') {
                Some(("followers", n)) => message.author.followers = n.parse().unwrap_or(0),
                Some(("open_case", id)) => context.open_private_case = Some(id.to_string()),
                Some(("complaints", n)) => context.recent_complaints = n.parse().unwrap_or(0),
                _ if setting == "verified" => message.author.verified = true,
                _ if setting == "bot" => message.author.is_bot = true,
                _ => {}
            }
        }
        (message, context)
    }
}

/// Figures for one corpus run.
#[derive(Clone, Debug)]
pub struct Report {
    pub rows: usize,
    /// Per flag kind, per route, and `key_question_reply`.
    pub categories: BTreeMap<String, ClassMetrics>,
    /// Rows expected to carry self_harm, threat or legal that were routed to reply.
    pub sensitive_replied: usize,
    /// Rows whose route or key question differs from the expected one, for tuning.
    pub misrouted: Vec<String>,
    /// Expected flags that were not raised.
    pub missed_flags: Vec<String>,
}

impl Report {
    pub fn get(&self, category: &str) -> Option<&ClassMetrics> {
        self.categories.get(category)
    }
}

#[derive(Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

pub fn evaluate_corpus(engine: &TriageEngine, csv_text: &str) -> Result<Report, CorpusError> {
    let rows = parse_corpus(csv_text)?;
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut sensitive_replied = 0;
    let mut misrouted = Vec::new();
    let mut missed_flags = Vec::new();
    let flag_kinds = [
        kind::SELF_HARM,
        kind::THREAT,
        kind::LEGAL,
        kind::PRESS,
        kind::SPILL_OVER,
        kind::PERSONAL_DATA,
        kind::INFLUENCER,
        kind::HOSTILITY,
        kind::REPEAT_COMPLAINER,
        kind::SPAM,
    ];
    for row in &rows {
        let (message, context) = row.message_and_context();
        let decision = engine.classify_with(&message, &context);
        let mut tally = |category: String, expected: bool, predicted: bool| {
            let c = counts.entry(category).or_default();
            match (expected, predicted) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (true, false) => c.fn_ += 1,
                (false, false) => {}
            }
        };
        for kind in flag_kinds {
            let expected = row.expected_flags.iter().any(|k| k == kind);
            tally(format!("flag:{kind}"), expected, decision.has_flag(kind));
        }
        for route in [Route::Reply, Route::Escalate, Route::Ignore] {
            tally(
                format!("route:{}", route.as_str()),
                row.expected_route == route,
                decision.route == route,
            );
        }
        let expected_reply = (row.expected_route == Route::Reply)
            .then_some(row.expected_key_question.as_ref())
            .flatten();
        let predicted_reply = (decision.route == Route::Reply)
            .then_some(decision.key_question.as_ref())
            .flatten();
        let right = predicted_reply.is_some() && expected_reply == predicted_reply;
        let replies = counts.entry("key_question_reply".into()).or_default();
        match (predicted_reply.is_some(), right, expected_reply.is_some()) {
            (true, true, _) => replies.tp += 1,
            // A reply where none was expected, or with the wrong answer.
            (true, false, expected) => {
                replies.fp += 1;
                if expected {
                    replies.fn_ += 1;
                }
            }
            (false, _, true) => replies.fn_ += 1,
            (false, _, false) => {}
        }
        for kind in &row.expected_flags {
            if !decision.has_flag(kind) {
                missed_flags.push(format!("missed {kind}: {}", row.text));
            }
        }
        let sensitive = row
            .expected_flags
            .iter()
            .any(|k| [kind::SELF_HARM, kind::THREAT, kind::LEGAL].contains(&k.as_str()));
        if sensitive && decision.route == Route::Reply {
            sensitive_replied += 1;
        }
        if decision.route != row.expected_route || right != expected_reply.is_some() {
            misrouted.push(format!(
                "expected {} got {} [{}] {:?}: {}",
                row.expected_route.as_str(),
                decision.route.as_str(),
                decision
                    .flags
                    .iter()
                    .map(|f| f.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                decision.key_question,
                row.text
            ));
        }
    }
    let categories = counts
        .into_iter()
        .filter(|(_, c)| c.tp + c.fp + c.fn_ > 0)
        .map(|(name, c)| {
            let m = metrics(&name, c.tp, c.fp, c.fn_);
            (name, m)
        })
        .collect();
    Ok(Report {
        rows: rows.len(),
        categories,
        sensitive_replied,
        misrouted,
        missed_flags,
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>9} {:>7} {:>6} {:>8}",
            "category", "precision", "recall", "f1", "support"
        )?;
        for m in self.categories.values() {
            writeln!(
                f,
                "{:<28} {:>9.3} {:>7.3} {:>6.3} {:>8}",
                m.class, m.precision, m.recall, m.f1, m.support
            )?;
        }
        writeln!(f, "corpus rows: {}", self.rows)?;
        write!(
            f,
            "self_harm/threat/legal routed to reply: {}",
            self.sensitive_replied
        )
    }
}
