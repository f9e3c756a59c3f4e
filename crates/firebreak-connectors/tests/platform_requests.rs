//! Each connector sends the request its platform documents: path, JSON body and auth.

mod common;

use common::{Answer, FakePlatform, client, reply};
use firebreak_connectors::{
    Connector, MetaConfig, MetaConnector, Secret, TelegramConfig, TelegramConnector, WebhookConfig,
    WebhookConnector, WhatsAppConfig, WhatsAppConnector, XConfig, XConnector,
};
use firebreak_core::{Channel, Visibility};
use serde_json::json;

const TOKEN: &str = "123456:AAE-test_token";

#[tokio::test]
async fn telegram_posts_send_message_with_the_token_in_the_path() {
    let platform = FakePlatform::start(Answer::json(
        200,
        json!({"ok": true, "result": {"message_id": 91}}),
    ))
    .await;
    let config = TelegramConfig {
        base_url: platform.base_url.clone(),
        bot_token: Secret::new(TOKEN),
    };
    let connector = TelegramConnector::new(client(), &config).unwrap();
    let mut private = reply(Channel::Telegram, Visibility::Private);
    private.in_reply_to_external_id = "4242:777".into();

    let receipt = connector.send(&private).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("91"));
    let request = platform.only_request();
    assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(
        request.body,
        json!({
            "chat_id": 4242,
            "text": private.text,
            "reply_parameters": {"message_id": 777, "allow_sending_without_reply": true},
        })
    );
}

fn meta_connector(platform: &FakePlatform, page_id: Option<&str>) -> MetaConnector {
    let config = MetaConfig {
        base_url: platform.base_url.clone(),
        api_version: "v25.0".into(),
        page_id: page_id.map(str::to_owned),
        page_access_token: Secret::new("page-token"),
    };
    MetaConnector::new(client(), &config).unwrap()
}

#[tokio::test]
async fn messenger_uses_the_send_api_with_a_bearer_token() {
    let platform = FakePlatform::start(Answer::json(
        200,
        json!({"recipient_id": "4242", "message_id": "m_abc"}),
    ))
    .await;
    let connector = meta_connector(&platform, Some("1001"));
    let private = reply(Channel::Messenger, Visibility::Private);

    let receipt = connector.send(&private).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("m_abc"));
    let request = platform.only_request();
    assert_eq!(request.path, "/v25.0/1001/messages");
    assert_eq!(request.header("authorization"), Some("Bearer page-token"));
    assert_eq!(request.query, None, "the token must not travel in the URL");
    assert_eq!(
        request.body,
        json!({
            "recipient": {"id": "4242"},
            "messaging_type": "RESPONSE",
            "message": {"text": private.text},
        })
    );
}

#[tokio::test]
async fn instagram_direct_messages_use_me_messages_without_a_page_id() {
    let platform = FakePlatform::start(Answer::json(200, json!({"message_id": "ig_1"}))).await;
    let connector = meta_connector(&platform, None);

    connector
        .send(&reply(Channel::Instagram, Visibility::Private))
        .await
        .unwrap();

    assert_eq!(platform.only_request().path, "/v25.0/me/messages");
}

#[tokio::test]
async fn instagram_public_comments_get_a_reply_on_the_comment() {
    let platform = FakePlatform::start(Answer::json(200, json!({"id": "c_2"}))).await;
    let connector = meta_connector(&platform, Some("1001"));
    let public = reply(Channel::Instagram, Visibility::Public);

    let receipt = connector.send(&public).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("c_2"));
    let request = platform.only_request();
    assert_eq!(request.path, "/v25.0/777/replies");
    assert_eq!(request.body, json!({"message": public.text}));
}

#[tokio::test]
async fn facebook_page_comments_get_a_comment_on_the_comment() {
    let platform = FakePlatform::start(Answer::json(200, json!({"id": "c_3"}))).await;
    let connector = meta_connector(&platform, Some("1001"));

    connector
        .send(&reply(Channel::Facebook, Visibility::Public))
        .await
        .unwrap();

    let request = platform.only_request();
    assert_eq!(request.path, "/v25.0/777/comments");
    assert_eq!(request.header("authorization"), Some("Bearer page-token"));
}

