//! Starts a `firebreak run` child for a self-contained measurement (`--roles ingest`
//! for the ingest scenarios, `all` for the surge), with a fresh admin token and
//! Telegram secret and the request limit off (the benchmark measures the pipeline, not
//! the guard in front of it).

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use rand::Rng as _;
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

pub struct Spawned {
    pub http: String,
    pub grpc: String,
    pub token: String,
    pub telegram_secret: String,
    _child: Child,
    _tokens: TempFile,
}

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

pub async fn start(
    binary: &Path,
    nats_url: Option<&str>,
    redis_url: Option<&str>,
    roles: &str,
) -> anyhow::Result<Spawned> {
    let token = format!("fb_{}", random_hex(24));
    let telegram_secret = random_hex(16);
    let tokens = TempFile(std::env::temp_dir().join(format!("firebreak-load-{}", random_hex(6))));
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    std::fs::write(&tokens.0, format!("admin load {digest}\n"))?;
    let (http_port, grpc_port) = (free_port()?, free_port()?);
    let mut command = Command::new(binary);
    command
        .args(["run", "--roles", roles, "--ingest-rate-per-source", "0"])
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--grpc-addr")
        .arg(format!("127.0.0.1:{grpc_port}"))
        .arg("--tokens-file")
        .arg(&tokens.0)
        .env("FIREBREAK_TELEGRAM_SECRET_TOKEN", &telegram_secret)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = nats_url {
        command.arg("--nats-url").arg(url);
    }
    if let Some(url) = redis_url {
        command.arg("--redis-url").arg(url);
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let http = format!("http://127.0.0.1:{http_port}");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{http}/readyz")).send().await
            && r.status() == 200
        {
            return Ok(Spawned {
                http,
                grpc: format!("http://127.0.0.1:{grpc_port}"),
                token,
                telegram_secret,
                _child: child,
                _tokens: tokens,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the spawned firebreak was not ready within 60 s")
}
