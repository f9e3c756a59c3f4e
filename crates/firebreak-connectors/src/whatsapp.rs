//! WhatsApp Cloud API: `POST {base}/{version}/{phone-number-id}/messages`.
//!
//! Free-form text is only accepted inside the 24 h customer-service window; outside it
//! the Graph API refuses (a permanent error), and the caller escalates to a human.

use reqwest::{Client, Url};
use serde_json::{Value, json};

use crate::http::{endpoint, post_json};
use crate::meta::{bearer_headers, interpret_graph};
use crate::{
    ConfigError, Connector, OutboundReply, Secret, SendError, SendReceipt, WhatsAppConfig,
};

const NAME: &str = "whatsapp";

/// WhatsApp echoes `biz_opaque_callback_data` (up to 512 bytes) in its status webhooks,
/// which lets a restart reconcile "did this reply go out?" by idempotency key.
const MAX_CALLBACK_DATA_BYTES: usize = 512;

pub struct WhatsAppConnector {
    client: Client,
    messages_url: Url,
    token: Secret,
}

impl WhatsAppConnector {
    pub fn new(client: Client, config: &WhatsAppConfig) -> Result<Self, ConfigError> {
        crate::config::require(config.access_token.expose(), "whatsapp.access_token")?;
        crate::config::require(&config.phone_number_id, "whatsapp.phone_number_id")?;
        crate::config::require(&config.api_version, "whatsapp.api_version")?;
        let base = crate::config::parse_base_url(&config.base_url, "whatsapp.base_url")?;
        let segments = [
            config.api_version.trim(),
            config.phone_number_id.trim(),
            "messages",
        ];
        Ok(WhatsAppConnector {
            client,
            messages_url: endpoint(&base, &segments),
            token: config.access_token.clone(),
        })
    }
}

fn request_body(reply: &OutboundReply) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": reply.recipient_id,
        "type": "text",
        // No link previews: a reply is a short answer, not a card fetched from a URL.
        "text": { "body": reply.text, "preview_url": false },
    });
    let quoted = reply.in_reply_to_external_id.trim();
    if !quoted.is_empty() {
        body["context"] = json!({ "message_id": quoted });
    }
    let key = &reply.idempotency_key;
    if !key.is_empty() && key.len() <= MAX_CALLBACK_DATA_BYTES {
        body["biz_opaque_callback_data"] = json!(key);
    }
    body
}

fn message_id(answer: &Value) -> Option<String> {
    answer["messages"][0]["id"].as_str().map(str::to_owned)
}

#[async_trait::async_trait]
impl Connector for WhatsAppConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        if reply.recipient_id.trim().is_empty() {
            return Err(SendError::Invalid(
                "whatsapp needs the recipient's id".into(),
            ));
        }
        let headers = bearer_headers(&self.token)?;
        let url = self.messages_url.clone();
        let response = post_json(&self.client, NAME, url, headers, &request_body(reply)).await?;
        interpret_graph(NAME, &response, message_id)
    }
}
