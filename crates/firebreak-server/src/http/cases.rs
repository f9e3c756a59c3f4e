//! `GET /v1/cases?status=…` (any reading role; texts and notes for moderator and
//! admin only), `GET /v1/cases/{id}` with the conversation (moderator and admin) and
//! `POST /v1/cases/{id}/claim|ack|resolve|release` (role moderator). The actor of every
//! transition is the token's name.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use firebreak_core::FirebreakError;
use firebreak_core::wire::Resolution;
use firebreak_escalation::conversation::excerpt;
use firebreak_escalation::wire::{case_json, conversation_json};
use firebreak_escalation::{Case, CaseStatus, ConversationEntry};
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

pub(crate) fn check_id(id: &str) -> Result<&str, ApiError> {
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
    let who = require(&state, &headers, Role::Viewer)?;
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
    let mut listed = Vec::with_capacity(cases.len());
    for case in &cases {
        listed.push(if reads_texts(who.role) {
            let mut body = case_json(case);
            body["excerpt"] = excerpt_of(&state, &case.id).await.into();
            body
        } else {
            case_json(&case.without_texts())
        });
    }
    Ok(Json(json!({ "cases": listed })))
}

/// Moderators and admins read what people wrote and the notes; crisis and viewer
/// tokens see the queue only.
pub(crate) fn reads_texts(role: Role) -> bool {
    role.grants(Role::Moderator)
}

/// The newest message's first characters, for listings.
pub(crate) async fn excerpt_of(state: &AppState, case_id: &str) -> Option<String> {
    let entries = state.cases.conversation(case_id).await.ok()?;
    entries.iter().rev().find_map(|e| match e {
        ConversationEntry::Message(m) => Some(excerpt(&m.text, 80)),
        ConversationEntry::Reply(_) => None,
    })
}

/// A case with its conversation, as moderators read it.
pub(crate) async fn case_with_conversation(
    state: &AppState,
    case: &Case,
) -> Result<Value, ApiError> {
    let entries = state
        .cases
        .conversation(&case.id)
        .await
        .map_err(FirebreakError::from)?;
    let (messages, replies) = conversation_json(&entries);
    let mut body = case_json(case);
    body["texts_purged"] = (entries.is_empty() && case.message_count > 0).into();
    body["messages"] = messages;
    body["replies"] = replies;
    Ok(body)
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
    Ok(Json(case_with_conversation(&state, &case).await?))
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
