//! Outbound connectors: the one way a reply leaves Firebreak.
//!
//! Every platform sits behind the [`Connector`] trait. A connector makes exactly one
//! attempt and says precisely how it went ([`SendError`] tells a rate limit from a
//! transient fault from a permanent refusal); [`send_with_retry`] owns the waiting, so
//! every platform is retried by the same, tested rules and honours `Retry-After`.
//!
//! [`Router`] picks the connector for a reply's channel from a [`ConnectorsConfig`],
//! falling back to the outbound webhook and then to [`DryRunConnector`], the embedded
//! default that records replies instead of sending them.
//!
//! Logs and errors carry ids and status codes only: never tokens, never reply text.

mod config;
mod dry_run;
mod error;
mod http;
mod line;
mod meta;
mod reply;
mod retry;
mod retry_after;
mod router;
mod secret;
mod telegram;
mod webhook;
mod whatsapp;
mod x;

pub use config::{
    ConfigError, ConnectorsConfig, HttpOptions, LineConfig, MetaConfig, TelegramConfig,
    WebhookConfig, WhatsAppConfig, XConfig,
};
pub use dry_run::DryRunConnector;
pub use error::SendError;
pub use line::{LineConnector, REPLY_TOKEN_TTL};
pub use meta::MetaConnector;
pub use reply::{OutboundReply, ReplyToken, SendReceipt};
pub use retry::{
    Delivered, GiveUpReason, RetryPolicy, SendFailure, backoff_delay, send_with_retry,
};
pub use retry_after::{parse_retry_after, parse_unix_reset};
pub use router::Router;
pub use secret::Secret;
pub use telegram::TelegramConnector;
pub use webhook::WebhookConnector;
pub use whatsapp::WhatsAppConnector;
pub use x::XConnector;

/// The HTTP client every connector is built on: timeouts from `options`, no redirects.
/// Share one across connectors so they share a connection pool.
pub fn build_http_client(options: &HttpOptions) -> Result<reqwest::Client, ConfigError> {
    http::build_client(options).map_err(|err| ConfigError::HttpClient(err.to_string()))
}

/// Delivers one reply to one platform, once.
///
/// Implementations never retry or sleep: they report what happened and leave the
/// decision to [`send_with_retry`], so that the retry rules live in one place.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// A short, stable name for logs, metrics and the recorded outcome.
    fn name(&self) -> &'static str;

    /// Makes one delivery attempt.
    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError>;

    /// True when the receiving end deduplicates by [`OutboundReply::idempotency_key`],
    /// which makes it safe to retry an attempt whose outcome is unknown (a timeout after
    /// the request went out). Platforms without such a key would post a second reply.
    fn deduplicates_by_idempotency_key(&self, _reply: &OutboundReply) -> bool {
        false
    }
}
