//! What the triage engine decides about a message, and why.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Fr,
    En,
    Other,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
            Language::Other => "other",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Reply,
    Escalate,
    Ignore,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Reply => "reply",
            Route::Escalate => "escalate",
            Route::Ignore => "ignore",
        }
    }
}

/// An automatic reply that answers no key question: the first line's answer to what
/// the playbook does not cover, so that "not understood" does not mean "a human".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstLine {
    /// A private message not understood: "we've read you; our team answers in order".
    Acknowledgement,
    /// A public question outside the playbook, where the playbook sets a holding reply.
    Holding,
}

impl FirstLine {
    pub fn as_str(self) -> &'static str {
        match self {
            FirstLine::Acknowledgement => "acknowledgement",
            FirstLine::Holding => "holding",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "acknowledgement" => Some(FirstLine::Acknowledgement),
            "holding" => Some(FirstLine::Holding),
            _ => None,
        }
    }

    /// The reply set the playbook keys its variants, cooldowns and rings by. Dotted,
    /// so it can never collide with a key question id (`[a-z0-9_]+`).
    pub fn reply_set(self) -> &'static str {
        match self {
            FirstLine::Acknowledgement => "first_line.acknowledgement",
            FirstLine::Holding => "first_line.holding",
        }
    }
}

/// P1 is the most urgent. The derived order sorts P1 first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            "P4" => Some(Priority::P4),
            _ => None,
        }
    }
}

/// A sensitivity signal and the evidence for it. Evidence names the rule or term that
/// matched, never personal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub kind: String,
    pub evidence: String,
    pub score: f64,
}

impl Flag {
    pub fn new(kind: impl Into<String>, evidence: impl Into<String>, score: f64) -> Self {
        Flag {
            kind: kind.into(),
            evidence: evidence.into(),
            score,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub language: Language,
    pub language_confidence: f64,
    /// In [-1, 1].
    pub sentiment: f64,
    pub route: Route,
    pub priority: Priority,
    pub key_question: Option<String>,
    pub key_question_confidence: f64,
    pub flags: Vec<Flag>,
    pub reasons: Vec<String>,
    pub confidence: f64,
    pub linked_case_id: Option<String>,
    pub playbook_version: String,
    /// Set when the automatic reply is a first-line one rather than a key question's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_line: Option<FirstLine>,
}

impl Classification {
    pub fn has_flag(&self, kind: &str) -> bool {
        self.flags.iter().any(|f| f.kind == kind)
    }

    /// What an automatic reply would answer: the key question's id, or the first-line
    /// reply set.
    pub fn reply_set(&self) -> Option<&str> {
        match self.first_line {
            Some(first_line) => Some(first_line.reply_set()),
            None => self.key_question.as_deref(),
        }
    }
}
