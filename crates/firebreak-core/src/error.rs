//! One error-code enum that every API speaks. HTTP and gRPC map it the same way, so a
//! client sees "over budget" as 429 or RESOURCE_EXHAUSTED, never something else.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    Conflict,
    PayloadTooLarge,
    /// Over a budget or a rate limit: the caller should slow down (429).
    ResourceExhausted,
    /// The service is alive but cannot take more right now, e.g. the inbound stream is
    /// full (503 on HTTP, RESOURCE_EXHAUSTED on gRPC).
    Overloaded,
    Unavailable,
    /// The request did not arrive in time (408; DEADLINE_EXCEEDED on gRPC).
    TimedOut,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::TimedOut => "timed_out",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ResourceExhausted => 429,
            ErrorCode::Overloaded => 503,
            ErrorCode::Unavailable => 503,
            ErrorCode::TimedOut => 408,
            ErrorCode::Internal => 500,
        }
    }
}

/// An error meant for a caller: a code, a message safe to show (no secrets, no message
/// text), and for retryable codes a hint of when to retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct FirebreakError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl FirebreakError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        FirebreakError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidArgument, format!("{field}: {why}"))
    }

    pub fn unavailable(what: impl Into<String>, retry_after: Duration) -> Self {
        FirebreakError {
            code: ErrorCode::Unavailable,
            message: what.into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn overloaded(what: impl Into<String>, retry_after: Duration) -> Self {
        FirebreakError {
            code: ErrorCode::Overloaded,
            message: what.into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn exhausted(what: impl Into<String>, retry_after: Duration) -> Self {
        FirebreakError {
            code: ErrorCode::ResourceExhausted,
            message: what.into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, what)
    }
}
