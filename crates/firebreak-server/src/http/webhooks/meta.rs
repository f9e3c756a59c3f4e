//! `GET /webhooks/meta` (the `hub.challenge` handshake) and `POST /webhooks/meta`
//! (Messenger, Instagram, Page and WhatsApp deliveries signed with the app secret).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_webhooks::{
    META_SIGNATURE_HEADER, meta_handshake, parse_meta, verify_meta_signature,
};

use super::{
    META_APP_SECRET, META_VERIFY_TOKEN, configured, ingest, parse_failed, raw_body,
    signature_failed,
};
use crate::AppState;
use crate::error::ApiError;

const PLATFORM: &str = "meta";

/// Echoes `hub.challenge` as plain text when `hub.verify_token` matches; 403 otherwise.
pub async fn handshake(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let expected = configured(
        state.webhooks.meta_verify_token.as_ref(),
        PLATFORM,
        META_VERIFY_TOKEN,
    )?;
    let challenge = meta_handshake(
        query.get("hub.mode").map(String::as_str),
        query.get("hub.verify_token").map(String::as_str),
        query.get("hub.challenge").map(String::as_str),
        expected,
    )
    .map_err(|e| {
        state.metrics.rejected(PLATFORM, "handshake_refused");
        ApiError(e.into())
    })?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge,
    )
        .into_response())
}

pub async fn deliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let secret = configured(
        state.webhooks.meta_app_secret.as_ref(),
        PLATFORM,
        META_APP_SECRET,
    )?;
    let raw = raw_body(&state, PLATFORM, body).await?;
    verify_meta_signature(secret, &raw, super::header(&headers, META_SIGNATURE_HEADER))
        .map_err(|e| signature_failed(&state, PLATFORM, e))?;
    // Charged only once verified: unsigned traffic cannot spend the platform's bucket.
    crate::ratelimit::charge_platform(&state, PLATFORM)?;
    let parsed = parse_meta(&raw).map_err(|e| parse_failed(&state, PLATFORM, e))?;
    ingest(&state, PLATFORM, parsed).await
}
