//! `Playbooks`: the playbook lifecycle over gRPC, with the same roles, checks and
//! errors as the HTTP routes (`http/playbooks.rs`), which it shares its helpers with.

use firebreak_control::rehearsal::RecordedMessage;
use firebreak_control::versions::VersionInfo;
use firebreak_core::FirebreakError;
use firebreak_core::wire::timestamp;
use firebreak_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::{ApiError, to_status};

/// A playbook and a day's worth of recorded messages: larger than the other control
/// calls, as large as a rehearsal may be.
pub const MAX_PLAYBOOK_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct PlaybooksService {
    state: AppState,
}

impl PlaybooksService {
    pub fn new(state: AppState) -> Self {
        PlaybooksService { state }
    }

    pub fn into_server(self) -> pb::playbooks_server::PlaybooksServer<Self> {
        pb::playbooks_server::PlaybooksServer::new(self)
            .max_decoding_message_size(MAX_PLAYBOOK_MESSAGE_BYTES)
    }
}

fn control_status(e: firebreak_control::ControlError) -> Status {
    to_status(FirebreakError::from(e))
}

fn api_status(e: ApiError) -> Status {
    to_status(e.0)
}

pub fn version_proto(v: &VersionInfo) -> pb::PlaybookVersion {
    pb::PlaybookVersion {
        name: v.name.clone(),
        version: v.version.clone(),
        uploaded_by: v.uploaded_by.clone(),
        role: v.role.clone(),
        uploaded_at: v.uploaded_at.map(timestamp),
        builtin: v.builtin,
        active: v.active,
    }
}

#[tonic::async_trait]
impl pb::playbooks_server::Playbooks for PlaybooksService {
    async fn list_playbooks(
        &self,
        request: Request<pb::ListPlaybooksRequest>,
    ) -> Result<Response<pb::ListPlaybooksResponse>, Status> {
        require(&self.state, request.metadata(), Role::Viewer)?;
        let listed = self
            .state
            .control
            .playbooks()
            .await
            .map_err(control_status)?;
        Ok(Response::new(pb::ListPlaybooksResponse {
            playbooks: listed
                .into_iter()
                .map(|p| pb::PlaybookVersion {
                    name: p.name,
                    version: p.version,
                    uploaded_by: p.uploaded_by,
                    role: p.role,
                    uploaded_at: p.uploaded_at.map(timestamp),
                    builtin: p.builtin,
                    active: p.active,
                })
                .collect(),
        }))
    }

    async fn get_playbook(
        &self,
        request: Request<pb::GetPlaybookRequest>,
    ) -> Result<Response<pb::GetPlaybookResponse>, Status> {
        require(&self.state, request.metadata(), Role::Viewer)?;
        let reference = request.into_inner().reference;
        let resolved = self
            .state
            .control
            .resolve(&reference)
            .await
            .map_err(control_status)?;
        let versions = self
            .state
            .control
            .versions(&resolved.info.name)
            .await
            .unwrap_or_default();
        Ok(Response::new(pb::GetPlaybookResponse {
            playbook: Some(version_proto(&resolved.info)),
            source: resolved.source().to_string(),
            versions: versions.iter().map(version_proto).collect(),
        }))
    }

    async fn diff_playbooks(
        &self,
        request: Request<pb::DiffPlaybooksRequest>,
    ) -> Result<Response<pb::DiffPlaybooksResponse>, Status> {
        require(&self.state, request.metadata(), Role::Viewer)?;
        let request = request.into_inner();
        if request.to.is_empty() {
            return Err(Status::invalid_argument("to: missing"));
        }
        let (from, to) =
            crate::http::playbooks::diff_of(&self.state, Some(&request.from), &request.to)
                .await
                .map_err(control_status)?;
        Ok(Response::new(pb::DiffPlaybooksResponse {
            diff: crate::http::playbooks::unified(&from, &to),
            from_version: from.info.version,
            to_version: to.info.version,
        }))
    }

    async fn upload_playbook(
        &self,
        request: Request<pb::UploadPlaybookRequest>,
    ) -> Result<Response<pb::UploadPlaybookResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Crisis)?;
        let request = request.into_inner();
        let info = self
            .state
            .control
            .upload_version(&who.name, who.role.as_str(), &request.name, &request.source)
            .await
            .map_err(control_status)?;
        Ok(Response::new(pb::UploadPlaybookResponse {
            playbook: Some(version_proto(&info)),
        }))
    }

    async fn activate_playbook(
        &self,
        request: Request<pb::ActivatePlaybookRequest>,
    ) -> Result<Response<pb::ActivatePlaybookResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Crisis)?;
        let request = request.into_inner();
        let activated = self
            .state
            .control
            .activate(
                &who.name,
                &request.reference,
                &request.reason,
                request.force,
            )
            .await
            .map_err(control_status)?;
        Ok(Response::new(pb::ActivatePlaybookResponse {
            playbook: Some(version_proto(&activated.info)),
        }))
    }

    async fn rollback_playbook(
        &self,
        request: Request<pb::RollbackPlaybookRequest>,
    ) -> Result<Response<pb::RollbackPlaybookResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Crisis)?;
        let reason = request.into_inner().reason;
        let restored = self
            .state
            .control
            .rollback(&who.name, &reason)
            .await
            .map_err(control_status)?;
        Ok(Response::new(pb::RollbackPlaybookResponse {
            playbook: Some(version_proto(&restored.info)),
        }))
    }

    async fn rehearse_playbook(
        &self,
        request: Request<pb::RehearsePlaybookRequest>,
    ) -> Result<Response<pb::RehearsePlaybookResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Crisis)?;
        let request = request.into_inner();
        let draft = crate::http::playbooks::draft_playbook(
            &self.state,
            &request.name,
            Some(&request.source),
        )
        .await
        .map_err(api_status)?;
        let (messages, texts) = if request.messages_jsonl.trim().is_empty() {
            let since = (request.since_secs > 0).then_some(request.since_secs);
            (
                crate::http::playbooks::archived_messages(&self.state, since)
                    .await
                    .map_err(api_status)?,
                who.role == Role::Admin,
            )
        } else {
            let recorded = parse_jsonl(&request.messages_jsonl).map_err(to_status)?;
            (
                crate::http::playbooks::recorded_messages(recorded).map_err(api_status)?,
                true,
            )
        };
        let report = self
            .state
            .control
            .rehearse(&who.name, draft, messages, request.crisis, texts)
            .await
            .map_err(control_status)?;
        let report_json =
            serde_json::to_string(&report).map_err(|e| Status::internal(format!("report: {e}")))?;
        Ok(Response::new(pb::RehearsePlaybookResponse {
            blocks_activation: report.blocks_activation(),
            report_json,
        }))
    }
}

/// One JSON object per line; blank lines are skipped, a bad line is named.
pub fn parse_jsonl(text: &str) -> Result<Vec<RecordedMessage>, FirebreakError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                FirebreakError::invalid(&format!("messages line {}", i + 1), e.to_string())
            })
        })
        .collect()
}
