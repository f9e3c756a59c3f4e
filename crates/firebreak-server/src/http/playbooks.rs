//! The playbook lifecycle over HTTP, beside the listing and upload in `crisis.rs`:
//! `GET /v1/playbooks/{ref}` (the stored YAML and its versions; viewer and above),
//! `GET /v1/playbooks/{ref}/diff?against=REF`, `POST /v1/playbooks/{ref}/activate`,
//! `POST /v1/playbooks/rollback` and `POST /v1/playbooks/{name}/rehearse` (crisis).
//! A reference is `default`, `NAME` or `NAME@HASH`.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use firebreak_control::rehearsal::{MAX_MESSAGES, RecordedMessage};
use firebreak_control::versions::Resolved;
use firebreak_core::{FirebreakError, Message};
use serde::Deserialize;
use serde_json::json;

use super::{parse_json, read_body, require};
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/playbooks/rollback",
            post(rollback).fallback(reserved_name),
        )
        .route("/v1/playbooks/{name}/diff", get(diff))
        .route("/v1/playbooks/{name}/activate", post(activate))
        .route("/v1/playbooks/{name}/rehearse", post(rehearse))
}

/// Any other method on `/v1/playbooks/rollback`: the path is a route, so `rollback`
/// cannot name a playbook; say so rather than answer a bare 405.
async fn reserved_name(State(state): State<AppState>, headers: HeaderMap) -> ApiError {
    if let Err(refused) = require(&state, &headers, Role::Viewer) {
        return refused;
    }
    FirebreakError::invalid(
        "playbook",
        "\"rollback\" is reserved (POST /v1/playbooks/rollback rolls back); choose another name",
    )
    .into()
}

fn control_error(e: firebreak_control::ControlError) -> ApiError {
    FirebreakError::from(e).into()
}

/// The stored playbook as JSON (its version, provenance, source and every version of
/// its name), or with `?format=yaml` the YAML alone.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let resolved = state
        .control
        .resolve(&reference)
        .await
        .map_err(control_error)?;
    if params.get("format").map(String::as_str) == Some("yaml") {
        return Ok((
            [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
            resolved.source().to_string(),
        )
            .into_response());
    }
    let versions = state
        .control
        .versions(&resolved.info.name)
        .await
        .unwrap_or_default();
    Ok(Json(json!({
        "playbook": resolved.info,
        "source": resolved.source(),
        "versions": versions,
    }))
    .into_response())
}

/// From `against` (default: the active playbook) to `{name}`.
pub async fn diff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let (from, to) = diff_of(
        &state,
        params.get("against").map(String::as_str),
        &reference,
    )
    .await
    .map_err(control_error)?;
    Ok(Json(json!({
        "from": from.info.version,
        "to": to.info.version,
        "diff": unified(&from, &to),
    }))
    .into_response())
}

/// The two sides of a diff; `from` defaults to the active playbook.
pub async fn diff_of(
    state: &AppState,
    from: Option<&str>,
    to: &str,
) -> Result<(Resolved, Resolved), firebreak_control::ControlError> {
    let from = match from.filter(|f| !f.is_empty()) {
        Some(reference) => state.control.resolve(reference).await?,
        None => {
            let active = state.control.active_playbook().await?;
            state.control.resolve(active.version()).await?
        }
    };
    Ok((from, state.control.resolve(to).await?))
}

pub fn unified(from: &Resolved, to: &Resolved) -> String {
    firebreak_control::diff::unified(
        &from.info.version,
        from.source(),
        &to.info.version,
        to.source(),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    force: bool,
}

fn optional_json<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> Result<T, FirebreakError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(bytes)
    }
}

async fn activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Crisis)?;
    let body: ActivateBody = optional_json(&read_body(body).await?)?;
    let activated = state
        .control
        .activate(&who.name, &reference, &body.reason, body.force)
        .await
        .map_err(control_error)?;
    Ok(Json(json!({ "playbook": activated.info })).into_response())
}

