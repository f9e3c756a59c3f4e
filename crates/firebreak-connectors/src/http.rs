//! The HTTP plumbing every platform connector shares: one POST, with a bounded answer,
//! and the status-code rules common to all platforms.

use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use serde_json::Value;
use tracing::debug;

use crate::error::short_detail;
use crate::retry_after::retry_after_header;
use crate::{HttpOptions, SendError};

/// Platforms answer a send with a few hundred bytes; anything far larger is not an
/// answer we need to read whole.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A platform's answer, read and bounded.
pub(crate) struct PlatformResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl PlatformResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON; `Value::Null` when it is not JSON, so callers just find no
    /// fields rather than handling a parse error they could do nothing about.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub(crate) fn build_client(options: &HttpOptions) -> Result<Client, reqwest::Error> {
    Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .user_agent(options.user_agent.as_str())
        // A redirect would replay the POST (and its token) somewhere we did not choose.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Appends path segments to `base`, percent-encoding each one, so an id taken from an
/// incoming message (a comment id, a participant id) can never add or climb path levels.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Checks an id taken from an incoming message before it becomes a path segment. The URL
/// library drops `.` and `..` segments, which would silently post to the parent
/// resource, so those (and an empty id) are refused.
pub(crate) fn path_id<'a>(id: &'a str, what: &str) -> Result<&'a str, SendError> {
    let id = id.trim();
    if id.is_empty() || id == "." || id == ".." {
        return Err(SendError::Invalid(format!(
            "{what} is missing or not an id"
        )));
    }
    Ok(id)
}

/// POSTs `body` as JSON and reads the answer. The only errors here are network-level;
/// every HTTP status comes back as a response for the connector to interpret.
pub(crate) async fn post_json(
    client: &Client,
    connector: &'static str,
    url: Url,
    request_headers: HeaderMap,
    body: &Value,
) -> Result<PlatformResponse, SendError> {
    let mut response = client
        .post(url)
        .headers(request_headers)
        .json(body)
        .send()
        .await
        .map_err(|err| network_error(connector, &err))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut buffer = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if buffer.len() + chunk.len() <= MAX_RESPONSE_BYTES => {
                buffer.extend_from_slice(&chunk);
            }
            // Truncated: enough to classify by status; the JSON just won't parse.
            Ok(Some(_)) | Ok(None) => break,
            // The status arrived, so the platform decided; a broken body does not change
            // what it decided.
            Err(err) => {
                debug!(connector, error = %err.without_url(), "response body unreadable");
                break;
            }
        }
    }
    debug!(connector, status, "platform answered");
    Ok(PlatformResponse {
        status,
        headers,
        body: buffer.freeze(),
    })
}

/// Maps a transport failure. The URL is stripped first: Telegram's carries the bot token.
/// A failed connection never reached the platform; anything later might have.
fn network_error(connector: &'static str, err: &reqwest::Error) -> SendError {
    let possibly_delivered = !err.is_connect() && !err.is_builder();
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    debug!(connector, error = %err_without_url(err), "network error");
    SendError::Transient {
        status: None,
        possibly_delivered,
        retry_after: None,
        detail: format!("{connector}: {what}"),
    }
}

fn err_without_url(err: &reqwest::Error) -> String {
    // `without_url` consumes, and reqwest::Error is not Clone; rebuild the text instead.
    let text = err.to_string();
    match err.url() {
        Some(url) => text.replace(url.as_str(), "<url>"),
        None => text,
    }
}

/// The rules every platform shares once its own error codes have been looked at:
/// 429 is a rate limit, 408 and 5xx are transient, other 4xx are permanent.
pub(crate) fn classify_failure(
    response: &PlatformResponse,
    platform_code: Option<i64>,
    description: &str,
) -> SendError {
    let retry_after = retry_after_header(&response.headers, SystemTime::now());
    let status = response.status;
    match status {
        429 => SendError::RateLimited {
            status,
            platform_code,
            retry_after,
        },
        408 | 500..=599 => SendError::Transient {
            status: Some(status),
            // The platform answered that it failed; a gateway 5xx after the backend
            // posted is possible but rare, and treating every 5xx as "maybe posted"
            // would stop retries altogether.
            possibly_delivered: false,
            retry_after,
            detail: short_detail(description),
        },
        _ => SendError::Permanent {
            status,
            platform_code,
            detail: short_detail(description),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_cannot_add_levels() {
        let base = Url::parse("http://127.0.0.1:1/prefix/").unwrap();
        let url = endpoint(&base, &["v1", "a/b?c#d", "messages"]);
        assert_eq!(url.path(), "/prefix/v1/a%2Fb%3Fc%23d/messages");
        assert_eq!(url.query(), None);
    }

    #[test]
    fn dot_segments_are_refused_as_ids() {
        for bad in ["", " ", ".", ".."] {
            assert!(path_id(bad, "comment id").is_err(), "{bad:?}");
        }
        assert_eq!(path_id(" 17890 ", "comment id").unwrap(), "17890");
    }
}
