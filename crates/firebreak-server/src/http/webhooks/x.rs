//! `GET /webhooks/x` (the CRC challenge) and `POST /webhooks/x` (Account Activity
//! deliveries signed with the consumer secret).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_core::FirebreakError;
use firebreak_webhooks::{X_SIGNATURE_HEADER, parse_x, verify_x_signature, x_crc_response};

use super::{X_CONSUMER_SECRET, configured, ingest, parse_failed, raw_body, signature_failed};
use crate::AppState;
use crate::error::ApiError;

const PLATFORM: &str = "x";

/// Answers `crc_token` with `{"response_token":"sha256=<base64 HMAC>"}`, for tokens
/// of the CRC grammar only (400 otherwise): the same HMAC authenticates deliveries, so
/// signing arbitrary text would let anyone forge one. See ARCHITECTURE.md.
pub async fn crc(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let secret = configured(
        state.webhooks.x_consumer_secret.as_ref(),
        PLATFORM,
        X_CONSUMER_SECRET,
    )?;
    let token = query
        .get("crc_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FirebreakError::invalid("crc_token", "missing"))?;
    let body = x_crc_response(secret, token).map_err(|e| {
        state.metrics.rejected(PLATFORM, "crc_refused");
        ApiError(e.into())
    })?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

pub async fn deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let secret = configured(
        state.webhooks.x_consumer_secret.as_ref(),
        PLATFORM,
        X_CONSUMER_SECRET,
    )?;
    let raw = raw_body(&state, PLATFORM, body).await?;
    verify_x_signature(secret, &raw, super::header(&headers, X_SIGNATURE_HEADER))
        .map_err(|e| signature_failed(&state, PLATFORM, e))?;
    // Charged only once verified: unsigned traffic cannot spend the platform's bucket.
    crate::ratelimit::charge_platform(&state, PLATFORM)?;
    let parsed = parse_x(&raw, state.webhooks.x_brand_user_id.as_deref())
        .map_err(|e| parse_failed(&state, PLATFORM, e))?;
    ingest(&state, PLATFORM, parsed).await
}
