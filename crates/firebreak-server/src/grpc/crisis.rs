//! `CrisisControl`: `GetMode`, `SetMode`, `WatchMode` and `ListAudit`, with the same
//! roles and errors as the HTTP routes.

use std::pin::Pin;

use firebreak_control::{ModeChange, ModeEvent, ModeEventKind};
use firebreak_core::CrisisMode;
use firebreak_core::wire::timestamp;
use firebreak_proto::v1 as pb;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;

#[derive(Clone, Debug)]
pub struct CrisisControlService {
    state: AppState,
}

impl CrisisControlService {
    pub fn new(state: AppState) -> Self {
        CrisisControlService { state }
    }

    pub fn into_server(self) -> pb::crisis_control_server::CrisisControlServer<Self> {
        pb::crisis_control_server::CrisisControlServer::new(self)
            .max_decoding_message_size(super::MAX_CONTROL_MESSAGE_BYTES)
    }
}

pub fn mode_proto(mode: &CrisisMode) -> pb::CrisisMode {
    pb::CrisisMode {
        active: mode.active,
        reason: mode.reason.clone(),
        actor: mode.actor.clone(),
        playbook: mode.playbook.clone(),
        changed_at: Some(timestamp(mode.changed_at)),
        expires_at: mode.expires_at.map(timestamp),
        revision: mode.revision,
    }
}

fn event_proto(event: &ModeEvent) -> pb::WatchModeResponse {
    let kind = match event.kind {
        ModeEventKind::Changed => pb::ModeEventKind::Changed,
        ModeEventKind::Expired => pb::ModeEventKind::Expired,
        ModeEventKind::SurgeAlert => pb::ModeEventKind::SurgeAlert,
    };
    pb::WatchModeResponse {
        event: Some(pb::ModeEvent {
            kind: kind as i32,
            mode: Some(mode_proto(&event.mode)),
            detail: event.detail.clone(),
        }),
    }
}

impl CrisisControlService {
    /// What `crisis off` returns to; empty when crisis mode brought no playbook.
    async fn normal_playbook(&self) -> Result<String, Status> {
        Ok(self
            .state
            .control
            .normal_playbook()
            .await
            .map_err(|e| to_status(e.into()))?
            .unwrap_or_default())
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchModeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::crisis_control_server::CrisisControl for CrisisControlService {
    async fn get_mode(
        &self,
        request: Request<pb::GetModeRequest>,
    ) -> Result<Response<pb::GetModeResponse>, Status> {
        require(&self.state, request.metadata(), Role::Viewer)?;
        let mode = self
            .state
            .control
            .mode()
            .await
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(pb::GetModeResponse {
            mode: Some(mode_proto(&mode)),
            normal_playbook: self.normal_playbook().await?,
        }))
    }

    async fn set_mode(
        &self,
        request: Request<pb::SetModeRequest>,
    ) -> Result<Response<pb::SetModeResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Crisis)?;
        let request = request.into_inner();
        let change = ModeChange {
            active: request.active,
            reason: request.reason,
            playbook: Some(request.playbook).filter(|p| !p.is_empty()),
            expires_in_secs: Some(request.expires_in_secs).filter(|s| *s > 0),
            force: request.force,
        };
        let mode = self
            .state
            .control
            .set_mode(&who.name, change)
            .await
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(pb::SetModeResponse {
            mode: Some(mode_proto(&mode)),
            normal_playbook: self.normal_playbook().await?,
        }))
    }

    type WatchModeStream = WatchStream;

    async fn watch_mode(
        &self,
        request: Request<pb::WatchModeRequest>,
    ) -> Result<Response<Self::WatchModeStream>, Status> {
        let who = require(&self.state, request.metadata(), Role::Viewer)?;
        let slot = self
            .state
            .watch_limit
            .acquire(&who.name)
            .map_err(to_status)?;
        let events = self
            .state
            .control
            .watch()
            .await
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(
            events
                .map(move |event| {
                    // The slot lives as long as the stream; the client leaving frees it.
                    let _held = &slot;
                    Ok(event_proto(&event))
                })
                .boxed(),
        ))
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Viewer)?;
        let request = request.into_inner();
        let case_entries =
            crate::auth::case_audit_access(who.role, &request.action_prefix).map_err(to_status)?;
        let limit = (request.limit > 0).then_some(i64::from(request.limit));
        let query = firebreak_control::audit::query(limit, Some(request.action_prefix))
            .map_err(to_status)?;
        let entries = self
            .state
            .control
            .audit()
            .list(&query)
            .await
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(pb::ListAuditResponse {
            entries: entries
                .iter()
                .filter(|e| case_entries || !crate::auth::is_case_action(&e.action))
                .map(|e| e.to_proto())
                .collect(),
        }))
    }
}
