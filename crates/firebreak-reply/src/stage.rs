//! The reply stage: a pipeline [`Handler`] on `FB_REPLY`. It asks the
//! [`ReplyEngine`] what to do (a decision to send holds the reply's claim, made with
//! its variant), sends, and records the outcome, so that a redelivered message never
//! produces a second reply.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::{Bus, Delivery, Envelope};
use firebreak_connectors::{Connector, OutboundReply, ReplyToken, send_with_retry};
use firebreak_core::wire::{decode_classified, encode_classified};
use firebreak_core::{
    Classification, Flag, HistoryEntry, Message, Outcome, Priority, Route, Stage, Visibility,
    subjects,
};
use firebreak_pipeline::MESSAGE_ID_HEADER;
use firebreak_pipeline::worker::{HandleError, Handler};
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::engine::{Decision, ReplyEngine};
use crate::keys;
use crate::port::{Claim, ClaimState, VariantQuery};

pub struct ReplyStage {
    pub engine: Arc<ReplyEngine>,
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub connector: Arc<dyn Connector>,
    pub metrics: Metrics,
}

/// The platform request for the automatic reply to `message`.
pub fn outbound(message: &Message, text: &str) -> OutboundReply {
    OutboundReply {
        message_id: message.id.to_string(),
        channel: message.channel,
        thread_id: message.thread_id.clone(),
        recipient_id: message.author.id.clone(),
        in_reply_to_external_id: message.external_id.clone(),
        visibility: message.visibility,
        text: text.to_string(),
        idempotency_key: OutboundReply::auto_reply_key(&message.id.to_string()),
        reply_token: ReplyToken::of(message),
    }
}

fn retry(e: impl std::fmt::Display) -> HandleError {
    HandleError::retry(e)
}

impl ReplyStage {
    async fn record(&self, message: &Message, outcome: Outcome) -> Result<(), HandleError> {
        let name = outcome.stage().as_str();
        let first = self
            .log
            .finish(message, &outcome, OffsetDateTime::now_utc())
            .await
            .map_err(retry)?;
        if first {
            let since = OffsetDateTime::now_utc() - message.received_at;
            self.metrics
                .outcome_after(name, since.try_into().unwrap_or_default());
        }
        Ok(())
    }

    /// Hands the message to a human: published to the escalation stream, which
    /// records the `escalated` outcome with the case id.
    async fn escalate(
        &self,
        message: &Message,
        mut classification: Classification,
        why: &'static str,
    ) -> Result<(), HandleError> {
        classification.route = Route::Escalate;
        classification.priority = classification.priority.min(Priority::P3);
        classification
            .flags
            .push(Flag::new("no_automatic_reply", why, 1.0));
        classification
            .reasons
            .push(format!("automatic reply not sent: {why}"));
        let envelope = Envelope::new(
            subjects::escalate(classification.priority),
            encode_classified(message, &classification),
        )
        .with_msg_id(format!("{}:reply-escalated", message.id))
        .with_header(MESSAGE_ID_HEADER, message.id.to_string());
        let ack = self.bus.publish(envelope).await.map_err(retry)?;
        ack.await.map_err(retry)?;
        info!(message_id = %message.id, why, "reply escalated");
        Ok(())
    }

    /// Puts the message back for later: a nak with a delay, counted apart from
    /// failures, and a `deferred` waypoint in its history the first time.
    async fn defer(
        &self,
        message: &Message,
        delay: Duration,
        reason: &'static str,
    ) -> Result<(), HandleError> {
        let count = self
            .engine
            .ledger
            .count_deferral(&message.id.to_string())
            .await
            .map_err(retry)?;
        if count == 1 {
            let entry = HistoryEntry {
                at: OffsetDateTime::now_utc(),
                stage: Stage::Deferred,
                detail: reason.to_string(),
            };
            self.log
                .record_stage(message.id, &entry, None)
                .await
                .map_err(retry)?;
            self.metrics.deferred(message.channel.as_str());
        }
        let delay = delay
            .max(Duration::from_millis(5))
            .min(self.engine.config.max_defer);
        Err(HandleError::Retry {
            reason: reason.to_string(),
            delay: Some(delay),
        })
    }

