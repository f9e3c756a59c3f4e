//! The playbook's YAML schema. Every struct refuses unknown fields, so a typo is an error
//! rather than a silently ignored setting. PLAYBOOK.md documents each field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::first_line::{AcknowledgementSpec, FirstLineSpec, LowConfidence, ReplySetSpec};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookSpec {
    /// Required; checked by validation so that every mistake is reported at once.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Shown to templates as `{{ brand }}`.
    #[serde(default)]
    pub brand: String,
    #[serde(default)]
    pub key_questions: Vec<KeyQuestionSpec>,
    #[serde(default)]
    pub sensitivity: Sensitivity,
    /// Thresholds, budgets and SLA default to the built-in playbook's, field by field,
    /// so a minimal playbook is a name and one key question (PLAYBOOK.md).
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub budgets: Budgets,
    #[serde(default)]
    pub sla: Sla,
    #[serde(default)]
    pub surge: Surge,
    /// What happens to messages that are neither a key question nor sensitive.
    #[serde(default)]
    pub first_line: FirstLineSpec,
    #[serde(default)]
    pub crisis: CrisisOverrides,
}

/// One value per supported language.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerLanguage<T> {
    #[serde(default)]
    pub fr: T,
    #[serde(default)]
    pub en: T,
}

impl<T> PerLanguage<T> {
    pub fn get(&self, language: firebreak_core::Language) -> Option<&T> {
        match language {
            firebreak_core::Language::Fr => Some(&self.fr),
            firebreak_core::Language::En => Some(&self.en),
            firebreak_core::Language::Other => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &T)> {
        [("fr", &self.fr), ("en", &self.en)].into_iter()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyQuestionSpec {
    /// Stable identifier, `[a-z0-9_]+`; reported as `key_question` in decisions.
    /// Required: validation reports a missing one with the rest.
    #[serde(default)]
    pub id: String,
    /// Regexes matched against normalised text (lowercase, no accents, no elisions).
    #[serde(default)]
    pub patterns: PerLanguage<Vec<String>>,
    /// Typical phrasings; a message similar enough to one of them matches.
    #[serde(default)]
    pub examples: PerLanguage<Vec<String>>,
    /// minijinja templates, at least three per language, so replies vary.
    #[serde(default)]
    pub replies: PerLanguage<Vec<String>>,
    /// Value of `{{ link }}` in the replies.
    #[serde(default)]
    pub link: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensitivity {
    #[serde(default)]
    pub lexicon: LexiconOverrides,
    /// Whether the trained hostility model adds to the hostility lexicon.
    #[serde(default = "yes")]
    pub hostility_model: bool,
}

fn yes() -> bool {
    true
}

/// Written by hand: a derived default would turn the hostility model off whenever the
/// `sensitivity:` section is left out, while PLAYBOOK.md says it defaults to on.
impl Default for Sensitivity {
    fn default() -> Self {
        Sensitivity {
            lexicon: LexiconOverrides::default(),
            hostility_model: true,
        }
    }
}

/// Extra and removed terms per detector, on top of the built-in FR/EN lexicons.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexiconOverrides {
    #[serde(default)]
    pub self_harm: TermOverride,
    #[serde(default)]
    pub threat: TermOverride,
    #[serde(default)]
    pub legal: TermOverride,
    #[serde(default)]
    pub press: TermOverride,
    #[serde(default)]
    pub hostility: TermOverride,
    #[serde(default)]
    pub spam: TermOverride,
}

impl LexiconOverrides {
    pub fn by_detector(&self) -> [(&'static str, &TermOverride); 6] {
        [
            ("self_harm", &self.self_harm),
            ("threat", &self.threat),
            ("legal", &self.legal),
            ("press", &self.press),
            ("hostility", &self.hostility),
            ("spam", &self.spam),
        ]
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermOverride {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Below this confidence a key question is not answered automatically.
    pub key_question_min_confidence: f64,
    pub influencer_followers: u64,
    pub repeat_complainer: RepeatComplainer,
    /// Model probability at or above which a message is flagged hostile.
    pub hostility_min_score: f64,
    /// Spam score at or above which a message is ignored.
    pub spam_min_score: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatComplainer {
    /// Complaints from one author within the window that make them a repeat complainer.
    pub count: u32,
    pub window_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    /// Automatic replies per second across every channel and replica.
    pub global_per_sec: f64,
    /// Per channel (`messenger`, `x`, ...) with an optional `default` for the rest.
    pub per_channel_per_sec: BTreeMap<String, f64>,
    /// At most one automatic reply to the same author within this many seconds.
    pub author_cooldown_secs: u64,
    /// At most this many automatic replies in one thread, ever.
    pub thread_cap: u32,
}

impl Budgets {
    /// The budget for `channel`, falling back to `default`, then to the global budget.
    pub fn channel_per_sec(&self, channel: firebreak_core::Channel) -> f64 {
        self.per_channel_per_sec
            .get(channel.as_str())
            .or_else(|| self.per_channel_per_sec.get("default"))
            .copied()
            .unwrap_or(self.global_per_sec)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sla {
    #[serde(rename = "P1")]
    pub p1: SlaTarget,
    #[serde(rename = "P2")]
    pub p2: SlaTarget,
    #[serde(rename = "P3")]
    pub p3: SlaTarget,
    #[serde(rename = "P4")]
    pub p4: SlaTarget,
}

impl Sla {
    pub fn for_priority(&self, priority: firebreak_core::Priority) -> &SlaTarget {
        use firebreak_core::Priority;
        match priority {
            Priority::P1 => &self.p1,
            Priority::P2 => &self.p2,
            Priority::P3 => &self.p3,
            Priority::P4 => &self.p4,
        }
    }
}

/// A target written in the playbook has all three fields; validation names any that is
/// missing (they default to zero and empty so it can report them with the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaTarget {
    /// A moderator must claim the case within this many seconds...
    pub claim_secs: u64,
    /// ...and acknowledge it to the author within this many.
    pub ack_secs: u64,
    /// Who is notified, in order, each time a deadline slips.
    pub tiers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Surge {
    /// Alert when the share of negative messages exceeds the baseline by this factor.
    pub negative_rate_multiple: f64,
    pub baseline_window_secs: u64,
    /// Fewer messages than this in the window never trigger an alert.
    pub min_messages: u32,
    /// Whether a surge alert may switch crisis mode on by itself.
    pub auto_crisis: bool,
}

impl Default for Surge {
    fn default() -> Self {
        Surge {
            negative_rate_multiple: 3.0,
            baseline_window_secs: 3600,
            min_messages: 50,
            auto_crisis: false,
        }
    }
}

// The built-in defaults, the values of `playbooks/default.yaml` (a unit test keeps them
// equal), for the sections a playbook leaves out.

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            key_question_min_confidence: 0.6,
            influencer_followers: 50_000,
            repeat_complainer: RepeatComplainer::default(),
            hostility_min_score: 0.9,
            spam_min_score: 0.6,
        }
    }
}

impl Default for RepeatComplainer {
    fn default() -> Self {
        RepeatComplainer {
            count: 3,
            window_secs: 86_400,
        }
    }
}

impl Default for Budgets {
    fn default() -> Self {
        let per_channel = [
            ("default", 10.0),
            ("messenger", 250.0),
            ("instagram", 100.0),
            ("whatsapp", 80.0),
            ("telegram", 30.0),
            ("x", 0.15),
            ("line", 1000.0),
        ];
        Budgets {
            global_per_sec: 50.0,
            per_channel_per_sec: per_channel
                .into_iter()
                .map(|(channel, rate)| (channel.to_string(), rate))
                .collect(),
            author_cooldown_secs: 21_600,
            thread_cap: 2,
        }
    }
}

impl Default for Sla {
    fn default() -> Self {
        let target = |claim_secs, ack_secs, tiers: &[&str]| SlaTarget {
            claim_secs,
            ack_secs,
            tiers: tiers.iter().map(|t| t.to_string()).collect(),
        };
        Sla {
            p1: target(
                60,
                300,
                &["moderators-oncall", "crisis-lead", "head-of-communications"],
            ),
            p2: target(300, 1800, &["moderators-oncall", "crisis-lead"]),
            p3: target(1800, 7200, &["moderators"]),
            p4: target(14_400, 86_400, &["moderators"]),
        }
    }
}

/// What changes while crisis mode is on. Absent fields keep their normal value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisOverrides {
    #[serde(default)]
    pub key_questions: Option<Vec<KeyQuestionSpec>>,
    #[serde(default)]
    pub thresholds: ThresholdsOverride,
    #[serde(default)]
    pub budgets: BudgetsOverride,
    /// Replaces the whole `first_line` section while crisis mode is on.
    #[serde(default)]
    pub first_line: Option<FirstLineSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsOverride {
    pub key_question_min_confidence: Option<f64>,
    pub influencer_followers: Option<u64>,
    pub repeat_complainer: Option<RepeatComplainer>,
    pub hostility_min_score: Option<f64>,
    pub spam_min_score: Option<f64>,
}

impl ThresholdsOverride {
    pub fn apply(&self, base: &Thresholds) -> Thresholds {
        Thresholds {
            key_question_min_confidence: self
                .key_question_min_confidence
                .unwrap_or(base.key_question_min_confidence),
            influencer_followers: self
                .influencer_followers
                .unwrap_or(base.influencer_followers),
            repeat_complainer: self
                .repeat_complainer
                .clone()
                .unwrap_or_else(|| base.repeat_complainer.clone()),
            hostility_min_score: self.hostility_min_score.unwrap_or(base.hostility_min_score),
            spam_min_score: self.spam_min_score.unwrap_or(base.spam_min_score),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetsOverride {
    pub global_per_sec: Option<f64>,
    /// Merged key by key over the normal per-channel budgets.
    #[serde(default)]
    pub per_channel_per_sec: BTreeMap<String, f64>,
    pub author_cooldown_secs: Option<u64>,
    pub thread_cap: Option<u32>,
}

impl BudgetsOverride {
    pub fn apply(&self, base: &Budgets) -> Budgets {
        let mut per_channel = base.per_channel_per_sec.clone();
        per_channel.extend(self.per_channel_per_sec.clone());
        Budgets {
            global_per_sec: self.global_per_sec.unwrap_or(base.global_per_sec),
            per_channel_per_sec: per_channel,
            author_cooldown_secs: self
                .author_cooldown_secs
                .unwrap_or(base.author_cooldown_secs),
            thread_cap: self.thread_cap.unwrap_or(base.thread_cap),
        }
    }
}
