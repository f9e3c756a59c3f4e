//! A private `redis-server` with an always-fsynced AOF for one test.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::binary::find_binary;
use crate::launch::{self, PORT_ATTEMPTS, StartError};
use crate::port::free_port;
use crate::process::ChildProcess;

const BINARY_FALLBACKS: &[&str] = &[
    "/usr/bin/redis-server",
    "/usr/local/bin/redis-server",
    "/usr/sbin/redis-server",
];

/// Upper bound for one readiness probe, so a half-open socket cannot stall start-up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A `redis-server` on a free port with its data in a temp dir.
///
/// It runs with `appendonly yes` and `appendfsync always`, so every
/// acknowledged write survives [`RedisServer::kill`] + [`RedisServer::restart`].
/// Dropping it kills the server and deletes the temp dir.
pub struct RedisServer {
    // Declared before `dir` so the process dies before its data is deleted.
    process: Option<ChildProcess>,
    binary: PathBuf,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING` with `PONG`.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = find_binary("redis-server", BINARY_FALLBACKS)?;
        let dir = tempfile::Builder::new()
            .prefix("firebreak-redis-")
            .tempdir()?;
        let mut server = Self {
            process: None,
            binary,
            port: 0,
            dir,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(StartError::AddressInUse) => server.process = None,
                Err(StartError::Failed(error)) => return Err(error),
            }
        }
        anyhow::bail!("redis-server: no free port after {PORT_ATTEMPTS} attempts")
    }

    /// The connection URL, e.g. `redis://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (AOF files), kept across restarts.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's combined stdout/stderr log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis-server.log")
    }

    /// Whether the server process is running (not stopped, killed or crashed).
    pub fn is_running(&mut self) -> bool {
        crate::process::slot::is_running(&mut self.process)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        crate::process::slot::stop(&mut self.process).await
    }

    /// Kills the server with SIGKILL, simulating a crash.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        crate::process::slot::kill(&mut self.process).await
    }

    /// Starts the server again on the same port with the same data dir, so
    /// data written before a stop or kill is reloaded from the AOF. Stops it
    /// first if it is running.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.process = None;
        self.spawn_and_wait()
            .await
            .map_err(|error| launch::into_anyhow(error, "redis-server"))
    }

    async fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let data_dir = self.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(|error| StartError::Failed(error.into()))?;
        let args: Vec<OsString> = vec![
            "--port".into(),
            self.port.to_string().into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            data_dir.into(),
            // No RDB snapshots: the AOF alone carries the data, fsynced per
            // write so a SIGKILL loses nothing that was acknowledged.
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
        ];
        let process = ChildProcess::spawn(&self.binary, &args, &self.log_path())
            .map_err(StartError::Failed)?;
        let pid = process.id();
        let process = self.process.insert(process);
        let port = self.port;
        launch::wait_ready(process, "redis-server", || async move {
            let Some(pid) = pid else { return false };
            tokio::time::timeout(PROBE_TIMEOUT, answers_ping_as(port, pid))
                .await
                .unwrap_or(false)
        })
        .await
    }
}

/// Whether the server on `port` is ours and ready for commands.
///
/// One pipelined exchange: `PING` answers `-LOADING` until the AOF is
/// replayed, `INFO server` carries `process_id` (to tell our server from
/// another test's that won a port race), and `QUIT` closes the connection so
/// the reply ends at EOF.
async fn answers_ping_as(port: u16, pid: u32) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n*1\r\n$4\r\nQUIT\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut reply = Vec::new();
    if stream.read_to_end(&mut reply).await.is_err() {
        return false;
    }
    let reply = String::from_utf8_lossy(&reply);
    reply.starts_with("+PONG\r\n") && reply.contains(&format!("\r\nprocess_id:{pid}\r\n"))
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .finish()
    }
}
