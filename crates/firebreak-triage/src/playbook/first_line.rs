//! The playbook's `first_line` section: what happens to messages that are neither a
//! key question nor sensitive, so that "not understood" does not mean "a human".
//! PLAYBOOK.md documents each field.

use serde::{Deserialize, Serialize};

use super::schema::PerLanguage;
use super::validate::{Issues, reply_variants};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstLineSpec {
    /// The reply to a private message that matches no key question. Without it, such
    /// messages go to a human as before.
    #[serde(default)]
    pub acknowledgement: Option<AcknowledgementSpec>,
    /// A public reply to public questions outside the playbook. Without it, they are
    /// ignored (and counted in the insights).
    #[serde(default)]
    pub holding: Option<ReplySetSpec>,
    /// What a private key question below `key_question_min_confidence`, but at or
    /// above `low_confidence_floor`, gets.
    #[serde(default)]
    pub low_confidence_private: LowConfidence,
    #[serde(default = "default_low_confidence_floor")]
    pub low_confidence_floor: f64,
    /// Messages with fewer letters or digits than this are noise, and ignored.
    #[serde(default = "default_min_letters")]
    pub min_letters: usize,
}

impl Default for FirstLineSpec {
    fn default() -> Self {
        FirstLineSpec {
            acknowledgement: None,
            holding: None,
            low_confidence_private: LowConfidence::default(),
            low_confidence_floor: default_low_confidence_floor(),
            min_letters: default_min_letters(),
        }
    }
}

fn default_low_confidence_floor() -> f64 {
    0.45
}

fn default_min_letters() -> usize {
    2
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LowConfidence {
    /// Answered with the acknowledgement, like any message not understood.
    #[default]
    Acknowledge,
    /// Handed to a human, who can tell whether the key question was meant.
    Escalate,
}

/// Reply variants with the link their `{{ link }}` renders to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplySetSpec {
    #[serde(default)]
    pub replies: PerLanguage<Vec<String>>,
    #[serde(default)]
    pub link: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementSpec {
    #[serde(default)]
    pub replies: PerLanguage<Vec<String>>,
    #[serde(default)]
    pub link: String,
    /// At most one acknowledgement to the same author within this many seconds; the
    /// messages that follow within it are counted, not answered again.
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
    /// A person who writes this many more times within the window after the
    /// acknowledgement reaches a human.
    #[serde(default = "default_human_after_messages")]
    pub human_after_messages: u32,
    /// A private message whose needs-a-human score (length, specifics such as order
    /// numbers, amounts and dates, and the trained model) reaches this opens a case
    /// instead of getting the acknowledgement.
    #[serde(default = "default_human_min_score")]
    pub human_min_score: f64,
}

fn default_window_secs() -> u64 {
    86_400
}

fn default_human_after_messages() -> u32 {
    3
}

fn default_human_min_score() -> f64 {
    0.6
}

impl AcknowledgementSpec {
    pub fn reply_set(&self) -> ReplySetSpec {
        ReplySetSpec {
            replies: self.replies.clone(),
            link: self.link.clone(),
        }
    }
}

pub(super) fn validate(out: &mut Issues, path: &str, spec: &FirstLineSpec) {
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    if let Some(ack) = &spec.acknowledgement {
        reply_variants(
            out,
            &format!("{path}.acknowledgement"),
            &ack.replies,
            &ack.link,
            2,
        );
        if ack.window_secs == 0 {
            out.add(
                format!("{path}.acknowledgement.window_secs"),
                "must be at least 1",
            );
        }
        if ack.human_after_messages == 0 {
            out.add(
                format!("{path}.acknowledgement.human_after_messages"),
                "must be at least 1",
            );
        }
        if !unit(ack.human_min_score) {
            out.add(
                format!("{path}.acknowledgement.human_min_score"),
                "must be in [0, 1]",
            );
        }
    }
    if let Some(holding) = &spec.holding {
        reply_variants(
            out,
            &format!("{path}.holding"),
            &holding.replies,
            &holding.link,
            2,
        );
    }
    if !unit(spec.low_confidence_floor) {
        out.add(format!("{path}.low_confidence_floor"), "must be in [0, 1]");
    }
    if spec.min_letters > 64 {
        out.add(
            format!("{path}.min_letters"),
            "must be at most 64: longer messages are never noise",
        );
    }
}
