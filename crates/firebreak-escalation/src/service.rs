//! The case service: the workflow rules of [`crate::machine`] applied to a
//! [`CaseRepo`] with optimistic concurrency, plus the audit of every moderator action.

use std::sync::Arc;
use std::time::Duration;

use firebreak_core::{Classification, Message, Visibility};
use firebreak_telemetry::Metrics;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::conversation::{ConversationEntry, SentReply, WrittenMessage};
use crate::machine::{self, BreachKind, Transition};
use crate::model::{Case, CaseError, CaseEventKind, CaseStatus};
use crate::ports::{AuditRecord, AuditSink, ModeratorReply, SlaPolicy};
use crate::repo::{CaseRepo, Commit, Expect, Pointer, RepoError};

/// Where [`Cases::file_message`] put a message.
enum Filed {
    /// This call filed it, with its conversation entry.
    Now(String),
    /// An earlier delivery did.
    Before(String),
}

/// How the service groups and keeps cases.
#[derive(Clone, Debug)]
pub struct CasesConfig {
    /// An author's escalations in other threads join their recent case within this
    /// window (Alertmanager's group_wait/group_interval idea, by author).
    pub author_window: Duration,
    /// A thread whose case was resolved less than this long ago reopens that case when
    /// the author writes again; after it, a new case opens.
    pub reopen_window: Duration,
    /// How long `message id → case` is remembered (the platforms' retry horizon).
    pub message_memory: Duration,
    /// How long what people wrote is kept after their case is resolved.
    pub text_retention: Duration,
}

/// The default text retention: a week after resolution.
pub const DEFAULT_TEXT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for CasesConfig {
    fn default() -> Self {
        CasesConfig {
            author_window: Duration::from_secs(10 * 60),
            reopen_window: Duration::from_secs(24 * 3600),
            message_memory: firebreak_store::MESSAGE_RETENTION,
            text_retention: DEFAULT_TEXT_RETENTION,
        }
    }
}

/// An SLA breach, for the notifier.
#[derive(Clone, Debug)]
pub struct Breach {
    pub case: Case,
    pub kind: BreachKind,
    /// The tier now notified, by name from the playbook.
    pub tier_name: String,
}

/// Attempts at a read-modify-commit before giving up on a hot case.
const MAX_ATTEMPTS: u32 = 64;

pub struct Cases {
    repo: Arc<dyn CaseRepo>,
    sla: Arc<dyn SlaPolicy>,
    audit: Arc<dyn AuditSink>,
    replies: Option<Arc<dyn ModeratorReply>>,
    metrics: Metrics,
    config: CasesConfig,
}

impl std::fmt::Debug for Cases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cases").finish_non_exhaustive()
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn backoff(attempt: u32) {
    // Spread racing writers of one hot thread so they do not collide again in step.
    let jitter = rand::random::<u64>() % (1 + 2 * attempt.min(10) as u64);
    tokio::time::sleep(Duration::from_millis(jitter)).await;
}

impl Cases {
    pub fn new(
        repo: Arc<dyn CaseRepo>,
        sla: Arc<dyn SlaPolicy>,
        audit: Arc<dyn AuditSink>,
        metrics: Metrics,
    ) -> Self {
        Cases {
            repo,
            sla,
            audit,
            replies: None,
            metrics,
            config: CasesConfig::default(),
        }
    }

    pub fn with_replies(mut self, replies: Arc<dyn ModeratorReply>) -> Self {
        self.replies = Some(replies);
        self
    }

    pub fn with_config(mut self, config: CasesConfig) -> Self {
        self.config = config;
        self
    }

    pub fn repo(&self) -> &Arc<dyn CaseRepo> {
        &self.repo
    }

    pub(crate) fn sla_for(&self, case: &Case) -> crate::machine::SlaTarget {
        self.sla.target(case.priority)
    }

    pub async fn get(&self, id: &str) -> Result<Case, CaseError> {
        self.repo
            .get(id)
            .await?
            .ok_or_else(|| CaseError::NotFound(id.to_string()))
    }

    /// Cases in any of `statuses` (every unresolved one when empty), P1 first.
    pub async fn list(
        &self,
        statuses: &[CaseStatus],
        limit: usize,
    ) -> Result<Vec<Case>, CaseError> {
        let statuses = if statuses.is_empty() {
            &CaseStatus::UNRESOLVED[..]
        } else {
            statuses
        };
        let mut cases = Vec::new();
        for status in statuses {
            cases.extend(self.repo.list(*status, limit).await?);
        }
        if !statuses.contains(&CaseStatus::Resolved) {
            cases.sort_by(|a, b| a.index_score().total_cmp(&b.index_score()));
        }
        cases.truncate(limit);
        Ok(cases)
    }

