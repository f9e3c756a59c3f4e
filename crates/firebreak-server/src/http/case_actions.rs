//! The case actions beyond claim, ack, resolve and release:
//! `POST /v1/cases/{id}/snooze` and `/reopen` (moderator), `POST /v1/cases/bulk-resolve`
//! to resolve a filtered set as noise with a reason (moderator, each case audited), and
//! `DELETE /v1/cases/{id}/texts` to purge what people wrote on request (admin, audited).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use firebreak_core::FirebreakError;
use firebreak_escalation::wire::case_json;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::cases::check_id;
use super::{parse_json, read_body, require};
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

/// The longest snooze: a week.
const MAX_SNOOZE_MINUTES: i64 = 7 * 24 * 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    /// RFC 3339; or `minutes` from now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    #[serde(default)]
    minutes: Option<i64>,
}

pub(crate) async fn snooze(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let body: SnoozeBody = parse_json(&read_body(body).await?)?;
    let until = match (body.until, body.minutes) {
        (Some(until), None) => until,
        (None, Some(minutes)) if (1..=MAX_SNOOZE_MINUTES).contains(&minutes) => {
            OffsetDateTime::now_utc() + time::Duration::minutes(minutes)
        }
        _ => {
            return Err(FirebreakError::invalid(
                "until",
                format!("give either until (RFC 3339) or minutes (1 to {MAX_SNOOZE_MINUTES})"),
            )
            .into());
        }
    };
    let case = state
        .cases
        .snooze(check_id(&id)?, &who.name, until)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(case_json(&case)))
}

pub(crate) async fn reopen(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let case = state
        .cases
        .reopen(check_id(&id)?, &who.name)
        .await
        .map_err(FirebreakError::from)?;
    Ok(Json(case_json(&case)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    ids: Vec<String>,
    reason: String,
}

/// Answers 200 with one result per case: `resolved`, or the error that case met (a
/// case another moderator holds is reported, not taken).
pub(crate) async fn bulk_resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Moderator)?;
    let body: BulkBody = parse_json(&read_body(body).await?)?;
    firebreak_core::message::limits::check_len(
        "reason",
        &body.reason,
        firebreak_core::message::limits::MAX_NOTE_BYTES,
    )?;
    for id in &body.ids {
        check_id(id)?;
    }
    let outcomes = state
        .cases
        .resolve_as_noise(&body.ids, &who.name, &body.reason)
        .await
        .map_err(FirebreakError::from)?;
    let results: Vec<Value> = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(case) => json!({"id": o.case_id, "status": case.status.as_str()}),
            Err(e) => {
                let e = FirebreakError::from(e.clone());
                json!({"id": o.case_id, "error": {"code": e.code.as_str(), "message": e.message}})
            }
        })
        .collect();
    let resolved = outcomes.iter().filter(|o| o.result.is_ok()).count();
    Ok(Json(json!({"resolved": resolved, "results": results})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    #[serde(default)]
    reason: String,
}

pub(crate) async fn purge_texts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let who = require(&state, &headers, Role::Admin)?;
    let bytes = read_body(body).await?;
    let body: PurgeBody = if bytes.is_empty() {
        PurgeBody::default()
    } else {
        parse_json(&bytes)?
    };
    let purged = state
        .cases
        .purge_texts(check_id(&id)?, &who.name, &body.reason)
        .await
        .map_err(FirebreakError::from)?;
    let archived = purge_archived(&state, &id).await?;
    Ok(Json(
        json!({"id": id, "purged": purged, "archived_purged": archived}),
    ))
}

/// The inbound archive keeps texts for rehearsals; a case's purge reaches them too.
async fn purge_archived(state: &AppState, id: &str) -> Result<usize, ApiError> {
    let Some(archive) = &state.archive else {
        return Ok(0);
    };
    let case = state.cases.get(id).await.map_err(FirebreakError::from)?;
    Ok(archive.purge(&case.message_ids).await.map_err(|e| {
        FirebreakError::unavailable(e.to_string(), std::time::Duration::from_secs(1))
    })?)
}
