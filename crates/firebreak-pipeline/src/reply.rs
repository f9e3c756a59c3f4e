//! The reply stage: render the key question's answer and deliver it through the
//! connector for the message's channel.

use std::sync::Arc;

use async_trait::async_trait;
use firebreak_bus::{Bus, Delivery, Envelope};
use firebreak_connectors::{Connector, OutboundReply, RetryPolicy, send_with_retry};
use firebreak_core::wire::{decode_classified, encode_classified};
use firebreak_core::{Classification, Flag, Language, Message, Outcome, Priority, Route, subjects};
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;
use tracing::warn;

use crate::worker::{HandleError, Handler};

/// Renders the reply for a classified message: the variant's name and the text.
pub trait ReplyRenderer: Send + Sync + 'static {
    fn render(
        &self,
        message: &Message,
        classification: &Classification,
    ) -> Option<(String, String)>;
}

/// A fixed answer per language, used until a playbook provides templates.
#[derive(Debug, Default)]
pub struct FixedReplies;

impl ReplyRenderer for FixedReplies {
    fn render(
        &self,
        message: &Message,
        classification: &Classification,
    ) -> Option<(String, String)> {
        let question = classification.key_question.as_deref()?;
        let greeting = if message.author.handle.is_empty() {
            String::new()
        } else {
            format!("@{} ", message.author.handle)
        };
        let text = match classification.language {
            Language::Fr => format!(
                "{greeting}Merci pour votre message au sujet de « {question} ». Notre équipe vous répond au plus vite."
            ),
            _ => format!(
                "{greeting}Thanks for your message about \"{question}\". Our team will get back to you shortly."
            ),
        };
        Some((format!("{question}.fixed"), text))
    }
}

pub struct ReplyStage {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub connector: Arc<dyn Connector>,
    pub renderer: Arc<dyn ReplyRenderer>,
    pub retry: RetryPolicy,
    pub metrics: Metrics,
}

impl ReplyStage {
    /// Hands a message the reply stage cannot answer to a human instead.
    async fn escalate_instead(
        &self,
        message: &Message,
        mut classification: Classification,
        why: &str,
    ) -> Result<(), HandleError> {
        classification.route = Route::Escalate;
        classification.priority = classification.priority.min(Priority::P3);
        classification
            .flags
            .push(Flag::new("reply_failed", why, 1.0));
        classification
            .reasons
            .push(format!("automatic reply not possible: {why}"));
        let envelope = Envelope::new(
            subjects::escalate(classification.priority),
            encode_classified(message, &classification),
        )
        .with_msg_id(format!("{}:reply-escalated", message.id))
        .with_header(crate::MESSAGE_ID_HEADER, message.id.to_string());
        let ack = self
            .bus
            .publish(envelope)
            .await
            .map_err(HandleError::retry)?;
        ack.await.map_err(HandleError::retry)?;
        Ok(())
    }
}

#[async_trait]
impl Handler for ReplyStage {
    fn stage(&self) -> &'static str {
        "reply"
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandleError> {
        let (message, classification) =
            decode_classified(&delivery.payload).map_err(HandleError::permanent)?;
        // A redelivery of a message already answered must not answer twice.
        let record = self.log.get(message.id).await.map_err(HandleError::retry)?;
        if record.is_some_and(|r| r.outcome.is_some()) {
            return Ok(());
        }
        let Some((variant, text)) = self.renderer.render(&message, &classification) else {
            return self
                .escalate_instead(&message, classification, "no template")
                .await;
        };
        let reply = OutboundReply {
            message_id: message.id.to_string(),
            channel: message.channel,
            thread_id: message.thread_id.clone(),
            recipient_id: message.author.id.clone(),
            in_reply_to_external_id: message.external_id.clone(),
            visibility: message.visibility,
            text: text.clone(),
            idempotency_key: OutboundReply::auto_reply_key(&message.id.to_string()),
        };
        let delivered = match send_with_retry(self.connector.as_ref(), &reply, &self.retry, None)
            .await
        {
            Ok(delivered) => delivered,
            Err(failure) => {
                warn!(message_id = %message.id, attempts = failure.attempts, "reply failed, escalating");
                return self
                    .escalate_instead(&message, classification, "delivery failed")
                    .await;
            }
        };
        let outcome = Outcome::Replied {
            variant,
            text,
            connector: delivered.receipt.connector,
        };
        let first = self
            .log
            .record_outcome(message.id, &outcome, time::OffsetDateTime::now_utc())
            .await
            .map_err(HandleError::retry)?;
        if first {
            self.metrics.outcome("replied");
        }
        Ok(())
    }
}
