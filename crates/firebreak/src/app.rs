//! Wires adapters and roles from a [`RunConfig`] and serves until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use firebreak_bus::Bus;
use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_bus::memory::MemoryBus;
use firebreak_connectors::{
    Connector, ConnectorsConfig, DryRunConnector, RetryPolicy, Router, WebhookConfig,
};
use firebreak_core::rules::{KeywordRules, Triage};
use firebreak_core::subjects;
use firebreak_pipeline::classify::ClassifyStage;
use firebreak_pipeline::escalate::EscalateStage;
use firebreak_pipeline::ingest::Ingestor;
use firebreak_pipeline::reply::{FixedReplies, ReplyStage};
use firebreak_pipeline::worker::{Handler, Worker, WorkerConfig};
use firebreak_server::auth::{Role, Tokens};
use firebreak_server::{AppState, Readiness};
use firebreak_store::memory::MemoryStore;
use firebreak_store::redis_store::RedisStore;
use firebreak_store::{CaseStore, MessageLog};
use firebreak_telemetry::Metrics;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{RoleName, RunConfig};

/// A started Firebreak: where it listens, and the handles tests need.
pub struct RunningApp {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// Secrets generated at start-up when no tokens file was given.
    pub generated_tokens: Vec<(Role, String)>,
    pub dry_run: Option<Arc<DryRunConnector>>,
    pub metrics: Metrics,
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
    grace: Duration,
}

impl std::fmt::Debug for RunningApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningApp")
            .field("http_addr", &self.http_addr)
            .field("grpc_addr", &self.grpc_addr)
            .finish_non_exhaustive()
    }
}

impl RunningApp {
    pub fn token(&self, role: Role) -> Option<&str> {
        self.generated_tokens
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, s)| s.as_str())
    }

    /// Waits for every task to end after shutdown, at most the grace period.
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, drain).await.is_err() {
            warn!("grace period over, abandoning unfinished work (it will be redelivered)");
            self.tasks.abort_all();
        }
    }

    /// Cancels and waits, like SIGTERM.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

