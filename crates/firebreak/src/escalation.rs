//! Wiring of the moderation cases: the case service every role serves (the API reads
//! and changes cases from any replica), and what only the escalation role runs (the
//! `FB_ESCALATE` consumer and the SLA timer).

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use firebreak_core::{Author, HistoryEntry, Message, Priority, Stage, subjects};
use firebreak_escalation::memory::MemoryCases;
use firebreak_escalation::notify::{LogNotifier, Notifier, WebhookNotifier};
use firebreak_escalation::redis_repo::RedisCases;
use firebreak_escalation::sla::SlaTimer;
use firebreak_escalation::stage::EscalateStage;
use firebreak_escalation::{AuditSink, Case, CaseError, CaseRepo, Cases, ModeratorReply};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_pipeline::worker::WorkerConfig;
use firebreak_reply::{ManualReplies, ManualReply, ManualReplyError};
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What the case service is built from.
pub struct CaseDeps {
    pub redis_url: Option<String>,
    pub log: Arc<dyn MessageLog>,
    pub settings: LiveSettings,
    pub audit: Arc<dyn AuditSink>,
    pub manual_replies: Arc<dyn ManualReplies>,
    pub metrics: Metrics,
    /// How long texts stay with a resolved case.
    pub text_retention: std::time::Duration,
}

/// A moderator's reply on Resolve, through the reply service: the same connectors,
/// budgets and messaging windows as automatic replies.
struct ReplyService {
    manual: Arc<dyn ManualReplies>,
    log: Arc<dyn MessageLog>,
}

#[async_trait]
impl ModeratorReply for ReplyService {
    async fn send(&self, case: &Case, moderator: &str, text: &str) -> Result<String, CaseError> {
        // Answer the newest message of the case, as a human would.
        let last = *case
            .message_ids
            .last()
            .ok_or_else(|| CaseError::Invalid("the case has no message to answer".into()))?;
        let record = self
            .log
            .get(last)
            .await
            .map_err(|e| CaseError::Unavailable(e.to_string()))?
            .ok_or_else(|| CaseError::Invalid(format!("message {last} is no longer on record")))?;
        // The log keeps ids, not bodies; the reply needs where and when, not the text.
        let received_at = record
            .history
            .iter()
            .find(|h| h.stage == Stage::Accepted)
            .map_or_else(time::OffsetDateTime::now_utc, |h| h.at);
        let message = Message {
            id: last,
            channel: case.channel,
            external_id: record.external_id,
            thread_id: case.thread_id.clone(),
            visibility: case.visibility,
            author: Author {
                id: case.author_id.clone(),
                ..Author::default()
            },
            text: String::new(),
            language_hint: String::new(),
            attachments: Vec::new(),
            sent_at: received_at,
            received_at,
            mail: None,
            edit_of: None,
        };
        let reply = ManualReply {
            message,
            case_id: case.id.clone(),
            moderator: moderator.to_string(),
            text: text.to_string(),
        };
        match self.manual.send_manual_reply(reply).await {
            Ok(sent) => {
                // The message's history says a person answered it; the words stay with
                // the case, under its text retention.
                let entry = HistoryEntry {
                    at: time::OffsetDateTime::now_utc(),
                    stage: Stage::Replied,
                    detail: format!(
                        "moderator_reply by {moderator} via {} (case {})",
                        sent.connector, case.id
                    ),
                };
                if let Err(e) = self.log.record_stage(last, &entry, None).await {
                    warn!(message_id = %last, error = %e, "moderator reply not added to the message history");
                }
                Ok(sent.connector)
            }
            Err(ManualReplyError::OverBudget { retry_after }) => {
                Err(CaseError::ReplyOverBudget(retry_after))
            }
            Err(e @ (ManualReplyError::Invalid(_) | ManualReplyError::WindowClosed)) => {
                Err(CaseError::Invalid(e.to_string()))
            }
            Err(ManualReplyError::InFlight) => Err(CaseError::Conflict(
                "this reply is already being sent".into(),
            )),
            Err(e) => Err(CaseError::ReplyFailed(e.to_string())),
        }
    }
}

/// The case service on Redis (`--redis-url`) or in memory (embedded mode).
pub async fn cases(deps: CaseDeps, shutdown: &CancellationToken) -> anyhow::Result<Arc<Cases>> {
    let repo: Arc<dyn CaseRepo> = match &deps.redis_url {
        Some(url) => Arc::new(
            RedisCases::connect(url, shutdown.clone())
                .await
                .context("connecting the case store to redis")?,
        ),
        None => Arc::new(MemoryCases::new()),
    };
    let replies = ReplyService {
        manual: deps.manual_replies,
        log: deps.log,
    };
    Ok(Arc::new(
        Cases::new(repo, Arc::new(deps.settings), deps.audit, deps.metrics)
            .with_replies(Arc::new(replies))
            .with_config(firebreak_escalation::CasesConfig {
                text_retention: deps.text_retention,
                ..firebreak_escalation::CasesConfig::default()
            }),
    ))
}

/// The breach notifier: the chat webhook when configured, else the log.
pub fn notifier(url: Option<&str>) -> anyhow::Result<Arc<dyn Notifier>> {
    Ok(match url {
        Some(url) => {
            info!("sla breaches notify the configured webhook");
            Arc::new(WebhookNotifier::new(url).map_err(anyhow::Error::msg)?)
        }
        None => Arc::new(LogNotifier),
    })
}

/// The escalation role's `FB_ESCALATE` handler.
pub fn stage(cases: &Arc<Cases>, log: &Arc<dyn MessageLog>, metrics: &Metrics) -> EscalateStage {
    EscalateStage {
        log: log.clone(),
        cases: cases.clone(),
        metrics: metrics.clone(),
    }
}

/// One worker per priority lane of `FB_ESCALATE`, each on a consumer filtered on its
/// priority's subject: a backlog of P4 escalations holds the P4 lane only, and a P1
/// is fetched by the P1 lane's own workers at once. Each lane replaces the unfiltered
/// consumer of older releases (see `subjects::CONSUMER_ESCALATION_LEGACY`).
pub fn lanes() -> Vec<WorkerConfig> {
    Priority::ALL
        .iter()
        .map(|&priority| {
            let mut config = WorkerConfig::new(
                subjects::STREAM_ESCALATE,
                subjects::escalation_consumer(priority),
            );
            config.replaces = Some(subjects::CONSUMER_ESCALATION_LEGACY);
            config.consumer.filter_subject = Some(subjects::escalate(priority));
            config
        })
        .collect()
}

/// The escalation role's SLA timer.
pub fn sla_timer(cases: &Arc<Cases>, notifier: Arc<dyn Notifier>) -> SlaTimer {
    SlaTimer::new(cases.clone(), notifier)
}
