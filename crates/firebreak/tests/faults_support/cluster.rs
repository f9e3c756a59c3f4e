//! A local multi-process cluster for the fault scenarios: one nats-server and one
//! redis-server from the testkit, the fake platform, and each role set as its own
//! `firebreak run --roles X` process of the built binary, so a crash is a real kill -9
//! and memory is one process's own.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use firebreak_core::MessageId;
use firebreak_store::MessageLog;
use firebreak_store::redis_store::RedisStore;
use firebreak_testkit::{ChildProcess, NatsServer, RedisServer, free_port, wait_until};
use sha2::{Digest, Sha256};

use super::platform::FakePlatform;

/// The test tokens' secrets; the tokens file holds their hashes.
pub const INGEST_TOKEN: &str = "faults-ingest-secret";
pub const VIEWER_TOKEN: &str = "faults-viewer-secret";

/// Seconds before another reply worker takes over an unacknowledged reply (and the
/// claim lease). Short, so a killed reply worker's sends are reconciled within the
/// test; the send retry budget is a third of it.
pub const REPLY_ACK_WAIT_SECS: u64 = 6;

/// The built-in playbook with budgets above what the scenarios send, so that what is
/// measured is the fault's effect, not pacing.
fn playbook(dir: &std::path::Path) -> PathBuf {
    let mut yaml = include_str!("../../../firebreak-triage/playbooks/default.yaml").to_string();
    for (from, to) in [
        ("  global_per_sec: 50\n", "  global_per_sec: 2000\n"),
        ("    telegram: 30\n", "    telegram: 1000\n"),
    ] {
        assert!(yaml.contains(from), "default playbook changed: {from:?}");
        yaml = yaml.replacen(from, to, 1);
    }
    let path = dir.join("playbook.yaml");
    std::fs::write(&path, yaml).expect("playbook written");
    path
}

fn tokens_file(dir: &std::path::Path) -> PathBuf {
    let line = |role: &str, secret: &str| {
        format!("{role} faults {}\n", hex::encode(Sha256::digest(secret)))
    };
    let path = dir.join("tokens");
    std::fs::write(
        &path,
        line("ingest", INGEST_TOKEN) + &line("viewer", VIEWER_TOKEN),
    )
    .expect("tokens written");
    path
}

/// One `firebreak run` process.
pub struct Node {
    pub name: String,
    pub roles: String,
    pub http: String,
    pub process: ChildProcess,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.process.id().expect("node running")
    }

    /// Peak and current resident memory in KiB (`VmHWM`, `VmRSS`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc status"))
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// The Prometheus text of the node's `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.http))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }
}

/// The value of one series (`name{labels}` exactly as exposed), 0 when absent.
pub fn series(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

pub struct Cluster {
    pub nats: NatsServer,
    pub redis: RedisServer,
    pub platform: FakePlatform,
    pub store: RedisStore,
    pub dir: tempfile::TempDir,
    playbook: PathBuf,
    tokens: PathBuf,
}

impl Cluster {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = NatsServer::start().await.expect("nats-server starts");
        let redis = RedisServer::start().await.expect("redis-server starts");
        let store = RedisStore::connect(&redis.url())
            .await
            .expect("test store connects");
        Cluster {
            playbook: playbook(dir.path()),
            tokens: tokens_file(dir.path()),
            nats,
            redis,
            platform: FakePlatform::start().await,
            store,
            dir,
        }
    }

    /// Starts `firebreak run --roles <roles>` and waits until it is ready.
    pub async fn node(&self, name: &str, roles: &str) -> Node {
        let port = free_port().expect("free port");
        let grpc = free_port().expect("free port");
        let args: Vec<OsString> = [
            "run",
            "--roles",
            roles,
            "--http-addr",
            &format!("127.0.0.1:{port}"),
            "--grpc-addr",
            &format!("127.0.0.1:{grpc}"),
            "--nats-url",
            &self.nats.url(),
            "--redis-url",
            &self.redis.url(),
            "--playbook",
            self.playbook.to_str().expect("utf-8 path"),
            "--tokens-file",
            self.tokens.to_str().expect("utf-8 path"),
            "--telegram-bot-token",
            "123:faults-token",
            "--telegram-api-url",
            &self.platform.url(),
            "--ingest-rate-per-source",
            "0",
            "--reply-ack-wait-secs",
            &REPLY_ACK_WAIT_SECS.to_string(),
            "--archive-hours",
            "0",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let log = self.dir.path().join(format!("{name}.log"));
        let process = ChildProcess::spawn(env!("CARGO_BIN_EXE_firebreak").as_ref(), &args, &log)
            .expect("firebreak binary starts");
        let node = Node {
            name: name.to_string(),
            roles: roles.to_string(),
            http: format!("http://127.0.0.1:{port}"),
            process,
        };
        let ready = format!("{}/readyz", node.http);
        let client = reqwest::Client::new();
        let up = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            let (client, ready) = (&client, &ready);
            async move {
                client
                    .get(ready)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        assert!(
            up.is_ok(),
            "{name} not ready; log:\n{}",
            node.process.log_tail(40)
        );
        node
    }

    /// Kills a node with SIGKILL (a crash) and starts the same roles again.
    pub async fn crash_and_restart(&self, node: &mut Node) {
        node.process.kill().await.expect("kill -9");
        let (name, roles) = (node.name.clone(), node.roles.clone());
        *node = self.node(&name, &roles).await;
    }

    /// The message's recorded outcome, read from Redis (`None`: none yet, or the
    /// store cannot be reached right now).
    pub async fn outcome(&self, id: MessageId) -> Option<firebreak_core::Outcome> {
        self.store.get(id).await.ok().flatten()?.outcome
    }

    /// Entries in the dead-letter stream, by stage subject (`fb.dlq.<stage>`).
    pub async fn dead_letters(&self) -> std::collections::HashMap<String, u64> {
        let client = async_nats::connect(self.nats.url())
            .await
            .expect("nats connects");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream(firebreak_core::subjects::STREAM_DEAD_LETTER)
            .await
            .expect("dlq stream");
        let info = stream
            .info_with_subjects("fb.dlq.>")
            .await
            .expect("dlq subjects");
        let mut subjects = std::collections::HashMap::new();
        futures::StreamExt::for_each(info, |entry| {
            if let Ok((subject, count)) = entry {
                subjects.insert(subject, count as u64);
            }
            futures::future::ready(())
        })
        .await;
        subjects
    }

    /// Every dead-letter entry's subject and headers (stage, reason, deliveries,
    /// message id), for a failure message.
    pub async fn dead_letter_entries(&self) -> Vec<String> {
        let client = async_nats::connect(self.nats.url())
            .await
            .expect("nats connects");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream(firebreak_core::subjects::STREAM_DEAD_LETTER)
            .await
            .expect("dlq stream");
        let mut entries = Vec::new();
        let mut sequence = 1;
        while let Ok(message) = stream.get_raw_message(sequence).await {
            let headers: Vec<String> = message
                .headers
                .iter()
                .map(|(name, values)| format!("{name}={values:?}"))
                .collect();
            entries.push(format!("{} {}", message.subject, headers.join(" ")));
            sequence += 1;
        }
        entries
    }
}
