//! The gRPC services, plus standard health and reflection so any client works unaided.

mod classifier;
mod crisis;
mod dead_letters;
mod ingest;
mod insights;
mod moderation;
pub mod playbooks;

pub use classifier::ClassifierService;
pub use crisis::{CrisisControlService, mode_proto};
pub use ingest::IngestService;
pub use moderation::ModerationService;

use firebreak_core::FirebreakError;

use crate::AppState;
use crate::auth::{Principal, Role};
use crate::error::to_status;

/// Checks the `authorization` metadata for `role`, then charges the call to the
/// token's bucket ([`crate::ratelimit`]), as HTTP does.
pub fn require(
    state: &AppState,
    metadata: &tonic::metadata::MetadataMap,
    role: Role,
) -> Result<Principal, tonic::Status> {
    let authorization = metadata.get("authorization").and_then(|v| v.to_str().ok());
    let principal = state
        .tokens
        .authorize(authorization, role)
        .inspect_err(|e| crate::auth::count_refusal(&state.metrics, "grpc", e))
        .map_err(to_status)?;
    crate::ratelimit::charge_token(state, &principal.name).map_err(to_status)?;
    Ok(principal)
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(firebreak_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

fn reflection_error(e: tonic_reflection::server::Error) -> FirebreakError {
    FirebreakError::new(firebreak_core::ErrorCode::Internal, e.to_string())
}

/// The reflection service (v1) for every firebreak.v1 service, plus gRPC health.
pub fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    FirebreakError,
> {
    reflection_builder().build_v1().map_err(reflection_error)
}

/// The same under the older `v1alpha` name, which many clients (grpcurl before 1.9,
/// Python's grpcio-reflection) still ask for.
pub fn reflection_v1alpha() -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    FirebreakError,
> {
    reflection_builder()
        .build_v1alpha()
        .map_err(reflection_error)
}

/// Largest request message on `Moderation` and `CrisisControl`: a resolve note with its
/// reply, a crisis change, a list query. `Ingest` and `Classifier` take a message, as
/// large as HTTP takes ([`crate::http::MAX_BODY_BYTES`]).
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 64 * 1024;

/// Deadlines and concurrency for the gRPC server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcLimits {
    /// The longest a unary call (or a stream's opening) may take; a client's shorter
    /// `grpc-timeout` wins. A stream, once open, is not cut.
    pub timeout: std::time::Duration,
    /// Calls served at once on one connection; the rest wait.
    pub concurrency_per_connection: usize,
    /// HTTP/2 streams a client may open at once on one connection.
    pub max_concurrent_streams: u32,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        GrpcLimits {
            timeout: std::time::Duration::from_secs(30),
            concurrency_per_connection: 64,
            max_concurrent_streams: 128,
        }
    }
}

/// Serves every gRPC service on `listener` until `shutdown`; health turns NOT_SERVING
/// as soon as shutdown begins so clients move away before the port closes.
///
/// Only the services of the roles in `mounts` are added; a call to another answers
/// UNIMPLEMENTED, and health does not list it.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    limits: GrpcLimits,
    mounts: crate::Mounts,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let services: Vec<&'static str> = [
        (mounts.ingest, "firebreak.v1.Ingest"),
        (mounts.classify, "firebreak.v1.Classifier"),
        (mounts.control, "firebreak.v1.CrisisControl"),
        (mounts.control, "firebreak.v1.Insights"),
        (mounts.control, "firebreak.v1.DeadLetters"),
        (mounts.control, "firebreak.v1.Playbooks"),
        (mounts.escalation, "firebreak.v1.Moderation"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    for service in services.iter().copied() {
        health_reporter
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = match reflection().and_then(|v1| Ok((v1, reflection_v1alpha()?))) {
        Ok(reflection) => reflection,
        Err(e) => {
            tracing::error!(error = %e, "cannot build grpc reflection");
            return;
        }
    };
    let drain = shutdown.clone();
    let reporter = health_reporter.clone();
    tokio::spawn(async move {
        drain.cancelled().await;
        for service in services.iter().copied().chain([""]) {
            reporter
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
    });
    let served = tonic::transport::Server::builder()
        .timeout(limits.timeout)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .max_concurrent_streams(limits.max_concurrent_streams)
        // Dead peers are found and their streams released.
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .trace_fn(crate::trace::grpc_span)
        .add_service(health_service)
        .add_service(reflection.0)
        .add_service(reflection.1)
        .add_optional_service(
            mounts
                .ingest
                .then(|| IngestService::new(state.clone()).into_server()),
        )
        .add_optional_service(
            mounts
                .control
                .then(|| CrisisControlService::new(state.clone()).into_server()),
        )
        .add_optional_service(
            mounts
                .control
                .then(|| insights::InsightsService::new(state.clone()).into_server()),
        )
        .add_optional_service(
            mounts
                .control
                .then(|| dead_letters::DeadLettersService::new(state.clone()).into_server()),
        )
        .add_optional_service(
            mounts
                .control
                .then(|| playbooks::PlaybooksService::new(state.clone()).into_server()),
        )
        .add_optional_service(
            mounts
                .escalation
                .then(|| ModerationService::new(state.clone()).into_server()),
        )
        .add_optional_service(
            mounts
                .classify
                .then(|| ClassifierService::new(state.clone()).into_server()),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move { shutdown.cancelled().await },
        )
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "grpc server failed");
    }
}
