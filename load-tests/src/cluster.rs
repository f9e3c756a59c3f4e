//! A local multi-process cluster: one nats-server (JetStream on file storage) and one
//! redis-server on free loopback ports, then every role as its own `firebreak run
//! --roles X` process against them (ingest, control, escalation, N classify, M reply),
//! each on its own HTTP and gRPC ports. Replies go to the fake platform: Telegram
//! through its connector (`--telegram-api-url`), every other channel through the
//! outbound webhook. Stopping sends SIGTERM to each process and waits for it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use firebreak_testkit::{ChildProcess, free_port};
use rand::Rng as _;
use sha2::{Digest, Sha256};

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub firebreak: PathBuf,
    pub playbook: PathBuf,
    pub classify: usize,
    pub reply: usize,
    /// The fake platform's base URL.
    pub platform: String,
}

/// One `firebreak run` process.
pub struct RoleProcess {
    /// `classify-1`, `reply-2`, `ingest`...
    pub name: String,
    pub http: String,
    pub grpc: String,
    process: ChildProcess,
}

impl RoleProcess {
    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }
}

pub struct Cluster {
    pub nats_url: String,
    pub redis_url: String,
    /// An admin token valid on every process.
    pub token: String,
    pub telegram_secret: String,
    pub roles: Vec<RoleProcess>,
    nats: ChildProcess,
    redis: ChildProcess,
    // Declared last: the processes above die before their files go.
    dir: tempfile::TempDir,
}

/// The Telegram bot token the reply workers present to the fake platform.
pub const TELEGRAM_BOT_TOKEN: &str = "4242:surge-harness";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

impl Cluster {
    pub async fn start(options: &ClusterOptions) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("firebreak-surge-")
            .tempdir()?;
        let (nats, nats_url) = start_nats(dir.path()).await?;
        let (redis, redis_url) = start_redis(dir.path()).await?;
        let token = format!("fb_{}", random_hex(24));
        let telegram_secret = random_hex(16);
        let tokens = dir.path().join("tokens");
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        std::fs::write(&tokens, format!("admin surge {digest}\n"))?;
        let mut cluster = Cluster {
            nats_url,
            redis_url,
            token,
            telegram_secret,
            roles: Vec::new(),
            nats,
            redis,
            dir,
        };
        let mut names = vec![
            ("ingest".to_string(), "ingest"),
            ("control".to_string(), "control"),
            ("escalation".to_string(), "escalation"),
        ];
        names.extend((1..=options.classify).map(|i| (format!("classify-{i}"), "classify")));
        names.extend((1..=options.reply).map(|i| (format!("reply-{i}"), "reply")));
        for (name, role) in &names {
            let process = cluster.spawn_role(options, &tokens, name, role)?;
            cluster.roles.push(process);
        }
        let client = reqwest::Client::new();
        for (i, (name, role)) in names.iter().enumerate() {
            let mut attempts = 1;
            loop {
                match wait_ready(&client, &mut cluster.roles[i]).await {
                    Ok(()) => break,
                    // A port picked free a moment ago can be taken before the process
                    // binds it: start that process again on new ports.
                    Err(e) if attempts < PORT_ATTEMPTS && e.to_string().contains(PORT_TAKEN) => {
                        attempts += 1;
                        cluster.roles[i] = cluster.spawn_role(options, &tokens, name, role)?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(cluster)
    }

    fn spawn_role(
        &self,
        options: &ClusterOptions,
        tokens: &Path,
        name: &str,
        role: &str,
    ) -> anyhow::Result<RoleProcess> {
        let (http, grpc) = (free_port()?, free_port()?);
        let outbound = format!("{}/outbound", options.platform.trim_end_matches('/'));
        let args: Vec<OsString> = [
            "run",
            "--roles",
            role,
            "--http-addr",
            &format!("127.0.0.1:{http}"),
            "--grpc-addr",
            &format!("127.0.0.1:{grpc}"),
            "--nats-url",
            &self.nats_url,
            "--redis-url",
            &self.redis_url,
            "--playbook",
            &options.playbook.display().to_string(),
            "--tokens-file",
            &tokens.display().to_string(),
            // The harness measures the pipeline, not the request guard in front of it.
            "--ingest-rate-per-source",
            "0",
            "--telegram-api-url",
            &options.platform,
            "--outbound-webhook-url",
            &outbound,
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let log = self.dir.path().join(format!("{name}.log"));
        let env = [
            (
                "FIREBREAK_TELEGRAM_SECRET_TOKEN",
                self.telegram_secret.as_str(),
            ),
            ("FIREBREAK_TELEGRAM_BOT_TOKEN", TELEGRAM_BOT_TOKEN),
            ("RUST_LOG", "warn"),
        ];
        let process = ChildProcess::spawn_with_env(&options.firebreak, &args, &env, &log)
            .with_context(|| format!("starting {name}"))?;
        Ok(RoleProcess {
            name: name.to_string(),
            http: format!("http://127.0.0.1:{http}"),
            grpc: format!("http://127.0.0.1:{grpc}"),
            process,
        })
    }

    /// The first process running `role` (`ingest`, `control`, `escalation`...).
    pub fn role(&self, role: &str) -> &RoleProcess {
        self.roles
            .iter()
            .find(|r| r.name == role || r.name.starts_with(&format!("{role}-")))
            .expect("every role is started")
    }

    /// Every process's pid with its name, the servers included, for memory figures.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let mut pids: Vec<(String, u32)> = self
            .roles
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.pid()?)))
            .collect();
        pids.extend(self.nats.id().map(|p| ("nats-server".to_string(), p)));
        pids.extend(self.redis.id().map(|p| ("redis-server".to_string(), p)));
        pids
    }

