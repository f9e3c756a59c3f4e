//! The state port. Services talk to [`MessageLog`]; the binary wires
//! [`redis_store::RedisStore`] or [`memory::MemoryStore`] (the embedded default). One
//! conformance suite (`tests/conformance.rs`) runs against both. Cases live in
//! `firebreak-escalation`; [`OpenCases`] is the slice of them classify needs.
//!
//! Redis keys carry a hash tag (`fb:{m:ID}`) so every multi-key script touches one
//! slot and works on Redis Cluster.

pub mod archive;
pub mod conversation;
pub mod memory;
mod port;
pub mod redis_archive;
pub mod redis_conn;
pub mod redis_store;

pub use port::{CaseSubject, MessageLog, OpenCases, OutcomeWrite, Reopen, StoreError};

/// How long message records (and so dedup) last. Meta retries failed deliveries for
/// days; a week covers every platform's retry horizon.
pub const MESSAGE_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
