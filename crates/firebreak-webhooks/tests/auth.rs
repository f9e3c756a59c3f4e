//! Signatures pass only when computed with the right secret over the exact body, and
//! the handshakes answer exactly what the platforms check.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::fixture;
use firebreak_webhooks::{
    HandshakeError, Secret, SignatureError, meta_handshake, verify_meta_signature,
    verify_telegram_secret, verify_x_signature, x_crc_response,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn meta_signature_over_the_raw_body_passes() {
    let body = fixture("messenger_text.json");
    let header = format!("sha256={}", hex::encode(hmac(b"meta-app-secret", &body)));
    let secret = Secret::new("meta-app-secret");
    assert_eq!(
        verify_meta_signature(&secret, &body, Some(header.as_bytes())),
        Ok(())
    );
}

#[test]
fn meta_signature_fails_for_wrong_secret_tampered_body_or_bad_header() {
    let body = fixture("messenger_text.json");
    let secret = Secret::new("meta-app-secret");
    let forged = format!("sha256={}", hex::encode(hmac(b"other-secret", &body)));
    assert_eq!(
        verify_meta_signature(&secret, &body, Some(forged.as_bytes())),
        Err(SignatureError::Mismatch)
    );
    let good = format!("sha256={}", hex::encode(hmac(b"meta-app-secret", &body)));
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(
        verify_meta_signature(&secret, &tampered, Some(good.as_bytes())),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_meta_signature(&secret, &body, None),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verify_meta_signature(&secret, &body, Some(b"sha1=abcdef")),
        Err(SignatureError::Malformed)
    );
    assert_eq!(
        verify_meta_signature(&secret, &body, Some(b"sha256=not-hex")),
        Err(SignatureError::Malformed)
    );
    assert_eq!(SignatureError::Mismatch.http_status(), 401);
}

#[test]
fn x_signature_passes_with_base64_digest_and_fails_otherwise() {
    let body = fixture("x_dm.json");
    let secret = Secret::new("x-consumer-secret");
    let good = format!(
        "sha256={}",
        BASE64.encode(hmac(b"x-consumer-secret", &body))
    );
    assert_eq!(
        verify_x_signature(&secret, &body, Some(good.as_bytes())),
        Ok(())
    );
    let forged = format!("sha256={}", BASE64.encode(hmac(b"nope", &body)));
    assert_eq!(
        verify_x_signature(&secret, &body, Some(forged.as_bytes())),
        Err(SignatureError::Mismatch)
    );
    // Meta's hex form is not X's format.
    let hex_form = format!("sha256={}", hex::encode(hmac(b"x-consumer-secret", &body)));
    assert!(verify_x_signature(&secret, &body, Some(hex_form.as_bytes())).is_err());
    assert_eq!(
        verify_x_signature(&secret, &body, None),
        Err(SignatureError::Missing)
    );
}

#[test]
fn telegram_secret_token_must_match_exactly() {
    let secret = Secret::new("Tg_secret-123");
    assert_eq!(
        verify_telegram_secret(&secret, Some(b"Tg_secret-123")),
        Ok(())
    );
    assert_eq!(
        verify_telegram_secret(&secret, Some(b"Tg_secret-124")),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_telegram_secret(&secret, Some(b"Tg_secret-1234")),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_telegram_secret(&secret, None),
        Err(SignatureError::Missing)
    );
}

#[test]
fn meta_challenge_is_echoed_exactly_when_token_matches() {
    let token = Secret::new("verify-me");
    assert_eq!(
        meta_handshake(
            Some("subscribe"),
            Some("verify-me"),
            Some("1158201444"),
            &token
        ),
        Ok("1158201444".to_owned())
    );
}

#[test]
fn meta_handshake_refuses_wrong_token_or_mode() {
    let token = Secret::new("verify-me");
    let wrong_token = meta_handshake(Some("subscribe"), Some("guess"), Some("1"), &token);
    assert_eq!(wrong_token, Err(HandshakeError::TokenMismatch));
    assert_eq!(wrong_token.unwrap_err().http_status(), 403);
    assert_eq!(
        meta_handshake(Some("unsubscribe"), Some("verify-me"), Some("1"), &token),
        Err(HandshakeError::WrongMode)
    );
    assert_eq!(
        meta_handshake(None, None, None, &token),
        Err(HandshakeError::WrongMode)
    );
    assert_eq!(
        meta_handshake(Some("subscribe"), Some("verify-me"), None, &token),
        Err(HandshakeError::BadChallenge)
    );
}

#[test]
fn x_crc_matches_an_independently_computed_vector() {
    // Computed outside this crate with Python's hmac module: key "Jefe", message the
    // token below (a crc_token as X sends them: a UUID in base64).
    let body = x_crc_response(
        &Secret::new("Jefe"),
        "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0",
    )
    .unwrap();
    assert_eq!(
        body,
        r#"{"response_token":"sha256=MDbQAjQnMfLaNq5XYJCmbHcQ5ECZuOf1Wp1XVDis0eA="}"#
    );
}

#[test]
fn a_body_the_crc_endpoint_could_sign_is_never_a_signed_x_delivery() {
    let secret = Secret::new("my-consumer-secret");
    // The CRC answer for this token is a correct HMAC over these bytes; posting them
    // with it must still fail.
    let token = "crc-token-123";
    let crc: serde_json::Value =
        serde_json::from_str(&x_crc_response(&secret, token).unwrap()).unwrap();
    let signature = crc["response_token"].as_str().unwrap().to_owned();
    assert_eq!(
        verify_x_signature(&secret, token.as_bytes(), Some(signature.as_bytes())),
        Err(SignatureError::CrcShaped)
    );
    // And a JSON body, the only thing a delivery can be, is never signed by the CRC.
    assert_eq!(
        x_crc_response(&secret, r#"{"for_user_id":"1"}"#),
        Err(HandshakeError::BadCrcToken)
    );
}

#[test]
fn x_crc_for_a_realistic_token() {
    let body = x_crc_response(&Secret::new("my-consumer-secret"), "crc-token-123").unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["response_token"],
        "sha256=it2Y2uWroqJzf1wMkMK4PrtJIXUsrVgP58Zwgo9WvGk="
    );
}
