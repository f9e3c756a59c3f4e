//! One mapping from [`FirebreakError`] to HTTP and to gRPC, so both APIs agree.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_core::{ErrorCode, FirebreakError};

/// Wraps the domain error so axum can render it.
#[derive(Debug)]
pub struct ApiError(pub FirebreakError);

impl From<FirebreakError> for ApiError {
    fn from(e: FirebreakError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status =
            StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({"error": {"code": e.code.as_str(), "message": e.message}});
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(retry) = e.retry_after {
            let secs = retry.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        // The body of a refused 413 or 408 (or of a request refused as overloaded before
        // its body was read) was left unread, so the server will not reuse the
        // connection: say so, or the client's pool sends the next request down a socket
        // that is about to close.
        if matches!(
            e.code,
            ErrorCode::PayloadTooLarge | ErrorCode::TimedOut | ErrorCode::Overloaded
        ) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

pub fn grpc_code(code: ErrorCode) -> tonic::Code {
    match code {
        ErrorCode::InvalidArgument | ErrorCode::PayloadTooLarge => tonic::Code::InvalidArgument,
        ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorCode::NotFound => tonic::Code::NotFound,
        ErrorCode::Conflict => tonic::Code::FailedPrecondition,
        ErrorCode::ResourceExhausted | ErrorCode::Overloaded => tonic::Code::ResourceExhausted,
        ErrorCode::Unavailable => tonic::Code::Unavailable,
        ErrorCode::TimedOut => tonic::Code::DeadlineExceeded,
        ErrorCode::Internal => tonic::Code::Internal,
    }
}

/// The gRPC status for an error, with `retry-after` metadata when there is a hint.
pub fn to_status(e: FirebreakError) -> tonic::Status {
    let mut status = tonic::Status::new(grpc_code(e.code), e.message);
    if let Some(retry) = e.retry_after
        && let Ok(value) = retry.as_secs().max(1).to_string().parse()
    {
        status.metadata_mut().insert("retry-after", value);
    }
    status
}
