//! Reading request bodies with the errors the contract promises: 413 over the limit,
//! 400 for invalid UTF-8, and 400 naming the field for malformed JSON.

use axum::body::Body;
use bytes::Bytes;
use firebreak_core::{ErrorCode, FirebreakError};
use serde::de::DeserializeOwned;

/// Largest body accepted on any route.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Reads at most [`MAX_BODY_BYTES`]; more is a 413, whatever `Content-Length` claimed.
pub async fn read_body(body: Body) -> Result<Bytes, FirebreakError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            FirebreakError::new(
                ErrorCode::PayloadTooLarge,
                format!("body larger than {MAX_BODY_BYTES} bytes"),
            )
        })
}

/// Parses JSON, naming the path of the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FirebreakError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FirebreakError::invalid("body", format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        FirebreakError::invalid(&field, e.inner())
    })
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

    #[test]
    fn invalid_utf8_is_refused() {
        let err = parse_json::<Sample>(b"{\"author\":\xff}").unwrap_err();
        assert!(err.message.contains("UTF-8"));
    }
}
