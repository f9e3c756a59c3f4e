//! `GET /v1/insights`: what the brand is being told, for crisis teams (viewer and
//! above). Merged from every classify replica's snapshot in the control bucket.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use firebreak_core::FirebreakError;

use super::require;
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

/// The bus did not answer: retry shortly.
pub fn unavailable() -> FirebreakError {
    FirebreakError::unavailable("insights", std::time::Duration::from_secs(1))
}

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let insights = firebreak_control::insights::read(state.bus.as_ref())
        .await
        .map_err(|_| unavailable())?;
    Ok(Json(insights).into_response())
}
