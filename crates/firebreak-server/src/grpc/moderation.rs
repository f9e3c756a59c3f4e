//! `Moderation`: the moderators' live feed and case workflow over gRPC (role moderator).

use std::pin::Pin;

use firebreak_core::FirebreakError;
use firebreak_core::wire::Resolution;
use firebreak_escalation::wire::status_from_pb;
use firebreak_escalation::{CaseError, CaseStatus};
use firebreak_proto::v1 as pb;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;

/// Most cases one `ListCases` returns.
const MAX_LIST: usize = 1000;

#[derive(Clone, Debug)]
pub struct ModerationService {
    state: AppState,
}

impl ModerationService {
    pub fn new(state: AppState) -> Self {
        ModerationService { state }
    }

    pub fn into_server(self) -> pb::moderation_server::ModerationServer<Self> {
        pb::moderation_server::ModerationServer::new(self)
            .max_decoding_message_size(super::MAX_CONTROL_MESSAGE_BYTES)
    }
}

fn status(e: CaseError) -> Status {
    to_status(FirebreakError::from(e))
}

fn case_id(id: &str) -> Result<&str, Status> {
    if id.is_empty() || id.len() > 128 {
        return Err(Status::invalid_argument("id: expected a case id"));
    }
    Ok(id)
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::moderation_server::Moderation for ModerationService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let slot = self
            .state
            .watch_limit
            .acquire(&who.name)
            .map_err(to_status)?;
        let cursor = request.into_inner().cursor;
        let events = self.state.cases.watch(cursor).map(move |event| {
            // The slot lives as long as the stream; the client leaving frees it.
            let _held = &slot;
            event
                .map(|e| pb::WatchResponse {
                    event: Some((&e).into()),
                })
                .map_err(status)
        });
        Ok(Response::new(Box::pin(events)))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        require(&self.state, request.metadata(), Role::Moderator)?;
        let request = request.into_inner();
        let statuses = request
            .status
            .iter()
            .map(|s| status_from_pb(*s).ok_or_else(|| Status::invalid_argument("status: unknown")))
            .collect::<Result<Vec<CaseStatus>, _>>()?;
        let limit = match request.limit {
            0 => 100,
            n => (n as usize).min(MAX_LIST),
        };
        let cases = self
            .state
            .cases
            .list(&statuses, limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListCasesResponse {
            cases: cases.iter().map(Into::into).collect(),
        }))
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::GetCaseResponse>, Status> {
        require(&self.state, request.metadata(), Role::Moderator)?;
        let request = request.into_inner();
        let case = self
            .state
            .cases
            .get(case_id(&request.id)?)
            .await
            .map_err(status)?;
        let mut messages = Vec::new();
        for id in &case.message_ids {
            if let Some(message) = crate::http::cases::thread_message(&self.state, *id).await {
                messages.push(message);
            }
        }
        Ok(Response::new(pb::GetCaseResponse {
            case: Some((&case).into()),
            messages,
        }))
    }

    async fn claim(
        &self,
        request: Request<pb::ClaimRequest>,
    ) -> Result<Response<pb::ClaimResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let id = request.into_inner().id;
        let case = self
            .state
            .cases
            .claim(case_id(&id)?, &who.name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ClaimResponse {
            case: Some((&case).into()),
        }))
    }

    async fn acknowledge(
        &self,
        request: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::AcknowledgeResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let id = request.into_inner().id;
        let case = self
            .state
            .cases
            .acknowledge(case_id(&id)?, &who.name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AcknowledgeResponse {
            case: Some((&case).into()),
        }))
    }

    async fn resolve(
        &self,
        request: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::ResolveResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let request = request.into_inner();
        let id = case_id(&request.id)?.to_owned();
        let resolution = Resolution::try_from(request).map_err(to_status)?;
        let case = self
            .state
            .cases
            .resolve(
                &id,
                &who.name,
                &resolution.note,
                resolution.reply.as_deref(),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ResolveResponse {
            case: Some((&case).into()),
        }))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let id = request.into_inner().id;
        let case = self
            .state
            .cases
            .release(case_id(&id)?, &who.name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReleaseResponse {
            case: Some((&case).into()),
        }))
    }
}
