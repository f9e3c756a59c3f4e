//! `Moderation`: the moderators' live feed and case workflow over gRPC (role
//! moderator). `ListCases` also serves crisis and viewer tokens, without texts or notes.

use std::pin::Pin;

use firebreak_core::FirebreakError;
use firebreak_core::wire::Resolution;
use firebreak_core::wire::from_timestamp;
use firebreak_escalation::wire::{reply_to_pb, status_from_pb, written_to_pb};
use firebreak_escalation::{CaseError, CaseStatus, ConversationEntry};
use firebreak_proto::v1 as pb;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;
use crate::http::cases::{excerpt_of, reads_texts};

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
        let who = require(&self.state, request.metadata(), Role::Viewer)?;
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
        let mut listed = Vec::with_capacity(cases.len());
        for case in &cases {
            if reads_texts(who.role) {
                let mut case: pb::Case = case.into();
                case.excerpt = excerpt_of(&self.state, &case.id).await.unwrap_or_default();
                listed.push(case);
            } else {
                listed.push((&case.without_texts()).into());
            }
        }
        Ok(Response::new(pb::ListCasesResponse { cases: listed }))
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
        let entries = self
            .state
            .cases
            .conversation(&case.id)
            .await
            .map_err(status)?;
        let mut messages = Vec::new();
        let mut replies = Vec::new();
        for entry in &entries {
            match entry {
                ConversationEntry::Message(m) => messages.push(written_to_pb(m)),
                ConversationEntry::Reply(r) => replies.push(reply_to_pb(r)),
            }
        }
        Ok(Response::new(pb::GetCaseResponse {
            case: Some((&case).into()),
            messages,
            replies,
            texts_purged: entries.is_empty() && case.message_count > 0,
        }))
    }

    async fn snooze(
        &self,
        request: Request<pb::SnoozeRequest>,
    ) -> Result<Response<pb::SnoozeResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let request = request.into_inner();
        let until = request
            .until
            .as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| Status::invalid_argument("until: expected a time"))?;
        let case = self
            .state
            .cases
            .snooze(case_id(&request.id)?, &who.name, until)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SnoozeResponse {
            case: Some((&case).into()),
        }))
    }

    async fn reopen(
        &self,
        request: Request<pb::ReopenRequest>,
    ) -> Result<Response<pb::ReopenResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Moderator)?;
        let id = request.into_inner().id;
        let case = self
            .state
            .cases
            .reopen(case_id(&id)?, &who.name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReopenResponse {
            case: Some((&case).into()),
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
