//! The escalation stage: files each message of `FB_ESCALATE` into its case. It consumes
//! its own stream, so escalations never wait behind the reply surge.

use std::sync::Arc;

use async_trait::async_trait;
use firebreak_bus::Delivery;
use firebreak_core::Outcome;
use firebreak_core::wire::decode_classified;
use firebreak_pipeline::worker::{HandleError, Handler};
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;
use tracing::info;

use crate::model::CaseError;
use crate::service::Cases;

pub struct EscalateStage {
    pub log: Arc<dyn MessageLog>,
    pub cases: Arc<Cases>,
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
        // Filing is idempotent per message, so a redelivery lands in the same case.
        let case_id = self
            .cases
            .escalate(&message, &classification)
            .await
            .map_err(|e: CaseError| HandleError::retry(e))?;
        let first = self
            .log
            .finish(
                &message,
                &Outcome::Escalated {
                    case_id: case_id.clone(),
                },
                time::OffsetDateTime::now_utc(),
            )
            .await
            .map_err(HandleError::retry)?;
        if first {
            let since = time::OffsetDateTime::now_utc() - message.received_at;
            self.metrics
                .outcome_after("escalated", since.try_into().unwrap_or_default());
            self.metrics
                .escalated(classification.flags.iter().map(|f| f.kind.as_str()));
            info!(message_id = %message.id, case_id, priority = classification.priority.as_str(), "escalated");
        }
        Ok(())
    }
}
