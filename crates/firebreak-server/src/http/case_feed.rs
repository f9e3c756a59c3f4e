//! `GET /v1/cases/events`: the console's live feed over Server-Sent Events, read from
//! the same durable case event log as gRPC `Watch` (`Cases::watch`). From cursor 0 it
//! opens with every unresolved case; `?cursor=N` or the `Last-Event-ID` header resumes
//! after N with nothing missed. Each event's `id` is its cursor. Crisis and viewer
//! tokens get the queue without notes or evidence.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use firebreak_core::FirebreakError;
use firebreak_escalation::wire::case_json;
use futures::{Stream, StreamExt};
use serde_json::json;

use super::cases::reads_texts;
use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

fn resume_cursor(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<u64, ApiError> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query.get("cursor").map(String::as_str));
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(0),
        Some(s) => Ok(s
            .parse()
            .map_err(|_| FirebreakError::invalid("cursor", "expected a number"))?),
    }
}

pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Sse<KeepAliveStream<EventStream>>, ApiError> {
    let who = require(&state, &headers, Role::Viewer)?;
    let cursor = resume_cursor(&headers, &query)?;
    let slot = state.watch_limit.acquire(&who.name)?;
    let texts = reads_texts(who.role);
    let watch: Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(state.cases.watch(cursor));
    let feed = watch.map(move |item| {
        // The slot lives as long as the stream; the client leaving frees it.
        let _held = &slot;
        let event = match item {
            Ok(e) => {
                let case = if texts {
                    case_json(&e.case)
                } else {
                    case_json(&e.case.without_texts())
                };
                Event::default()
                    .id(e.cursor.to_string())
                    .event("case")
                    .data(
                        json!({"cursor": e.cursor, "kind": e.kind.as_str(), "case": case})
                            .to_string(),
                    )
            }
            Err(e) => {
                let e = FirebreakError::from(e);
                Event::default()
                    .event("failure")
                    .data(json!({"code": e.code.as_str(), "message": e.message}).to_string())
            }
        };
        Ok(event)
    });
    Ok(Sse::new(Box::pin(feed) as EventStream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
