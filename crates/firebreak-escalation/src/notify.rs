//! Telling people outside Firebreak that a case needs them: an SLA breach escalated to
//! the next tier. The webhook body is Slack-compatible (`text`, which Slack, Mattermost,
//! Rocket.Chat and Teams' incoming webhooks display) plus structured fields for tools
//! that route on them. It carries ids and labels, never message text.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tracing::warn;

use crate::service::Breach;

#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn notify(&self, breach: &Breach) -> Result<(), String>;
}

/// The JSON body posted for a breach.
pub fn breach_body(breach: &Breach) -> Value {
    let case = &breach.case;
    let text = format!(
        ":rotating_light: {} case {} breached its time-to-{} SLA: escalated to {} (tier {}). Reasons: {}",
        case.priority.as_str(),
        case.id,
        breach.kind.as_str(),
        breach.tier_name,
        case.tier,
        if case.reasons.is_empty() {
            "none given".to_string()
        } else {
            case.reasons.join(", ")
        },
    );
    json!({
        "text": text,
        "event": "sla_breach",
        "case_id": case.id,
        "priority": case.priority.as_str(),
        "status": case.status.as_str(),
        "breach": breach.kind.as_str(),
        "tier": case.tier,
        "tier_name": breach.tier_name,
        "breaches": case.breaches,
        "channel": case.channel.as_str(),
        "visibility": case.visibility.as_str(),
        "assignee": case.assignee,
        "reasons": case.reasons,
    })
}

/// Posts breaches to a chat webhook, retrying a few times on failure.
pub struct WebhookNotifier {
    url: String,
    client: reqwest::Client,
    attempts: u32,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL of a chat webhook is itself a secret.
        f.debug_struct("WebhookNotifier").finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WebhookNotifier {
            url: url.into(),
            client,
            attempts: 3,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, breach: &Breach) -> Result<(), String> {
        let body = breach_body(breach);
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            match self.client.post(&self.url).json(&body).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("status {}", response.status().as_u16()),
                Err(e) => last = e.without_url().to_string(),
            }
            warn!(case_id = %breach.case.id, attempt, error = last, "notifier webhook failed");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        Err(last)
    }
}

/// Logs breaches only; used when no webhook is configured.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, breach: &Breach) -> Result<(), String> {
        warn!(case_id = %breach.case.id, tier = breach.case.tier, tier_name = breach.tier_name, "sla breach (no notifier webhook configured)");
        Ok(())
    }
}
