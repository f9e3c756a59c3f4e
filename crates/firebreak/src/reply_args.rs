//! `firebreak run` options for the reply role: the outbound connectors (base URLs and
//! tokens, tokens also as `*_FILE` paths to mounted secrets), the brand's own accounts
//! and the reply consumer's ack wait.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use firebreak_connectors::{
    ConnectorsConfig, LineConfig, MetaConfig, Secret, TelegramConfig, WebhookConfig,
    WhatsAppConfig, XConfig,
};
use firebreak_reply::ReplyConfig;

fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

#[derive(Clone, Debug, Args)]
pub struct ReplyArgs {
    /// Telegram bot token for sendMessage.
    #[arg(long, env = "FIREBREAK_TELEGRAM_BOT_TOKEN", hide_env_values = true, value_parser = secret)]
    pub telegram_bot_token: Option<Secret>,
    /// File holding the Telegram bot token (a mounted secret).
    #[arg(long, env = "FIREBREAK_TELEGRAM_BOT_TOKEN_FILE")]
    pub telegram_bot_token_file: Option<PathBuf>,
    /// Telegram Bot API base URL (a local fake platform in tests).
    #[arg(long, env = "FIREBREAK_TELEGRAM_API_URL", default_value = TelegramConfig::DEFAULT_BASE_URL)]
    pub telegram_api_url: String,

    /// Meta Page access token (Messenger, Instagram, Page comments).
    #[arg(long, env = "FIREBREAK_META_PAGE_TOKEN", hide_env_values = true, value_parser = secret)]
    pub meta_page_token: Option<Secret>,
    /// File holding the Meta Page access token.
    #[arg(long, env = "FIREBREAK_META_PAGE_TOKEN_FILE")]
    pub meta_page_token_file: Option<PathBuf>,
    /// Meta Graph API base URL, shared by Messenger, Instagram and WhatsApp.
    #[arg(long, env = "FIREBREAK_META_API_URL")]
    pub meta_api_url: Option<String>,

    /// WhatsApp Cloud API access token.
    #[arg(long, env = "FIREBREAK_WHATSAPP_TOKEN", hide_env_values = true, value_parser = secret)]
    pub whatsapp_token: Option<Secret>,
    /// File holding the WhatsApp Cloud API access token.
    #[arg(long, env = "FIREBREAK_WHATSAPP_TOKEN_FILE")]
    pub whatsapp_token_file: Option<PathBuf>,
    /// The WhatsApp business phone number id replies are sent from.
    #[arg(long, env = "FIREBREAK_WHATSAPP_PHONE_NUMBER_ID")]
    pub whatsapp_phone_number_id: Option<String>,

    /// X user-context bearer token (reply tweets and DMs).
    #[arg(long, env = "FIREBREAK_X_BEARER_TOKEN", hide_env_values = true, value_parser = secret)]
    pub x_bearer_token: Option<Secret>,
    /// File holding the X bearer token.
    #[arg(long, env = "FIREBREAK_X_BEARER_TOKEN_FILE")]
    pub x_bearer_token_file: Option<PathBuf>,
    /// X API base URL (a local fake platform in tests).
    #[arg(long, env = "FIREBREAK_X_API_URL", default_value = XConfig::DEFAULT_BASE_URL)]
    pub x_api_url: String,

    /// LINE channel access token (reply and push messages).
    #[arg(long, env = "FIREBREAK_LINE_CHANNEL_TOKEN", hide_env_values = true, value_parser = secret)]
    pub line_channel_token: Option<Secret>,
    /// File holding the LINE channel access token.
    #[arg(long, env = "FIREBREAK_LINE_CHANNEL_TOKEN_FILE")]
    pub line_channel_token_file: Option<PathBuf>,
    /// LINE Messaging API base URL (a local fake platform in tests).
    #[arg(long, env = "FIREBREAK_LINE_API_URL", default_value = LineConfig::DEFAULT_BASE_URL)]
    pub line_api_url: String,

    /// Bearer token sent to --outbound-webhook-url.
    #[arg(long, env = "FIREBREAK_OUTBOUND_WEBHOOK_TOKEN", hide_env_values = true, value_parser = secret)]
    pub outbound_webhook_token: Option<Secret>,
    /// File holding the bearer token sent to --outbound-webhook-url.
    #[arg(long, env = "FIREBREAK_OUTBOUND_WEBHOOK_TOKEN_FILE")]
    pub outbound_webhook_token_file: Option<PathBuf>,

    /// The brand's own accounts, never answered automatically: `channel:id` or a bare
    /// id, comma-separated.
    #[arg(long, env = "FIREBREAK_BRAND_ACCOUNTS", value_delimiter = ',')]
    pub brand_accounts: Vec<String>,

    /// Seconds a reply delivery may stay unacknowledged before another worker takes
    /// it over (and reconciles a send that may have happened).
    #[arg(long, env = "FIREBREAK_REPLY_ACK_WAIT_SECS", default_value_t = 30)]
    pub reply_ack_wait_secs: u64,
}

