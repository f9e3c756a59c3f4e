//! Wires adapters and roles from a [`RunConfig`] and serves until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use firebreak_bus::Bus;
use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_bus::memory::MemoryBus;
use firebreak_connectors::{Connector, DryRunConnector, Router};
use firebreak_pipeline::classify::ClassifyStage;
use firebreak_pipeline::ingest::Ingestor;
use firebreak_pipeline::insights::InsightsRecorder;
use firebreak_pipeline::rates::RateRecorder;
use firebreak_pipeline::settings::LiveSettings;
use firebreak_pipeline::worker::{Handler, Worker, WorkerConfig};
use firebreak_reply::ManualReplies;
use firebreak_server::auth::{Role, Tokens};
use firebreak_server::{AppState, Readiness};
use firebreak_store::MessageLog;
use firebreak_store::archive::{ArchiveWriter, InboundArchive, MemoryArchive};
use firebreak_store::conversation::ConversationMemory;
use firebreak_store::memory::MemoryStore;
use firebreak_store::redis_archive::RedisArchive;
use firebreak_store::redis_store::RedisStore;
use firebreak_telemetry::Metrics;
use firebreak_triage::{Playbook, TriageEngine};
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
    pub settings: LiveSettings,
    pub bus: Arc<dyn Bus>,
    pub log: Arc<dyn MessageLog>,
    /// Moderators' replies, through the same connectors and budgets as automatic ones.
    pub manual_replies: Arc<dyn ManualReplies>,
    pub cases: Arc<firebreak_escalation::Cases>,
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
    memory: Arc<dyn ConversationMemory>,
    /// Recent inbound messages for rehearsals, when `--archive-hours` is not 0.
    archive: Option<Arc<dyn InboundArchive>>,
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
            let archive = config.archive_limits().map(|limits| {
                Arc::new(RedisArchive::new((*store).clone(), limits)) as Arc<dyn InboundArchive>
            });
            Ok(Stores {
                log: store.clone(),
                memory: store,
                archive,
            })
        }
        None => {
            info!("using the embedded in-memory store");
            let store = Arc::new(MemoryStore::new());
            let archive = config
                .archive_limits()
                .map(|limits| Arc::new(MemoryArchive::new(limits)) as Arc<dyn InboundArchive>);
            Ok(Stores {
                log: store.clone(),
                memory: store,
                archive,
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

/// The playbook given with `--playbook`, or the built-in one. An invalid file stops
/// start-up with the field and line at fault.
fn load_playbook(config: &RunConfig) -> anyhow::Result<Playbook> {
    match &config.playbook {
        Some(path) => {
            let source = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Playbook::load(&source).with_context(|| format!("playbook {}", path.display()))
        }
        None => Ok(Playbook::builtin()),
    }
}

/// Every role follows crisis mode and the active playbook from the control bucket.
fn tasks_follow_settings(
    settings: &LiveSettings,
    bus: &Arc<dyn Bus>,
    shutdown: &CancellationToken,
) {
    let follower = settings.clone();
    let kv = bus.kv();
    let shutdown = shutdown.clone();
    tokio::spawn(async move { follower.follow(kv, shutdown).await });
}

/// The connector replies go through, and the dry-run recorder when that is the default.
type Outbound = (Arc<dyn Connector>, Option<Arc<DryRunConnector>>);

fn connectors(config: &RunConfig) -> anyhow::Result<Outbound> {
    let connectors = config
        .reply
        .connectors(config.outbound_webhook_url.as_deref())
        .map_err(anyhow::Error::msg)?;
    crate::startup::log(config, &connectors);
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
    let playbook = load_playbook(&config)?;
    metrics.register_key_questions(
        [false, true]
            .iter()
            .flat_map(|&crisis| playbook.mode(crisis).key_questions.iter())
            .map(|q| q.id.as_str()),
    );
    let settings = LiveSettings::new(TriageEngine::new(playbook.clone()));
    let control = crate::control::control(&bus, playbook);
    tasks_follow_settings(&settings, &bus, &shutdown);
    let (connector, dry_run) = connectors(&config)?;
    let reply = crate::reply_role::build(&config, &settings, connector).await?;
    let cases = crate::escalation::cases(
        crate::escalation::CaseDeps {
            redis_url: config.redis_url.clone(),
            log: stores.log.clone(),
            settings: settings.clone(),
            audit: Arc::new(firebreak_escalation::ControlAudit(Arc::new(
                firebreak_control::BusAudit::new(bus.clone()),
            ))),
            manual_replies: reply.manual.clone(),
            metrics: metrics.clone(),
            text_retention: config.case_text_retention(),
        },
        &shutdown,
    )
    .await?;
    let readiness = Readiness::default();
    let tokens = Arc::new(tokens);
    let webhooks = config.ingest.webhook_secrets()?;
    info!(platforms = ?webhooks.configured(), "webhooks configured");
    let ingest_limit = config.ingest.limiter();
    ingest_limit.spawn_eviction(shutdown.clone());

    if config.runs(RoleName::Ingest) {
        // Compiled now rather than on the first message: the urgent pre-screen's
        // patterns (no encoder; about 14 MB and 0.3 s).
        firebreak_triage::urgent::UrgentScreen::builtin();
    }
    let mut ingestor = Ingestor::new(bus.clone(), stores.log.clone(), metrics.clone());
    // Spill-overs (a public message of someone with an open private case) take the
    // urgent lane; ingest knows them from the case feed, not from a lookup per message.
    // Classify reads the same index to skip its lookup when the index rules a case out.
    let spill_index = (config.runs(RoleName::Ingest) || config.runs(RoleName::Classify))
        .then(|| Arc::new(firebreak_pipeline::spill_index::SpillIndex::new()));
    if let Some(index) = spill_index
        .as_ref()
        .filter(|_| config.runs(RoleName::Ingest))
    {
        ingestor = ingestor.with_spill_index(index.clone());
    }
    if let Some(archive) = &stores.archive {
        ingestor = ingestor.with_archive(ArchiveWriter::spawn(archive.clone()));
    }
    let state = AppState {
        ingestor,
        archive: stores.archive.clone(),
        log: stores.log.clone(),
        bus: bus.clone(),
        settings: settings.clone(),
        tokens: tokens.clone(),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        webhooks: Arc::new(webhooks),
        ingest_limit,
        control: control.clone(),
        cases: cases.clone(),
        watch_limit: firebreak_server::watch_limit::WatchLimiter::default(),
    };
    let mounts = firebreak_server::Mounts {
        ingest: config.runs(RoleName::Ingest),
        classify: config.runs(RoleName::Classify),
        control: config.runs(RoleName::Control),
        escalation: config.runs(RoleName::Escalation),
    };

    let mut tasks = JoinSet::new();
    if let Some(index) = &spill_index {
        firebreak_escalation::spill_feed::spawn(&mut tasks, &cases, index, &shutdown);
    }
    if let Some(path) = &config.tokens_file {
        let reloader = firebreak_server::token_reload::TokenReloader {
            path: path.clone(),
            tokens: tokens.clone(),
            audit: Arc::new(firebreak_control::BusAudit::new(bus.clone())),
            metrics: metrics.clone(),
            interval: Duration::from_secs(1),
        };
        tasks.spawn(reloader.run(shutdown.clone()));
    }
    let sampler = crate::sampler::Sampler {
        metrics: metrics.clone(),
        settings: settings.clone(),
        budget: reply.engine.budget.clone(),
        cluster: config
            .runs(RoleName::Control)
            .then(|| crate::sampler::Cluster {
                bus: bus.clone(),
                cases: cases.clone(),
            }),
    };
    sampler.sample().await;
    tasks.spawn(sampler.run(shutdown.clone()));
    let worker = |config: WorkerConfig| Worker {
        bus: bus.clone(),
        log: stores.log.clone(),
        metrics: metrics.clone(),
        config,
    };
    let rates = RateRecorder::new();
    let insights = InsightsRecorder::new();
    if config.runs(RoleName::Classify) {
        crate::control::spawn_rates(&mut tasks, &rates, &insights, &bus, &shutdown);
    }
    if config.runs(RoleName::Control) {
        crate::control::spawn_control_role(
            &mut tasks, &control, &bus, &config, &metrics, &shutdown,
        )?;
        crate::control::spawn_sweeper(&mut tasks, &bus, &stores.log, &metrics, &shutdown);
    }
    let mut spawn_worker = |worker: Worker, handler: Arc<dyn Handler>| {
        tasks.spawn(worker.run(handler, shutdown.clone()));
    };
    if config.runs(RoleName::Classify) {
        // The model loads with the first classification; a classifying process loads it
        // before it takes messages, so that its first one does not wait for it.
        let engine = settings.current().engine.clone();
        tokio::task::spawn_blocking(move || engine.warm_up())
            .await
            .context("loading the triage model")?;
        let stage = ClassifyStage {
            bus: bus.clone(),
            log: stores.log.clone(),
            settings: settings.clone(),
            memory: stores.memory.clone(),
            open_cases: cases.clone(),
            spill_index: spill_index.clone(),
            metrics: metrics.clone(),
            rates: rates.clone(),
            insights: insights.clone(),
            priority: Default::default(),
        };
        let stage: Arc<dyn Handler> = Arc::new(stage);
        for lane in firebreak_pipeline::classify::lanes() {
            spawn_worker(worker(lane), stage.clone());
        }
    }
    if config.runs(RoleName::Reply) {
        let (consumer, stage) =
            crate::reply_role::stage(&reply, bus.clone(), stores.log.clone(), metrics.clone());
        spawn_worker(worker(consumer), stage);
    }
    if config.runs(RoleName::Escalation) {
        let stage: Arc<dyn Handler> =
            Arc::new(crate::escalation::stage(&cases, &stores.log, &metrics));
        for config in crate::escalation::lanes() {
            spawn_worker(worker(config), stage.clone());
        }
        let notifier = crate::escalation::notifier(config.notify_webhook_url.as_deref())?;
        tasks.spawn(crate::escalation::sla_timer(&cases, notifier).run(shutdown.clone()));
    }

    let http_listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding http {}", config.http_addr))?;
    let grpc_listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding grpc {}", config.grpc_addr))?;
    let http_addr = http_listener.local_addr()?;
    let grpc_addr = grpc_listener.local_addr()?;

    let router = firebreak_server::http::router_for(state.clone(), mounts)
        .merge(firebreak_server::http::endpoints::routes(grpc_addr.port()));
    tasks.spawn(firebreak_server::http::serve(
        http_listener,
        router,
        config.server.http(),
        shutdown.clone(),
    ));
    tasks.spawn(firebreak_server::grpc::serve(
        state.clone(),
        grpc_listener,
        config.server.grpc(),
        mounts,
        shutdown.clone(),
    ));

    // Readiness turns false the moment shutdown begins.
    let draining = shutdown.clone();
    tasks.spawn(async move {
        draining.cancelled().await;
        readiness.draining();
    });

    info!(%http_addr, %grpc_addr, roles = ?config.roles, "firebreak started");
    if let Some(warning) = config.shutdown_grace_warning() {
        warn!("{warning}");
    }
    Ok(RunningApp {
        http_addr,
        grpc_addr,
        generated_tokens,
        dry_run,
        metrics,
        settings,
        bus,
        log: stores.log,
        manual_replies: reply.manual,
        cases,
        tasks,
        shutdown,
        grace: config.shutdown_grace(),
    })
}
