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
}

impl HandshakeError {
    pub fn http_status(self) -> u16 {
        403
    }
}

impl From<HandshakeError> for FirebreakError {
    fn from(e: HandshakeError) -> Self {
        FirebreakError::new(ErrorCode::PermissionDenied, e.to_string())
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

/// The body X expects in answer to a CRC GET with `crc_token`, served as
/// `application/json` with status 200:
/// `{"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}`.
pub fn x_crc_response(consumer_secret: &Secret, crc_token: &str) -> String {
    let digest = hmac_sha256(consumer_secret, crc_token.as_bytes());
    let token = format!("sha256={}", BASE64.encode(digest));
    serde_json::json!({ "response_token": token }).to_string()
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
}
