//! The HTTP API. Every route but health and webhooks requires a bearer token.

mod body;
mod case_actions;
mod case_feed;
pub mod cases;
mod console;
pub mod crisis;
pub mod endpoints;
mod health;
pub mod insights;
mod messages;
pub mod playbooks;
pub mod serve;
pub mod webhooks;

pub use body::{BodyError, MAX_BODY_BYTES, parse_json, read_body, read_body_counted};
pub use messages::{
    Preview, accepted_response, decision_json, dry_run, dry_run_preview, replies_json,
};
pub use serve::{HttpLimits, serve};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::{AppState, Mounts};

/// Every route, as `--roles all` serves them.
pub fn router(state: AppState) -> Router {
    router_for(state, Mounts::ALL)
}

/// Health, readiness and metrics, plus the routes of the roles in `mounts`. A route of
/// a role this process does not run is a 404 here.
pub fn router_for(state: AppState, mounts: Mounts) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    if mounts.ingest {
        router = router
            .route("/v1/messages", post(messages::submit).get(messages::find))
            .route("/v1/messages/{id}", get(messages::get_by_id))
            .merge(webhooks::routes());
    }
    if mounts.classify {
        router = router.route("/v1/classify", post(messages::classify));
    }
    if mounts.control {
        router = router
            .route("/v1/crisis", get(crisis::get_mode).put(crisis::put_mode))
            .route("/v1/playbooks", get(crisis::list_playbooks))
            .route(
                "/v1/playbooks/{name}",
                get(playbooks::show).put(crisis::put_playbook),
            )
            .merge(playbooks::routes())
            .route("/v1/audit", get(crisis::list_audit))
            .route("/v1/insights", get(insights::get));
    }
    if mounts.escalation {
        router = router
            .route("/console", get(console::index))
            .route("/console/", get(console::index))
            .route("/console/console.js", get(console::script))
            .route("/console/console.css", get(console::style))
            .route("/v1/whoami", get(console::whoami))
            .route("/v1/cases", get(cases::list))
            .route("/v1/cases/events", get(case_feed::events))
            .route("/v1/cases/bulk-resolve", post(case_actions::bulk_resolve))
            .route("/v1/cases/{id}", get(cases::get))
            .route(
                "/v1/cases/{id}/texts",
                axum::routing::delete(case_actions::purge_texts),
            )
            .route("/v1/cases/{id}/snooze", post(case_actions::snooze))
            .route("/v1/cases/{id}/reopen", post(case_actions::reopen))
            .route("/v1/cases/{id}/claim", post(cases::claim))
            .route("/v1/cases/{id}/ack", post(cases::ack))
            .route("/v1/cases/{id}/resolve", post(cases::resolve))
            .route("/v1/cases/{id}/release", post(cases::release));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::limit,
        ))
        .layer(axum::middleware::from_fn(crate::trace::http_span))
        .with_state(state)
}

/// Checks the request's bearer token for `role`, then charges the call to the token's
/// bucket ([`crate::ratelimit`]): 401/403 cost nothing, 429 once over the rate.
pub fn require(state: &AppState, headers: &HeaderMap, role: Role) -> Result<Principal, ApiError> {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = state
        .tokens
        .authorize(authorization, role)
        .inspect_err(|e| crate::auth::count_refusal(&state.metrics, "http", e))?;
    crate::ratelimit::charge_token(state, &principal.name)?;
    Ok(principal)
}
