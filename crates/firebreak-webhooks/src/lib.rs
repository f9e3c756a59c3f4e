//! The I/O-free half of platform ingest: authenticating webhook deliveries, answering
//! subscription handshakes, and turning Meta, Telegram, X and LINE payloads into
//! [`firebreak_core::wire::Submission`]s.
//!
//! An HTTP layer mounts these in a fixed order for every POST: check the body size,
//! verify the signature over the raw bytes, then parse. Parsers never panic on any
//! input, never return message text in an error, and acknowledge events they do not
//! handle as [`SkipReason`]s rather than errors, because platforms retry a refused
//! delivery for days.
//!
//! | platform | authenticate | handshake | parse |
//! |---|---|---|---|
//! | Meta (Messenger, Instagram, WhatsApp, Pages) | [`verify_meta_signature`] | [`meta_handshake`] | [`parse_meta`] |
//! | Telegram | [`verify_telegram_secret`] | — | [`parse_telegram`] |
//! | X | [`verify_x_signature`] | [`x_crc_response`] | [`parse_x`] |
//! | LINE | [`verify_line_signature`] | — | [`parse_line`] |

mod handshake;
mod lenient;
mod line;
mod meta;
mod parsed;
mod secret;
mod signature;
mod telegram;
mod x;

pub use handshake::{
    HandshakeError, MAX_CRC_TOKEN_LEN, is_x_crc_token, meta_handshake, x_crc_response,
};
pub use line::{REPLY_TOKEN_KIND, REPLY_TOKEN_SCHEME, parse_line};
pub use meta::parse_meta;
pub use parsed::{ParseError, Parsed, SkipReason};
pub use secret::{Secret, SecretError, load_secret, load_secret_with};
pub use signature::{
    LINE_SIGNATURE_HEADER, META_SIGNATURE_HEADER, SignatureError, TELEGRAM_SECRET_HEADER,
    X_SIGNATURE_HEADER, verify_line_signature, verify_meta_signature, verify_telegram_secret,
    verify_x_signature,
};
pub use telegram::parse_telegram;
pub use x::parse_x;
