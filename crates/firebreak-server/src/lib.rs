//! The network front of Firebreak: one axum router for HTTP and one tonic server for
//! gRPC, sharing [`AppState`], the token auth in [`auth`] and the error mapping in
//! [`error`]. The binary decides which roles run; this crate only serves them.

pub mod auth;
pub mod error;
pub mod grpc;
pub mod http;
pub mod ratelimit;
mod state;
pub mod token_reload;
pub mod trace;
pub mod watch_limit;

pub use state::{AppState, Mounts, Readiness};
