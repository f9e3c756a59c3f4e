//! A private `nats-server` with JetStream for one test.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::binary::find_binary;
use crate::launch::{self, PORT_ATTEMPTS, StartError};
use crate::port::free_port;
use crate::process::ChildProcess;

const BINARY_FALLBACKS: &[&str] = &[
    "/usr/sbin/nats-server",
    "/usr/local/bin/nats-server",
    "/usr/bin/nats-server",
];

/// Upper bound for one readiness probe, so a half-open socket cannot stall start-up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Makes server names unique within this test binary; the pid makes them
/// unique across test binaries running in parallel.
static NEXT_SERVER_ID: AtomicU64 = AtomicU64::new(0);

/// A `nats-server -js` on free ports, storing JetStream data in a temp dir.
///
/// Dropping it kills the server and deletes the temp dir.
pub struct NatsServer {
    // Declared before `dir` so the process dies before its store is deleted.
    process: Option<ChildProcess>,
    binary: PathBuf,
    port: u16,
    monitor_port: u16,
    server_name: String,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server and waits until clients can connect and JetStream is ready.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = find_binary("nats-server", BINARY_FALLBACKS)?;
        let dir = tempfile::Builder::new()
            .prefix("firebreak-nats-")
            .tempdir()?;
        let server_name = format!(
            "firebreak-testkit-{}-{}",
            std::process::id(),
            NEXT_SERVER_ID.fetch_add(1, Ordering::Relaxed)
        );
        let mut server = Self {
            process: None,
            binary,
            port: 0,
            monitor_port: 0,
            server_name,
            dir,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            server.monitor_port = free_port()?;
            if server.port == server.monitor_port {
                continue;
            }
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(StartError::AddressInUse) => server.process = None,
                Err(StartError::Failed(error)) => return Err(error),
            }
        }
        anyhow::bail!("nats-server: no free port pair after {PORT_ATTEMPTS} attempts")
    }

    /// The client URL, e.g. `nats://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitoring URL, e.g. for `/jsz` or `/connz` in assertions.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// The JetStream store directory, kept across restarts.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The server's combined stdout/stderr log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
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

    /// Starts the server again on the same ports with the same store, so
    /// JetStream streams and messages survive. Stops it first if it is running.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.process = None;
        self.spawn_and_wait()
            .await
            .map_err(|error| launch::into_anyhow(error, "nats-server"))
    }

    async fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        // JetStream refuses a stream whose byte limit does not fit the store's limit,
        // which defaults to 75% of the free disk; the production topology reserves more
        // than a shared CI disk has free. Test data is tiny, so lift the store's limit.
        let config = self.dir.path().join("nats-server.conf");
        std::fs::write(&config, "jetstream { max_file_store: 1TB }\n")
            .map_err(|e| StartError::Failed(e.into()))?;
        let args: Vec<OsString> = vec![
            "-c".into(),
            config.into(),
            "-js".into(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string().into(),
            "-m".into(),
            self.monitor_port.to_string().into(),
            "-n".into(),
            self.server_name.clone().into(),
            "-sd".into(),
            self.store_dir().into(),
        ];
        let process = ChildProcess::spawn(&self.binary, &args, &self.log_path())
            .map_err(StartError::Failed)?;
        let process = self.process.insert(process);
        let (port, monitor_port, name) = (self.port, self.monitor_port, &self.server_name);
        launch::wait_ready(process, "nats-server", || async move {
            let probe = async {
                serves_clients_as(port, name).await && jetstream_is_healthy(monitor_port).await
            };
            tokio::time::timeout(PROBE_TIMEOUT, probe)
                .await
                .unwrap_or(false)
        })
        .await
    }
}

/// Whether the server on `port` is ours: NATS greets every client with an
/// `INFO {json}` line, which carries the server name we passed with `-n`.
async fn serves_clients_as(port: u16, server_name: &str) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut greeting = String::new();
    if BufReader::new(stream)
        .read_line(&mut greeting)
        .await
        .is_err()
    {
        return false;
    }
    greeting.starts_with("INFO ")
        && greeting.contains(&format!("\"server_name\":\"{server_name}\""))
}

/// Whether JetStream is enabled and healthy, per the monitoring endpoint.
///
/// `/healthz?js-enabled-only=true` checks JetStream health on current servers,
/// but older ones (2.9) ignore the parameter and answer 200 without JetStream,
/// so `/jsz` must also not report `"disabled": true`.
async fn jetstream_is_healthy(monitor_port: u16) -> bool {
    let healthy = matches!(
        http_get(monitor_port, "/healthz?js-enabled-only=true").await,
        Some((200, _))
    );
    healthy
        && match http_get(monitor_port, "/jsz").await {
            Some((200, body)) => {
                let compact: String = body.split_whitespace().collect();
                !compact.contains("\"disabled\":true")
            }
            _ => false,
        }
}

/// A minimal HTTP/1.0 GET returning the status code and body; HTTP/1.0 makes
/// the server close the connection, so the response ends at EOF. This avoids
/// pulling an HTTP client into every test binary for a health check.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    // Status line: "HTTP/1.1 200 OK".
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("url", &self.url())
            .field("monitor_url", &self.monitor_url())
            .field("dir", &self.dir.path())
            .finish()
    }
}
