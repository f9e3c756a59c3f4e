//! The one Redis connection every Redis adapter uses: a multiplexed
//! [`ConnectionManager`] with the project's timeouts, which also counts its round trips.
//!
//! A round trip is one request the adapter waits on: a command, a script call or a
//! whole pipeline. `INFO commandstats` on the server cannot give that figure, since it
//! counts every command a script runs as well as the script itself, and every command
//! of a pipeline on its own. The count is one relaxed atomic add per round trip; the
//! round-trip test (`tests/round_trips.rs` in `firebreak-reply`) reads it to hold each
//! stage to its budget.
//!
//! Pipelines call their scripts by hash (EVALSHA) only. Loading them in every pipeline
//! (SCRIPT LOAD, which hashes the whole script body on the server each time) cost Redis
//! a few kilobytes and a SHA-1 per call; instead each adapter registers its scripts
//! ([`RedisConn::with_scripts`]), they are loaded once, and a pipeline the server
//! answers with NOSCRIPT (after a restart or a `SCRIPT FLUSH`) loads them all again.
//! When every script call of the pipeline was refused, none ran, so the pipeline is
//! sent once more (its other commands are reads or idempotent writes); when some ran
//! and some were refused (the cache refilled by another replica mid-pipeline), the
//! answer goes back as it is, an error to the caller, who retries as after any Redis
//! failure: running a script twice is never done here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Script, ServerErrorKind, Value};

#[derive(Clone)]
pub struct RedisConn {
    inner: ConnectionManager,
    round_trips: Arc<AtomicU64>,
    /// What pipelines may call by hash, loaded again on NOSCRIPT.
    scripts: Arc<Mutex<Vec<&'static Script>>>,
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
            scripts: Arc::default(),
        })
    }

    /// Registers the scripts this connection's pipelines invoke by hash, and loads them.
    pub async fn with_scripts(
        self,
        scripts: &[&'static Script],
    ) -> Result<Self, redis::RedisError> {
        {
            let mut known = self.scripts.lock();
            for script in scripts {
                if !known.iter().any(|k| k.get_hash() == script.get_hash()) {
                    known.push(script);
                }
            }
        }
        self.load_scripts().await?;
        Ok(self)
    }

    /// Loads every registered script, in one round trip.
    async fn load_scripts(&self) -> Result<(), redis::RedisError> {
        let scripts: Vec<&'static Script> = self.scripts.lock().clone();
        if scripts.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for script in scripts {
            pipe.load_script(script).ignore();
        }
        self.count();
        pipe.exec_async(&mut self.inner.clone()).await
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
        Box::pin(async move {
            self.count();
            let answers = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await?;
            if !answers.iter().any(is_noscript) {
                return Ok(answers);
            }
            self.load_scripts().await?;
            if !none_ran(pipeline, &answers) {
                return Ok(answers);
            }
            self.count();
            self.inner
                .req_packed_commands(pipeline, offset, count)
                .await
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// Whether every script call of `pipeline` was refused with NOSCRIPT (answers in
/// command order; a transaction's single answer never qualifies).
fn none_ran(pipeline: &Pipeline, answers: &[Value]) -> bool {
    pipeline.len() == answers.len()
        && pipeline
            .cmd_iter()
            .zip(answers)
            .filter(|(cmd, _)| is_script_call(cmd))
            .all(|(_, answer)| is_noscript(answer))
}

fn is_script_call(cmd: &Cmd) -> bool {
    matches!(
        cmd.args_iter().next(),
        Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"EVALSHA")
    )
}

fn is_noscript(answer: &Value) -> bool {
    matches!(answer, Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript))
}
