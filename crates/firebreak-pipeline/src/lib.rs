//! The asynchronous pipeline. Ingest publishes to JetStream; each later stage is a
//! durable pull consumer run by [`worker::run`], which acks only after the stage's side
//! effects are recorded and dead-letters what keeps failing.

pub mod classify;
pub mod dead_letters;
pub mod ingest;
pub mod insights;
pub mod lane_priority;
pub mod payload;
pub mod rates;
pub mod settings;
pub mod spill_index;
pub mod sweeper;
pub mod worker;

/// The header every pipeline publish carries, so a dead-lettered payload can still be
/// tied to its message even when the payload itself is garbage.
pub const MESSAGE_ID_HEADER: &str = "Fb-Message-Id";

/// Attaches the current trace context (W3C `traceparent`) so the next stage continues
/// the message's trace.
pub fn with_trace(mut envelope: firebreak_bus::Envelope) -> firebreak_bus::Envelope {
    envelope
        .headers
        .extend(firebreak_telemetry::current_trace_headers());
    envelope
}
