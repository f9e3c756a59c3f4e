//! The generic outbound webhook: the reply as JSON, for channels Firebreak has no
//! platform connector for (email gateways, web chat) or for a team's own relay.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url};

use crate::http::{classify_failure, post_json};
use crate::{ConfigError, Connector, OutboundReply, Secret, SendError, SendReceipt, WebhookConfig};

const NAME: &str = "webhook";

/// RFC 3834: marks the reply as automatic so the receiving side (often an email
/// gateway) never auto-answers it back, which would start a loop.
const AUTO_SUBMITTED: HeaderName = HeaderName::from_static("auto-submitted");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

pub struct WebhookConnector {
    client: Client,
    url: Url,
    bearer_token: Option<Secret>,
}

impl WebhookConnector {
    pub fn new(client: Client, config: &WebhookConfig) -> Result<Self, ConfigError> {
        Ok(WebhookConnector {
            client,
            url: crate::config::parse_base_url(&config.url, "outbound_webhook.url")?,
            bearer_token: config
                .bearer_token
                .clone()
                .filter(|token| !token.is_empty()),
        })
    }

    fn headers(&self, reply: &OutboundReply) -> Result<HeaderMap, SendError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTO_SUBMITTED, HeaderValue::from_static("auto-replied"));
        let key = HeaderValue::from_str(&reply.idempotency_key)
            .map_err(|_| SendError::Invalid("idempotency key is not a valid header".into()))?;
        headers.insert(IDEMPOTENCY_KEY, key);
        if let Some(token) = &self.bearer_token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| SendError::Invalid("webhook token is not a valid header".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(headers)
    }
}

#[async_trait::async_trait]
impl Connector for WebhookConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        if reply.idempotency_key.is_empty() {
            return Err(SendError::Invalid(
                "the webhook needs an idempotency key".into(),
            ));
        }
        let headers = self.headers(reply)?;
        let body = serde_json::to_value(reply)
            .map_err(|_| SendError::Invalid("reply does not serialize".into()))?;
        let response = post_json(&self.client, NAME, self.url.clone(), headers, &body).await?;
        if response.is_success() {
            let id = response.json()["id"].as_str().map(str::to_owned);
            return Ok(SendReceipt::new(NAME, id));
        }
        Err(classify_failure(
            &response,
            None,
            "webhook refused the reply",
        ))
    }

    /// The receiver is told the key and expected to drop repeats, so a retry after an
    /// unknown outcome cannot produce a second reply.
    fn deduplicates_by_idempotency_key(&self, _reply: &OutboundReply) -> bool {
        true
    }
}
