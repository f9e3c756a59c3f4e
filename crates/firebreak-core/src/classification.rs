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

/// P1 is the most urgent. The derived order sorts P1 first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
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
}

impl Classification {
    pub fn has_flag(&self, kind: &str) -> bool {
        self.flags.iter().any(|f| f.kind == kind)
    }
}
