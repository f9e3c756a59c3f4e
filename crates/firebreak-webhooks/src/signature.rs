//! Authenticating webhook deliveries: Meta's and X's HMAC signatures and Telegram's
//! shared secret token. Every comparison runs in constant time, so response timing
//! tells an attacker nothing about how much of a forged signature was right.
//!
//! Header values are taken as bytes (`HeaderValue::as_bytes`), so a header that is not
//! visible ASCII is simply a malformed signature rather than a special case upstream.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use firebreak_core::{ErrorCode, FirebreakError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying Meta's signature (Messenger, Instagram, WhatsApp, Page webhooks).
pub const META_SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Header carrying the secret token given to Telegram's `setWebhook`.
pub const TELEGRAM_SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Header carrying LINE's signature: base64 HMAC-SHA256 of the body, no prefix.
pub const LINE_SIGNATURE_HEADER: &str = "x-line-signature";
/// Header carrying X's Account Activity signature.
pub const X_SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";

const SHA256_PREFIX: &[u8] = b"sha256=";

/// Why a delivery was not authenticated. Every variant answers 401; the variants exist
/// for counters, and none carries the presented value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    /// An X body that fits the CRC token grammar: the CRC endpoint could have signed it,
    /// so its signature proves nothing.
    #[error("body is not a delivery")]
    CrcShaped,
}

impl SignatureError {
    pub fn http_status(self) -> u16 {
        401
    }

    /// A stable label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Mismatch => "mismatch",
            SignatureError::CrcShaped => "crc_shaped",
        }
    }
}

impl From<SignatureError> for FirebreakError {
    fn from(e: SignatureError) -> Self {
        FirebreakError::new(ErrorCode::Unauthenticated, e.to_string())
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
/// The body must be the exact bytes received, before any parsing.
pub fn verify_meta_signature(
    app_secret: &Secret,
    raw_body: &[u8],
    header_value: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let digest_hex = strip_sha256_prefix(header_value)?;
    let presented = hex::decode(digest_hex).map_err(|_| SignatureError::Malformed)?;
    verify_hmac(app_secret, raw_body, &presented)
}

/// Checks `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, body)>`.
///
/// A body that fits the CRC token grammar ([`crate::is_x_crc_token`]) is refused
/// whatever its signature: the CRC endpoint signs exactly such strings with the same key.
pub fn verify_x_signature(
    consumer_secret: &Secret,
    raw_body: &[u8],
    header_value: Option<&[u8]>,
) -> Result<(), SignatureError> {
    if crate::is_x_crc_token(raw_body.trim_ascii()) {
        return Err(SignatureError::CrcShaped);
    }
    let digest_b64 = strip_sha256_prefix(header_value)?;
    let presented = BASE64
        .decode(digest_b64)
        .map_err(|_| SignatureError::Malformed)?;
    verify_hmac(consumer_secret, raw_body, &presented)
}

/// Checks `x-line-signature: <base64 HMAC-SHA256(channel secret, raw body)>`.
pub fn verify_line_signature(
    channel_secret: &Secret,
    raw_body: &[u8],
    header_value: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let value = header_value
        .map(<[u8]>::trim_ascii)
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing)?;
    let presented = BASE64
        .decode(value)
        .map_err(|_| SignatureError::Malformed)?;
    verify_hmac(channel_secret, raw_body, &presented)
}

/// Checks `X-Telegram-Bot-Api-Secret-Token` against the token set with `setWebhook`.
pub fn verify_telegram_secret(
    expected: &Secret,
    header_value: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let presented = header_value.ok_or(SignatureError::Missing)?;
    if expected.matches(presented) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// HMAC-SHA256 of `message` keyed with `secret`.
pub(crate) fn hmac_sha256(secret: &Secret, message: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(secret);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn verify_hmac(secret: &Secret, body: &[u8], presented: &[u8]) -> Result<(), SignatureError> {
    let mut mac = new_mac(secret);
    mac.update(body);
    // verify_slice compares in constant time and rejects a digest of the wrong length.
    mac.verify_slice(presented)
        .map_err(|_| SignatureError::Mismatch)
}

fn new_mac(secret: &Secret) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails.
    HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("hmac accepts any key length")
}

fn strip_sha256_prefix(header_value: Option<&[u8]>) -> Result<&[u8], SignatureError> {
    let value = header_value.ok_or(SignatureError::Missing)?;
    let value = value.trim_ascii();
    if value.is_empty() {
        return Err(SignatureError::Missing);
    }
    // The algorithm name is case-insensitive in practice; accept `SHA256=` too.
    if value.len() < SHA256_PREFIX.len()
        || !value[..SHA256_PREFIX.len()].eq_ignore_ascii_case(SHA256_PREFIX)
    {
        return Err(SignatureError::Malformed);
    }
    Ok(&value[SHA256_PREFIX.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let digest = hmac_sha256(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(digest),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn meta_signature_accepts_uppercase_hex_and_prefix() {
        let secret = Secret::new("s");
        let header = format!("SHA256={}", hex::encode_upper(hmac_sha256(&secret, b"{}")));
        assert_eq!(
            verify_meta_signature(&secret, b"{}", Some(header.as_bytes())),
            Ok(())
        );
    }

    #[test]
    fn line_signature_is_plain_base64_of_the_hmac() {
        let secret = Secret::new("line-channel-secret");
        let body = br#"{"destination":"U0","events":[]}"#;
        let good = BASE64.encode(hmac_sha256(&secret, body));
        assert_eq!(
            verify_line_signature(&secret, body, Some(good.as_bytes())),
            Ok(())
        );
        let prefixed = format!("sha256={good}");
        assert_eq!(
            verify_line_signature(&secret, body, Some(prefixed.as_bytes())),
            Err(SignatureError::Malformed)
        );
        let other = BASE64.encode(hmac_sha256(&Secret::new("other"), body));
        assert_eq!(
            verify_line_signature(&secret, body, Some(other.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_line_signature(&secret, body, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn truncated_digest_is_a_mismatch_not_a_panic() {
        let secret = Secret::new("s");
        let full = hex::encode(hmac_sha256(&secret, b"{}"));
        let header = format!("sha256={}", &full[..20]);
        assert_eq!(
            verify_meta_signature(&secret, b"{}", Some(header.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }
}
