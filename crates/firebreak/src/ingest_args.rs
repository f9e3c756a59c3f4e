//! `firebreak run` options for the ingest edge: the platform webhook secrets and the
//! per-source request limit.
//!
//! Secrets are best given as `FIREBREAK_*` variables or, on Kubernetes, as `*_FILE`
//! paths to mounted secrets; the flags exist for local runs and tests. Values are held
//! as [`Secret`]s from the moment they are parsed, so printing the config shows `***`.

use std::path::PathBuf;

use clap::Args;
use firebreak_server::http::webhooks::{
    LINE_CHANNEL_SECRET, META_APP_SECRET, META_VERIFY_TOKEN, TELEGRAM_SECRET_TOKEN, WebhookSecrets,
    X_BRAND_USER_ID, X_CONSUMER_SECRET,
};
use firebreak_server::ratelimit::{
    DEFAULT_CLASSIFY_RATE_PER_TOKEN, DEFAULT_RATE_PER_SOURCE, IngestLimiter,
};
use firebreak_webhooks::{Secret, SecretError};

fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

#[derive(Clone, Debug, Args)]
pub struct IngestArgs {
    /// Meta app secret: keys X-Hub-Signature-256 on /webhooks/meta.
    #[arg(long, env = META_APP_SECRET, hide_env_values = true, value_parser = secret)]
    pub meta_app_secret: Option<Secret>,
    /// File holding the Meta app secret.
    #[arg(long, env = "FIREBREAK_META_APP_SECRET_FILE")]
    pub meta_app_secret_file: Option<PathBuf>,

    /// Token Meta presents as hub.verify_token when subscribing /webhooks/meta.
    #[arg(long, env = META_VERIFY_TOKEN, hide_env_values = true, value_parser = secret)]
    pub meta_verify_token: Option<Secret>,
    /// File holding the Meta verify token.
    #[arg(long, env = "FIREBREAK_META_VERIFY_TOKEN_FILE")]
    pub meta_verify_token_file: Option<PathBuf>,

    /// Secret token given to Telegram's setWebhook, checked on /webhooks/telegram.
    #[arg(long, env = TELEGRAM_SECRET_TOKEN, hide_env_values = true, value_parser = secret)]
    pub telegram_secret_token: Option<Secret>,
    /// File holding the Telegram secret token.
    #[arg(long, env = "FIREBREAK_TELEGRAM_SECRET_TOKEN_FILE")]
    pub telegram_secret_token_file: Option<PathBuf>,

    /// X consumer secret: keys the CRC answer and x-twitter-webhooks-signature.
    #[arg(long, env = X_CONSUMER_SECRET, hide_env_values = true, value_parser = secret)]
    pub x_consumer_secret: Option<Secret>,
    /// File holding the X consumer secret.
    #[arg(long, env = "FIREBREAK_X_CONSUMER_SECRET_FILE")]
    pub x_consumer_secret_file: Option<PathBuf>,

    /// LINE channel secret: keys x-line-signature on /webhooks/line.
    #[arg(long, env = LINE_CHANNEL_SECRET, hide_env_values = true, value_parser = secret)]
    pub line_channel_secret: Option<Secret>,
    /// File holding the LINE channel secret.
    #[arg(long, env = "FIREBREAK_LINE_CHANNEL_SECRET_FILE")]
    pub line_channel_secret_file: Option<PathBuf>,

    /// The brand's own X user id, whose tweets and DMs are skipped. Unset: the
    /// delivery's for_user_id.
    #[arg(long, env = X_BRAND_USER_ID)]
    pub x_brand_user_id: Option<String>,

    /// Requests per second per platform (verified webhook deliveries) and per token
    /// (every HTTP and gRPC call with a bearer token), counted after authentication;
    /// over it, 429 / RESOURCE_EXHAUSTED with Retry-After. 0 turns the limits off.
    #[arg(long, env = "FIREBREAK_INGEST_RATE_PER_SOURCE", default_value_t = DEFAULT_RATE_PER_SOURCE)]
    pub ingest_rate_per_source: u32,

