//! What the binary fills in (from flags, files and `FIREBREAK_*` variables) to build the
//! connectors. Plain data: reading the environment is the binary's job.

use std::time::Duration;

use reqwest::Url;

use crate::Secret;

/// Every outbound connector's settings. A platform left `None` is not contacted; its
/// replies go to the outbound webhook if one is set, else to the dry-run connector.
#[derive(Clone, Debug)]
pub struct ConnectorsConfig {
    pub http: HttpOptions,
    pub telegram: Option<TelegramConfig>,
    /// Messenger, Instagram and Facebook Page comments, all through the Graph API.
    pub meta: Option<MetaConfig>,
    pub whatsapp: Option<WhatsAppConfig>,
    pub x: Option<XConfig>,
    pub line: Option<LineConfig>,
    /// `--outbound-webhook-url`: the catch-all for channels without a platform connector.
    pub outbound_webhook: Option<WebhookConfig>,
    /// How many recent replies the dry-run connector keeps for inspection.
    pub dry_run_capacity: usize,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        ConnectorsConfig {
            http: HttpOptions::default(),
            telegram: None,
            meta: None,
            whatsapp: None,
            x: None,
            line: None,
            outbound_webhook: None,
            dry_run_capacity: 10_000,
        }
    }
}

/// Timeouts keep a slow platform from holding a reply worker: the retry loop, not the
/// socket, decides how long a reply may take.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            user_agent: concat!("firebreak/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Telegram Bot API: `POST {base_url}/bot{token}/sendMessage`.
#[derive(Clone, Debug)]
pub struct TelegramConfig {
    pub base_url: String,
    pub bot_token: Secret,
}

impl TelegramConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.telegram.org";

    pub fn new(bot_token: Secret) -> Self {
        TelegramConfig {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            bot_token,
        }
    }
}

/// The Graph API version used when none is configured. Meta keeps a version working for
/// about two years; pin it in config to upgrade deliberately.
pub const DEFAULT_GRAPH_API_VERSION: &str = "v25.0";
const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com";

/// Meta Graph API for Messenger, Instagram messaging and comment replies.
#[derive(Clone, Debug)]
pub struct MetaConfig {
    pub base_url: String,
    pub api_version: String,
    /// Sends go to `/{page_id}/messages`; `None` uses `/me/messages`, which the Page
    /// access token resolves to the same Page.
    pub page_id: Option<String>,
    pub page_access_token: Secret,
}

impl MetaConfig {
    pub fn new(page_access_token: Secret) -> Self {
        MetaConfig {
            base_url: DEFAULT_GRAPH_BASE_URL.to_owned(),
            api_version: DEFAULT_GRAPH_API_VERSION.to_owned(),
            page_id: None,
            page_access_token,
        }
    }
}

/// WhatsApp Cloud API: `POST {base_url}/{api_version}/{phone_number_id}/messages`.
#[derive(Clone, Debug)]
pub struct WhatsAppConfig {
    pub base_url: String,
    pub api_version: String,
    pub phone_number_id: String,
    pub access_token: Secret,
}

impl WhatsAppConfig {
    pub fn new(phone_number_id: impl Into<String>, access_token: Secret) -> Self {
        WhatsAppConfig {
            base_url: DEFAULT_GRAPH_BASE_URL.to_owned(),
            api_version: DEFAULT_GRAPH_API_VERSION.to_owned(),
            phone_number_id: phone_number_id.into(),
            access_token,
        }
    }
}

/// X API v2, with a user-context OAuth 2.0 bearer token of the brand's account.
#[derive(Clone, Debug)]
pub struct XConfig {
    pub base_url: String,
    pub bearer_token: Secret,
}

impl XConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.x.com";

    pub fn new(bearer_token: Secret) -> Self {
        XConfig {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            bearer_token,
        }
    }
}

/// LINE Messaging API, with a channel access token.
#[derive(Clone, Debug)]
pub struct LineConfig {
    pub base_url: String,
    pub channel_token: Secret,
}

impl LineConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.line.me";

    pub fn new(channel_token: Secret) -> Self {
        LineConfig {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            channel_token,
        }
    }
}

/// A generic receiver of replies as JSON.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer_token: Option<Secret>,
}

/// A setting that cannot work; the binary reports it and exits with code 64.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{field}: not an absolute http(s) URL")]
    InvalidUrl { field: &'static str },
    #[error("{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("building the HTTP client failed: {0}")]
    HttpClient(String),
}

/// Parses a base URL, refusing anything a path cannot be appended to.
pub(crate) fn parse_base_url(value: &str, field: &'static str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|_| ConfigError::InvalidUrl { field })?;
    let usable = matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base();
    if !usable {
        return Err(ConfigError::InvalidUrl { field });
    }
    Ok(url)
}

pub(crate) fn require(value: &str, field: &'static str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::Empty { field })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_full_config_reveals_no_token() {
        let config = ConnectorsConfig {
            telegram: Some(TelegramConfig::new("tg-secret-1".into())),
            meta: Some(MetaConfig::new("meta-secret-2".into())),
            whatsapp: Some(WhatsAppConfig::new("1555", "wa-secret-3".into())),
            x: Some(XConfig::new("x-secret-4".into())),
            line: Some(LineConfig::new("line-secret-6".into())),
            outbound_webhook: Some(WebhookConfig {
                url: "https://hooks.example/replies".into(),
                bearer_token: Some("hook-secret-5".into()),
            }),
            ..ConnectorsConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn base_urls_must_be_absolute_http() {
        assert!(parse_base_url("http://127.0.0.1:9000/prefix", "f").is_ok());
        for bad in [
            "",
            "127.0.0.1:9000",
            "mailto:a@b",
            "ftp://x",
            "data:text/plain,x",
        ] {
            assert_eq!(
                parse_base_url(bad, "f"),
                Err(ConfigError::InvalidUrl { field: "f" }),
                "{bad:?}"
            );
        }
    }
}
