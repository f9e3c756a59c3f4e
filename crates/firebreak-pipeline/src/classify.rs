//! The classify stage: decide reply, escalate or ignore, record why, and hand the
//! message to the next stage.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::{Bus, Delivery, Envelope};
use firebreak_core::rules::TriageContext;
use firebreak_core::wire::{decode_message, encode_classified};
use firebreak_core::{HistoryEntry, Message, Outcome, Route, Stage, Visibility, subjects};
use firebreak_store::conversation::{ConversationMemory, Marks, RecallWindows};
use firebreak_store::{CaseSubject, MessageLog, OpenCases};
use firebreak_telemetry::Metrics;

use crate::settings::{LiveSettings, Settings};
use crate::worker::{HandleError, Handler, WorkerConfig};

/// Deliveries the urgent lane's worker holds at once. Its traffic is the few messages
/// that look like a P1 kind, so a few slots suffice; they are its own, so a backlog on
/// `FB_INBOUND` holding every normal slot never delays it.
pub const URGENT_CONCURRENCY: usize = 16;

/// Classify's two lanes, each a worker of its own running the same [`ClassifyStage`]:
/// `FB_INBOUND` (everything) and `FB_URGENT` (what ingest's pre-screen found to look
/// like self-harm or a threat). Ingest publishes a message on one lane only, so each is
/// classified once; the urgent one is fetched at once whatever waits on the other.
pub fn lanes() -> Vec<WorkerConfig> {
    let normal = WorkerConfig::new(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY);
    let mut urgent = WorkerConfig::new(subjects::STREAM_URGENT, subjects::CONSUMER_CLASSIFY_URGENT);
    urgent.concurrency = URGENT_CONCURRENCY;
    urgent.batch = URGENT_CONCURRENCY;
    vec![urgent, normal]
}

pub struct ClassifyStage {
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    pub settings: LiveSettings,
    /// Author memory: recent complaints and last visibility. It also writes the
    /// classified record (`note_classified`), so it must be the same store as `log`.
    pub memory: Arc<dyn ConversationMemory>,
    /// Open private cases, for spill-over into public.
    pub open_cases: Arc<dyn OpenCases>,
    /// The case feed's copy of the open private cases: when it rules a case out, the
    /// lookup in `open_cases` is skipped (see `spill_index`). `None` looks up every
    /// public message.
    pub spill_index: Option<Arc<crate::spill_index::SpillIndex>>,
    pub metrics: Metrics,
    /// Inbound and negative counts for the control role's surge alerts.
    pub rates: Arc<crate::rates::RateRecorder>,
    /// Themes, volumes and near misses for `GET /v1/insights`.
    pub insights: Arc<crate::insights::InsightsRecorder>,
    /// The urgent lane's right of way over the normal one in this process.
    pub priority: Arc<crate::lane_priority::LanePriority>,
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
        let mode = settings.playbook().mode(crisis_active);
        let windows = RecallWindows {
            complaints: Duration::from_secs(mode.thresholds.repeat_complainer.window_secs),
            first_line: Duration::from_secs(
                mode.first_line
                    .acknowledgement
                    .as_ref()
                    .map_or(0, |a| a.window_secs),
            ),
        };
        let recall = self.memory.recall(message, windows);
        let open_case = async {
            let ruled_out = self
                .spill_index
                .as_ref()
                .is_some_and(|index| index.rules_out_open_private_case(message));
            if message.visibility != Visibility::Public || ruled_out {
                return Ok(None);
            }
            // The author's private case first, then the thread's, in one lookup.
            self.open_cases
                .first_open_private_case(&[
                    CaseSubject::Author(message.channel, &message.author.id),
                    CaseSubject::Thread(message.channel, &message.thread_id),
                ])
                .await
        };
        let (recall, open_case) = tokio::join!(recall, open_case);
        let recall = recall.map_err(HandleError::retry)?;
        Ok(TriageContext {
            crisis_active,
            open_private_case: open_case.map_err(HandleError::retry)?,
            recent_complaints: recall.recent_complaints,
            recent_first_line: recall.recent_first_line,
        })
    }

    /// Long enough for the longest window either mode looks back over.
    fn memory_retention(settings: &Settings) -> Duration {
        let window = [false, true]
            .into_iter()
            .map(|crisis| {
                let mode = settings.playbook().mode(crisis);
                let acknowledgement = mode
                    .first_line
                    .acknowledgement
                    .as_ref()
                    .map_or(0, |a| a.window_secs);
                mode.thresholds
                    .repeat_complainer
                    .window_secs
                    .max(acknowledgement)
            })
            .max()
            .unwrap_or(0);
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
        let urgent = delivery.subject.starts_with(subjects::URGENT_PREFIX);
        let _turn = urgent.then(|| self.priority.urgent());
        let settings = self.settings.current();
        let context = self.context(&message, &settings).await?;
        if !urgent {
            self.priority.yield_to_urgent().await;
        }
        let mut observed = firebreak_triage::Observed::default();
        let decision = settings
            .engine
            .classify_observed(&message, &context, &mut observed);
        self.rates.record(decision.sentiment);
        let floor = settings
            .playbook()
            .mode(context.crisis_active)
            .first_line
            .low_confidence_floor;
        let near_key_question = observed
            .nearest_key_question
            .as_ref()
            .filter(|(_, confidence)| decision.key_question.is_none() && *confidence >= floor)
            .map(|(id, _)| id.as_str());
        // A redelivery was counted on its first delivery.
        if delivery.delivered == 1 {
            self.insights
                .record(&message, &decision, &observed, near_key_question);
        }
        let marks = Marks {
            complaint: firebreak_triage::is_complaint(&decision),
            first_line: message.visibility == Visibility::Private
                && firebreak_triage::first_line::counts_towards_human(&decision),
        };
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
        // One write after the decision: the author's memory, and the record with its
        // classification. Ingest records the message after the stream's ack, so we may
        // get here first: the record is created if missing, before the next stage
        // can see the message.
        self.memory
            .note_classified(
                &message,
                marks,
                Self::memory_retention(&settings),
                &entry,
                &decision,
            )
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
                    .finish(&message, &Outcome::Ignored { reason }, now)
                    .await
                    .map_err(HandleError::retry)?;
                if first {
                    let since = now - message.received_at;
                    self.metrics
                        .outcome_after("ignored", since.try_into().unwrap_or_default());
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
