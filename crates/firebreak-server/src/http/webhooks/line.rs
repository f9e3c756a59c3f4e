//! `POST /webhooks/line`: LINE Messaging API deliveries signed with the channel secret.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use firebreak_webhooks::{LINE_SIGNATURE_HEADER, parse_line, verify_line_signature};

use super::{LINE_CHANNEL_SECRET, configured, ingest, parse_failed, raw_body, signature_failed};
use crate::AppState;
use crate::error::ApiError;

const PLATFORM: &str = "line";

pub async fn deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let secret = configured(
        state.webhooks.line_channel_secret.as_ref(),
        PLATFORM,
        LINE_CHANNEL_SECRET,
    )?;
    let raw = raw_body(&state, PLATFORM, body).await?;
    verify_line_signature(secret, &raw, super::header(&headers, LINE_SIGNATURE_HEADER))
        .map_err(|e| signature_failed(&state, PLATFORM, e))?;
    // Charged only once verified: unsigned traffic cannot spend the platform's bucket.
    crate::ratelimit::charge_platform(&state, PLATFORM)?;
    let parsed = parse_line(&raw).map_err(|e| parse_failed(&state, PLATFORM, e))?;
    ingest(&state, PLATFORM, parsed).await
}
