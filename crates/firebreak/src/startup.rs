//! What start-up tells the operator about the adapters and connectors in use, so
//! nobody mistakes a demo for production: the embedded bus and store keep nothing
//! across a restart, and the dry-run connector sends nothing.

use firebreak_connectors::ConnectorsConfig;
use tracing::{info, warn};

use crate::config::RunConfig;

/// One line per choice, as `(is_a_warning, message)`, so a test can read them.
pub fn describe(config: &RunConfig, connectors: &ConnectorsConfig) -> Vec<(bool, String)> {
    let mut lines = Vec::new();
    lines.push(match &config.nats_url {
        Some(_) => (
            false,
            format!(
                "bus: nats jetstream (durable: file-backed streams, {} replica(s); accepted messages survive a restart)",
                config.nats_replicas
            ),
        ),
        None => (
            true,
            "bus: embedded in-process (not durable: queued messages, crisis mode and the audit are lost on restart; one process only)"
                .to_string(),
        ),
    });
    lines.push(match &config.redis_url {
        Some(_) => (
            false,
            "store: redis (dedup, thread memory, budgets and cases persist as redis is configured)"
                .to_string(),
        ),
        None => (
            true,
            "store: embedded in-memory (not durable: dedup keys, budgets and moderation cases are lost on restart)"
                .to_string(),
        ),
    });
    let mut real = Vec::new();
    for (name, on) in [
        ("telegram", connectors.telegram.is_some()),
        (
            "meta (messenger, instagram, facebook)",
            connectors.meta.is_some(),
        ),
        ("whatsapp", connectors.whatsapp.is_some()),
        ("x", connectors.x.is_some()),
        ("line", connectors.line.is_some()),
        ("outbound webhook", connectors.outbound_webhook.is_some()),
    ] {
        if on {
            real.push(name);
        }
    }
    lines.push(if real.is_empty() {
        (
            true,
            "connectors: dry run for every channel (replies are recorded, not sent to any platform)"
                .to_string(),
        )
    } else {
        (
            false,
            format!(
                "connectors: real for {}; other channels {}",
                real.join(", "),
                if connectors.outbound_webhook.is_some() {
                    "go to the outbound webhook"
                } else {
                    "use the dry run (recorded, not sent)"
                }
            ),
        )
    });
    lines.push(match &config.notify_webhook_url {
        Some(_) => (false, "notifier: chat webhook (surge alerts and SLA breaches)".to_string()),
        None => (
            true,
            "notifier: none (surge alerts and SLA breaches are only logged and audited; set FIREBREAK_NOTIFY_WEBHOOK_URL)"
                .to_string(),
        ),
    });
    lines.push(match &config.playbook {
        Some(_) => (false, "playbook: from --playbook".to_string()),
        None => (
            true,
            "playbook: built-in demo playbook (example.com links; give the brand's with --playbook or upload one)"
                .to_string(),
        ),
    });
    lines
}

/// Logs [`describe`]: warnings for what is not production-ready.
pub fn log(config: &RunConfig, connectors: &ConnectorsConfig) {
    for (warning, line) in describe(config, connectors) {
        if warning {
            warn!("{line}");
        } else {
            info!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedded_dry_run_says_so() {
        let config = RunConfig::from_args(["--roles", "all"]).unwrap();
        let connectors = config.reply.connectors(None).unwrap();
        let text: Vec<String> = describe(&config, &connectors)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let text = text.join("\n");
        assert!(text.contains("embedded in-process (not durable"), "{text}");
        assert!(text.contains("embedded in-memory (not durable"), "{text}");
        assert!(text.contains("dry run for every channel"), "{text}");
    }

    #[test]
    fn real_adapters_and_connectors_are_named() {
        let config = RunConfig::from_args([
            "--nats-url",
            "nats://nats:4222",
            "--redis-url",
            "redis://redis:6379",
            "--telegram-bot-token",
            "123:secret-token-value",
        ])
        .unwrap();
        let connectors = config.reply.connectors(None).unwrap();
        let lines = describe(&config, &connectors);
        let text: String = lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("nats jetstream (durable"), "{text}");
        assert!(text.contains("real for telegram"), "{text}");
        assert!(!text.contains("secret-token-value"));
    }
}