    /// Where the processes' logs are, for a failed run.
    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of one process's log.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        self.roles
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.process.log_tail(lines))
            .unwrap_or_default()
    }

    /// SIGTERM to each role (ingest first, so nothing new comes in), each awaited,
    /// then the servers. Returns each role's exit: a clean stop is `exit status: 0`.
    pub async fn stop(mut self) -> anyhow::Result<Vec<(String, String)>> {
        let mut exits = Vec::new();
        for role in &mut self.roles {
            let status = role.process.terminate().await?;
            exits.push((role.name.clone(), status.to_string()));
        }
        self.redis.terminate().await?;
        self.nats.terminate().await?;
        Ok(exits)
    }
}

/// How many times a process is started when its port was taken under it.
const PORT_ATTEMPTS: u32 = 3;
/// What the operating system says when a port is taken.
const PORT_TAKEN: &str = "Address already in use";

async fn wait_ready(client: &reqwest::Client, role: &mut RoleProcess) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = role.process.try_exit_status()? {
            anyhow::bail!(
                "{} exited during start-up ({status}):\n{}",
                role.name,
                role.process.log_tail(30)
            );
        }
        if let Ok(r) = client.get(format!("{}/readyz", role.http)).send().await
            && r.status() == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{} not ready within 60 s:\n{}",
                role.name,
                role.process.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found on PATH (apt-get install {name})"))
}

/// JetStream on file storage, with room: the pipeline's streams reserve more than a
/// small disk has free, and JetStream refuses a stream that does not fit its limit.
async fn start_nats(dir: &Path) -> anyhow::Result<(ChildProcess, String)> {
    let port = free_port()?;
    let store = dir.join("jetstream");
    let config = dir.join("nats.conf");
    std::fs::write(
        &config,
        format!(
            "jetstream {{ max_file_store: 1TB, store_dir: \"{}\" }}\n",
            store.display()
        ),
    )?;
    let args: Vec<OsString> = vec![
        "-c".into(),
        config.into(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string().into(),
    ];
    let process = ChildProcess::spawn(&binary("nats-server")?, &args, &dir.join("nats.log"))?;
    let url = format!("nats://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(client) = async_nats::connect(&url).await
            && jetstream_answers(&async_nats::jetstream::new(client)).await
        {
            return Ok((process, url));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "nats-server not ready:\n{}",
            process.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether JetStream creates a stream: the account query's answer differs between
/// server versions, a stream does not.
async fn jetstream_answers(js: &async_nats::jetstream::Context) -> bool {
    let created = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "FB_LOAD_PROBE".into(),
            subjects: vec!["fb.load.probe".into()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .is_ok();
    created && js.delete_stream("FB_LOAD_PROBE").await.is_ok()
}

/// No persistence: the harness measures the pipeline's round trips, not the disk; the
/// fault scenarios that restart Redis use the testkit's always-fsynced server instead.
async fn start_redis(dir: &Path) -> anyhow::Result<(ChildProcess, String)> {
    let port = free_port()?;
    let args: Vec<OsString> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let process = ChildProcess::spawn(&binary("redis-server")?, &args, &dir.join("redis.log"))?;
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await
            && redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok()
        {
            return Ok((process, url));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "redis-server not ready:\n{}",
            process.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
