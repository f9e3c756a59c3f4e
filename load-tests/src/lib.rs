//! Firebreak's load generator and surge harness, as a library so that the command
//! line (`src/main.rs`) and the tests in `tests/` drive the same code.
//!
//! - Ingest alone: [`grpc_stream`], [`http_webhook`] (one `firebreak run` from [`spawn`]).
//! - What the first line does with a recall surge: [`scenario`], [`surge`].
//! - The surge proof: [`cluster`] starts every role as its own process against one
//!   nats-server and one redis-server; [`plan`] turns a scenario file
//!   ([`surge_scenario`]) into timed messages that [`drive`] sends over gRPC
//!   streaming and signed webhooks; [`fake_platform`] receives the replies, [`watch`]
//!   times the cases, [`outcomes`] follows every message to its end, [`raw_bus`],
//!   [`triage_alone`] and [`redis_stats`] give the yardsticks, and [`proof`] runs it
//!   all and writes the report ([`measure`], [`charts`]).

pub mod charts;
pub mod cluster;
pub mod dataset;
pub mod drive;
pub mod fake_platform;
pub mod grpc_stream;
pub mod harness_playbook;
pub mod http_webhook;
pub mod measure;
pub mod outcomes;
pub mod plan;
pub mod proof;
pub mod raw_bus;
pub mod redis_stats;
pub mod report;
pub mod scenario;
pub mod spawn;
pub mod summary;
pub mod surge;
pub mod surge_scenario;
pub mod targets;
pub mod triage_alone;
pub mod watch;