    /// The unresolved private case of an author, or the thread's case when it is a
    /// private one. Classify uses it to spot a private case spilling into public.
    pub async fn open_private_case_for(
        &self,
        pointer: &Pointer,
    ) -> Result<Option<String>, CaseError> {
        self.first_open_private_case(std::slice::from_ref(pointer))
            .await
    }

    /// The first of `pointers` (in order) that leads to an unresolved private case,
    /// all read at once (one round trip on Redis).
    pub async fn first_open_private_case(
        &self,
        pointers: &[Pointer],
    ) -> Result<Option<String>, CaseError> {
        let unchecked: Vec<_> = pointers.iter().map(|p| (p.clone(), None)).collect();
        self.first_open_private_case_within(&unchecked).await
    }

    /// As [`Cases::first_open_private_case`], where a pointer paired with a channel only
    /// counts when its case is of that channel's family (the pointer written before
    /// families were part of the key names an author id on any platform).
    pub async fn first_open_private_case_within(
        &self,
        pointers: &[(Pointer, Option<firebreak_core::Channel>)],
    ) -> Result<Option<String>, CaseError> {
        let keys: Vec<Pointer> = pointers.iter().map(|(p, _)| p.clone()).collect();
        Ok(self
            .repo
            .pointed_cases(&keys)
            .await?
            .into_iter()
            .zip(pointers)
            .filter_map(|(case, (_, family))| {
                case.filter(|c| family.is_none_or(|ch| c.channel.family() == ch.family()))
            })
            .find(|c| !c.is_resolved() && c.visibility == Visibility::Private)
            .map(|c| c.id))
    }

    /// The unresolved private case of an author within the channel's family. A case
    /// opened before the family was part of the key is found through its old pointer,
    /// only if its own channel is of the same family.
    pub async fn open_private_case_of_author(
        &self,
        channel: firebreak_core::Channel,
        author: &str,
    ) -> Result<Option<String>, CaseError> {
        self.first_open_private_case_within(&[
            (Pointer::private(channel, author), None),
            (Pointer::UnscopedPrivate(author.to_string()), Some(channel)),
        ])
        .await
    }

    /// Files an escalated message into its case, opening one if needed, and keeps what
    /// was written with the case. Idempotent: a redelivered message returns the case it
    /// already went to (and stores its text again, in case the first attempt stopped
    /// between the two writes).
    pub async fn escalate(
        &self,
        message: &Message,
        classification: &Classification,
    ) -> Result<String, CaseError> {
        let entry = ConversationEntry::Message(WrittenMessage::new(message, classification));
        match self.file_message(message, classification, &entry).await? {
            Filed::Now(id) => Ok(id),
            Filed::Before(id) => {
                self.keep_message(&id, message, classification).await?;
                Ok(id)
            }
        }
    }

