//! `DeadLetters`: list, show and replay what a stage gave up on (admin role). Replays
//! are audited (`dlq.replay`) with the actor, the reason and the message id.

use firebreak_control::AuditEntry;
use firebreak_core::{ErrorCode, FirebreakError, MessageId};
use firebreak_pipeline::dead_letters::{DeadLetter, DeadLetters, DlqError};
use firebreak_proto::v1 as pb;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;

#[derive(Clone, Debug)]
pub struct DeadLettersService {
    state: AppState,
}

impl DeadLettersService {
    pub fn new(state: AppState) -> Self {
        DeadLettersService { state }
    }

    pub fn into_server(self) -> pb::dead_letters_server::DeadLettersServer<Self> {
        pb::dead_letters_server::DeadLettersServer::new(self)
            .max_decoding_message_size(super::MAX_CONTROL_MESSAGE_BYTES)
    }

    fn dlq(&self) -> DeadLetters {
        DeadLetters {
            bus: self.state.bus.clone(),
            log: self.state.log.clone(),
        }
    }

    /// The entry with the message's current status, when the store knows it.
    async fn proto(&self, d: &DeadLetter) -> pb::DeadLetter {
        let status = match MessageId::parse(&d.message_id) {
            Some(id) => match self.state.log.get(id).await {
                Ok(Some(record)) => record.status.as_str().to_string(),
                _ => String::new(),
            },
            None => String::new(),
        };
        pb::DeadLetter {
            sequence: d.sequence,
            stage: d.stage.clone(),
            original_subject: d.original_subject.clone(),
            reason: d.reason.clone(),
            message_id: d.message_id.clone(),
            at: d.at.clone(),
            deliveries: d.deliveries,
            message_status: status,
        }
    }
}

fn status(e: DlqError) -> Status {
    let code = match &e {
        DlqError::NotFound(_) => ErrorCode::NotFound,
        DlqError::NotReplayable(..) | DlqError::AlreadyFinished(_) => ErrorCode::Conflict,
        DlqError::Bus(_) | DlqError::Store(_) => ErrorCode::Unavailable,
    };
    to_status(FirebreakError::new(code, e.to_string()))
}

#[tonic::async_trait]
impl pb::dead_letters_server::DeadLetters for DeadLettersService {
    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        require(&self.state, request.metadata(), Role::Admin)?;
        let limit = match request.get_ref().limit {
            0 => 50,
            n => n as usize,
        };
        let entries = self.dlq().list(limit).await.map_err(status)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            out.push(self.proto(entry).await);
        }
        Ok(Response::new(pb::ListDeadLettersResponse { entries: out }))
    }

    async fn get_dead_letter(
        &self,
        request: Request<pb::GetDeadLetterRequest>,
    ) -> Result<Response<pb::GetDeadLetterResponse>, Status> {
        require(&self.state, request.metadata(), Role::Admin)?;
        let entry = self
            .dlq()
            .get(request.get_ref().sequence)
            .await
            .map_err(status)?;
        // History lines are text-free by construction (stages and short details).
        let history = match MessageId::parse(&entry.message_id) {
            Some(id) => match self.state.log.get(id).await {
                Ok(Some(record)) => record
                    .history
                    .iter()
                    .map(|h| format!("{} {} {}", h.at, h.stage.as_str(), h.detail))
                    .collect(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        Ok(Response::new(pb::GetDeadLetterResponse {
            entry: Some(self.proto(&entry).await),
            history,
        }))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Admin)?;
        let request = request.into_inner();
        let reason = request.reason.trim();
        if reason.is_empty() || reason.len() > 500 {
            return Err(to_status(FirebreakError::invalid(
                "reason",
                "say what was fixed (1 to 500 bytes)",
            )));
        }
        let replayed = self
            .dlq()
            .replay(request.sequence, &who.name, reason)
            .await
            .map_err(status)?;
        let d = &replayed.dead_letter;
        self.state.metrics.dlq_replayed(&d.stage);
        info!(sequence = d.sequence, message_id = %d.message_id, stage = %d.stage, actor = %who.name, "dead letter replayed");
        let entry = AuditEntry::new(&who.name, "dlq.replay", &d.message_id, reason).with_detail(
            serde_json::json!({
                "sequence": d.sequence,
                "stage": d.stage,
                "failure": d.reason,
                "stream_sequence": replayed.stream_sequence,
            }),
        );
        // The replay happened; an audit failure is logged rather than reported as a
        // failed replay the operator might repeat.
        if let Err(e) = self.state.control.audit().append(entry).await {
            warn!(error = %e, sequence = d.sequence, "could not audit a dead-letter replay");
        }
        Ok(Response::new(pb::ReplayDeadLetterResponse {
            entry: Some(self.proto(d).await),
            stream_sequence: replayed.stream_sequence,
        }))
    }
}
