//! Request spans for HTTP and gRPC that continue a caller's W3C trace context, so a
//! message's trace starts at the platform or connector that sent it.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

fn header_pairs(headers: &axum::http::HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
}

/// axum middleware: one span per request. The path is recorded, never the query
/// (it may carry platform tokens) nor the body.
pub async fn http_span(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = request.uri().path(),
    );
    firebreak_telemetry::continue_trace(&span, header_pairs(request.headers()));
    next.run(request).instrument(span).await
}

/// tonic `trace_fn`: one span per gRPC call.
pub fn grpc_span(request: &axum::http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc", path = request.uri().path());
    firebreak_telemetry::continue_trace(&span, header_pairs(request.headers()));
    span
}
