//! Meta Graph API: the Messenger Send API (Messenger and Instagram private replies) and
//! public comment replies on Instagram and Facebook Pages. The Graph error rules here
//! are shared with WhatsApp, which runs on the same API.
//!
//! Graph errors look like `{"error":{"message","type","code","error_subcode",
//! "is_transient"}}`, and rate limits often arrive as HTTP 400 with a rate-limit code,
//! so the code decides before the status does.

use std::time::Duration;

use firebreak_core::{Channel, Visibility};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, Url};
use serde_json::{Value, json};

use crate::http::{PlatformResponse, classify_failure, endpoint, path_id, post_json};
use crate::{ConfigError, Connector, MetaConfig, OutboundReply, Secret, SendError, SendReceipt};

const NAME: &str = "meta";

/// Graph codes that mean "slow down": app (4), user (17) and Page (32) limits, custom
/// rate limits (613), business use-case limits (80001–80014), WhatsApp throughput
/// (130429), spam rate limit (131048) and per-user pair rate (131056).
fn is_rate_limit_code(code: i64) -> bool {
    matches!(
        code,
        4 | 17 | 32 | 613 | 130_429 | 131_048 | 131_056 | 80_001..=80_014
    )
}

/// Graph codes that mean "try again": unknown (1), temporarily unavailable (2), and
/// WhatsApp's generic (131000), service-unavailable (131016) and server (133004) errors.
fn is_transient_code(code: i64) -> bool {
    matches!(code, 1 | 2 | 131_000 | 131_016 | 133_004)
}

/// WhatsApp allows about one message per 6 s to the same user; waiting less after a
/// pair-rate error only earns another one.
const WHATSAPP_PAIR_RATE_WAIT: Duration = Duration::from_secs(6);

/// Graph rate-limit answers carry no `Retry-After`, but the usage headers estimate when
/// access returns, in minutes.
fn regain_access_hint(headers: &HeaderMap) -> Option<Duration> {
    [
        "x-business-use-case-usage",
        "x-ad-account-usage",
        "x-app-usage",
    ]
    .iter()
    .filter_map(|name| headers.get(*name)?.to_str().ok())
    .filter_map(|raw| serde_json::from_str::<Value>(raw).ok())
    .flat_map(|usage| minutes_in(&usage))
    .max()
    .filter(|minutes| *minutes > 0)
    .map(|minutes| Duration::from_secs(minutes.saturating_mul(60)))
}

/// Every `estimated_time_to_regain_access` anywhere in a usage header, whatever its
/// nesting (the business header nests per id, then per type).
fn minutes_in(usage: &Value) -> Vec<u64> {
    match usage {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| match value.as_u64() {
                Some(minutes) if key == "estimated_time_to_regain_access" => vec![minutes],
                _ => minutes_in(value),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(minutes_in).collect(),
        _ => Vec::new(),
    }
}

/// Interprets a Graph API answer. `receipt_id` picks the sent message's id out of a
/// success body, which differs per endpoint.
pub(crate) fn interpret_graph(
    connector: &'static str,
    response: &PlatformResponse,
    receipt_id: fn(&Value) -> Option<String>,
) -> Result<SendReceipt, SendError> {
    let answer = response.json();
    if response.is_success() && answer.get("error").is_none() {
        return Ok(SendReceipt::new(connector, receipt_id(&answer)));
    }
    let error = &answer["error"];
    let code = error["code"].as_i64();
    let description = error["message"].as_str().unwrap_or("graph api error");
    if let Some(code) = code.filter(|code| is_rate_limit_code(*code)) {
        let hinted = regain_access_hint(&response.headers).or_else(|| {
            crate::retry_after::retry_after_header(&response.headers, std::time::SystemTime::now())
        });
        let floor = (code == 131_056).then_some(WHATSAPP_PAIR_RATE_WAIT);
        let retry_after = match (hinted, floor) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        return Err(SendError::RateLimited {
            status: response.status,
            platform_code: Some(code),
            retry_after,
        });
    }
    let transient =
        error["is_transient"].as_bool() == Some(true) || code.is_some_and(is_transient_code);
    if transient && response.status < 500 {
        return Err(SendError::Transient {
            status: Some(response.status),
            possibly_delivered: false,
            retry_after: None,
            detail: crate::error::short_detail(description),
        });
    }
    Err(classify_failure(response, code, description))
}

pub(crate) fn bearer_headers(token: &Secret) -> Result<HeaderMap, SendError> {
    // Sent as a header, not `?access_token=`, so the token never sits in a URL that a
    // proxy or an error message might print.
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| SendError::Invalid("access token is not a valid header value".into()))?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    Ok(headers)
}

