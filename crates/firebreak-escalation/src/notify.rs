//! Telling people outside Firebreak that a case needs them: an SLA breach escalated to
//! the next tier. The webhook body is Slack-compatible (`text`, which Slack, Mattermost,
//! Rocket.Chat and Teams' incoming webhooks display) plus structured fields for tools
//! that route on them. It carries ids and labels, never message text.

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

/// Posts breaches to a chat webhook.
#[derive(Debug)]
pub struct WebhookNotifier {
    webhook: firebreak_control::notify::ChatWebhook,
}

impl WebhookNotifier {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        Ok(WebhookNotifier {
            webhook: firebreak_control::notify::ChatWebhook::new(url)?,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, breach: &Breach) -> Result<(), String> {
        self.webhook.post(&breach_body(breach), "sla_breach").await
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
