//! One connector in front of all the others: picks the platform connector for a reply's
//! channel, and falls back to the webhook, then to dry-run.

use std::collections::HashMap;
use std::sync::Arc;

use firebreak_core::Channel;

use crate::{
    ConfigError, Connector, ConnectorsConfig, DryRunConnector, LineConnector, MetaConnector,
    OutboundReply, SendError, SendReceipt, TelegramConnector, WebhookConnector, WhatsAppConnector,
    XConnector,
};

pub struct Router {
    routes: HashMap<Channel, Arc<dyn Connector>>,
    fallback: Arc<dyn Connector>,
    /// Kept apart so the API and tests can read what dry-run recorded.
    dry_run: Option<Arc<DryRunConnector>>,
}

impl Router {
    /// A router that sends every channel to `fallback` until routes are added.
    pub fn new(fallback: Arc<dyn Connector>) -> Self {
        Router {
            routes: HashMap::new(),
            fallback,
            dry_run: None,
        }
    }

    /// Sends `channel` to `connector`, replacing any earlier route for it.
    pub fn with_route(mut self, channel: Channel, connector: Arc<dyn Connector>) -> Self {
        self.routes.insert(channel, connector);
        self
    }

    /// Builds every configured connector on one shared HTTP client (one connection pool
    /// and one set of timeouts for all platforms).
    pub fn from_config(config: &ConnectorsConfig) -> Result<Self, ConfigError> {
        let client = crate::build_http_client(&config.http)?;

        let mut dry_run = None;
        let fallback: Arc<dyn Connector> = match &config.outbound_webhook {
            Some(webhook) => Arc::new(WebhookConnector::new(client.clone(), webhook)?),
            None => {
                let recorder = Arc::new(DryRunConnector::new(config.dry_run_capacity));
                dry_run = Some(Arc::clone(&recorder));
                recorder
            }
        };
        let mut router = Router::new(fallback);
        router.dry_run = dry_run;

        if let Some(telegram) = &config.telegram {
            let connector = Arc::new(TelegramConnector::new(client.clone(), telegram)?);
            router = router.with_route(Channel::Telegram, connector);
        }
        if let Some(meta) = &config.meta {
            let connector: Arc<dyn Connector> = Arc::new(MetaConnector::new(client.clone(), meta)?);
            for channel in [Channel::Messenger, Channel::Instagram, Channel::Facebook] {
                router = router.with_route(channel, Arc::clone(&connector));
            }
        }
        if let Some(whatsapp) = &config.whatsapp {
            let connector = Arc::new(WhatsAppConnector::new(client.clone(), whatsapp)?);
            router = router.with_route(Channel::Whatsapp, connector);
        }
        if let Some(line) = &config.line {
            let connector = Arc::new(LineConnector::new(client.clone(), line)?);
            router = router.with_route(Channel::Line, connector);
        }
        if let Some(x) = &config.x {
            router = router.with_route(Channel::X, Arc::new(XConnector::new(client, x)?));
        }
        Ok(router)
    }

    /// The connector that a reply on `channel` goes through.
    pub fn connector_for(&self, channel: Channel) -> &Arc<dyn Connector> {
        self.routes.get(&channel).unwrap_or(&self.fallback)
    }

    /// The dry-run recorder, when dry-run is the fallback.
    pub fn dry_run(&self) -> Option<&Arc<DryRunConnector>> {
        self.dry_run.as_ref()
    }
}

#[async_trait::async_trait]
impl Connector for Router {
    fn name(&self) -> &'static str {
        "router"
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        self.connector_for(reply.channel).send(reply).await
    }

    fn deduplicates_by_idempotency_key(&self, reply: &OutboundReply) -> bool {
        self.connector_for(reply.channel)
            .deduplicates_by_idempotency_key(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, TelegramConfig, WebhookConfig};

    #[test]
    fn unconfigured_platforms_fall_back_to_dry_run() {
        let router = Router::from_config(&ConnectorsConfig::default()).unwrap();
        for channel in Channel::ALL {
            assert_eq!(router.connector_for(channel).name(), "dry_run");
        }
        assert!(router.dry_run().is_some());
    }

    #[test]
    fn configured_platforms_get_their_connector_and_the_rest_the_webhook() {
        let config = ConnectorsConfig {
            telegram: Some(TelegramConfig::new(Secret::new("123:abc"))),
            outbound_webhook: Some(WebhookConfig {
                url: "http://127.0.0.1:9/hook".into(),
                bearer_token: None,
            }),
            ..ConnectorsConfig::default()
        };
        let router = Router::from_config(&config).unwrap();
        assert_eq!(router.connector_for(Channel::Telegram).name(), "telegram");
        assert_eq!(router.connector_for(Channel::Email).name(), "webhook");
        assert_eq!(router.connector_for(Channel::Whatsapp).name(), "webhook");
        assert!(router.dry_run().is_none());
    }

    #[test]
    fn an_empty_token_is_a_config_error() {
        let config = ConnectorsConfig {
            telegram: Some(TelegramConfig::new(Secret::default())),
            ..ConnectorsConfig::default()
        };
        assert!(matches!(
            Router::from_config(&config),
            Err(ConfigError::Empty {
                field: "telegram.bot_token"
            })
        ));
    }
}