pub struct MetaConnector {
    client: Client,
    /// `{base}/{version}`, the root every Graph path hangs from.
    versioned_base: Url,
    send_api_node: String,
    token: Secret,
}

impl MetaConnector {
    pub fn new(client: Client, config: &MetaConfig) -> Result<Self, ConfigError> {
        crate::config::require(config.page_access_token.expose(), "meta.page_access_token")?;
        crate::config::require(&config.api_version, "meta.api_version")?;
        let base = crate::config::parse_base_url(&config.base_url, "meta.base_url")?;
        let send_api_node = match &config.page_id {
            Some(page_id) if !page_id.trim().is_empty() => page_id.trim().to_owned(),
            _ => "me".to_owned(),
        };
        Ok(MetaConnector {
            client,
            versioned_base: endpoint(&base, &[config.api_version.trim()]),
            send_api_node,
            token: config.page_access_token.clone(),
        })
    }

    /// Where a reply goes and what it says, by channel and visibility.
    fn request_for(&self, reply: &OutboundReply) -> Result<(Url, Value, bool), SendError> {
        let comment_endpoint = match (reply.channel, reply.visibility) {
            (Channel::Instagram, Visibility::Public) => Some("replies"),
            (Channel::Facebook, Visibility::Public) => Some("comments"),
            (Channel::Messenger | Channel::Instagram | Channel::Facebook, _) => None,
            (other, _) => {
                return Err(SendError::Invalid(format!("meta cannot send to {other}")));
            }
        };
        if let Some(edge) = comment_endpoint {
            let comment_id = path_id(&reply.in_reply_to_external_id, "the comment id")?;
            let url = endpoint(&self.versioned_base, &[comment_id, edge]);
            return Ok((url, json!({ "message": reply.text }), true));
        }
        if reply.recipient_id.trim().is_empty() {
            return Err(SendError::Invalid(
                "a private reply needs the recipient id".into(),
            ));
        }
        let url = endpoint(&self.versioned_base, &[&self.send_api_node, "messages"]);
        let body = json!({
            "recipient": { "id": reply.recipient_id },
            // A reply to the user's own message, inside the 24 h window.
            "messaging_type": "RESPONSE",
            "message": { "text": reply.text },
        });
        Ok((url, body, false))
    }
}

fn comment_id(answer: &Value) -> Option<String> {
    answer["id"].as_str().map(str::to_owned)
}

fn send_api_message_id(answer: &Value) -> Option<String> {
    answer["message_id"].as_str().map(str::to_owned)
}

#[async_trait::async_trait]
impl Connector for MetaConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        let (url, body, is_comment) = self.request_for(reply)?;
        let headers = bearer_headers(&self.token)?;
        let response = post_json(&self.client, NAME, url, headers, &body).await?;
        let receipt_id = if is_comment {
            comment_id
        } else {
            send_api_message_id
        };
        interpret_graph(NAME, &response, receipt_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regain_access_minutes_are_read_from_nested_usage_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"1234":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":3}]}"#,
            ),
        );
        assert_eq!(regain_access_hint(&headers), Some(Duration::from_secs(180)));
    }

    #[test]
    fn zero_minutes_is_no_hint() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":100,"estimated_time_to_regain_access":0}"#),
        );
        assert_eq!(regain_access_hint(&headers), None);
    }
}
