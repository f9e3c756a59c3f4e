//! Fixtures shared by the escalation tests: a case service over either adapter, and
//! messages to escalate.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use firebreak_core::{
    Author, Channel, Classification, Language, Message, MessageId, Priority, Route, Visibility,
};
use firebreak_escalation::memory::MemoryCases;
use firebreak_escalation::redis_repo::RedisCases;
use firebreak_escalation::{CaseRepo, Cases, FixedSla, MemoryAudit, SlaTarget};
use firebreak_telemetry::Metrics;
use firebreak_testkit::RedisServer;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub struct Fixture {
    pub cases: Arc<Cases>,
    pub repo: Arc<dyn CaseRepo>,
    pub audit: Arc<MemoryAudit>,
    pub metrics: Metrics,
    pub server: Option<RedisServer>,
    pub shutdown: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn sla(claim_secs: u64) -> SlaTarget {
    SlaTarget {
        claim: Duration::from_secs(claim_secs),
        ack: Duration::from_secs(claim_secs * 5),
        tiers: vec!["oncall".into(), "lead".into(), "head".into()],
    }
}

impl Fixture {
    pub fn over(
        repo: Arc<dyn CaseRepo>,
        server: Option<RedisServer>,
        shutdown: CancellationToken,
    ) -> Self {
        let audit = Arc::new(MemoryAudit::default());
        let metrics = Metrics::new();
        let cases = Arc::new(Cases::new(
            repo.clone(),
            Arc::new(FixedSla(sla(60))),
            audit.clone(),
            metrics.clone(),
        ));
        Fixture {
            cases,
            repo,
            audit,
            metrics,
            server,
            shutdown,
        }
    }

    pub async fn memory() -> anyhow::Result<Self> {
        Ok(Self::over(
            Arc::new(MemoryCases::new()),
            None,
            CancellationToken::new(),
        ))
    }

    pub async fn redis() -> anyhow::Result<Self> {
        let server = RedisServer::start().await?;
        let shutdown = CancellationToken::new();
        let repo = RedisCases::connect(&server.url(), shutdown.clone()).await?;
        Ok(Self::over(Arc::new(repo), Some(server), shutdown))
    }

    /// The same store, as a fresh process would see it (new service, new connection).
    pub async fn reconnect(&self) -> anyhow::Result<Arc<Cases>> {
        let server = self.server.as_ref().expect("redis fixture");
        let repo = RedisCases::connect(&server.url(), self.shutdown.clone()).await?;
        Ok(Arc::new(Cases::new(
            Arc::new(repo),
            Arc::new(FixedSla(sla(60))),
            self.audit.clone(),
            self.metrics.clone(),
        )))
    }
}

pub fn message(
    channel: Channel,
    thread: &str,
    author: &str,
    external_id: &str,
    visibility: Visibility,
) -> Message {
    let now = OffsetDateTime::now_utc();
    Message {
        id: MessageId::derive(channel, external_id),
        channel,
        external_id: external_id.into(),
        thread_id: thread.into(),
        visibility,
        author: Author {
            id: author.into(),
            ..Author::default()
        },
        text: "redacted".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: now,
        received_at: now,
        mail: None,
        edit_of: None,
    }
}

pub fn public(thread: &str, author: &str, external_id: &str) -> Message {
    message(Channel::X, thread, author, external_id, Visibility::Public)
}

pub fn private(thread: &str, author: &str, external_id: &str) -> Message {
    message(
        Channel::Messenger,
        thread,
        author,
        external_id,
        Visibility::Private,
    )
}

pub fn classification(priority: Priority, reasons: &[&str]) -> Classification {
    Classification {
        language: Language::En,
        language_confidence: 1.0,
        sentiment: -0.6,
        route: Route::Escalate,
        priority,
        key_question: None,
        key_question_confidence: 0.0,
        flags: Vec::new(),
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        confidence: 0.9,
        linked_case_id: None,
        playbook_version: "test".into(),
        first_line: None,
    }
}

/// Runs each body once per adapter, as `memory::<name>` and `redis::<name>`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let fixture = super::common::Fixture::memory().await?;
                    tokio::time::timeout(std::time::Duration::from_secs(45), super::$name(&fixture))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let fixture = super::common::Fixture::redis().await?;
                    tokio::time::timeout(std::time::Duration::from_secs(45), super::$name(&fixture))
                        .await
                        .map_err(|_| anyhow::anyhow!("test timed out"))?
                }
            )*
        }
    };
}