    /// Classifications per second per token (POST /v1/classify, gRPC Classifier), on top
    /// of the token's general rate. 0 leaves only the general rate.
    #[arg(long, env = "FIREBREAK_CLASSIFY_RATE_PER_TOKEN", default_value_t = DEFAULT_CLASSIFY_RATE_PER_TOKEN)]
    pub classify_rate_per_token: u32,

    /// Key X's CRC challenge limit (the one limit before authentication) on the first
    /// X-Forwarded-For hop instead of the TCP peer. Only behind a proxy that overwrites
    /// the header, or callers pick their own key.
    #[arg(long, env = "FIREBREAK_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
}

impl IngestArgs {
    /// Loads the secrets, reading `*_FILE`s; setting both forms of one is an error.
    pub fn webhook_secrets(&self) -> Result<WebhookSecrets, SecretError> {
        let file = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let value = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_string());
        let lookup = |name: &str| -> Option<String> {
            match name.strip_suffix("_FILE") {
                Some(META_APP_SECRET) => file(&self.meta_app_secret_file),
                Some(META_VERIFY_TOKEN) => file(&self.meta_verify_token_file),
                Some(TELEGRAM_SECRET_TOKEN) => file(&self.telegram_secret_token_file),
                Some(X_CONSUMER_SECRET) => file(&self.x_consumer_secret_file),
                Some(LINE_CHANNEL_SECRET) => file(&self.line_channel_secret_file),
                Some(_) => None,
                None => match name {
                    META_APP_SECRET => value(&self.meta_app_secret),
                    META_VERIFY_TOKEN => value(&self.meta_verify_token),
                    TELEGRAM_SECRET_TOKEN => value(&self.telegram_secret_token),
                    X_CONSUMER_SECRET => value(&self.x_consumer_secret),
                    LINE_CHANNEL_SECRET => value(&self.line_channel_secret),
                    X_BRAND_USER_ID => self.x_brand_user_id.clone(),
                    _ => None,
                },
            }
        };
        WebhookSecrets::load(lookup)
    }

    pub fn limiter(&self) -> IngestLimiter {
        IngestLimiter::with_classify(
            self.ingest_rate_per_source,
            self.classify_rate_per_token,
            self.trust_forwarded_for,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RunConfig;

    #[test]
    fn secrets_come_from_flags_or_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tg");
        std::fs::write(&path, "tg-secret-from-file\n").unwrap();
        let config = RunConfig::from_args([
            "--meta-app-secret",
            "meta-secret-value",
            "--telegram-secret-token-file",
            path.to_str().unwrap(),
        ])
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("meta-secret-value"), "{printed}");
        let secrets = config.ingest.webhook_secrets().unwrap();
        assert_eq!(
            secrets.telegram_secret_token.unwrap().expose(),
            "tg-secret-from-file"
        );
        assert_eq!(
            secrets.meta_app_secret.unwrap().expose(),
            "meta-secret-value"
        );
        assert!(secrets.x_consumer_secret.is_none());
        assert!(secrets.line_channel_secret.is_none());
    }

    #[test]
    fn the_line_channel_secret_comes_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("line");
        std::fs::write(&path, "line-secret-from-file\n").unwrap();
        let config =
            RunConfig::from_args(["--line-channel-secret-file", path.to_str().unwrap()]).unwrap();
        let secrets = config.ingest.webhook_secrets().unwrap();
        assert_eq!(
            secrets.line_channel_secret.as_ref().unwrap().expose(),
            "line-secret-from-file"
        );
        assert_eq!(secrets.configured(), ["line"]);
    }

    #[test]
    fn one_secret_given_twice_is_a_config_error() {
        let config = RunConfig::from_args([
            "--x-consumer-secret",
            "a",
            "--x-consumer-secret-file",
            "/run/secrets/x",
        ])
        .unwrap();
        assert!(config.ingest.webhook_secrets().is_err());
    }
}