    /// A message that already holds a claim: the reply was sent, is being sent, or its
    /// sender died between the claim and the platform's answer.
    async fn reconcile(
        &self,
        message: &Message,
        classification: Classification,
        claim: Claim,
    ) -> Result<(), HandleError> {
        let outcome = |connector: String| Outcome::Replied {
            variant: claim.variant.clone(),
            text: claim.text.clone(),
            connector,
        };
        if claim.state == ClaimState::Sent {
            return self.record(message, outcome(claim.connector.clone())).await;
        }
        // Aged by the ledger's clock, which stamped the claim: another replica's
        // clock may be seconds off this one's.
        let now = self.engine.ledger.clock_ms().await.map_err(retry)?;
        let age = Duration::from_millis(now.saturating_sub(claim.claimed_at_ms));
        let lease = self.engine.config.claim_lease;
        if age < lease {
            // Another worker may still be sending it: wait for it to finish.
            let wait = lease - age + Duration::from_millis(200);
            return self.defer(message, wait, "reply in flight elsewhere").await;
        }
        let reply = outbound(message, &claim.text);
        if !self.connector.deduplicates_by_idempotency_key(&reply) {
            // At most once: the platform cannot drop a repeat, and a duplicate reply is
            // worse than a human checking one thread.
            warn!(message_id = %message.id, "reply outcome unknown after a crash, escalating");
            return self
                .escalate(
                    message,
                    classification,
                    "reply outcome unknown after a crash",
                )
                .await;
        }
        // The receiver drops a repeat by idempotency key: sending again is safe.
        self.deliver(message, classification, &claim.variant, &claim.text)
            .await
    }

    /// Sends a claimed reply and records the result.
    async fn deliver(
        &self,
        message: &Message,
        classification: Classification,
        variant: &str,
        text: &str,
    ) -> Result<(), HandleError> {
        let id = message.id.to_string();
        let reply = outbound(message, text);
        match send_with_retry(
            self.connector.as_ref(),
            &reply,
            &self.engine.config.retry,
            None,
        )
        .await
        {
            Ok(delivered) => {
                let connector = delivered.receipt.connector;
                let outcome = Outcome::Replied {
                    variant: variant.to_string(),
                    text: text.to_string(),
                    connector: connector.clone(),
                };
                // The outcome is what a redelivery checks first, so once it is written
                // the claim need not say `sent`. Only when it cannot be written does
                // the claim carry the news, for a redelivery to record it from.
                if let Err(e) = self.record(message, outcome).await {
                    self.engine
                        .ledger
                        .mark_sent(&id, &connector)
                        .await
                        .map_err(retry)?;
                    return Err(e);
                }
                let question = match classification.first_line {
                    Some(_) => None,
                    None => classification.key_question.as_deref(),
                };
                self.metrics.reply_sent(message.channel.as_str(), question);
                // No line to leave: the channel budget took the message out of its
                // line when it granted the slot.
                Ok(())
            }
            Err(failure) if failure.error.possibly_delivered() => {
                self.metrics
                    .connector_error(message.channel.as_str(), failure.error.kind());
                // Unknown: the claim stays "sending" and a human checks.
                warn!(message_id = %message.id, kind = failure.error.kind(), "reply may have been delivered, escalating");
                self.escalate(message, classification, "reply delivery unknown")
                    .await
            }
            Err(failure) => {
                self.metrics
                    .connector_error(message.channel.as_str(), failure.error.kind());
                // Certainly not delivered: the claim goes, so a later attempt may send.
                self.engine.ledger.drop_claim(&id).await.map_err(retry)?;
                if let Some(wait) = failure.retry_after() {
                    return self.defer(message, wait, "platform rate limit").await;
                }
                warn!(message_id = %message.id, kind = failure.error.kind(), attempts = failure.attempts, "reply failed, escalating");
                self.engine
                    .release(message, &classification, false)
                    .await
                    .map_err(retry)?;
                self.escalate(message, classification, "delivery failed")
                    .await
            }
        }
    }

