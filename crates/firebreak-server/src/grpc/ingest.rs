//! `Ingest/Submit` and the bidirectional `Ingest/SubmitStream`.

use std::pin::Pin;

use firebreak_core::FirebreakError;
use firebreak_core::wire::Submission;
use firebreak_pipeline::ingest::Accepted;
use firebreak_proto::v1 as pb;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::to_status;

/// Acks of one stream being awaited at once. Keeps many publishes in flight without
/// letting one client hold unbounded memory.
const STREAM_IN_FLIGHT: usize = 1024;

#[derive(Clone, Debug)]
pub struct IngestService {
    state: AppState,
}

impl IngestService {
    pub fn new(state: AppState) -> Self {
        IngestService { state }
    }

    pub fn into_server(self) -> pb::ingest_server::IngestServer<Self> {
        pb::ingest_server::IngestServer::new(self)
            .max_decoding_message_size(crate::http::MAX_BODY_BYTES)
    }
}

fn submission(message: Option<pb::SubmitMessage>) -> Result<Submission, FirebreakError> {
    message
        .ok_or_else(|| FirebreakError::invalid("message", "missing"))?
        .try_into()
}

fn accepted(a: Accepted) -> pb::SubmitResponse {
    pb::SubmitResponse {
        id: a.id.to_string(),
        duplicate: a.duplicate,
    }
}

fn error_ack(e: FirebreakError) -> pb::Error {
    pb::Error {
        code: e.code.as_str().to_string(),
        message: e.message,
        retry_after_secs: e.retry_after.map_or(0, |d| d.as_secs().max(1) as u32),
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<pb::SubmitStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::ingest_server::Ingest for IngestService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        require(&self.state, request.metadata(), Role::Ingest)?;
        let submission = submission(request.into_inner().message).map_err(|e| {
            self.state.metrics.rejected("grpc", "invalid");
            to_status(e)
        })?;
        let done = self
            .state
            .ingestor
            .submit(submission, "grpc")
            .await
            .map_err(to_status)?;
        Ok(Response::new(accepted(done)))
    }

    type SubmitStreamStream = AckStream;

    async fn submit_stream(
        &self,
        request: Request<Streaming<pb::SubmitStreamRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        require(&self.state, request.metadata(), Role::Ingest)?;
        let ingestor = self.state.ingestor.clone();
        let metrics = self.state.metrics.clone();
        // A transport error ends the stream; a bad message only gets an error ack.
        let requests = request
            .into_inner()
            .take_while(|r| futures::future::ready(r.is_ok()));
        let acks = requests
            .filter_map(|r| futures::future::ready(r.ok()))
            .map(move |req| {
                let ingestor = ingestor.clone();
                let metrics = metrics.clone();
                async move {
                    let sequence = req.sequence;
                    let outcome = match submission(req.message) {
                        Ok(submission) => match ingestor.begin(submission, "grpc_stream").await {
                            Ok(pending) => pending.await,
                            Err(e) => Err(e),
                        },
                        Err(e) => {
                            metrics.rejected("grpc_stream", "invalid");
                            Err(e)
                        }
                    };
                    let result = match outcome {
                        Ok(a) => pb::submit_stream_response::Result::Accepted(accepted(a)),
                        Err(e) => pb::submit_stream_response::Result::Error(error_ack(e)),
                    };
                    Ok(pb::SubmitStreamResponse {
                        sequence,
                        result: Some(result),
                    })
                }
            })
            .buffered(STREAM_IN_FLIGHT);
        Ok(Response::new(Box::pin(acks)))
    }
}
