//! Rehearsal: a draft playbook replayed on real messages beside the active one, without
//! sending anything. The report says which decisions change (counts by route, key
//! question and priority, with examples), which sensitive messages the draft would
//! answer automatically, and what reply rate it would need at the observed pace.
//!
//! A rehearsal that finds sensitive messages answered automatically blocks the draft's
//! activation (`playbook-rehearsal.<name>.<hash>` in the control bucket) until a later
//! rehearsal of the same version finds none, or a crisis-team member forces it (audited).

use std::collections::BTreeMap;

use bytes::Bytes;
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::wire::Submission;
use firebreak_core::{Author, Channel, Classification, FirebreakError, Message, Route, Visibility};
use firebreak_triage::detectors::kind::ALWAYS_ESCALATE;
use firebreak_triage::{Playbook, TriageEngine};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::AuditEntry;
use crate::mode::{Control, ControlError};

/// Key prefix of rehearsal outcomes: `playbook-rehearsal.<name>.<hash>`.
pub const REHEARSAL_PREFIX: &str = "playbook-rehearsal.";

/// Messages one rehearsal replays at most; the newest are kept.
pub const MAX_MESSAGES: usize = 5_000;

/// Examples kept per kind of change.
const EXAMPLES_PER_KIND: usize = 3;

/// One message of a recorded set (`--file messages.jsonl`): the shape of
/// `POST /v1/messages`, with everything but `text` optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedMessage {
    pub text: String,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub thread_id: Option<String>,
    #[serde(default)]
    pub author: Option<RecordedAuthor>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedAuthor {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub handle: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub followers: u64,
    #[serde(default)]
    pub verified: bool,
}

impl RecordedMessage {
    /// The message as ingest would have built it; `index` stands in for missing ids.
    pub fn into_message(
        self,
        index: usize,
        now: OffsetDateTime,
    ) -> Result<Message, FirebreakError> {
        let external_id = self
            .external_id
            .unwrap_or_else(|| format!("rehearsal-{index}"));
        let author = self.author.unwrap_or_default();
        let submission = Submission {
            channel: self.channel.unwrap_or(Channel::Web),
            thread_id: self.thread_id.unwrap_or_else(|| external_id.clone()),
            external_id,
            visibility: self.visibility.unwrap_or(Visibility::Public),
            author: Author {
                id: if author.id.is_empty() {
                    format!("rehearsal-author-{index}")
                } else {
                    author.id
                },
                handle: author.handle,
                name: author.name,
                followers: author.followers,
                verified: author.verified,
                is_bot: false,
            },
            text: self.text,
            language_hint: String::new(),
            attachments: Vec::new(),
            sent_at: self.sent_at,
            mail: None,
            edit_of: None,
        };
        submission.into_message(now)
    }
}

/// One side of a changed decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub route: String,
    pub priority: String,
    pub key_question: Option<String>,
    pub flags: Vec<String>,
}

impl Decision {
    fn of(c: &Classification) -> Decision {
        Decision {
            route: c.route.as_str().to_string(),
            priority: c.priority.as_str().to_string(),
            key_question: c.key_question.clone(),
            flags: c.flags.iter().map(|f| f.kind.clone()).collect(),
        }
    }
}

/// A message whose decision changes, as an example.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    pub message_id: String,
    pub channel: String,
    /// Only when the caller may read message texts (it sent them, or it is an admin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub active: Decision,
    pub draft: Decision,
}

/// What a rehearsal found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub draft: String,
    pub active: String,
    pub crisis: bool,
    pub messages: usize,
    pub changed: usize,
    /// `active → draft` transitions, counted.
    pub by_route: BTreeMap<String, usize>,
    pub by_key_question: BTreeMap<String, usize>,
    pub by_priority: BTreeMap<String, usize>,
    /// Up to three examples per kind of change (`route escalate → reply`, `key
    /// question refund → money_back`, `priority P3 → P2`).
    pub examples: BTreeMap<String, Vec<Example>>,
    /// Messages the active playbook flags as always-escalated (self-harm, threat, legal,
    /// press, ...) that the draft would answer automatically. Any of them blocks the
    /// draft's activation.
    pub sensitive_auto_replies: Vec<Example>,
    /// Automatic replies the draft would send, and over how long the messages arrived.
    pub draft_replies: usize,
    pub span_secs: f64,
    /// Replies per second the draft would need at the observed rate, overall and per
    /// channel, beside the draft's budgets.
    pub needed_per_sec: f64,
    pub budget_per_sec: f64,
    pub needed_per_channel: BTreeMap<String, f64>,
    pub over_budget: Vec<String>,
}

impl Report {
    /// Whether activating the draft must be refused unless forced.
    pub fn blocks_activation(&self) -> bool {
        !self.sensitive_auto_replies.is_empty()
    }
}

fn transition(before: &str, after: &str) -> String {
    format!("{before} → {after}")
}

