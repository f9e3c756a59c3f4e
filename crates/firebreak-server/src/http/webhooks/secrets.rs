//! The secrets the webhook routes check deliveries against. Loaded once at start-up from
//! `FIREBREAK_*` variables or their `*_FILE` twins; `Debug` prints `***` for each.

use firebreak_webhooks::{Secret, SecretError, load_secret};

pub const META_APP_SECRET: &str = "FIREBREAK_META_APP_SECRET";
pub const META_VERIFY_TOKEN: &str = "FIREBREAK_META_VERIFY_TOKEN";
pub const TELEGRAM_SECRET_TOKEN: &str = "FIREBREAK_TELEGRAM_SECRET_TOKEN";
pub const X_CONSUMER_SECRET: &str = "FIREBREAK_X_CONSUMER_SECRET";
/// Keys LINE's `x-line-signature` on `/webhooks/line`.
pub const LINE_CHANNEL_SECRET: &str = "FIREBREAK_LINE_CHANNEL_SECRET";
/// Not a secret: the brand's own X account id, so its own tweets and DMs are skipped.
pub const X_BRAND_USER_ID: &str = "FIREBREAK_X_BRAND_USER_ID";

/// Each `None` leaves that platform's route answering 404.
#[derive(Clone, Debug, Default)]
pub struct WebhookSecrets {
    /// Keys Meta's `X-Hub-Signature-256` (Messenger, Instagram, WhatsApp, Pages).
    pub meta_app_secret: Option<Secret>,
    /// Answers Meta's `hub.verify_token` handshake.
    pub meta_verify_token: Option<Secret>,
    /// Compared with `X-Telegram-Bot-Api-Secret-Token`.
    pub telegram_secret_token: Option<Secret>,
    /// Keys X's CRC answer and `x-twitter-webhooks-signature`.
    pub x_consumer_secret: Option<Secret>,
    pub x_brand_user_id: Option<String>,
    /// Keys LINE's `x-line-signature` (the channel secret).
    pub line_channel_secret: Option<Secret>,
}

impl WebhookSecrets {
    /// Loads every secret through `lookup` (the environment in production, a map in
    /// tests), each from `NAME` or the file named by `NAME_FILE`.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
        Ok(WebhookSecrets {
            meta_app_secret: load_secret(META_APP_SECRET, &lookup)?,
            meta_verify_token: load_secret(META_VERIFY_TOKEN, &lookup)?,
            telegram_secret_token: load_secret(TELEGRAM_SECRET_TOKEN, &lookup)?,
            x_consumer_secret: load_secret(X_CONSUMER_SECRET, &lookup)?,
            x_brand_user_id: lookup(X_BRAND_USER_ID).filter(|v| !v.trim().is_empty()),
            line_channel_secret: load_secret(LINE_CHANNEL_SECRET, &lookup)?,
        })
    }

    /// The platforms whose routes are live, for the start-up log line.
    pub fn configured(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.meta_app_secret.is_some() || self.meta_verify_token.is_some() {
            out.push("meta");
        }
        if self.telegram_secret_token.is_some() {
            out.push("telegram");
        }
        if self.x_consumer_secret.is_some() {
            out.push("x");
        }
        if self.line_channel_secret.is_some() {
            out.push("line");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn debug_never_shows_a_secret() {
        let env: HashMap<&str, &str> = [
            (META_APP_SECRET, "meta-app-secret-value"),
            (TELEGRAM_SECRET_TOKEN, "tg-token-value"),
            (LINE_CHANNEL_SECRET, "line-channel-secret-value"),
        ]
        .into();
        let secrets = WebhookSecrets::load(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let printed = format!("{secrets:?}");
        assert!(!printed.contains("meta-app-secret-value"), "{printed}");
        assert!(!printed.contains("tg-token-value"), "{printed}");
        assert!(!printed.contains("line-channel-secret-value"), "{printed}");
        assert_eq!(secrets.configured(), ["meta", "telegram", "line"]);
    }

    #[test]
    fn a_secret_set_twice_is_refused() {
        let env: HashMap<String, String> = [
            (X_CONSUMER_SECRET.to_string(), "a".to_string()),
            (format!("{X_CONSUMER_SECRET}_FILE"), "/run/x".to_string()),
        ]
        .into();
        assert!(matches!(
            WebhookSecrets::load(|k| env.get(k).cloned()),
            Err(SecretError::Ambiguous { .. })
        ));
    }
}
