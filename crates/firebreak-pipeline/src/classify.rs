//! The classify stage: decide reply, escalate or ignore, record why, and hand the
//! message to the next stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use firebreak_bus::{Bus, Delivery, Envelope};
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::wire::{decode_message, encode_classified};
use firebreak_core::{HistoryEntry, Message, Outcome, Route, Stage, subjects};
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;

use crate::worker::{HandleError, Handler};

pub struct ClassifyStage {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub triage: Arc<dyn Triage>,
    pub crisis_active: Arc<AtomicBool>,
    pub metrics: Metrics,
}

impl ClassifyStage {
    fn context(&self, _message: &Message) -> TriageContext {
        TriageContext {
            crisis_active: self.crisis_active.load(Ordering::Relaxed),
            ..TriageContext::default()
        }
    }
}

#[async_trait]
impl Handler for ClassifyStage {
    fn stage(&self) -> &'static str {
        "classify"
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandleError> {
        let message = decode_message(&delivery.payload).map_err(HandleError::permanent)?;
        // Ingest records the message after the stream's ack; we may get here first.
        self.log
            .record_accepted(&message)
            .await
            .map_err(HandleError::retry)?;
        let decision = self.triage.classify(&message, &self.context(&message));
        let now = time::OffsetDateTime::now_utc();
        let entry = HistoryEntry {
            at: now,
            stage: Stage::Classified,
            detail: format!(
                "route {} {}",
                decision.route.as_str(),
                decision.priority.as_str()
            ),
        };
        self.log
            .record_stage(message.id, &entry, Some(&decision))
            .await
            .map_err(HandleError::retry)?;
        let subject = match decision.route {
            Route::Ignore => {
                let reason = decision
                    .reasons
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "ignored by rule".into());
                let first = self
                    .log
                    .record_outcome(message.id, &Outcome::Ignored { reason }, now)
                    .await
                    .map_err(HandleError::retry)?;
                if first {
                    self.metrics.outcome("ignored");
                }
                return Ok(());
            }
            Route::Reply => subjects::reply(message.channel),
            Route::Escalate => subjects::escalate(decision.priority),
        };
        // The msg id makes a redelivered classification publish a no-op in the stream.
        let envelope = Envelope::new(subject, encode_classified(&message, &decision))
            .with_msg_id(format!("{}:routed", message.id))
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
