//! Moderators' replies: sent through the same connectors and the same cluster-wide
//! budgets as automatic ones, once per case and message however often Resolve is
//! retried.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_connectors::{Connector, OutboundReply, SendFailure, send_with_retry};
use firebreak_core::{Channel, Message, Visibility};
use time::OffsetDateTime;
use tracing::info;

use crate::engine::{Recipient, ReplyEngine, ticket};
use crate::port::{Claim, ClaimState, Grant, StateError};

/// A moderator's answer to one message of a case.
#[derive(Clone)]
pub struct ManualReply {
    /// The message answered (channel, thread and author say where the reply goes).
    pub message: Message,
    pub case_id: String,
    /// The moderator's token name, for the logs.
    pub moderator: String,
    pub text: String,
}

impl std::fmt::Debug for ManualReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualReply")
            .field("message_id", &self.message.id)
            .field("case_id", &self.case_id)
            .field("moderator", &self.moderator)
            .field("text_chars", &self.text.chars().count())
            .finish()
    }
}

/// What the platform accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManualReplySent {
    pub connector: String,
    /// True when this exact reply had already been sent (a retried Resolve).
    pub already_sent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ManualReplyError {
    /// Maps to 429 / RESOURCE_EXHAUSTED with `Retry-After`.
    #[error("reply budget exhausted, retry in {retry_after:?}")]
    OverBudget { retry_after: Duration },
    /// Maps to 400 / INVALID_ARGUMENT.
    #[error("invalid reply: {0}")]
    Invalid(&'static str),
    /// The platform no longer accepts a free-form reply to this person.
    #[error("the platform's messaging window for this conversation is closed")]
    WindowClosed,
    /// Maps to 503 / UNAVAILABLE.
    #[error(transparent)]
    State(#[from] StateError),
    /// The platform refused or could not be reached; maps to 502/503.
    #[error("delivery failed: {0}")]
    Delivery(#[from] SendFailure),
    /// A send of this reply is under way or ended unknown: not sent again.
    #[error("this reply is already being sent")]
    InFlight,
}

/// The port the escalation service calls from Resolve.
#[async_trait]
pub trait ManualReplies: Send + Sync + 'static {
    async fn send_manual_reply(
        &self,
        reply: ManualReply,
    ) -> Result<ManualReplySent, ManualReplyError>;
}

/// Longest free-form reply window for a human on each platform: Messenger and
/// Instagram allow a human agent 7 days, WhatsApp only its 24 h service window.
fn human_window(channel: Channel, visibility: Visibility) -> Option<Duration> {
    if visibility == Visibility::Public {
        return None;
    }
    match channel {
        Channel::Whatsapp => Some(Duration::from_secs(24 * 3600)),
        Channel::Messenger | Channel::Instagram | Channel::Facebook => {
            Some(Duration::from_secs(7 * 24 * 3600))
        }
        _ => None,
    }
}

pub struct ManualReplier {
    pub engine: Arc<ReplyEngine>,
    pub connector: Arc<dyn Connector>,
}

impl std::fmt::Debug for ManualReplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualReplier").finish_non_exhaustive()
    }
}

#[async_trait]
impl ManualReplies for ManualReplier {
    async fn send_manual_reply(
        &self,
        reply: ManualReply,
    ) -> Result<ManualReplySent, ManualReplyError> {
        let text = reply.text.trim();
        if text.is_empty() {
            return Err(ManualReplyError::Invalid("reply text is empty"));
        }
        if text.chars().count() > firebreak_triage::playbook::MAX_REPLY_CHARS
            && reply.message.channel == Channel::X
        {
            return Err(ManualReplyError::Invalid(
                "reply longer than 280 characters",
            ));
        }
        let message = &reply.message;
        if let Some(window) = human_window(message.channel, message.visibility)
            && OffsetDateTime::now_utc() - message.sent_at > window
        {
            return Err(ManualReplyError::WindowClosed);
        }
        let member = format!("{}:manual:{}", message.id, reply.case_id);
        let ledger = &self.engine.ledger;
        if let Some(claim) = ledger.get_claim(&member).await? {
            return match claim.state {
                ClaimState::Sent if claim.text == text => Ok(ManualReplySent {
                    connector: claim.connector,
                    already_sent: true,
                }),
                _ => Err(ManualReplyError::InFlight),
            };
        }
        let settings = self.engine.settings.current();
        let budgets = &settings.playbook().mode(settings.crisis_active()).budgets;
        match self
            .engine
            .take_budget(
                budgets,
                message.channel,
                &Recipient::of(message),
                &ticket(message),
            )
            .await?
        {
            Some(Grant::Granted) => {}
            Some(Grant::Wait(retry_after)) => {
                return Err(ManualReplyError::OverBudget { retry_after });
            }
            None => {
                return Err(ManualReplyError::OverBudget {
                    retry_after: Duration::from_secs(60),
                });
            }
        }
        let claim = Claim {
            state: ClaimState::Sending,
            variant: "manual".into(),
            text: text.to_string(),
            claimed_at_ms: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64,
            connector: String::new(),
        };
        if ledger.claim(&member, &claim).await?.is_some() {
            return Err(ManualReplyError::InFlight);
        }
        let outbound = OutboundReply {
            message_id: message.id.to_string(),
            channel: message.channel,
            thread_id: message.thread_id.clone(),
            recipient_id: message.author.id.clone(),
            in_reply_to_external_id: message.external_id.clone(),
            visibility: message.visibility,
            text: text.to_string(),
            idempotency_key: format!("firebreak-manual-{}-{}", reply.case_id, message.id),
            // A moderator answers long after a reply token expired: LINE gets a push.
            reply_token: None,
        };
        match send_with_retry(
            self.connector.as_ref(),
            &outbound,
            &self.engine.config.retry,
            None,
        )
        .await
        {
            Ok(delivered) => {
                ledger
                    .mark_sent(&member, &delivered.receipt.connector)
                    .await?;
                info!(message_id = %message.id, case_id = reply.case_id, moderator = reply.moderator, "manual reply sent");
                Ok(ManualReplySent {
                    connector: delivered.receipt.connector,
                    already_sent: false,
                })
            }
            Err(failure) => {
                if !failure.error.possibly_delivered() {
                    ledger.drop_claim(&member).await?;
                }
                Err(ManualReplyError::Delivery(failure))
            }
        }
    }
}
