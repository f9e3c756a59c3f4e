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

/// OpenMetrics when the scraper asks for it (Prometheus does), else the classic text
/// format, which `promtool check metrics` and older scrapers read.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let open_metrics = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if open_metrics {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            state.metrics.render(),
        )
    } else {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render_text(),
        )
    }
}
