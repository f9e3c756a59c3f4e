//! What every handler can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use firebreak_pipeline::settings::LiveSettings;

use firebreak_bus::Bus;
use firebreak_pipeline::ingest::Ingestor;
use firebreak_store::MessageLog;
use firebreak_telemetry::Metrics;

use crate::auth::Tokens;

#[derive(Clone)]
pub struct AppState {
    pub ingestor: Ingestor,
    pub log: Arc<dyn MessageLog>,
    pub bus: Arc<dyn Bus>,
    /// Crisis mode and the active playbook, as followed from the control bucket.
    pub settings: LiveSettings,
    pub tokens: Arc<Tokens>,
    pub metrics: Metrics,
    pub readiness: Readiness,
    /// Platform webhook secrets; a platform without one answers 404.
    pub webhooks: Arc<crate::http::webhooks::WebhookSecrets>,
    /// The per-source request limit on the ingest routes.
    pub ingest_limit: crate::ratelimit::IngestLimiter,
    /// Crisis mode, playbooks and the audit log (`/v1/crisis`, `CrisisControl`).
    pub control: firebreak_control::Control,
    /// Moderation cases (`/v1/cases`, `Moderation`).
    pub cases: Arc<firebreak_escalation::Cases>,
    /// Open `Watch`/`WatchMode` streams, per token and in all.
    pub watch_limit: crate::watch_limit::WatchLimiter,
    /// Recent inbound messages, replayed by rehearsals; `None` when off.
    pub archive: Option<Arc<dyn firebreak_store::archive::InboundArchive>>,
}

/// Which APIs a process serves, from its `--roles`. Health, readiness and metrics are
/// always served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mounts {
    /// `POST /v1/messages`, `GET /v1/messages…`, the webhooks, gRPC `Ingest`.
    pub ingest: bool,
    /// `POST /v1/classify`, gRPC `Classifier`.
    pub classify: bool,
    /// `/v1/crisis`, `/v1/playbooks…`, `/v1/audit`, gRPC `CrisisControl`.
    pub control: bool,
    /// `/v1/cases…`, gRPC `Moderation`.
    pub escalation: bool,
}

impl Mounts {
    pub const ALL: Mounts = Mounts {
        ingest: true,
        classify: true,
        control: true,
        escalation: true,
    };
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// False once shutdown begins, so load balancers stop sending work before we stop.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Default for Readiness {
    fn default() -> Self {
        Readiness(Arc::new(AtomicBool::new(true)))
    }
}

impl Readiness {
    pub fn draining(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn accepting(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl AppState {
    /// Deep readiness: the bus answers with its streams in place and the store answers.
    pub async fn check_ready(&self) -> Result<(), String> {
        if !self.readiness.accepting() {
            return Err("shutting down".into());
        }
        let (bus, store) = tokio::join!(self.bus.ready(), self.log.ping());
        bus.map_err(|e| e.to_string())?;
        store.map_err(|e| e.to_string())?;
        Ok(())
    }
}