async fn rollback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Crisis)?;
    let body: ActivateBody = optional_json(&read_body(body).await?)?;
    let restored = state
        .control
        .rollback(&who.name, &body.reason)
        .await
        .map_err(control_error)?;
    Ok(Json(json!({ "playbook": restored.info })).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RehearseBody {
    /// The draft's YAML; absent rehearses the stored latest version of `{name}`.
    #[serde(default)]
    playbook: Option<String>,
    /// Recorded messages; absent replays the archive's recent inbound traffic.
    #[serde(default)]
    messages: Option<Vec<RecordedMessage>>,
    #[serde(default)]
    since_secs: Option<u64>,
    #[serde(default)]
    crisis: Option<bool>,
}

async fn rehearse(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Crisis)?;
    let body: RehearseBody = optional_json(&read_body(body).await?)?;
    let draft = draft_playbook(&state, &name, body.playbook.as_deref()).await?;
    // Texts go back only to whoever sent them, or to an admin.
    let (messages, texts) = match body.messages {
        Some(recorded) => (recorded_messages(recorded)?, true),
        None => (
            archived_messages(&state, body.since_secs).await?,
            who.role == Role::Admin,
        ),
    };
    let report = state
        .control
        .rehearse(&who.name, draft, messages, body.crisis, texts)
        .await
        .map_err(control_error)?;
    let mut json = serde_json::to_value(&report)
        .map_err(|e| FirebreakError::new(firebreak_core::ErrorCode::Internal, e.to_string()))?;
    json["blocks_activation"] = json!(report.blocks_activation());
    Ok(Json(json).into_response())
}

/// The draft to rehearse: the YAML sent (whose `name:` must be `{name}`), or the stored
/// latest version of `{name}`.
pub async fn draft_playbook(
    state: &AppState,
    name: &str,
    source: Option<&str>,
) -> Result<firebreak_triage::Playbook, ApiError> {
    match source.filter(|s| !s.trim().is_empty()) {
        None => Ok(state
            .control
            .resolve(name)
            .await
            .map_err(control_error)?
            .playbook),
        Some(yaml) => {
            let playbook = firebreak_triage::Playbook::load(yaml)
                .map_err(|e| FirebreakError::invalid("playbook", e.to_string()))?;
            if playbook.spec().name != name {
                return Err(FirebreakError::invalid(
                    "name",
                    format!(
                        "the draft says `name: {}` but is rehearsed as {name:?}; the two must agree",
                        playbook.spec().name
                    ),
                )
                .into());
            }
            Ok(playbook)
        }
    }
}

/// Recorded messages as ingest would have built them, each refused with its index.
pub fn recorded_messages(recorded: Vec<RecordedMessage>) -> Result<Vec<Message>, ApiError> {
    if recorded.len() > MAX_MESSAGES {
        return Err(FirebreakError::invalid(
            "messages",
            format!("at most {MAX_MESSAGES} messages per rehearsal"),
        )
        .into());
    }
    let now = time::OffsetDateTime::now_utc();
    recorded
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            m.into_message(i, now).map_err(|e| {
                FirebreakError::invalid(&format!("messages[{i}]"), e.message.clone()).into()
            })
        })
        .collect()
}

/// The archive's inbound messages of the last `since_secs`.
pub async fn archived_messages(
    state: &AppState,
    since_secs: Option<u64>,
) -> Result<Vec<Message>, ApiError> {
    let Some(archive) = &state.archive else {
        return Err(FirebreakError::invalid(
            "messages",
            "no inbound archive on this server (--archive-secs 0): send the messages to replay",
        )
        .into());
    };
    let since = std::time::Duration::from_secs(since_secs.unwrap_or(3600));
    Ok(archive.recent(since, MAX_MESSAGES).await.map_err(|e| {
        FirebreakError::unavailable(e.to_string(), std::time::Duration::from_secs(1))
    })?)
}
