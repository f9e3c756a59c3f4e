//! `GET /v1/cases?status=…`, `GET /v1/cases/{id}` and
//! `POST /v1/cases/{id}/claim|ack|resolve|release` (role moderator). The actor of every
//! transition is the token's name.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use firebreak_core::wire::{Resolution, channel_to_pb};
use firebreak_core::{FirebreakError, MessageId};
use firebreak_escalation::CaseStatus;
use firebreak_escalation::wire::case_json;
use firebreak_proto::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{parse_json, read_body, require};
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

const MAX_LIST: usize = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    /// Comma-separated statuses; absent lists every unresolved case.
    status: Option<String>,
    limit: Option<usize>,
}

fn check_id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() || id.len() > 128 {
        return Err(FirebreakError::invalid("id", "expected a case id").into());
    }
    Ok(id)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Role::Moderator)?;
    let statuses = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| {
                CaseStatus::parse(s.trim()).ok_or_else(|| {
                    FirebreakError::invalid(
                        "status",
                        format!("{s:?}: expected open, claimed, acknowledged, snoozed or resolved"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let cases = state
        .cases
        .list(&statuses, limit)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(json!({
        "cases": cases.iter().map(case_json).collect::<Vec<_>>(),
    })))
}

/// What a moderator sees of one message of the thread: ids and status, never more than
/// the message log keeps.
pub(crate) async fn thread_message(state: &AppState, id: MessageId) -> Option<pb::Message> {
    let record = state.log.get(id).await.ok()??;
    Some(pb::Message {
        id: id.to_string(),
        channel: channel_to_pb(record.channel) as i32,
        external_id: record.external_id,
        thread_id: record.thread_id,
        ..Default::default()
    })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Role::Moderator)?;
    let case = state
        .cases
        .get(check_id(&id)?)
        .await
        .map_err(FirebreakError::from)?;
    let mut messages = Vec::new();
    for message_id in &case.message_ids {
        if let Ok(Some(record)) = state.log.get(*message_id).await {
            messages.push(json!({
                "id": message_id,
                "channel": record.channel,
                "external_id": record.external_id,
                "status": record.status,
            }));
        }
    }
    let mut body = case_json(&case);
    body["messages"] = Value::Array(messages);
    Ok(Json(body))
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let case = state
        .cases
        .claim(check_id(&id)?, &who.name)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(case_json(&case)))
}

pub(crate) async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let case = state
        .cases
        .acknowledge(check_id(&id)?, &who.name)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(case_json(&case)))
}

pub(crate) async fn release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let case = state
        .cases
        .release(check_id(&id)?, &who.name)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(case_json(&case)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    #[serde(default)]
    note: String,
    #[serde(default)]
    reply: Option<String>,
}

pub(crate) async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let bytes = read_body(body).await?;
    let body: ResolveBody = if bytes.is_empty() {
        ResolveBody {
            note: String::new(),
            reply: None,
        }
    } else {
        parse_json(&bytes)?
    };
    let resolution = Resolution::new(body.note, body.reply)?;
    let case = state
        .cases
        .resolve(
            check_id(&id)?,
            &who.name,
            &resolution.note,
            resolution.reply.as_deref(),
        )
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(case_json(&case)))
}
