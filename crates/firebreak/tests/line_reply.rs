//! LINE end to end: a signed webhook goes through ingest, triage and the reply stage,
//! and the answer reaches a fake LINE Messaging API with the event's reply token, or as
//! a push to the chat once LINE refuses the token. One suite, run against the embedded
//! adapters and against real nats-server and redis-server.

#[macro_use]
mod support;

use base64::Engine as _;
use firebreak_testkit::{CannedResponse, FakeHttpServer, RecordedRequest};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{Adapters, Harness, KEY_QUESTION};

const SECRET: &str = "line-channel-secret-for-tests";
const CHANNEL_TOKEN: &str = "line-channel-access-token-for-tests";

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One text message from `user` in a one-to-one chat, as LINE sends it now.
fn event(user: &str, message_id: &str, reply_token: &str, event_id: &str) -> Vec<u8> {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    serde_json::to_vec(&json!({
        "destination": "Uffffffff0123456789abcdef01234567",
        "events": [{
            "type": "message",
            "mode": "active",
            "timestamp": now_ms,
            "webhookEventId": event_id,
            "deliveryContext": {"isRedelivery": false},
            "source": {"type": "user", "userId": user},
            "replyToken": reply_token,
            "message": {"id": message_id, "type": "text", "quoteToken": "q", "text": KEY_QUESTION},
        }],
    }))
    .unwrap()
}

async fn deliver(h: &Harness, body: &[u8]) {
    let response = h
        .http
        .post(format!("{}/webhooks/line", h.base))
        .header("x-line-signature", signature(body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The message's terminal record, found by its LINE message id.
async fn outcome(h: &Harness, message_id: &str) -> Value {
    let mut id = None;
    for _ in 0..100 {
        let response = h
            .http
            .get(format!("{}/v1/messages", h.base))
            .query(&[("channel", "line"), ("external_id", message_id)])
            .bearer_auth(h.token(firebreak_server::auth::Role::Viewer))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let record: Value = response.json().await.unwrap();
            id = record["id"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    h.terminal(&id.expect("message recorded")).await
}

fn sent() -> CannedResponse {
    CannedResponse::ok().with_json(&json!({"sentMessages": [{"id": "7001", "quoteToken": "q"}]}))
}

fn paths(requests: &[RecordedRequest]) -> Vec<&str> {
    requests.iter().map(|r| r.path.as_str()).collect()
}

async fn a_line_message_is_answered_by_reply_token_then_by_push(adapters: Adapters) {
    let line = FakeHttpServer::start().await.unwrap();
    line.set_response(sent());
    let api_url = line.url();
    let h = Harness::start_with(
        adapters,
        &[
            "--line-channel-secret",
            SECRET,
            "--line-channel-token",
            CHANNEL_TOKEN,
            "--line-api-url",
            &api_url,
        ],
    )
    .await;

    // A fresh event: the answer uses its reply token, and nothing is pushed.
    let first_user = "U1000000000000000000000000000000a";
    deliver(
        &h,
        &event(
            first_user,
            "600000000000001",
            "replytoken0001",
            "01JDQ8A0000000000000000001",
        ),
    )
    .await;
    let record = outcome(&h, "600000000000001").await;
    assert_eq!(record["status"], "replied", "{record}");
    let requests = line.requests();
    assert_eq!(paths(&requests), ["/v2/bot/message/reply"]);
    let reply = requests[0].body_json().unwrap();
    assert_eq!(reply["replyToken"], "replytoken0001");
    assert_eq!(reply["messages"][0]["type"], "text");
    assert!(!reply["messages"][0]["text"].as_str().unwrap().is_empty());
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {CHANNEL_TOKEN}").as_str())
    );

    // LINE no longer honours the token (expired or spent): the user gets a push.
    line.handle().clear_requests();
    line.enqueue_responses([
        CannedResponse::new(400).with_json(&json!({"message": "Invalid reply token"}))
    ]);
    let second_user = "U2000000000000000000000000000000b";
    deliver(
        &h,
        &event(
            second_user,
            "600000000000002",
            "replytoken0002",
            "01JDQ8A0000000000000000002",
        ),
    )
    .await;
    let record = outcome(&h, "600000000000002").await;
    assert_eq!(record["status"], "replied", "{record}");
    let requests = line.requests();
    assert_eq!(
        paths(&requests),
        ["/v2/bot/message/reply", "/v2/bot/message/push"]
    );
    let push = requests[1].body_json().unwrap();
    assert_eq!(push["to"], second_user);
    assert!(requests[1].header("x-line-retry-key").is_some());
    h.stop().await;
}

/// A connector or script may submit LINE messages over the HTTP API too.
async fn the_http_api_takes_line_messages(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let response = h
        .post_message(&json!({
            "channel": "line",
            "external_id": "600000000000009",
            "thread_id": "Ca56f94637cc4347f90a25382909b24b9",
            "author": {"id": "U3000000000000000000000000000000c", "handle": "", "followers": 0, "verified": false},
            "visibility": "public",
            "text": KEY_QUESTION,
        }))
        .await;
    assert_eq!(response.status(), 202);
    let record = outcome(&h, "600000000000009").await;
    assert_eq!(record["channel"], "line");
    assert_eq!(record["thread_id"], "Ca56f94637cc4347f90a25382909b24b9");
    h.stop().await;
}

both_adapters!(
    a_line_message_is_answered_by_reply_token_then_by_push,
    the_http_api_takes_line_messages,
);
