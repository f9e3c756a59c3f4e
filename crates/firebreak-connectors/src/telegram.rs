//! Telegram Bot API `sendMessage`.
//!
//! Telegram answers `{"ok":true,"result":{"message_id":…}}`, or on failure
//! `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`. Flood
//! control puts its wait in `parameters.retry_after` (seconds), not always in a header.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use serde_json::{Value, json};

use crate::http::{PlatformResponse, classify_failure, endpoint, post_json};
use crate::{ConfigError, Connector, OutboundReply, SendError, SendReceipt, TelegramConfig};

const NAME: &str = "telegram";

pub struct TelegramConnector {
    client: Client,
    /// Already holds the `bot{token}/sendMessage` path; never logged.
    send_message_url: Url,
}

impl TelegramConnector {
    pub fn new(client: Client, config: &TelegramConfig) -> Result<Self, ConfigError> {
        crate::config::require(config.bot_token.expose(), "telegram.bot_token")?;
        let base = crate::config::parse_base_url(&config.base_url, "telegram.base_url")?;
        let bot_segment = format!("bot{}", config.bot_token.expose());
        Ok(TelegramConnector {
            client,
            send_message_url: endpoint(&base, &[&bot_segment, "sendMessage"]),
        })
    }
}

/// Telegram wants numeric chat ids as numbers; public channels may be `@name`.
fn chat_id_value(recipient: &str) -> Value {
    match recipient.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(recipient),
    }
}

/// Telegram message ids are only unique within a chat, so ingest may store them as
/// `<chat>:<message>`; the last segment is the message id either way.
fn reply_to_message_id(external_id: &str) -> Option<i64> {
    external_id.rsplit(':').next()?.trim().parse().ok()
}

fn request_body(reply: &OutboundReply) -> Value {
    let mut body = json!({
        "chat_id": chat_id_value(&reply.recipient_id),
        "text": reply.text,
    });
    if let Some(message_id) = reply_to_message_id(&reply.in_reply_to_external_id) {
        // If the original was deleted meanwhile, still answer rather than fail for good.
        body["reply_parameters"] = json!({
            "message_id": message_id,
            "allow_sending_without_reply": true,
        });
    }
    body
}

fn interpret(response: &PlatformResponse) -> Result<SendReceipt, SendError> {
    let answer = response.json();
    let ok = answer["ok"].as_bool().unwrap_or(response.is_success());
    if response.is_success() && ok {
        let message_id = answer["result"]["message_id"]
            .as_i64()
            .map(|id| id.to_string());
        return Ok(SendReceipt::new(NAME, message_id));
    }
    let error_code = answer["error_code"].as_i64();
    if response.status == 429 || error_code == Some(429) {
        let from_body = answer["parameters"]["retry_after"]
            .as_u64()
            .map(Duration::from_secs);
        let from_header =
            crate::retry_after::retry_after_header(&response.headers, std::time::SystemTime::now());
        // Both present: the longer one, so we are never early.
        let retry_after = match (from_body, from_header) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        return Err(SendError::RateLimited {
            status: 429,
            platform_code: error_code,
            retry_after,
        });
    }
    let description = answer["description"].as_str().unwrap_or("telegram error");
    Err(classify_failure(response, error_code, description))
}

#[async_trait::async_trait]
impl Connector for TelegramConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        if reply.recipient_id.trim().is_empty() {
            return Err(SendError::Invalid("telegram needs the chat id".into()));
        }
        let response = post_json(
            &self.client,
            NAME,
            self.send_message_url.clone(),
            HeaderMap::new(),
            &request_body(reply),
        )
        .await?;
        interpret(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_target_accepts_plain_and_chat_qualified_ids() {
        assert_eq!(reply_to_message_id("42"), Some(42));
        assert_eq!(reply_to_message_id("-100123:42"), Some(42));
        assert_eq!(reply_to_message_id(""), None);
        assert_eq!(reply_to_message_id("abc"), None);
    }

    #[test]
    fn chat_ids_are_numbers_unless_they_are_usernames() {
        assert_eq!(chat_id_value("-100123"), json!(-100123));
        assert_eq!(chat_id_value("@brand"), json!("@brand"));
    }
}
