//! Platform webhooks: `GET|POST /webhooks/meta`, `POST /webhooks/telegram`,
//! `GET|POST /webhooks/x` and `POST /webhooks/line`.
//!
//! Every POST runs the same steps in the same order: read at most 256 KiB of raw body
//! (413), authenticate it with the platform's signature over those exact bytes (401),
//! parse it (400 naming the field), then hand every message in it to ingest at once and
//! answer 200 only when JetStream has acknowledged all of them. If any publish fails the
//! whole delivery gets 503 with `Retry-After`: the platform redelivers it, and the
//! derived message ids make the messages that did get through duplicates, not copies.
//!
//! Webhooks authenticate with signatures, not bearer tokens. A platform whose secret is
//! not configured answers **404** `not_found` naming the variable to set: its route does
//! not exist as far as the platform is concerned, and nothing unsigned is ever taken in.

mod line;
mod meta;
mod secrets;
mod telegram;
mod x;

pub use secrets::{
    LINE_CHANNEL_SECRET, META_APP_SECRET, META_VERIFY_TOKEN, TELEGRAM_SECRET_TOKEN, WebhookSecrets,
    X_BRAND_USER_ID, X_CONSUMER_SECRET,
};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use firebreak_core::{ErrorCode, FirebreakError};
use firebreak_webhooks::{ParseError, Parsed, Secret, SignatureError};
use futures::future::join_all;

use super::read_body_counted;
use crate::AppState;
use crate::error::ApiError;

/// The webhook routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/meta", get(meta::handshake).post(meta::deliver))
        .route("/webhooks/telegram", post(telegram::deliver))
        .route("/webhooks/x", get(x::crc).post(x::deliver))
        .route("/webhooks/line", post(line::deliver))
}

/// The secret a route needs, or the 404 that says it is not configured.
fn configured<'a>(
    secret: Option<&'a Secret>,
    platform: &'static str,
    variable: &str,
) -> Result<&'a Secret, ApiError> {
    secret.ok_or_else(|| {
        ApiError(FirebreakError::new(
            ErrorCode::NotFound,
            format!(
                "the {platform} webhook is not configured: set {variable} (or {variable}_FILE)"
            ),
        ))
    })
}

/// Reads the raw body, counting an oversized, slow or abandoned one under its reason.
async fn raw_body(state: &AppState, platform: &'static str, body: Body) -> Result<Bytes, ApiError> {
    read_body_counted(body).await.map_err(|e| {
        state.metrics.rejected(platform, e.as_str());
        ApiError(e.into())
    })
}

/// The raw bytes of a header, as the signature checks take them.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

fn signature_failed(state: &AppState, platform: &'static str, e: SignatureError) -> ApiError {
    state.metrics.rejected(platform, e.as_str());
    tracing::debug!(platform, reason = e.as_str(), "webhook signature refused");
    ApiError(e.into())
}

fn parse_failed(state: &AppState, platform: &'static str, e: ParseError) -> ApiError {
    state.metrics.rejected(platform, e.as_str());
    ApiError(e.into())
}

/// Counts what the parser skipped, hands every submission to ingest at once, and waits
/// for all the acks. 200 only when every message is safe in the stream.
async fn ingest(
    state: &AppState,
    platform: &'static str,
    parsed: Parsed,
) -> Result<Response, ApiError> {
    let mut skipped = parsed.skipped.len();
    for reason in &parsed.skipped {
        state.metrics.skipped(platform, reason.as_str());
    }
    // Fields read in another JSON type than documented: accepted, and counted.
    for _ in 0..parsed.coerced {
        state.metrics.event("webhook_field_coerced");
    }
    // Every publish is handed to the bus before any ack is awaited, so a delivery of
    // many events costs one round trip, not one per event.
    let begun = join_all(
        parsed
            .submissions
            .into_iter()
            .map(|s| state.ingestor.begin(s, platform)),
    )
    .await;
    let mut pending = Vec::with_capacity(begun.len());
    let mut failure = None;
    for result in begun {
        match result {
            Ok(ack) => pending.push(ack),
            // The parser validated already; an event ingest still refuses is skipped
            // alone rather than failing a delivery the platform would resend forever.
            Err(e) if e.code == ErrorCode::InvalidArgument => {
                state.metrics.skipped(platform, "invalid");
                skipped += 1;
            }
            Err(e) => failure = Some(e),
        }
    }
    let acks = join_all(pending).await;
    let (mut accepted, mut duplicates) = (0usize, 0usize);
    for ack in acks {
        match ack {
            Ok(a) if a.duplicate => duplicates += 1,
            Ok(_) => accepted += 1,
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        return Err(ApiError(retry_whole_delivery(e)));
    }
    Ok(Json(serde_json::json!({
        "accepted": accepted,
        "duplicates": duplicates,
        "skipped": skipped,
    }))
    .into_response())
}

/// Any failure of a delivery is "try again later" for the platform: 503 with a wait,
/// whether the bus is down, the store is down or the stream is full.
fn retry_whole_delivery(e: FirebreakError) -> FirebreakError {
    let retry = e
        .retry_after
        .unwrap_or(firebreak_pipeline::ingest::RETRY_AFTER);
    FirebreakError::unavailable(e.message, retry)
}