#[tokio::test]
async fn an_id_from_a_message_cannot_climb_out_of_its_path_segment() {
    let platform = FakePlatform::start(Answer::json(200, json!({"id": "c_4"}))).await;
    let connector = meta_connector(&platform, None);
    let mut hostile = reply(Channel::Instagram, Visibility::Public);
    hostile.in_reply_to_external_id = "../../1001/feed?x=1".into();

    connector.send(&hostile).await.unwrap();

    let request = platform.only_request();
    assert!(request.path.starts_with("/v25.0/"), "{}", request.path);
    assert!(request.path.ends_with("/replies"), "{}", request.path);
    assert_eq!(request.path.matches('/').count(), 3, "{}", request.path);
    assert_eq!(request.query, None);
}

#[tokio::test]
async fn whatsapp_sends_a_text_message_from_the_phone_number() {
    let platform = FakePlatform::start(Answer::json(
        200,
        json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.X1"}]}),
    ))
    .await;
    let config = WhatsAppConfig {
        base_url: platform.base_url.clone(),
        api_version: "v25.0".into(),
        phone_number_id: "1555000".into(),
        access_token: Secret::new("wa-token"),
    };
    let connector = WhatsAppConnector::new(client(), &config).unwrap();
    let mut private = reply(Channel::Whatsapp, Visibility::Private);
    private.recipient_id = "33612345678".into();
    private.in_reply_to_external_id = "wamid.IN1".into();

    let receipt = connector.send(&private).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("wamid.X1"));
    let request = platform.only_request();
    assert_eq!(request.path, "/v25.0/1555000/messages");
    assert_eq!(request.header("authorization"), Some("Bearer wa-token"));
    assert_eq!(
        request.body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "33612345678",
            "type": "text",
            "text": {"body": private.text, "preview_url": false},
            "context": {"message_id": "wamid.IN1"},
            "biz_opaque_callback_data": private.idempotency_key,
        })
    );
}

fn x_connector(platform: &FakePlatform) -> XConnector {
    let config = XConfig {
        base_url: platform.base_url.clone(),
        bearer_token: Secret::new("x-token"),
    };
    XConnector::new(client(), &config).unwrap()
}

#[tokio::test]
async fn x_public_replies_are_reply_tweets() {
    let platform = FakePlatform::start(Answer::json(
        201,
        json!({"data": {"id": "1800000000000000001", "text": "…"}}),
    ))
    .await;
    let public = reply(Channel::X, Visibility::Public);

    let receipt = x_connector(&platform).send(&public).await.unwrap();

    assert_eq!(
        receipt.platform_message_id.as_deref(),
        Some("1800000000000000001")
    );
    let request = platform.only_request();
    assert_eq!(request.path, "/2/tweets");
    assert_eq!(request.header("authorization"), Some("Bearer x-token"));
    assert_eq!(
        request.body,
        json!({"text": public.text, "reply": {"in_reply_to_tweet_id": "777"}})
    );
}

#[tokio::test]
async fn x_private_replies_are_direct_messages_to_the_participant() {
    let platform = FakePlatform::start(Answer::json(
        201,
        json!({"data": {"dm_conversation_id": "1-4242", "dm_event_id": "dm_9"}}),
    ))
    .await;
    let private = reply(Channel::X, Visibility::Private);

    let receipt = x_connector(&platform).send(&private).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("dm_9"));
    let request = platform.only_request();
    assert_eq!(request.path, "/2/dm_conversations/with/4242/messages");
    assert_eq!(request.body, json!({"text": private.text}));
}

#[tokio::test]
async fn the_webhook_receives_the_reply_marked_automatic_with_its_idempotency_key() {
    let platform = FakePlatform::start(Answer::json(202, json!({"id": "hook-1"}))).await;
    let config = WebhookConfig {
        url: format!("{}/replies", platform.base_url),
        bearer_token: Some(Secret::new("hook-token")),
    };
    let connector = WebhookConnector::new(client(), &config).unwrap();
    let email = reply(Channel::Email, Visibility::Private);

    let receipt = connector.send(&email).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("hook-1"));
    let request = platform.only_request();
    assert_eq!(request.path, "/replies");
    assert_eq!(request.header("auto-submitted"), Some("auto-replied"));
    assert_eq!(
        request.header("idempotency-key"),
        Some(email.idempotency_key.as_str())
    );
    assert_eq!(request.header("authorization"), Some("Bearer hook-token"));
    assert_eq!(request.body, serde_json::to_value(&email).unwrap());
    assert_eq!(request.body["channel"], "email");
}