    async fn handle_message(
        &self,
        message: &Message,
        classification: Classification,
    ) -> Result<(), HandleError> {
        let id = message.id.to_string();
        // The claim, whether the message already has an outcome, the variants its
        // thread used and, when it may be answered, its thread slot and author
        // cooldown: one round trip on Redis.
        let now = OffsetDateTime::now_utc();
        let reservation = self.engine.reservation(message, &classification, now);
        let query = classification.reply_set().map(|question| {
            (
                keys::thread(message),
                keys::group(question, classification.language),
                keys::ring(message.channel, question, classification.language),
            )
        });
        let (lookup, reserved) = self
            .engine
            .state
            .lookup_and_reserve(
                &id,
                query.as_ref().map(|(thread, group, ring)| VariantQuery {
                    thread,
                    group,
                    ring: (message.visibility == Visibility::Public).then_some(ring.as_str()),
                }),
                reservation.as_ref().map(|r| r.reserve()).as_ref(),
            )
            .await
            .map_err(retry)?;
        let finished = match lookup.finished {
            Some(finished) => finished,
            None => self
                .log
                .get(message.id)
                .await
                .map_err(retry)?
                .is_some_and(|r| r.outcome.is_some()),
        };
        if finished {
            return Ok(());
        }
        if let Some(claim) = lookup.claim {
            return self.reconcile(message, classification, claim).await;
        }
        let decision = self
            .engine
            .decide_with(message, &classification, now, lookup.variants, reserved)
            .await
            .map_err(retry)?;
        match decision {
            Decision::Send {
                variant,
                text,
                slept,
            } => {
                if !slept.is_zero() {
                    // Told to wait, and waited in the worker: still a budget wait.
                    self.metrics.budget_wait(message.channel.as_str());
                }
                self.metrics.budget_granted(message.channel.as_str());
                // Claimed by the engine with the variant: whoever claims first sends,
                // once.
                self.deliver(message, classification, &variant, &text).await
            }
            Decision::Claimed(existing) => {
                self.metrics.budget_granted(message.channel.as_str());
                self.reconcile(message, classification, existing).await
            }
            Decision::Defer { delay, reason } => {
                self.metrics.budget_wait(message.channel.as_str());
                self.defer(message, delay, reason).await
            }
            Decision::Ignore(why) => {
                self.engine
                    .release(message, &classification, true)
                    .await
                    .map_err(retry)?;
                self.record(
                    message,
                    Outcome::Ignored {
                        reason: why.to_string(),
                    },
                )
                .await
            }
            Decision::Escalate(why) => {
                self.engine
                    .release(message, &classification, false)
                    .await
                    .map_err(retry)?;
                self.escalate(message, classification, why).await
            }
        }
    }

    /// Real failures so far: deliveries that were not deferrals. Past the limit the
    /// message is dead-lettered, since the consumer's own limit is set for deferrals.
    async fn give_up(&self, message: &Message, delivered: u64) -> bool {
        match self.engine.ledger.deferrals(&message.id.to_string()).await {
            Ok(deferrals) => {
                delivered.saturating_sub(u64::from(deferrals))
                    >= u64::from(self.engine.config.max_failures)
            }
            // Cannot count: keep trying; nothing progresses while the store is down.
            Err(_) => false,
        }
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
        match self.handle_message(&message, classification).await {
            Err(HandleError::Retry {
                reason,
                delay: None,
            }) if self.give_up(&message, delivery.delivered).await => {
                Err(HandleError::Permanent { reason })
            }
            other => other,
        }
    }
}
