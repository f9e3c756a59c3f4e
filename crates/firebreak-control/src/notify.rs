//! Telling the crisis team's chat about a surge. The body is Slack-compatible (`text`,
//! which Slack, Mattermost, Rocket.Chat and Teams incoming webhooks display) plus a
//! structured `firebreak` object for tools that route on fields. It carries measurements
//! only, never message text.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tracing::warn;

use crate::events::SurgeAlert;

#[async_trait]
pub trait SurgeNotifier: Send + Sync + 'static {
    async fn notify(&self, alert: &SurgeAlert) -> Result<(), String>;
}

/// The JSON posted for a surge alert.
pub fn surge_body(alert: &SurgeAlert) -> Value {
    let switched = if alert.mode.active {
        format!(" Crisis mode is ON (set by {}).", alert.mode.actor)
    } else {
        " Crisis mode is off.".to_string()
    };
    json!({
        "text": format!(":chart_with_upwards_trend: Firebreak surge alert: {}.{switched}", alert.detail),
        "firebreak": {
            "event": "surge_alert",
            "at": alert.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "detail": alert.detail,
            "crisis_active": alert.mode.active,
            "crisis_actor": alert.mode.actor,
        }
    })
}

/// A chat tool's incoming webhook: POSTs JSON, retrying a few times. Shared by every
/// notifier (surge alerts here, SLA breaches in the escalation role).
pub struct ChatWebhook {
    url: String,
    client: reqwest::Client,
    attempts: u32,
}

impl std::fmt::Debug for ChatWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A chat webhook's URL is itself a secret.
        f.debug_struct("ChatWebhook").finish_non_exhaustive()
    }
}

impl ChatWebhook {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ChatWebhook {
            url: url.into(),
            client,
            attempts: 3,
        })
    }

    /// Posts `body`; `what` names the notification in logs.
    pub async fn post(&self, body: &Value, what: &str) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            match self.client.post(&self.url).json(body).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("status {}", response.status().as_u16()),
                Err(e) => last = e.without_url().to_string(),
            }
            warn!(what, attempt, error = last, "notifier webhook failed");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        Err(last)
    }
}

/// Posts surge alerts to a chat webhook.
#[derive(Debug)]
pub struct WebhookNotifier {
    webhook: ChatWebhook,
}

impl WebhookNotifier {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        Ok(WebhookNotifier {
            webhook: ChatWebhook::new(url)?,
        })
    }
}

#[async_trait]
impl SurgeNotifier for WebhookNotifier {
    async fn notify(&self, alert: &SurgeAlert) -> Result<(), String> {
        self.webhook.post(&surge_body(alert), "surge_alert").await
    }
}

/// Logs alerts only; used when no webhook is configured.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl SurgeNotifier for LogNotifier {
    async fn notify(&self, alert: &SurgeAlert) -> Result<(), String> {
        warn!(
            detail = alert.detail,
            "surge alert (no notifier webhook configured)"
        );
        Ok(())
    }
}
