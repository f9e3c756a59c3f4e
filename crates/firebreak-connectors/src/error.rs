//! How one delivery attempt failed, in the terms the retry loop and the caller need.

use std::time::Duration;

/// Why a connector could not deliver a reply on this attempt.
///
/// The split drives [`crate::send_with_retry`]: rate limits and transient faults are
/// retried (rate limits never sooner than the platform asked), permanent refusals and
/// invalid replies are not, because sending the same request again gives the same "no".
///
/// `detail` holds the platform's short error description or our own wording; it never
/// holds a token, a URL or the reply text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The platform said "too many" (HTTP 429, or a platform rate-limit code).
    #[error("rate limited (status {status}, code {platform_code:?}, retry after {retry_after:?})")]
    RateLimited {
        status: u16,
        platform_code: Option<i64>,
        /// When the platform said when to come back; `None` means back off on our own.
        retry_after: Option<Duration>,
    },
    /// A fault that may clear by itself: a 5xx, a timeout, a refused connection.
    #[error("transient failure (status {status:?}): {detail}")]
    Transient {
        /// `None` when no HTTP response arrived.
        status: Option<u16>,
        /// True when the request may have reached the platform before the failure (a
        /// timeout waiting for the answer). Retrying then risks a duplicate reply on a
        /// platform that does not deduplicate.
        possibly_delivered: bool,
        /// Some 503s say when to come back.
        retry_after: Option<Duration>,
        detail: String,
    },
    /// The platform refused this reply for good: outside the messaging window, blocked
    /// user, bad token, deleted target. A human has to look.
    #[error("rejected by the platform (status {status}, code {platform_code:?}): {detail}")]
    Permanent {
        status: u16,
        platform_code: Option<i64>,
        detail: String,
    },
    /// The reply lacks what this platform needs (no recipient, unsupported channel), so
    /// it was not sent at all.
    #[error("reply cannot be sent: {0}")]
    Invalid(String),
}

impl SendError {
    /// Whether another attempt may succeed. Outcome-unknown failures are retryable too;
    /// the retry loop decides whether the duplicate risk is acceptable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SendError::RateLimited { .. } | SendError::Transient { .. }
        )
    }

    /// The wait the platform asked for, if it asked.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::RateLimited { retry_after, .. }
            | SendError::Transient { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } | SendError::Invalid(_) => None,
        }
    }

    /// The HTTP status of the platform's answer, if one arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::RateLimited { status, .. } | SendError::Permanent { status, .. } => {
                Some(*status)
            }
            SendError::Transient { status, .. } => *status,
            SendError::Invalid(_) => None,
        }
    }

    /// True when the request may have been delivered despite the error.
    pub fn possibly_delivered(&self) -> bool {
        matches!(
            self,
            SendError::Transient {
                possibly_delivered: true,
                ..
            }
        )
    }

    /// A short machine-readable kind, for metrics labels and recorded outcomes.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::RateLimited { .. } => "rate_limited",
            SendError::Transient { .. } => "transient",
            SendError::Permanent { .. } => "permanent",
            SendError::Invalid(_) => "invalid",
        }
    }
}

/// Platform error descriptions are kept short: they are for a human reading a case, and a
/// long one could quote back more of the request than we want stored.
pub(crate) fn short_detail(description: &str) -> String {
    const MAX_CHARS: usize = 200;
    let trimmed = description.trim();
    match trimmed.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limits_and_transient_faults_are_retryable() {
        let rate_limited = SendError::RateLimited {
            status: 429,
            platform_code: None,
            retry_after: Some(Duration::from_secs(3)),
        };
        let permanent = SendError::Permanent {
            status: 400,
            platform_code: Some(10),
            detail: "outside window".into(),
        };
        assert!(rate_limited.is_retryable());
        assert_eq!(rate_limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(!permanent.is_retryable());
        assert!(!SendError::Invalid("no recipient".into()).is_retryable());
    }

    #[test]
    fn long_platform_descriptions_are_cut_on_a_char_boundary() {
        let long = "é".repeat(500);
        let cut = short_detail(&long);
        assert_eq!(cut.chars().count(), 201);
    }
}
