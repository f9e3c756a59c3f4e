//! The one Redis connection every Redis adapter uses: a multiplexed
//! [`ConnectionManager`] with the project's timeouts, which also counts its round trips.
//!
//! A round trip is one request the adapter waits on: a command, a script call or a
//! whole pipeline. `INFO commandstats` on the server cannot give that figure, since it
//! counts every command a script runs as well as the script itself, and every command
//! of a pipeline on its own. The count is one relaxed atomic add per round trip; the
//! round-trip test (`tests/round_trips.rs` in `firebreak-reply`) reads it to hold each
//! stage to its budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

#[derive(Clone)]
pub struct RedisConn {
    inner: ConnectionManager,
    round_trips: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("round_trips", &self.round_trips())
            .finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Connects with 2 s connection and response timeouts and two reconnection
    /// attempts, the settings every adapter shares.
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        Self::open(redis::Client::open(url)?).await
    }

    /// As [`Self::connect`], from a client the caller keeps (for a connection of its own
    /// beside this one).
    pub async fn open(client: redis::Client) -> Result<Self, redis::RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let inner = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisConn {
            inner,
            round_trips: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Round trips made through this connection (and its clones) so far.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.count();
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.count();
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
