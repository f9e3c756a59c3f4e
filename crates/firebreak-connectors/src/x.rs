//! X API v2: a public reply is a tweet with `reply.in_reply_to_tweet_id`
//! (`POST /2/tweets`); a private reply is a DM
//! (`POST /2/dm_conversations/with/{participant_id}/messages`).
//!
//! X signals rate limits with 429 and `x-rate-limit-reset` (Unix seconds), and errors
//! as problem JSON: `{"title","detail","type","status"}`.

use std::time::SystemTime;

use firebreak_core::Visibility;
use reqwest::{Client, Url};
use serde_json::{Value, json};

use crate::http::{PlatformResponse, classify_failure, endpoint, path_id, post_json};
use crate::meta::bearer_headers;
use crate::retry_after::{parse_unix_reset, retry_after_header};
use crate::{ConfigError, Connector, OutboundReply, Secret, SendError, SendReceipt, XConfig};

const NAME: &str = "x";

pub struct XConnector {
    client: Client,
    base: Url,
    token: Secret,
}

impl XConnector {
    pub fn new(client: Client, config: &XConfig) -> Result<Self, ConfigError> {
        crate::config::require(config.bearer_token.expose(), "x.bearer_token")?;
        Ok(XConnector {
            client,
            base: crate::config::parse_base_url(&config.base_url, "x.base_url")?,
            token: config.bearer_token.clone(),
        })
    }

    fn request_for(&self, reply: &OutboundReply) -> Result<(Url, Value), SendError> {
        match reply.visibility {
            Visibility::Public => {
                let tweet_id = reply.in_reply_to_external_id.trim();
                if tweet_id.is_empty() {
                    return Err(SendError::Invalid(
                        "a reply tweet needs the tweet id".into(),
                    ));
                }
                let body = json!({
                    "text": reply.text,
                    "reply": { "in_reply_to_tweet_id": tweet_id },
                });
                Ok((endpoint(&self.base, &["2", "tweets"]), body))
            }
            Visibility::Private => {
                let participant = path_id(&reply.recipient_id, "the DM participant id")?;
                let path = ["2", "dm_conversations", "with", participant, "messages"];
                Ok((endpoint(&self.base, &path), json!({ "text": reply.text })))
            }
        }
    }
}

fn interpret(response: &PlatformResponse) -> Result<SendReceipt, SendError> {
    let answer = response.json();
    if response.is_success() {
        // A tweet answers `data.id`; a DM answers `data.dm_event_id`.
        let data = &answer["data"];
        let id = data["id"].as_str().or_else(|| data["dm_event_id"].as_str());
        return Ok(SendReceipt::new(NAME, id.map(str::to_owned)));
    }
    if response.status == 429 {
        let now = SystemTime::now();
        let reset = response
            .headers
            .get("x-rate-limit-reset")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_unix_reset(value, now));
        let retry_after = match (retry_after_header(&response.headers, now), reset) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        return Err(SendError::RateLimited {
            status: 429,
            platform_code: None,
            retry_after,
        });
    }
    let description = answer["detail"]
        .as_str()
        .or_else(|| answer["title"].as_str())
        .unwrap_or("x api error");
    Err(classify_failure(response, None, description))
}

#[async_trait::async_trait]
impl Connector for XConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        let (url, body) = self.request_for(reply)?;
        let headers = bearer_headers(&self.token)?;
        let response = post_json(&self.client, NAME, url, headers, &body).await?;
        interpret(&response)
    }
}
