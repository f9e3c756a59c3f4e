//! Reading request bodies with the errors the contract promises: 413 over the limit,
//! 408 when it does not arrive in time, 400 for invalid UTF-8, and 400 naming the field
//! for malformed JSON.

use axum::body::{Body, HttpBody};
use bytes::{Bytes, BytesMut};
use firebreak_core::{ErrorCode, FirebreakError};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

use super::serve::BodyReadError;

/// Largest body accepted on any route.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Bytes of request bodies the process holds at once while reading them, across every
/// connection. Without it, clients that send most of a body and stall held a buffer
/// each until the body timeout: 800 of them took 250 MB that the allocator kept. Past
/// it, a body is refused at once with 503 and `Retry-After`.
pub const IN_FLIGHT_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The in-flight budget, in KiB permits.
static IN_FLIGHT: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_BODY_BYTES / 1024))
    });

/// Why a body was not read: each is counted under its own label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    TimedOut,
    /// The client went away mid-body; nobody reads the answer.
    Disconnected,
    /// Too many bodies are being read at once: try again shortly.
    Busy,
}

impl BodyError {
    /// A stable label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyError::TooLarge => "too_large",
            BodyError::TimedOut => "body_timeout",
            BodyError::Disconnected => "disconnected",
            BodyError::Busy => "busy",
        }
    }
}

impl From<BodyError> for FirebreakError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => FirebreakError::new(
                ErrorCode::PayloadTooLarge,
                format!("body larger than {MAX_BODY_BYTES} bytes"),
            ),
            BodyError::TimedOut => {
                FirebreakError::new(ErrorCode::TimedOut, "body not received in time")
            }
            BodyError::Disconnected => {
                FirebreakError::invalid("body", "connection closed before the body was complete")
            }
            BodyError::Busy => FirebreakError::overloaded(
                "too many request bodies in flight",
                std::time::Duration::from_secs(1),
            ),
        }
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; more is a 413, whatever `Content-Length` claimed.
pub async fn read_body(body: Body) -> Result<Bytes, FirebreakError> {
    Ok(read_body_counted(body).await?)
}

/// [`read_body`], telling a body too large apart from a client too slow or gone.
pub async fn read_body_counted(body: Body) -> Result<Bytes, BodyError> {
    let announced = HttpBody::size_hint(&body).lower();
    if announced > MAX_BODY_BYTES as u64 {
        return Err(BodyError::TooLarge);
    }
    // The body's share of the in-flight budget, held while it arrives: its announced
    // length, or the most any body may be when it announced none.
    let reserved = if announced > 0 {
        announced as usize
    } else {
        MAX_BODY_BYTES
    };
    let _in_flight = IN_FLIGHT
        .clone()
        .try_acquire_many_owned(reserved.div_ceil(1024) as u32)
        .map_err(|_| BodyError::Busy)?;
    let mut stream = body.into_data_stream();
    // Sized once from Content-Length, so a large body is not copied while it grows.
    let mut out = BytesMut::with_capacity(announced as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(classify)?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

fn classify(e: axum::Error) -> BodyError {
    match e.into_inner().downcast::<BodyReadError>() {
        Ok(e) if matches!(*e, BodyReadError::TimedOut) => BodyError::TimedOut,
        _ => BodyError::Disconnected,
    }
}

/// Parses JSON, naming the path of the field at fault and what was expected there, but
/// never what was sent: serde's own messages quote the offending value, which may be
/// message text or a misplaced secret.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FirebreakError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FirebreakError::invalid("body", format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = safe_path(&e.path().to_string());
        FirebreakError::invalid(&field, describe(e.inner()))
    })
}

/// The path if it is made of plain field names and indices; map keys the caller chose
/// could be anything, so such a path is just `body`.
fn safe_path(path: &str) -> String {
    let plain = path.len() <= 128
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']'));
    if path == "." || !plain {
        "body".to_string()
    } else {
        path.to_string()
    }
}

/// What went wrong, from the schema's side only.
fn describe(e: &serde_json::Error) -> String {
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        serde_json::error::Category::Syntax => format!("malformed JSON at {at}"),
        serde_json::error::Category::Eof => format!("unexpected end of JSON at {at}"),
        serde_json::error::Category::Io => "unreadable body".to_string(),
        serde_json::error::Category::Data => {
            let message = e.to_string();
            // `missing field `x`` names the schema's field; everything else (`invalid
            // type: string "…"`, `unknown variant `…``) quotes the input before
            // `, expected …`, which is the schema's part.
            if message.starts_with("missing field") {
                message
            } else if let Some(i) = message.rfind(", expected ") {
                format!("wrong type or value; expected {}", &message[i + 11..])
            } else {
                format!("wrong type or value at {at}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        author: Author,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Author {
        followers: u64,
    }

    #[test]
    fn malformed_json_names_the_field() {
        let err = parse_json::<Sample>(br#"{"author":{"followers":"many"}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message.starts_with("author.followers"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large_even_without_a_length() {
        let chunks = futures::stream::iter(
            (0..5).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 64 * 1024]))),
        );
        let err = read_body_counted(Body::from_stream(chunks))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge);
        let exact = Body::from(vec![b'a'; MAX_BODY_BYTES]);
        assert_eq!(
            read_body_counted(exact).await.unwrap().len(),
            MAX_BODY_BYTES
        );
    }

    #[tokio::test]
    async fn a_broken_body_is_a_disconnect_not_a_large_body() {
        let chunks = futures::stream::iter([
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("reset")),
        ]);
        let err = read_body_counted(Body::from_stream(chunks))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::Disconnected);
        assert_eq!(FirebreakError::from(err).code, ErrorCode::InvalidArgument);
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Choice {
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Public,
    }

    #[test]
    fn errors_never_quote_the_input() {
        for body in [
            r#"{"author":{"followers":"my phone is 0612345678"}}"#,
            r#"{"author":{"followers":-0612345678}}"#,
            r#"{"author":{"followers":1},"0612345678":1}"#,
        ] {
            if let Err(err) = parse_json::<Sample>(body.as_bytes()) {
                assert!(!err.message.contains("0612345678"), "{}", err.message);
            }
        }
        let err = parse_json::<Choice>(br#"{"kind":"0612345678"}"#).unwrap_err();
        assert!(!err.message.contains("0612345678"), "{}", err.message);
        assert!(err.message.contains("public"), "{}", err.message);
        let err = parse_json::<Sample>(br#"{"author":{"followers":"x"}}"#).unwrap_err();
        assert!(err.message.contains("expected u64"), "{}", err.message);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let err = parse_json::<Sample>(b"{\"author\":\xff}").unwrap_err();
        assert!(err.message.contains("UTF-8"));
    }
}
