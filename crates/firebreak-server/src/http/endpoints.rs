//! `GET /v1/endpoints`: where this server's gRPC API listens, so a client given the
//! HTTP address alone (`FIREBREAK_SERVER=host:8080`) can find it. Public like
//! `/healthz`: it tells a port number, nothing else.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::json;

pub fn routes(grpc_port: u16) -> Router {
    Router::new().route(
        "/v1/endpoints",
        get(move || async move { Json(json!({ "grpc_port": grpc_port })) }),
    )
}
