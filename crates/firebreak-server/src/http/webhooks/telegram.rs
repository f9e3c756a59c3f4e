//! `POST /webhooks/telegram`: Bot API updates carrying the `setWebhook` secret token.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use firebreak_webhooks::{TELEGRAM_SECRET_HEADER, parse_telegram, verify_telegram_secret};

use super::{TELEGRAM_SECRET_TOKEN, configured, ingest, parse_failed, raw_body, signature_failed};
use crate::AppState;
use crate::error::ApiError;

const PLATFORM: &str = "telegram";

pub async fn deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let secret = configured(
        state.webhooks.telegram_secret_token.as_ref(),
        PLATFORM,
        TELEGRAM_SECRET_TOKEN,
    )?;
    // The token is checked before the body is read: an unauthenticated caller does not
    // get to make us buffer 256 KiB.
    verify_telegram_secret(secret, super::header(&headers, TELEGRAM_SECRET_HEADER))
        .map_err(|e| signature_failed(&state, PLATFORM, e))?;
    // Charged only once verified: unsigned traffic cannot spend the platform's bucket.
    crate::ratelimit::charge_platform(&state, PLATFORM)?;
    let raw = raw_body(&state, PLATFORM, body).await?;
    let parsed = parse_telegram(&raw).map_err(|e| parse_failed(&state, PLATFORM, e))?;
    ingest(&state, PLATFORM, parsed).await
}
