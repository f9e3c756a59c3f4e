//! The router sends each channel to its platform and everything else to the fallback;
//! dry-run records what would have gone out.

mod common;

use std::sync::Arc;

use common::{Answer, FakePlatform, reply};
use firebreak_connectors::{
    Connector, ConnectorsConfig, DryRunConnector, Router, Secret, TelegramConfig,
};
use firebreak_core::{Channel, Visibility};
use serde_json::json;

#[tokio::test]
async fn dry_run_records_every_reply_it_is_given() {
    let dry_run = DryRunConnector::default();
    let first = reply(Channel::Whatsapp, Visibility::Private);
    let mut second = reply(Channel::X, Visibility::Public);
    second.message_id = "second".into();

    let receipt = dry_run.send(&first).await.unwrap();
    dry_run.send(&second).await.unwrap();

    assert_eq!(receipt.connector, "dry_run");
    assert_eq!(dry_run.sent(), vec![first, second]);
    assert_eq!(dry_run.total_sent(), 2);
}

#[tokio::test]
async fn dry_run_keeps_only_the_most_recent_replies() {
    let dry_run = DryRunConnector::new(3);
    for n in 0..5 {
        let mut message = reply(Channel::Web, Visibility::Private);
        message.message_id = format!("m{n}");
        dry_run.send(&message).await.unwrap();
    }

    let kept: Vec<String> = dry_run.sent().into_iter().map(|r| r.message_id).collect();
    assert_eq!(kept, ["m2", "m3", "m4"]);
    assert_eq!(dry_run.total_sent(), 5);
}

#[tokio::test]
async fn the_router_sends_configured_channels_to_their_platform_and_the_rest_to_dry_run() {
    let platform = FakePlatform::start(Answer::json(
        200,
        json!({"ok": true, "result": {"message_id": 1}}),
    ))
    .await;
    let config = ConnectorsConfig {
        telegram: Some(TelegramConfig {
            base_url: platform.base_url.clone(),
            bot_token: Secret::new("1:t"),
        }),
        ..ConnectorsConfig::default()
    };
    let router = Router::from_config(&config).unwrap();

    let to_telegram = router
        .send(&reply(Channel::Telegram, Visibility::Private))
        .await
        .unwrap();
    let to_messenger = router
        .send(&reply(Channel::Messenger, Visibility::Private))
        .await
        .unwrap();

    assert_eq!(to_telegram.connector, "telegram");
    assert_eq!(to_messenger.connector, "dry_run");
    assert_eq!(platform.requests().len(), 1);
    let recorded = router.dry_run().unwrap().sent();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].channel, Channel::Messenger);
}

#[tokio::test]
async fn routes_added_by_hand_take_precedence() {
    let recorder = Arc::new(DryRunConnector::new(10));
    let fallback = Arc::new(DryRunConnector::new(10));
    let router = Router::new(fallback.clone()).with_route(Channel::X, recorder.clone());

    router
        .send(&reply(Channel::X, Visibility::Public))
        .await
        .unwrap();
    router
        .send(&reply(Channel::Web, Visibility::Public))
        .await
        .unwrap();

    assert_eq!(recorder.total_sent(), 1);
    assert_eq!(fallback.total_sent(), 1);
}
