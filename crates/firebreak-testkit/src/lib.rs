//! Test harness for Firebreak's integration tests.
//!
//! Integration tests run against real servers, not mocks: [`NatsServer`] and
//! [`RedisServer`] start a private `nats-server` / `redis-server` on free ports
//! with their data in a temp dir, so a test can kill, crash and restart them
//! without touching the machine's shared instances (4222 / 6379).
//! [`FakeHttpServer`] stands in for third-party HTTP APIs (platform APIs,
//! webhook receivers), where a real server is not available.

mod binary;
mod fake_http;
mod launch;
mod nats;
mod port;
mod process;
mod redis;
mod wait;

pub use fake_http::{CannedResponse, FakeHttpHandle, FakeHttpServer, RecordedRequest};
pub use nats::NatsServer;
pub use port::free_port;
pub use process::ChildProcess;
pub use redis::RedisServer;
pub use wait::wait_until;