async fn connect_bus(
    config: &RunConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<dyn Bus>> {
    let Some(url) = &config.nats_url else {
        info!("using the embedded in-process bus");
        return Ok(Arc::new(MemoryBus::new()));
    };
    let options = JetStreamOptions {
        replicas: config.nats_replicas,
        storage_memory: false,
    };
    // Keep trying while NATS comes up (pods start in any order), until shutdown.
    loop {
        match tokio::time::timeout(
            Duration::from_secs(10),
            JetStreamBus::connect(url, options.clone()),
        )
        .await
        {
            Ok(Ok(bus)) => {
                info!("connected to nats jetstream");
                return Ok(Arc::new(bus));
            }
            Ok(Err(e)) => warn!(error = %e, "nats not ready, retrying"),
            Err(_) => warn!("nats connection timed out, retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => anyhow::bail!("shut down before nats was reachable"),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

struct Stores {
    log: Arc<dyn MessageLog>,
    cases: Arc<dyn CaseStore>,
}

async fn connect_store(config: &RunConfig) -> anyhow::Result<Stores> {
    match &config.redis_url {
        Some(url) => {
            let store = Arc::new(
                RedisStore::connect(url)
                    .await
                    .context("connecting to redis")?,
            );
            info!("connected to redis");
            Ok(Stores {
                log: store.clone(),
                cases: store,
            })
        }
        None => {
            info!("using the embedded in-memory store");
            let store = Arc::new(MemoryStore::new());
            Ok(Stores {
                log: store.clone(),
                cases: store,
            })
        }
    }
}

fn load_tokens(config: &RunConfig) -> anyhow::Result<(Tokens, Vec<(Role, String)>)> {
    match &config.tokens_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok((Tokens::parse(&text)?, Vec::new()))
        }
        None => Ok(Tokens::generate()),
    }
}

/// The connector replies go through, and the dry-run recorder when that is the default.
type Outbound = (Arc<dyn Connector>, Option<Arc<DryRunConnector>>);

fn connectors(config: &RunConfig) -> anyhow::Result<Outbound> {
    let connectors = ConnectorsConfig {
        outbound_webhook: config
            .outbound_webhook_url
            .as_ref()
            .map(|url| WebhookConfig {
                url: url.clone(),
                bearer_token: None,
            }),
        ..ConnectorsConfig::default()
    };
    let router = Router::from_config(&connectors)?;
    let dry_run = router.dry_run().cloned();
    Ok((Arc::new(router), dry_run))
}

/// Starts every configured role and both servers. Returns once they listen.
pub async fn start(config: RunConfig, shutdown: CancellationToken) -> anyhow::Result<RunningApp> {
    let metrics = Metrics::new();
    let bus = connect_bus(&config, &shutdown).await?;
    let stores = connect_store(&config).await?;
    let (tokens, generated_tokens) = load_tokens(&config)?;
    let triage: Arc<dyn Triage> = Arc::new(KeywordRules);
    let crisis_active = Arc::new(AtomicBool::new(false));
    let (connector, dry_run) = connectors(&config)?;
    let readiness = Readiness::default();
    let webhooks = config.ingest.webhook_secrets()?;
    info!(platforms = ?webhooks.configured(), "webhooks configured");
    let ingest_limit = config.ingest.limiter();
    ingest_limit.spawn_eviction(shutdown.clone());

    let state = AppState {
        ingestor: Ingestor::new(bus.clone(), stores.log.clone(), metrics.clone()),
        log: stores.log.clone(),
        bus: bus.clone(),
        triage: triage.clone(),
        crisis_active: crisis_active.clone(),
        tokens: Arc::new(tokens),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        webhooks: Arc::new(webhooks),
        ingest_limit,
    };

    let mut tasks = JoinSet::new();
    let worker = |stream, durable| Worker {
        bus: bus.clone(),
        log: stores.log.clone(),
        metrics: metrics.clone(),
        config: WorkerConfig::new(stream, durable),
    };
    let mut spawn_worker = |worker: Worker, handler: Arc<dyn Handler>| {
        tasks.spawn(worker.run(handler, shutdown.clone()));
    };
    if config.runs(RoleName::Classify) {
        let stage = ClassifyStage {
            bus: bus.clone(),
            log: stores.log.clone(),
            triage: triage.clone(),
            crisis_active: crisis_active.clone(),
            metrics: metrics.clone(),
        };
        spawn_worker(
            worker(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY),
            Arc::new(stage),
        );
    }
    if config.runs(RoleName::Reply) {
        let stage = ReplyStage {
            bus: bus.clone(),
            log: stores.log.clone(),
            connector,
            renderer: Arc::new(FixedReplies),
            retry: RetryPolicy::default(),
            metrics: metrics.clone(),
        };
        spawn_worker(
            worker(subjects::STREAM_REPLY, subjects::CONSUMER_REPLY),
            Arc::new(stage),
        );
    }
    if config.runs(RoleName::Escalation) {
        let stage = EscalateStage {
            log: stores.log.clone(),
            cases: stores.cases.clone(),
            metrics: metrics.clone(),
        };
        spawn_worker(
            worker(subjects::STREAM_ESCALATE, subjects::CONSUMER_ESCALATION),
            Arc::new(stage),
        );
    }

    let http_listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding http {}", config.http_addr))?;
    let grpc_listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding grpc {}", config.grpc_addr))?;
    let http_addr = http_listener.local_addr()?;
    let grpc_addr = grpc_listener.local_addr()?;

    let router = firebreak_server::http::router(state.clone());
    let http_shutdown = shutdown.clone();
    tasks.spawn(async move {
        // The peer address keys the per-source request limit.
        let router = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(http_listener, router)
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            warn!(error = %e, "http server failed");
        }
    });
    tasks.spawn(firebreak_server::grpc::serve(
        state.clone(),
        grpc_listener,
        shutdown.clone(),
    ));

    // Readiness turns false the moment shutdown begins.
    let draining = shutdown.clone();
    tasks.spawn(async move {
        draining.cancelled().await;
        readiness.draining();
    });

    info!(%http_addr, %grpc_addr, roles = ?config.roles, "firebreak started");
    Ok(RunningApp {
        http_addr,
        grpc_addr,
        generated_tokens,
        dry_run,
        metrics,
        bus,
        log: stores.log,
        tasks,
        shutdown,
        grace: config.shutdown_grace(),
    })
}