/// One secret from its value or its file; both at once is a mistake worth stopping for.
fn load(
    name: &str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, String> {
    match (value, file) {
        (Some(_), Some(_)) => Err(format!("{name}: give the value or the file, not both")),
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(Secret::new(text.trim())))
            .map_err(|e| format!("{name}_FILE {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
}

impl ReplyArgs {
    pub fn connectors(
        &self,
        outbound_webhook_url: Option<&str>,
    ) -> Result<ConnectorsConfig, String> {
        let telegram = load(
            "FIREBREAK_TELEGRAM_BOT_TOKEN",
            &self.telegram_bot_token,
            &self.telegram_bot_token_file,
        )?
        .map(|token| TelegramConfig {
            base_url: self.telegram_api_url.clone(),
            ..TelegramConfig::new(token)
        });
        let meta = load(
            "FIREBREAK_META_PAGE_TOKEN",
            &self.meta_page_token,
            &self.meta_page_token_file,
        )?
        .map(|token| {
            let mut config = MetaConfig::new(token);
            if let Some(url) = &self.meta_api_url {
                config.base_url.clone_from(url);
            }
            config
        });
        let whatsapp = match load(
            "FIREBREAK_WHATSAPP_TOKEN",
            &self.whatsapp_token,
            &self.whatsapp_token_file,
        )? {
            Some(token) => {
                let phone = self.whatsapp_phone_number_id.clone().ok_or(
                    "FIREBREAK_WHATSAPP_PHONE_NUMBER_ID is required with a WhatsApp token",
                )?;
                let mut config = WhatsAppConfig::new(phone, token);
                if let Some(url) = &self.meta_api_url {
                    config.base_url.clone_from(url);
                }
                Some(config)
            }
            None => None,
        };
        let x = load(
            "FIREBREAK_X_BEARER_TOKEN",
            &self.x_bearer_token,
            &self.x_bearer_token_file,
        )?
        .map(|token| XConfig {
            base_url: self.x_api_url.clone(),
            ..XConfig::new(token)
        });
        let line = load(
            "FIREBREAK_LINE_CHANNEL_TOKEN",
            &self.line_channel_token,
            &self.line_channel_token_file,
        )?
        .map(|token| LineConfig {
            base_url: self.line_api_url.clone(),
            ..LineConfig::new(token)
        });
        let webhook_token = load(
            "FIREBREAK_OUTBOUND_WEBHOOK_TOKEN",
            &self.outbound_webhook_token,
            &self.outbound_webhook_token_file,
        )?;
        Ok(ConnectorsConfig {
            telegram,
            meta,
            whatsapp,
            x,
            line,
            outbound_webhook: outbound_webhook_url.map(|url| WebhookConfig {
                url: url.to_string(),
                bearer_token: webhook_token,
            }),
            ..ConnectorsConfig::default()
        })
    }

    pub fn reply_config(&self) -> ReplyConfig {
        let brand: HashSet<String> = self
            .brand_accounts
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        ReplyConfig::new(
            brand,
            Duration::from_secs(self.reply_ack_wait_secs.clamp(2, 600)),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RunConfig;

    #[test]
    fn connector_tokens_come_from_flags_or_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tg");
        std::fs::write(&path, "123:tg-token-from-file\n").unwrap();
        let config = RunConfig::from_args([
            "--telegram-bot-token-file",
            path.to_str().unwrap(),
            "--telegram-api-url",
            "http://127.0.0.1:9/",
            "--x-bearer-token",
            "x-token-value",
        ])
        .unwrap();
        let connectors = config.reply.connectors(None).unwrap();
        let telegram = connectors.telegram.unwrap();
        assert_eq!(telegram.bot_token.expose(), "123:tg-token-from-file");
        assert_eq!(telegram.base_url, "http://127.0.0.1:9/");
        assert!(!format!("{config:?}").contains("x-token-value"));
    }

    #[test]
    fn the_line_token_and_api_url_configure_the_line_connector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("line");
        std::fs::write(&path, "line-token-from-file\n").unwrap();
        let config = RunConfig::from_args([
            "--line-channel-token-file",
            path.to_str().unwrap(),
            "--line-api-url",
            "http://127.0.0.1:9/",
        ])
        .unwrap();
        let line = config.reply.connectors(None).unwrap().line.unwrap();
        assert_eq!(line.channel_token.expose(), "line-token-from-file");
        assert_eq!(line.base_url, "http://127.0.0.1:9/");
        let unset = RunConfig::from_args(["--roles", "all"]).unwrap();
        assert!(unset.reply.connectors(None).unwrap().line.is_none());
    }

    #[test]
    fn a_token_given_twice_is_refused() {
        let config = RunConfig::from_args([
            "--x-bearer-token",
            "a",
            "--x-bearer-token-file",
            "/etc/hostname",
        ])
        .unwrap();
        assert!(config.reply.connectors(None).is_err());
    }
}
