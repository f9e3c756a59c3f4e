//! LINE Messaging API: `POST {base}/v2/bot/message/reply` with the event's reply
//! token while it is valid, else `POST {base}/v2/bot/message/push` to the chat.
//!
//! LINE honours a reply token once, and only for about a minute after its webhook
//! ("use it within one minute; beyond that it is not guaranteed"); a reply is free,
//! a push counts against the account's monthly message quota. So the connector replies
//! while the token is younger than [`REPLY_TOKEN_TTL`] and pushes otherwise, or when
//! LINE answers 400 `Invalid reply token`. A push carries `X-Line-Retry-Key`, derived
//! from the idempotency key, so LINE refuses a repeat with 409 instead of sending it
//! twice; a 409 naming the accepted request is a success.
//!
//! Both endpoints allow 2,000 requests per second per channel, and over it answer 429
//! with `{"message"}` and no `Retry-After`: the shared budgets pace sends below the
//! playbook's `line` figure, and [`crate::send_with_retry`] backs off.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, Url};
use serde_json::{Value, json};

use crate::http::{PlatformResponse, classify_failure, endpoint, post_json};
use crate::{
    ConfigError, Connector, LineConfig, OutboundReply, ReplyToken, Secret, SendError, SendReceipt,
};

const NAME: &str = "line";

/// How long after its webhook a reply token is still tried: under LINE's one minute,
/// leaving room for the request's own flight.
pub const REPLY_TOKEN_TTL: Duration = Duration::from_secs(50);

/// LINE's longest text message, in characters.
const MAX_TEXT_CHARS: usize = 5000;

/// Namespace of the UUIDs sent as `X-Line-Retry-Key`; fixed, so a retry of the same
/// reply always carries the same key.
const RETRY_KEY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3b7c_9e2a_41d5_4f60_8a1e_5c2d_7f90_b346);

pub struct LineConnector {
    client: Client,
    reply_url: Url,
    push_url: Url,
    token: Secret,
}

impl LineConnector {
    pub fn new(client: Client, config: &LineConfig) -> Result<Self, ConfigError> {
        crate::config::require(config.channel_token.expose(), "line.channel_token")?;
        let base = crate::config::parse_base_url(&config.base_url, "line.base_url")?;
        Ok(LineConnector {
            client,
            reply_url: endpoint(&base, &["v2", "bot", "message", "reply"]),
            push_url: endpoint(&base, &["v2", "bot", "message", "push"]),
            token: config.channel_token.clone(),
        })
    }

    fn headers(&self) -> Result<HeaderMap, SendError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .map_err(|_| SendError::Invalid("line channel token is not a valid header".into()))?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        Ok(headers)
    }

    async fn reply(&self, token: &str, text: &str) -> Result<PlatformResponse, SendError> {
        let body = json!({ "replyToken": token, "messages": [text_message(text)] });
        post_json(
            &self.client,
            NAME,
            self.reply_url.clone(),
            self.headers()?,
            &body,
        )
        .await
    }

    async fn push(&self, reply: &OutboundReply) -> Result<PlatformResponse, SendError> {
        let to = push_target(reply)?;
        let body = json!({ "to": to, "messages": [text_message(&reply.text)] });
        let mut headers = self.headers()?;
        if let Ok(key) = HeaderValue::from_str(&retry_key(&reply.idempotency_key)) {
            headers.insert("x-line-retry-key", key);
        }
        post_json(&self.client, NAME, self.push_url.clone(), headers, &body).await
    }
}

fn text_message(text: &str) -> Value {
    let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
    json!({ "type": "text", "text": text })
}

/// A push goes to the conversation: the user in a one-to-one chat, else the group or
/// room, which is the thread ingest recorded.
fn push_target(reply: &OutboundReply) -> Result<&str, SendError> {
    [reply.thread_id.trim(), reply.recipient_id.trim()]
        .into_iter()
        .find(|id| !id.is_empty())
        .ok_or_else(|| SendError::Invalid("line needs a user, group or room id".into()))
}

/// LINE wants a UUID as its retry key.
fn retry_key(idempotency_key: &str) -> String {
    uuid::Uuid::new_v5(&RETRY_KEY_NAMESPACE, idempotency_key.as_bytes())
        .hyphenated()
        .to_string()
}

/// The token, while it is still worth trying.
fn usable_token(token: Option<&ReplyToken>, now: SystemTime) -> Option<&str> {
    let token = token?;
    let now_ms = now.duration_since(UNIX_EPOCH).ok()?.as_millis();
    let age_ms = now_ms.saturating_sub(u128::try_from(token.received_at_ms).ok()?);
    (age_ms < REPLY_TOKEN_TTL.as_millis() && !token.token.is_empty())
        .then_some(token.token.as_str())
}

/// LINE's answer to an expired or already used reply token.
fn is_invalid_reply_token(response: &PlatformResponse) -> bool {
    response.status == 400
        && response.json()["message"]
            .as_str()
            .is_some_and(|m| m.to_ascii_lowercase().contains("invalid reply token"))
}

fn interpret(response: &PlatformResponse) -> Result<SendReceipt, SendError> {
    let answer = response.json();
    if response.is_success() {
        let id = answer["sentMessages"][0]["id"].as_str().map(str::to_owned);
        return Ok(SendReceipt::new(NAME, id));
    }
    // A retry of a push LINE already accepted: it was delivered once.
    if response.status == 409 && response.headers.contains_key("x-line-accepted-request-id") {
        return Ok(SendReceipt::new(NAME, None));
    }
    let description = answer["message"].as_str().unwrap_or("line error");
    Err(classify_failure(response, None, description))
}

#[async_trait::async_trait]
impl Connector for LineConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        if let Some(token) = usable_token(reply.reply_token.as_ref(), SystemTime::now()) {
            let response = self.reply(token, &reply.text).await?;
            if !is_invalid_reply_token(&response) {
                return interpret(&response);
            }
            tracing::debug!(message_id = %reply.message_id, "line reply token refused, pushing");
        }
        interpret(&self.push(reply).await?)
    }

    /// Pushes deduplicate by retry key, but a reply token may have been spent by an
    /// attempt whose answer was lost, and a push after it would be a second message.
    fn deduplicates_by_idempotency_key(&self, reply: &OutboundReply) -> bool {
        reply.reply_token.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(received_at_ms: i64) -> ReplyToken {
        ReplyToken {
            token: "tok".into(),
            received_at_ms,
        }
    }

    #[test]
    fn a_token_is_used_only_while_it_is_fresh() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(usable_token(Some(&token(999_000)), now), Some("tok"));
        assert_eq!(usable_token(Some(&token(951_000)), now), Some("tok"));
        assert_eq!(usable_token(Some(&token(950_000)), now), None, "50 s old");
        assert_eq!(usable_token(None, now), None);
    }

    #[test]
    fn the_retry_key_is_a_stable_uuid() {
        let a = retry_key("firebreak-reply-1");
        assert_eq!(a, retry_key("firebreak-reply-1"));
        assert_ne!(a, retry_key("firebreak-reply-2"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn long_text_is_cut_at_lines_limit() {
        let text = "é".repeat(MAX_TEXT_CHARS + 10);
        let message = text_message(&text);
        assert_eq!(
            message["text"].as_str().unwrap().chars().count(),
            MAX_TEXT_CHARS
        );
    }
}
