//! Subscription handshakes: Meta's `hub.challenge` echo and X's CRC response. Both prove
//! to the platform that whoever runs this endpoint holds the shared secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use firebreak_core::{ErrorCode, FirebreakError};

use crate::secret::Secret;
use crate::signature::hmac_sha256;

/// The longest challenge echoed back. Meta sends a short number; anything much longer
/// is not Meta, and echoing it would make this endpoint a reflector.
const MAX_CHALLENGE_LEN: usize = 256;

/// Why a handshake was refused. Meta expects 403 for all of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("hub.mode must be subscribe")]
    WrongMode,
    #[error("hub.verify_token does not match")]
    TokenMismatch,
    #[error("hub.challenge missing or not a plain token")]
    BadChallenge,
    /// The X CRC token is missing, too long or outside the base64 alphabet (400).
    #[error("crc_token must be 1 to 64 characters of base64")]
    BadCrcToken,
}

impl HandshakeError {
    pub fn http_status(self) -> u16 {
        match self {
            HandshakeError::BadCrcToken => 400,
            _ => 403,
        }
    }
}

impl From<HandshakeError> for FirebreakError {
    fn from(e: HandshakeError) -> Self {
        let code = match e {
            HandshakeError::BadCrcToken => ErrorCode::InvalidArgument,
            _ => ErrorCode::PermissionDenied,
        };
        FirebreakError::new(code, e.to_string())
    }
}

/// Answers Meta's verification GET (`hub.mode`, `hub.verify_token`, `hub.challenge`,
/// taken as the raw query values). On success the caller replies 200 with the returned
/// challenge as the whole body, as plain text.
pub fn meta_handshake(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &Secret,
) -> Result<String, HandshakeError> {
    if mode != Some("subscribe") {
        return Err(HandshakeError::WrongMode);
    }
    let presented = verify_token.ok_or(HandshakeError::TokenMismatch)?;
    if !expected_token.matches(presented.as_bytes()) {
        return Err(HandshakeError::TokenMismatch);
    }
    let challenge = challenge.ok_or(HandshakeError::BadChallenge)?;
    let plain = !challenge.is_empty()
        && challenge.len() <= MAX_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain {
        return Err(HandshakeError::BadChallenge);
    }
    Ok(challenge.to_owned())
}

/// The longest `crc_token` signed. X does not document the token's format; the ones it
/// sends are 48 characters of base64 (a UUID, encoded), so 64 leaves room.
pub const MAX_CRC_TOKEN_LEN: usize = 64;

/// Whether `bytes` fit the `crc_token` grammar: 1 to [`MAX_CRC_TOKEN_LEN`] characters of
/// base64 or base64url (`A-Za-z0-9+/=_-`).
///
/// The CRC answer and a delivery's signature are the same HMAC under the same secret,
/// so whatever the CRC endpoint signs is a valid delivery signature for those bytes.
/// Nothing in this grammar can be a delivery: a delivery is a JSON object, and `{`,
/// `"` and `:` are outside the alphabet. [`crate::verify_x_signature`] refuses any
/// body that fits it, so the two sets stay disjoint whatever the parser accepts.
pub fn is_x_crc_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= MAX_CRC_TOKEN_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'))
}

/// The body X expects in answer to a CRC GET with `crc_token`, served as
/// `application/json` with status 200:
/// `{"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}`.
///
/// Only a token that fits [`is_x_crc_token`] is signed; anything else, a JSON body in
/// particular, is [`HandshakeError::BadCrcToken`], so this endpoint never signs
/// something that could be posted back as a delivery.
pub fn x_crc_response(consumer_secret: &Secret, crc_token: &str) -> Result<String, HandshakeError> {
    if !is_x_crc_token(crc_token.as_bytes()) {
        return Err(HandshakeError::BadCrcToken);
    }
    let digest = hmac_sha256(consumer_secret, crc_token.as_bytes());
    let token = format!("sha256={}", BASE64.encode(digest));
    Ok(serde_json::json!({ "response_token": token }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_with_markup_is_not_reflected() {
        let token = Secret::new("t");
        assert_eq!(
            meta_handshake(Some("subscribe"), Some("t"), Some("<script>"), &token),
            Err(HandshakeError::BadChallenge)
        );
    }

    #[test]
    fn crc_tokens_that_could_be_a_body_are_not_signed() {
        let secret = Secret::new("s");
        for token in [
            "",
            r#"{"for_user_id":"1","tweet_create_events":[]}"#,
            "a b",
            "token?",
            &"A".repeat(MAX_CRC_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                x_crc_response(&secret, token),
                Err(HandshakeError::BadCrcToken),
                "{token:?}"
            );
        }
        assert_eq!(HandshakeError::BadCrcToken.http_status(), 400);
        assert!(x_crc_response(&secret, &"A".repeat(MAX_CRC_TOKEN_LEN)).is_ok());
        assert!(
            x_crc_response(&secret, "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0").is_ok()
        );
        assert!(x_crc_response(&secret, "a-b_c+d/e==").is_ok());
    }
}
