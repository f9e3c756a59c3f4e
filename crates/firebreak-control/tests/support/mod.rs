//! Shared fixtures: a bus (embedded or a private nats-server), the control service on
//! it, and playbooks derived from the built-in one.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::Bus;
use firebreak_bus::jetstream::{JetStreamBus, JetStreamOptions};
use firebreak_bus::memory::MemoryBus;
use firebreak_control::audit::{Audit, AuditQuery};
use firebreak_control::{AuditEntry, BusAudit, Control};
use firebreak_testkit::NatsServer;
use firebreak_triage::Playbook;
use firebreak_triage::playbook::BUILTIN_YAML;

/// Runs each named `async fn(Fixture) -> anyhow::Result<()>` as two tests, on the
/// embedded bus and on a private nats-server. The caller imports `Fixture`.
#[allow(unused_macros)] // surge.rs runs on one adapter
macro_rules! both_adapters {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(super::Fixture::embedded().await?).await
                }
            )*
        }
        mod real_nats {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(super::Fixture::real().await?).await
                }
            )*
        }
    };
}

pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Fixture {
    pub bus: Arc<dyn Bus>,
    pub control: Control,
    pub nats: Option<NatsServer>,
}

impl Fixture {
    pub async fn embedded() -> anyhow::Result<Self> {
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
        Ok(Fixture {
            control: control_on(&bus),
            bus,
            nats: None,
        })
    }

    pub async fn real() -> anyhow::Result<Self> {
        let nats = NatsServer::start().await?;
        let bus = connect(&nats).await?;
        Ok(Fixture {
            control: control_on(&bus),
            bus,
            nats: Some(nats),
        })
    }

    /// A second, independent connection: what another process would have.
    pub async fn other_process_bus(&self) -> anyhow::Result<Arc<dyn Bus>> {
        match &self.nats {
            Some(nats) => connect(nats).await,
            None => Ok(self.bus.clone()),
        }
    }

    pub async fn audit(&self, prefix: &str) -> anyhow::Result<Vec<AuditEntry>> {
        Ok(self
            .control
            .audit()
            .list(&AuditQuery {
                limit: 100,
                action_prefix: prefix.into(),
            })
            .await?)
    }
}

pub async fn connect(nats: &NatsServer) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(Arc::new(
        JetStreamBus::connect(&nats.url(), JetStreamOptions::default()).await?,
    ))
}

pub fn control_on(bus: &Arc<dyn Bus>) -> Control {
    let audit: Arc<dyn Audit> = Arc::new(BusAudit::new(bus.clone()));
    Control::new(bus.kv(), audit, Playbook::builtin())
}

/// The built-in playbook under another name, with its surge settings replaced.
pub fn playbook_yaml(name: &str, surge: &str) -> String {
    let start = BUILTIN_YAML
        .find("\nsurge:\n")
        .expect("built-in has a surge block")
        + 1;
    let end = start + BUILTIN_YAML[start..].find("\n\n").expect("block ends");
    let mut yaml = String::new();
    yaml.push_str(&BUILTIN_YAML[..start]);
    yaml.push_str(surge);
    yaml.push_str(&BUILTIN_YAML[end..]);
    yaml.replacen("name: default", &format!("name: {name}"), 1)
}

pub fn calm_playbook(name: &str) -> String {
    playbook_yaml(
        name,
        "surge:\n  negative_rate_multiple: 3.0\n  baseline_window_secs: 3600\n  min_messages: 50\n  auto_crisis: false",
    )
}

/// An invalid playbook: a bad value on a known line.
pub fn invalid_playbook() -> (String, usize) {
    let yaml = playbook_yaml(
        "broken",
        "surge:\n  negative_rate_multiple: 0.5\n  baseline_window_secs: 3600\n  min_messages: 50\n  auto_crisis: false",
    );
    let line = yaml
        .lines()
        .position(|l| l.contains("negative_rate_multiple"))
        .expect("present")
        + 1;
    (yaml, line)
}
