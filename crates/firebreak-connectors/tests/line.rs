//! The LINE connector against a fake Messaging API: the reply token while it is fresh,
//! a push to the chat once it has expired or LINE refuses it, and LINE's 429s handed to
//! the shared retry rules.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Answer, FakePlatform, client, reply};
use firebreak_connectors::{
    Connector, LineConfig, LineConnector, OutboundReply, ReplyToken, RetryPolicy, Secret,
    SendError, send_with_retry,
};
use firebreak_core::{Channel, Visibility};
use serde_json::json;

const CHANNEL_TOKEN: &str = "line-channel-access-token";

fn connector(platform: &FakePlatform) -> LineConnector {
    let config = LineConfig {
        base_url: platform.base_url.clone(),
        channel_token: Secret::new(CHANNEL_TOKEN),
    };
    LineConnector::new(client(), &config).unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A reply in a LINE group, whose event was received `age` ago.
fn line_reply(age: Duration) -> OutboundReply {
    let mut r = reply(Channel::Line, Visibility::Public);
    r.thread_id = "Ca56f94637cc4347f90a25382909b24b9".into();
    r.recipient_id = "U4af4980629c0d1e2f3a4b5c6d7e8f901".into();
    r.reply_token = Some(ReplyToken {
        token: "38ef843bde154d9b91c21320ffd17a0f".into(),
        received_at_ms: now_ms() - age.as_millis() as i64,
    });
    r
}

fn sent(id: &str) -> Answer {
    Answer::json(
        200,
        json!({"sentMessages": [{"id": id, "quoteToken": "q"}]}),
    )
}

#[tokio::test]
async fn a_fresh_reply_token_is_used_and_nothing_is_pushed() {
    let platform = FakePlatform::start(sent("5001")).await;
    let r = line_reply(Duration::from_secs(2));

    let receipt = connector(&platform).send(&r).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("5001"));
    let request = platform.only_request();
    assert_eq!(request.path, "/v2/bot/message/reply");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {CHANNEL_TOKEN}").as_str())
    );
    assert_eq!(
        request.body,
        json!({
            "replyToken": "38ef843bde154d9b91c21320ffd17a0f",
            "messages": [{"type": "text", "text": r.text}],
        })
    );
}

#[tokio::test]
async fn an_expired_reply_token_is_not_tried_and_the_chat_gets_a_push() {
    let platform = FakePlatform::start(sent("5002")).await;
    let r = line_reply(Duration::from_secs(90));

    let receipt = connector(&platform).send(&r).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("5002"));
    let request = platform.only_request();
    assert_eq!(request.path, "/v2/bot/message/push");
    assert_eq!(
        request.body,
        json!({
            "to": "Ca56f94637cc4347f90a25382909b24b9",
            "messages": [{"type": "text", "text": r.text}],
        })
    );
    let key = request.header("x-line-retry-key").unwrap();
    assert!(uuid_like(key), "{key}");
}

#[tokio::test]
async fn a_reply_token_line_refuses_falls_back_to_a_push() {
    let platform = FakePlatform::start(sent("5003")).await;
    platform.script([Answer::json(400, json!({"message": "Invalid reply token"}))]);
    let r = line_reply(Duration::from_secs(5));

    let receipt = connector(&platform).send(&r).await.unwrap();

    assert_eq!(receipt.platform_message_id.as_deref(), Some("5003"));
    let paths: Vec<String> = platform.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v2/bot/message/reply", "/v2/bot/message/push"]);
}

#[tokio::test]
async fn a_one_to_one_chat_is_pushed_to_the_user() {
    let platform = FakePlatform::start(sent("5004")).await;
    let mut r = reply(Channel::Line, Visibility::Private);
    r.thread_id = "U4af4980629c0d1e2f3a4b5c6d7e8f901".into();
    r.recipient_id = "U4af4980629c0d1e2f3a4b5c6d7e8f901".into();

    connector(&platform).send(&r).await.unwrap();

    let request = platform.only_request();
    assert_eq!(request.path, "/v2/bot/message/push");
    assert_eq!(request.body["to"], "U4af4980629c0d1e2f3a4b5c6d7e8f901");
}

#[tokio::test]
async fn a_push_line_already_accepted_is_a_success_not_a_second_send() {
    let platform = FakePlatform::start(
        Answer::json(409, json!({"message": "The retry key is already accepted"})).with_header(
            "x-line-accepted-request-id",
            "c4d2a1f0-0000-4000-8000-000000000001",
        ),
    )
    .await;
    let mut r = reply(Channel::Line, Visibility::Private);
    r.thread_id = "U4af4980629c0d1e2f3a4b5c6d7e8f901".into();

    let receipt = connector(&platform).send(&r).await.unwrap();

    assert_eq!(receipt.connector, "line");
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test]
async fn lines_429_is_a_rate_limit_that_the_retry_rules_wait_out() {
    let platform = FakePlatform::start(sent("5005")).await;
    platform.script([Answer::json(
        429,
        json!({"message": "The API rate limit has been exceeded. Try again later."}),
    )]);
    let r = line_reply(Duration::from_secs(90));
    let line = connector(&platform);

    let first = line.send(&r).await.unwrap_err();
    assert!(
        matches!(first, SendError::RateLimited { status: 429, .. }),
        "{first:?}"
    );

    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    platform.script([Answer::json(429, json!({"message": "slow down"}))]);
    let delivered = send_with_retry(&line, &r, &policy, None).await.unwrap();
    assert_eq!(
        delivered.receipt.platform_message_id.as_deref(),
        Some("5005")
    );
    let pushes = platform
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/bot/message/push")
        .count();
    assert_eq!(
        pushes, 3,
        "one refused, one refused then retried, one accepted"
    );
}

#[tokio::test]
async fn only_a_push_without_a_reply_token_may_be_resent_after_a_crash() {
    let platform = FakePlatform::start(sent("1")).await;
    let line = connector(&platform);
    assert!(!line.deduplicates_by_idempotency_key(&line_reply(Duration::from_secs(1))));
    let mut push_only = line_reply(Duration::from_secs(1));
    push_only.reply_token = None;
    assert!(line.deduplicates_by_idempotency_key(&push_only));
}

#[test]
fn the_reply_token_never_prints() {
    let printed = format!("{:?}", line_reply(Duration::from_secs(1)));
    assert!(!printed.contains("38ef843b"), "{printed}");
}

fn uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