/// Classifies every message with both engines and compares. Pure: nothing is sent or
/// stored. `texts` says whether examples may carry the message text.
pub fn compare(
    active: &TriageEngine,
    draft: &TriageEngine,
    messages: &[Message],
    crisis: bool,
    texts: bool,
) -> Report {
    let context = TriageContext {
        crisis_active: crisis,
        ..TriageContext::default()
    };
    let mut report = Report {
        draft: draft.playbook().version().to_string(),
        active: active.playbook().version().to_string(),
        crisis,
        messages: messages.len(),
        ..Report::default()
    };
    let mut replies_per_channel: BTreeMap<String, usize> = BTreeMap::new();
    for message in messages {
        let before = active.classify(message, &context);
        let after = draft.classify(message, &context);
        if after.route == Route::Reply {
            report.draft_replies += 1;
            *replies_per_channel
                .entry(message.channel.as_str().to_string())
                .or_default() += 1;
        }
        let example = || Example {
            message_id: message.id.to_string(),
            channel: message.channel.as_str().to_string(),
            text: texts.then(|| message.text.clone()),
            active: Decision::of(&before),
            draft: Decision::of(&after),
        };
        let sensitive = before
            .flags
            .iter()
            .any(|f| ALWAYS_ESCALATE.contains(&f.kind.as_str()));
        if sensitive && after.route == Route::Reply {
            report.sensitive_auto_replies.push(example());
        }
        let same = before.route == after.route
            && before.priority == after.priority
            && before.key_question == after.key_question;
        if same {
            continue;
        }
        report.changed += 1;
        let route = transition(before.route.as_str(), after.route.as_str());
        *report.by_route.entry(route.clone()).or_default() += 1;
        let none = || "(none)".to_string();
        let question = transition(
            &before.key_question.clone().unwrap_or_else(none),
            &after.key_question.clone().unwrap_or_else(none),
        );
        *report.by_key_question.entry(question.clone()).or_default() += 1;
        let priority = transition(before.priority.as_str(), after.priority.as_str());
        *report.by_priority.entry(priority.clone()).or_default() += 1;
        // The kind of change is its most visible part: the route, else the key
        // question, else the priority.
        let kind = if before.route != after.route {
            format!("route {route}")
        } else if before.key_question != after.key_question {
            format!("key question {question}")
        } else {
            format!("priority {priority}")
        };
        let examples = report.examples.entry(kind).or_default();
        if examples.len() < EXAMPLES_PER_KIND {
            examples.push(example());
        }
    }
    budget_needed(
        &mut report,
        draft.playbook(),
        messages,
        crisis,
        replies_per_channel,
    );
    report
}

/// The observed span is from the first message to the last (at least a minute, so a
/// handful of messages sent together do not read as a flood).
fn budget_needed(
    report: &mut Report,
    draft: &Playbook,
    messages: &[Message],
    crisis: bool,
    replies_per_channel: BTreeMap<String, usize>,
) {
    let times = messages.iter().map(|m| m.sent_at);
    let span = match (times.clone().min(), times.max()) {
        (Some(first), Some(last)) => (last - first).as_seconds_f64(),
        _ => 0.0,
    };
    report.span_secs = span.max(60.0);
    let budgets = &draft.mode(crisis).budgets;
    report.needed_per_sec = report.draft_replies as f64 / report.span_secs;
    report.budget_per_sec = budgets.global_per_sec;
    if report.needed_per_sec > budgets.global_per_sec {
        report.over_budget.push("global".into());
    }
    for (channel, count) in replies_per_channel {
        let needed = count as f64 / report.span_secs;
        let budget = Channel::parse(&channel)
            .map(|c| budgets.channel_per_sec(c))
            .unwrap_or(budgets.global_per_sec);
        if needed > budget {
            report.over_budget.push(channel.clone());
        }
        report.needed_per_channel.insert(channel, needed);
    }
}

/// What is remembered of a rehearsal, per version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Outcome {
    sensitive_auto_replies: usize,
    actor: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

fn outcome_key(version: &str) -> String {
    let (name, hash) = version.rsplit_once('@').unwrap_or((version, ""));
    format!("{REHEARSAL_PREFIX}{name}.{hash}")
}

impl Control {
    /// Replays `messages` through `draft` and the active playbook, records whether the
    /// draft's activation is blocked, and audits the rehearsal (counts, never texts).
    pub async fn rehearse(
        &self,
        actor: &str,
        draft: Playbook,
        messages: Vec<Message>,
        crisis: Option<bool>,
        texts: bool,
    ) -> Result<Report, ControlError> {
        let _running = self
            .rehearsals
            .clone()
            .try_acquire_owned()
            .map_err(|_| ControlError::Busy)?;
        let active = self.active_playbook().await?;
        let crisis = match crisis {
            Some(crisis) => crisis,
            None => self.mode().await?.active,
        };
        // Building the engines embeds every example: CPU work, off the async threads.
        let report = tokio::task::spawn_blocking(move || {
            let active = TriageEngine::new(active);
            let draft = TriageEngine::new(draft);
            compare(&active, &draft, &messages, crisis, texts)
        })
        .await
        .map_err(|e| ControlError::Unavailable(format!("rehearsal failed: {e}")))?;
        let outcome = Outcome {
            sensitive_auto_replies: report.sensitive_auto_replies.len(),
            actor: actor.to_string(),
            at: OffsetDateTime::now_utc(),
        };
        let value =
            serde_json::to_vec(&outcome).map_err(|e| ControlError::Unavailable(e.to_string()))?;
        self.kv()
            .put(&outcome_key(&report.draft), Bytes::from(value))
            .await?;
        let name = report
            .draft
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        self.audit()
            .append(
                AuditEntry::new(actor, "playbook.rehearse", name, "rehearsed").with_detail(
                    serde_json::json!({
                        "version": report.draft,
                        "against": report.active,
                        "messages": report.messages,
                        "changed": report.changed,
                        "sensitive_auto_replies": report.sensitive_auto_replies.len(),
                    }),
                ),
            )
            .await?;
        Ok(report)
    }

    /// How many sensitive messages the last rehearsal of `version` would have answered
    /// automatically, when that is more than none.
    pub(crate) async fn rehearsal_block(
        &self,
        version: &str,
    ) -> Result<Option<usize>, ControlError> {
        let Some(entry) = self.kv().get(&outcome_key(version)).await? else {
            return Ok(None);
        };
        let outcome: Option<Outcome> = serde_json::from_slice(&entry.value).ok();
        Ok(outcome
            .map(|o| o.sensitive_auto_replies)
            .filter(|found| *found > 0))
    }
}
