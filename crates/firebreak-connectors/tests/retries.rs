//! `send_with_retry` against a fake platform that pushes back: rate limits are waited
//! out exactly as told, transient faults are retried, refusals are not.

mod common;

use std::time::{Duration, Instant};

use common::{Answer, FakePlatform, client, client_with_timeout, reply};
use firebreak_connectors::{
    GiveUpReason, MetaConfig, MetaConnector, RetryPolicy, Secret, SendError, TelegramConfig,
    TelegramConnector, WebhookConfig, WebhookConnector, send_with_retry,
};
use firebreak_core::{Channel, Visibility};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(10),
        retry_possibly_delivered: false,
    }
}

fn telegram(platform: &FakePlatform, http: reqwest::Client) -> TelegramConnector {
    let config = TelegramConfig {
        base_url: platform.base_url.clone(),
        bot_token: Secret::new("123:tok"),
    };
    TelegramConnector::new(http, &config).unwrap()
}

fn telegram_ok() -> Answer {
    Answer::json(200, json!({"ok": true, "result": {"message_id": 5}}))
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_nothing_is_lost() {
    let platform = FakePlatform::start(telegram_ok()).await;
    platform.script([Answer::json(
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests"}),
    )
    .with_header("retry-after", "1")]);
    let connector = telegram(&platform, client());
    let message = reply(Channel::Telegram, Visibility::Private);

    let delivered = send_with_retry(&connector, &message, &fast_policy(), None)
        .await
        .unwrap();

    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.receipt.platform_message_id.as_deref(), Some("5"));
    let requests = platform.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert_eq!(
        requests[0].body, requests[1].body,
        "the retry is the same reply"
    );
}

#[tokio::test]
async fn telegram_flood_control_in_the_body_is_honoured() {
    let platform = FakePlatform::start(telegram_ok()).await;
    platform.script([Answer::json(
        429,
        json!({
            "ok": false,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }),
    )]);
    let connector = telegram(&platform, client());

    let delivered = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap();

    assert_eq!(delivered.attempts, 2);
    let requests = platform.requests();
    assert!(requests[1].received_at - requests[0].received_at >= Duration::from_secs(1));
}

#[tokio::test]
async fn two_server_errors_then_success_delivers_once() {
    let platform = FakePlatform::start(telegram_ok()).await;
    let failure = Answer::json(
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    platform.script([failure.clone(), failure]);
    let connector = telegram(&platform, client());

    let delivered = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap();

    assert_eq!(delivered.attempts, 3);
    assert_eq!(platform.requests().len(), 3);
}

#[tokio::test]
async fn a_400_is_permanent_and_not_retried() {
    let platform = FakePlatform::start(Answer::json(
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
    ))
    .await;
    let connector = telegram(&platform, client());

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap_err();

    assert_eq!(failure.reason, GiveUpReason::NotRetryable);
    assert_eq!(failure.attempts, 1);
    assert!(matches!(
        failure.error,
        SendError::Permanent {
            status: 400,
            platform_code: Some(400),
            ..
        }
    ));
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_stop_after_max_attempts() {
    let platform = FakePlatform::start(Answer::json(503, json!({}))).await;
    let connector = telegram(&platform, client());

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap_err();

    assert_eq!(failure.reason, GiveUpReason::AttemptsExhausted);
    assert_eq!(failure.attempts, 4);
    assert_eq!(platform.requests().len(), 4);
}

#[tokio::test]
async fn a_wait_past_the_deadline_is_handed_back_instead_of_slept() {
    let platform =
        FakePlatform::start(Answer::json(429, json!({})).with_header("retry-after", "3600")).await;
    let connector = telegram(&platform, client());
    let started = Instant::now();

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap_err();

    assert_eq!(failure.reason, GiveUpReason::DeadlineExceeded);
    assert_eq!(failure.retry_after(), Some(Duration::from_secs(3600)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn cancellation_ends_the_wait_between_attempts() {
    let platform =
        FakePlatform::start(Answer::json(429, json!({})).with_header("retry-after", "5")).await;
    let connector = telegram(&platform, client());
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        Some(&cancel),
    )
    .await
    .unwrap_err();

    assert_eq!(failure.reason, GiveUpReason::Cancelled);
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test]
async fn meta_rate_limit_codes_on_a_400_are_rate_limits() {
    let platform = FakePlatform::start(Answer::json(200, json!({"message_id": "m_1"}))).await;
    platform.script([Answer::json(
        400,
        json!({"error": {"message": "(#613) Calls to this api have exceeded the rate limit.",
                          "type": "OAuthException", "code": 613}}),
    )]);
    let config = MetaConfig {
        base_url: platform.base_url.clone(),
        ..MetaConfig::new(Secret::new("page-token"))
    };
    let connector = MetaConnector::new(client(), &config).unwrap();

    let delivered = send_with_retry(
        &connector,
        &reply(Channel::Messenger, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap();

    assert_eq!(delivered.attempts, 2);
}

#[tokio::test]
async fn meta_outside_the_messaging_window_is_permanent() {
    let platform = FakePlatform::start(Answer::json(
        400,
        json!({"error": {"message": "(#10) This message is sent outside of allowed window.",
                          "type": "OAuthException", "code": 10, "error_subcode": 2018278}}),
    ))
    .await;
    let config = MetaConfig {
        base_url: platform.base_url.clone(),
        ..MetaConfig::new(Secret::new("page-token"))
    };
    let connector = MetaConnector::new(client(), &config).unwrap();

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Messenger, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap_err();

    assert!(matches!(
        failure.error,
        SendError::Permanent {
            status: 400,
            platform_code: Some(10),
            ..
        }
    ));
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_not_retried_where_a_retry_could_post_twice() {
    let platform = FakePlatform::start(telegram_ok()).await;
    platform.script([telegram_ok().delayed(Duration::from_secs(2))]);
    let connector = telegram(&platform, client_with_timeout(Duration::from_millis(200)));

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap_err();

    assert_eq!(failure.reason, GiveUpReason::NotRetryable);
    assert!(failure.error.possibly_delivered());
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_retried_where_the_receiver_deduplicates() {
    let platform = FakePlatform::start(Answer::json(200, json!({}))).await;
    platform.script([Answer::json(200, json!({})).delayed(Duration::from_secs(2))]);
    let config = WebhookConfig {
        url: platform.base_url.clone(),
        bearer_token: None,
    };
    let connector =
        WebhookConnector::new(client_with_timeout(Duration::from_millis(200)), &config).unwrap();

    let delivered = send_with_retry(
        &connector,
        &reply(Channel::Web, Visibility::Private),
        &fast_policy(),
        None,
    )
    .await
    .unwrap();

    assert_eq!(delivered.attempts, 2);
    let requests = platform.requests();
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn network_errors_never_reveal_the_token() {
    // Bind then drop a listener, so the port is very likely closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = TelegramConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        bot_token: Secret::new("999:never-print-me"),
    };
    let connector = TelegramConnector::new(client(), &config).unwrap();

    let failure = send_with_retry(
        &connector,
        &reply(Channel::Telegram, Visibility::Private),
        &RetryPolicy {
            max_attempts: 1,
            ..fast_policy()
        },
        None,
    )
    .await
    .unwrap_err();

    assert!(
        !failure.error.possibly_delivered(),
        "nothing reached the platform"
    );
    let shown = format!("{failure} {failure:?}");
    assert!(!shown.contains("never-print-me"), "{shown}");
}
