//! Telemetry for every role: structured logs, OpenTelemetry traces and Prometheus
//! metrics. Message text and secrets never reach any of them; callers log ids only.

mod metrics;
mod propagation;
mod tracing_setup;

pub use metrics::labels as metric_labels;
pub use metrics::{ConsumerLag, Metrics, StageTimer};
pub use propagation::{continue_trace, current_trace_headers};
pub use tracing_setup::{LogFormat, TelemetryGuard, init};
