//! Wiring of the reply service: its state adapter (Redis when configured, in-memory
//! otherwise), the engine every reply path shares, the stage and its consumer.

use std::sync::Arc;

use anyhow::Context as _;
use firebreak_bus::Bus;
use firebreak_connectors::Connector;
use firebreak_pipeline::settings::LiveSettings;
use firebreak_pipeline::worker::{Handler, WorkerConfig};
use firebreak_reply::{
    ManualReplier, ManualReplies, MemoryReplyState, RedisReplyState, ReplyEngine, ReplyStage,
    ReplyState,
};
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;

use crate::config::RunConfig;

/// What the reply role and the moderators' manual replies share.
pub struct ReplyParts {
    pub engine: Arc<ReplyEngine>,
    pub manual: Arc<dyn ManualReplies>,
    pub connector: Arc<dyn Connector>,
}

pub async fn build(
    config: &RunConfig,
    settings: &LiveSettings,
    connector: Arc<dyn Connector>,
) -> anyhow::Result<ReplyParts> {
    let state: Arc<dyn ReplyState> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisReplyState::connect(url)
                .await
                .context("connecting the reply state to redis")?,
        ),
        None => Arc::new(MemoryReplyState::new()),
    };
    let engine = Arc::new(ReplyEngine::new(
        state,
        settings.clone(),
        config.reply.reply_config(),
    ));
    let manual = Arc::new(ManualReplier {
        engine: engine.clone(),
        connector: connector.clone(),
    });
    Ok(ReplyParts {
        engine,
        manual,
        connector,
    })
}

/// The reply stage and the consumer it runs on.
pub fn stage(
    parts: &ReplyParts,
    bus: Arc<dyn Bus>,
    log: Arc<dyn MessageLog>,
    metrics: Metrics,
) -> (WorkerConfig, Arc<dyn Handler>) {
    let stage = ReplyStage {
        engine: parts.engine.clone(),
        bus,
        log,
        connector: parts.connector.clone(),
        metrics,
    };
    (parts.engine.config.worker_config(), Arc::new(stage))
}
