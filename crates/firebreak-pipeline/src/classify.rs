//! The classify stage: decide reply, escalate or ignore, record why, and hand the
//! message to the next stage.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::{Bus, Delivery, Envelope};
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::wire::{decode_message, encode_classified};
use firebreak_core::{HistoryEntry, Message, Outcome, Route, Stage, Visibility, subjects};
use firebreak_store::conversation::ConversationMemory;
use firebreak_store::{CaseSubject, MessageLog, OpenCases};
use firebreak_telemetry::Metrics;

use crate::settings::{LiveSettings, Settings};
use crate::worker::{HandleError, Handler};

pub struct ClassifyStage {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub settings: LiveSettings,
    /// Author memory: recent complaints and last visibility.
    pub memory: Arc<dyn ConversationMemory>,
    /// Open private cases, for spill-over into public.
    pub open_cases: Arc<dyn OpenCases>,
    pub metrics: Metrics,
    /// Inbound and negative counts for the control role's surge alerts.
    pub rates: Arc<crate::rates::RateRecorder>,
}

impl ClassifyStage {
    /// Gathers what the engine needs beyond the message: crisis mode, the author's
    /// recent complaints and, for a public message, an open private case of the same
    /// author or thread (the spill-over the product exists to catch).
    async fn context(
        &self,
        message: &Message,
        settings: &Settings,
    ) -> Result<TriageContext, HandleError> {
        let crisis_active = settings.crisis_active();
        let window = Duration::from_secs(
            settings
                .playbook()
                .mode(crisis_active)
                .thresholds
                .repeat_complainer
                .window_secs,
        );
        let recall = self.memory.recall(message, window);
        let open_case = async {
            if message.visibility != Visibility::Public {
                return Ok(None);
            }
            let by_author = self
                .open_cases
                .open_private_case_for(CaseSubject::Author(&message.author.id))
                .await?;
            match by_author {
                Some(case) => Ok(Some(case)),
                None => {
                    self.open_cases
                        .open_private_case_for(CaseSubject::Thread(
                            message.channel,
                            &message.thread_id,
                        ))
                        .await
                }
            }
        };
        let (recall, open_case) = tokio::join!(recall, open_case);
        Ok(TriageContext {
            crisis_active,
            open_private_case: open_case.map_err(HandleError::retry)?,
            recent_complaints: recall.map_err(HandleError::retry)?.recent_complaints,
        })
    }

    fn memory_retention(settings: &Settings) -> Duration {
        let window = settings
            .playbook()
            .mode(true)
            .thresholds
            .repeat_complainer
            .window_secs
            .max(
                settings
                    .playbook()
                    .mode(false)
                    .thresholds
                    .repeat_complainer
                    .window_secs,
            );
        Duration::from_secs(window.max(24 * 3600))
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
        let settings = self.settings.current();
        let context = self.context(&message, &settings).await?;
        let decision = settings.engine.classify(&message, &context);
        self.rates.record(decision.sentiment);
        let complaint = firebreak_triage::is_complaint(&decision);
        self.memory
            .note(&message, complaint, Self::memory_retention(&settings))
            .await
            .map_err(HandleError::retry)?;
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
        let envelope = crate::with_trace(
            Envelope::new(subject, encode_classified(&message, &decision))
                .with_msg_id(format!("{}:routed", message.id))
                .with_header(crate::MESSAGE_ID_HEADER, message.id.to_string()),
        );
        let ack = self
            .bus
            .publish(envelope)
            .await
            .map_err(HandleError::retry)?;
        ack.await.map_err(HandleError::retry)?;
        Ok(())
    }
}
