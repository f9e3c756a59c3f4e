//! Crisis mode, playbooks and the audit over HTTP: `GET|PUT /v1/crisis`,
//! `GET /v1/playbooks`, `PUT /v1/playbooks/{name}` and `GET /v1/audit` (the rest of the
//! playbook lifecycle is in `playbooks.rs`). Writing needs
//! the crisis role; reading, viewer or above. The actor is the token's name.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use firebreak_control::ModeChange;
use firebreak_core::{CrisisMode, FirebreakError};
use serde_json::json;

use super::{parse_json, read_body, require};
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

/// The contract's view of a mode: RFC 3339 times, `expires_at` null when none.
pub fn mode_json(mode: &CrisisMode) -> serde_json::Value {
    let format = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    json!({
        "active": mode.active,
        "reason": mode.reason,
        "actor": mode.actor,
        "playbook": mode.playbook,
        "changed_at": format(mode.changed_at),
        "expires_at": mode.expires_at.map(format),
        "revision": mode.revision,
    })
}

pub async fn get_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let mode = state.control.mode().await.map_err(FirebreakError::from)?;
    with_normal_playbook(&state, mode_json(&mode)).await
}

/// Adds `normal_playbook`: what `crisis off` returns to, when crisis mode brought its
/// own playbook (null otherwise).
async fn with_normal_playbook(
    state: &AppState,
    mut json: serde_json::Value,
) -> Result<Response, ApiError> {
    let normal = state
        .control
        .normal_playbook()
        .await
        .map_err(FirebreakError::from)?;
    json["normal_playbook"] = json!(normal);
    Ok(Json(json).into_response())
}

pub async fn put_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Crisis)?;
    let change: ModeChange = parse_json(&read_body(body).await?)?;
    let mode = state
        .control
        .set_mode(&who.name, change)
        .await
        .map_err(FirebreakError::from)?;
    with_normal_playbook(&state, mode_json(&mode)).await
}

pub async fn list_playbooks(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let playbooks = state
        .control
        .playbooks()
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(json!({ "playbooks": playbooks })).into_response())
}

/// The body is the playbook's YAML. Validated whole first: a 400 names the field and
/// line, and nothing is stored.
pub async fn put_playbook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Crisis)?;
    let bytes = read_body(body).await?;
    let yaml = std::str::from_utf8(&bytes).map_err(|e| {
        FirebreakError::invalid("body", format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let info = state
        .control
        .upload_version(&who.name, who.role.as_str(), &name, yaml)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(info).into_response())
}

pub async fn list_audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Viewer)?;
    let prefix = params.get("action_prefix").cloned().unwrap_or_default();
    let case_entries = crate::auth::case_audit_access(who.role, &prefix)?;
    let limit = params
        .get("limit")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| FirebreakError::invalid("limit", "not a number"))
        })
        .transpose()?;
    let query = firebreak_control::audit::query(limit, params.get("action_prefix").cloned())?;
    let entries = state
        .control
        .audit()
        .list(&query)
        .await
        .map_err(FirebreakError::from)?;
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| case_entries || !crate::auth::is_case_action(&e.action))
        .collect();
    Ok(Json(json!({ "entries": entries })).into_response())
}
