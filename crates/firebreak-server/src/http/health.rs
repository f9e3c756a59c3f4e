//! Shallow liveness, deep readiness, and the metrics page.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use crate::AppState;
use crate::auth::Role;

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 `ready` or 503 `not ready`. Why it is not ready (internal error text) goes to
/// the log, and to the body only for a caller with a viewer token or above: probes need
/// the status, not the detail.
pub async fn readyz(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    match state.check_ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(why) => {
            tracing::warn!(reason = %why, "not ready");
            let authorized = super::require(&state, &headers, Role::Viewer).is_ok();
            let body = if authorized {
                format!("not ready: {why}")
            } else {
                "not ready".to_string()
            };
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