    /// Files the message and keeps its entry in the same commit; a message filed
    /// before is only looked up (the caller stores its entry again).
    async fn file_message(
        &self,
        message: &Message,
        classification: &Classification,
        entry: &ConversationEntry,
    ) -> Result<Filed, CaseError> {
        let sla = self.sla.target(classification.priority);
        let thread = Pointer::Thread(message.channel, message.thread_id.clone());
        let author = Pointer::Author(
            message.channel,
            message.visibility,
            message.author.id.clone(),
        );
        for attempt in 0..MAX_ATTEMPTS {
            // One read for the whole decision: the message's, the thread's and the
            // author's pointers, and their cases.
            let view = self
                .repo
                .filing_view(&Pointer::Message(message.id), &thread, &author)
                .await?;
            if let Some(id) = view.filed {
                return Ok(Filed::Before(id));
            }
            let now = now();
            // The commit expects the thread pointer to still hold what this decision was
            // based on; a writer that raced ahead makes it conflict and decide again.
            let reopenable = |c: &Case| {
                c.resolved_at.is_none_or(|at| {
                    now - at
                        <= time::Duration::try_from(self.config.reopen_window).unwrap_or_default()
                })
            };
            let target = match &view.thread_case {
                Some(case) if reopenable(case) => Some(case.clone()),
                _ => view.author_case.clone().filter(|c| !c.is_resolved()),
            };
            let transition = match &target {
                Some(case) => machine::add_message(case, message, classification, now, &sla),
                None => machine::open(
                    uuid::Uuid::now_v7().to_string(),
                    message,
                    classification,
                    now,
                    &sla,
                ),
            };
            let mut commit = Commit::new(
                transition.case.clone(),
                target.as_ref(),
                transition.event,
                now,
            )
            .set(
                Pointer::Message(message.id),
                Expect::Absent,
                Some(self.config.message_memory),
            )
            .set(thread.clone(), Expect::from_read(view.thread_held), None)
            .set(author.clone(), Expect::Any, Some(self.config.author_window));
            if transition.case.visibility == Visibility::Private {
                commit = commit.set(
                    Pointer::private(transition.case.channel, &transition.case.author_id),
                    Expect::Any,
                    None,
                );
            }
            match self.repo.commit_with_entry(&commit, entry).await {
                Ok(_) => {
                    if matches!(
                        transition.event,
                        CaseEventKind::Opened | CaseEventKind::Reopened
                    ) {
                        info!(case_id = %transition.case.id, priority = transition.case.priority.as_str(), event = transition.event.as_str(), "case opened");
                    }
                    return Ok(Filed::Now(transition.case.id));
                }
                Err(RepoError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CaseError::Unavailable("case too contended, retry".into()))
    }

    /// Reads, applies `step`, commits; again on a concurrent change. `step` returning
    /// `Ok(None)` means nothing to do (an idempotent repeat).
    pub(crate) async fn mutate<F>(&self, id: &str, mut step: F) -> Result<(Case, bool), CaseError>
    where
        F: FnMut(&Case, OffsetDateTime) -> Result<Option<Commit>, CaseError>,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let case = self.get(id).await?;
            let Some(commit) = step(&case, now())? else {
                return Ok((case, false));
            };
            match self.repo.commit(&commit).await {
                Ok(_) => return Ok((commit.case, true)),
                Err(RepoError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CaseError::Unavailable("case too contended, retry".into()))
    }

    pub(crate) fn commit_of(previous: &Case, t: Transition, at: OffsetDateTime) -> Commit {
        let resolved = t.case.is_resolved();
        let (channel, author) = (t.case.channel, t.case.author_id.clone());
        let commit = Commit::new(t.case, Some(previous), t.event, at);
        // Resolving clears the author's spill-over risk: no open private case remains.
        if resolved {
            commit
                .clear(Pointer::private(channel, &author))
                .clear(Pointer::UnscopedPrivate(author))
        } else {
            commit
        }
    }

    pub(crate) async fn audited(
        &self,
        actor: &str,
        action: &str,
        case: &Case,
        reason: &str,
    ) -> Result<(), CaseError> {
        self.audited_with(actor, action, case, reason, serde_json::Value::Null)
            .await
    }

    /// An audit entry with `extra` fields beside the case's state (never a text).
    pub(crate) async fn audited_with(
        &self,
        actor: &str,
        action: &str,
        case: &Case,
        reason: &str,
        extra: serde_json::Value,
    ) -> Result<(), CaseError> {
        let mut detail = serde_json::json!({
            "status": case.status.as_str(),
            "priority": case.priority.as_str(),
            "tier": case.tier,
            "version": case.version,
        });
        if let (Some(detail), serde_json::Value::Object(extra)) = (detail.as_object_mut(), extra) {
            detail.extend(extra);
        }
        let record = AuditRecord {
            actor: actor.to_string(),
            action: action.to_string(),
            subject: case.id.clone(),
            reason: reason.to_string(),
            detail,
        };
        // The change has committed: its entry is retried until it lands rather than
        // failing a request whose change stands.
        crate::audit_retry::append_until_landed(self.audit.clone(), record, self.metrics.clone())
            .await
            .map_err(CaseError::Unavailable)
    }

    /// Atomically makes `who` the case's owner. Two moderators racing: exactly one
    /// wins, the other gets a conflict naming the owner.
    pub async fn claim(&self, id: &str, who: &str) -> Result<Case, CaseError> {
        let (case, changed) = self
            .mutate(id, |c, now| {
                Ok(machine::claim(c, who, now)?.map(|t| Self::commit_of(c, t, now)))
            })
            .await?;
        if changed {
            self.audited(who, "case.claim", &case, "").await?;
        }
        Ok(case)
    }

    pub async fn acknowledge(&self, id: &str, who: &str) -> Result<Case, CaseError> {
        let (case, changed) = self
            .mutate(id, |c, now| {
                Ok(machine::acknowledge(c, who, now)?.map(|t| Self::commit_of(c, t, now)))
            })
            .await?;
        if changed {
            self.audited(who, "case.ack", &case, "").await?;
        }
        Ok(case)
    }

    /// Resolves with a note, after sending the optional reply to the author (a reply
    /// that cannot be sent leaves the case as it was).
    pub async fn resolve(
        &self,
        id: &str,
        who: &str,
        note: &str,
        reply: Option<&str>,
    ) -> Result<Case, CaseError> {
        let current = self.get(id).await?;
        machine::resolve(&current, who, note, now())?;
        let mut sent = None;
        if let Some(text) = reply.filter(|t| !t.trim().is_empty()) {
            let replies = self
                .replies
                .as_ref()
                .ok_or_else(|| CaseError::ReplyFailed("no reply connector configured".into()))?;
            let connector = replies.send(&current, who, text).await?;
            info!(case_id = id, connector, "moderator reply sent");
            let reply = SentReply {
                message_id: current.message_ids.last().copied(),
                text: text.to_string(),
                by: who.to_string(),
                connector,
                at: now(),
            };
            self.repo
                .put_entry(id, &ConversationEntry::Reply(reply.clone()))
                .await?;
            sent = Some(reply);
        }
        let (case, _) = self
            .mutate(id, |c, now| {
                Ok(Some(Self::commit_of(
                    c,
                    machine::resolve(c, who, note, now)?,
                    now,
                )))
            })
            .await?;
        self.repo
            .expire_entries(id, Some(self.config.text_retention))
            .await?;
        // The audit says a reply went out, where and how long; the words stay with the
        // case, under its retention.
        let extra = sent.map_or(serde_json::Value::Null, |r| {
            serde_json::json!({"reply": {
                "connector": r.connector,
                "message_id": r.message_id,
                "chars": r.text.chars().count(),
            }})
        });
        self.audited_with(who, "case.resolve", &case, note, extra)
            .await?;
        Ok(case)
    }

    pub async fn release(&self, id: &str, who: &str) -> Result<Case, CaseError> {
        let (case, _) = self
            .mutate(id, |c, now| {
                let sla = self.sla.target(c.priority);
                Ok(Some(Self::commit_of(
                    c,
                    machine::release(c, who, now, &sla)?,
                    now,
                )))
            })
            .await?;
        self.audited(who, "case.release", &case, "").await?;
        Ok(case)
    }

    pub async fn snooze(
        &self,
        id: &str,
        who: &str,
        until: OffsetDateTime,
    ) -> Result<Case, CaseError> {
        let (case, _) = self
            .mutate(id, |c, now| {
                Ok(Some(Self::commit_of(
                    c,
                    machine::snooze(c, who, until, now)?,
                    now,
                )))
            })
            .await?;
        self.audited(who, "case.snooze", &case, "").await?;
        Ok(case)
    }

    /// Fires every deadline that came, once cluster-wide: replicas racing on one case
    /// conflict on its version and the loser finds nothing left to do.
    pub async fn fire_due(&self, at: OffsetDateTime) -> Result<Vec<Breach>, CaseError> {
        let mut breaches = Vec::new();
        for id in self.repo.due(at, 256).await? {
            let mut fired = None;
            let result = self
                .mutate(&id, |c, now| {
                    let sla = self.sla.target(c.priority);
                    Ok(machine::on_deadline(c, now.max(at), &sla).map(|(t, kind)| {
                        fired = kind.map(|k| (k, sla.tier_name(t.case.tier).to_string()));
                        Self::commit_of(c, t, now)
                    }))
                })
                .await;
            match result {
                Ok((case, true)) => {
                    if let Some((kind, tier_name)) = fired {
                        self.metrics.sla_breached(case.priority.as_str(), case.tier);
                        warn!(case_id = %case.id, kind = kind.as_str(), tier = case.tier, "sla breached, escalating");
                        breaches.push(Breach {
                            case,
                            kind,
                            tier_name,
                        });
                    }
                }
                Ok((_, false)) => {}
                Err(CaseError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(breaches)
    }
}
