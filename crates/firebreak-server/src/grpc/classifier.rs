//! `Classifier/Classify`: the triage dry run over gRPC.

use firebreak_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;

#[derive(Clone, Debug)]
pub struct ClassifierService {
    state: AppState,
}

impl ClassifierService {
    pub fn new(state: AppState) -> Self {
        ClassifierService { state }
    }

    pub fn into_server(self) -> pb::classifier_server::ClassifierServer<Self> {
        pb::classifier_server::ClassifierServer::new(self)
            .max_decoding_message_size(crate::http::MAX_BODY_BYTES)
    }
}

#[tonic::async_trait]
impl pb::classifier_server::Classifier for ClassifierService {
    async fn classify(
        &self,
        request: Request<pb::ClassifyRequest>,
    ) -> Result<Response<pb::ClassifyResponse>, Status> {
        let who = require(&self.state, request.metadata(), Role::Viewer)?;
        crate::ratelimit::charge_classify(&self.state, &who.name).map_err(to_status)?;
        let request = request.into_inner();
        let mut message = request
            .message
            .ok_or_else(|| Status::invalid_argument("message: missing"))?;
        // A dry run needs only text; fill what a real submission must carry.
        if message.channel == 0 {
            message.channel = pb::Channel::Web as i32;
        }
        if message.visibility == 0 {
            message.visibility = pb::Visibility::Public as i32;
        }
        for field in [&mut message.external_id, &mut message.thread_id] {
            if field.is_empty() {
                *field = "dry-run".into();
            }
        }
        let author = message.author.get_or_insert_with(Default::default);
        if author.id.is_empty() {
            author.id = "dry-run".into();
        }
        let submission = message.try_into().map_err(to_status)?;
        let preview = crate::http::dry_run_preview(&self.state, submission, request.crisis)
            .map_err(to_status)?;
        Ok(Response::new(pb::ClassifyResponse {
            classification: Some((&preview.decision).into()),
            replies: preview
                .replies
                .into_iter()
                .map(|(variant, text)| pb::ReplyPreview {
                    variant: variant as u32,
                    text,
                })
                .collect(),
        }))
    }
}
