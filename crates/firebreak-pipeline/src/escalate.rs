//! The escalation stage: group the message into its thread's case for a moderator.

use std::sync::Arc;

use async_trait::async_trait;
use firebreak_bus::Delivery;
use firebreak_core::Outcome;
use firebreak_core::wire::decode_classified;
use firebreak_store::{CaseStore, MessageLog};
use firebreak_telemetry::Metrics;
use tracing::info;

use crate::worker::{HandleError, Handler};

pub struct EscalateStage {
    pub log: Arc<dyn MessageLog>,
    pub cases: Arc<dyn CaseStore>,
    pub metrics: Metrics,
}

#[async_trait]
impl Handler for EscalateStage {
    fn stage(&self) -> &'static str {
        "escalation"
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandleError> {
        let (message, classification) =
            decode_classified(&delivery.payload).map_err(HandleError::permanent)?;
        // Adding to a case is idempotent, so a redelivery lands in the same case.
        let case_id = self
            .cases
            .escalate(&message, &classification)
            .await
            .map_err(HandleError::retry)?;
        let first = self
            .log
            .record_outcome(
                message.id,
                &Outcome::Escalated {
                    case_id: case_id.clone(),
                },
                time::OffsetDateTime::now_utc(),
            )
            .await
            .map_err(HandleError::retry)?;
        if first {
            self.metrics.outcome("escalated");
            info!(message_id = %message.id, case_id, priority = classification.priority.as_str(), "escalated");
        }
        Ok(())
    }
}
