//! The platform webhooks over real HTTP: the documented payloads, signed as each
//! platform signs them, land as normalised messages; handshakes are answered exactly;
//! bad signatures, bad bodies and replays get what the contract says. One suite, run
//! against the embedded adapters and against real nats-server and redis-server.

#[macro_use]
mod support;

use base64::Engine as _;
use firebreak_core::{Channel, Visibility, subjects};
use firebreak_server::auth::Role;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{Adapters, Harness};

const META_SECRET: &str = "meta-app-secret-for-tests";
const META_VERIFY: &str = "meta-verify-token";
const TELEGRAM_SECRET: &str = "tg_secret-Token_123";
const X_SECRET: &str = "x-consumer-secret-for-tests";
const LINE_SECRET: &str = "line-channel-secret-for-tests";

async fn start(adapters: Adapters) -> Harness {
    start_roles(adapters, "all").await
}

/// Only the ingest role: nothing consumes the inbound stream, so a test can read the
/// messages there (pipeline streams are work queues: classify removes what it did).
async fn start_ingest_only(adapters: Adapters) -> Harness {
    start_roles(adapters, "ingest").await
}

async fn start_roles(adapters: Adapters, roles: &str) -> Harness {
    Harness::start_with(
        adapters,
        &[
            "--roles",
            roles,
            "--meta-app-secret",
            META_SECRET,
            "--meta-verify-token",
            META_VERIFY,
            "--telegram-secret-token",
            TELEGRAM_SECRET,
            "--x-consumer-secret",
            X_SECRET,
            "--x-brand-user-id",
            "4337869213",
            "--line-channel-secret",
            LINE_SECRET,
        ],
    )
    .await
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../firebreak-webhooks/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn hmac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[derive(Clone, Copy, Debug)]
enum Platform {
    Meta,
    Telegram,
    X,
    Line,
}

impl Platform {
    fn path(self) -> &'static str {
        match self {
            Platform::Meta => "/webhooks/meta",
            Platform::Telegram => "/webhooks/telegram",
            Platform::X => "/webhooks/x",
            Platform::Line => "/webhooks/line",
        }
    }

    /// The authenticating header exactly as the platform computes it.
    fn signature(self, body: &[u8]) -> (&'static str, String) {
        match self {
            Platform::Meta => (
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(hmac(META_SECRET, body))),
            ),
            Platform::Telegram => ("x-telegram-bot-api-secret-token", TELEGRAM_SECRET.into()),
            Platform::X => (
                "x-twitter-webhooks-signature",
                format!(
                    "sha256={}",
                    base64::engine::general_purpose::STANDARD.encode(hmac(X_SECRET, body))
                ),
            ),
            Platform::Line => (
                "x-line-signature",
                base64::engine::general_purpose::STANDARD.encode(hmac(LINE_SECRET, body)),
            ),
        }
    }
}

async fn deliver(h: &Harness, platform: Platform, body: &[u8]) -> reqwest::Response {
    let (name, value) = platform.signature(body);
    deliver_with(h, platform, body, Some((name, value))).await
}

async fn deliver_with(
    h: &Harness,
    platform: Platform,
    body: &[u8],
    header: Option<(&str, String)>,
) -> reqwest::Response {
    let mut request = h
        .http
        .post(format!("{}{}", h.base, platform.path()))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.expect("http request")
}

async fn find(h: &Harness, channel: &str, external_id: &str) -> Option<Value> {
    let response = h
        .http
        .get(format!("{}/v1/messages", h.base))
        .query(&[("channel", channel), ("external_id", external_id)])
        .bearer_auth(h.token(Role::Viewer))
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => Some(response.json().await.unwrap()),
        404 => None,
        other => panic!("GET /v1/messages answered {other}"),
    }
}

async fn metrics(h: &Harness) -> String {
    h.http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn inbound_messages(h: &Harness) -> Vec<firebreak_core::Message> {
    let bus = &h.app().bus;
    let stored = bus
        .read_stream(subjects::STREAM_INBOUND, 1, 1000)
        .await
        .unwrap();
    stored
        .iter()
        .map(|m| firebreak_core::wire::decode_message(&m.payload).unwrap())
        .collect()
}

/// Messages ever stored on the inbound stream (its last sequence; each test has a
/// fresh one). Not its length: classify removes done work from the work queue.
async fn inbound_len(h: &Harness) -> u64 {
    h.app()
        .bus
        .stream_bounds(subjects::STREAM_INBOUND)
        .await
        .unwrap()
        .last
}

async fn every_documented_payload_lands_as_a_normalised_message(adapters: Adapters) {
    let h = start(adapters).await;
    // (fixture, platform, messages in it, one of them: channel, external id, thread)
    let cases = [
        (
            "messenger_text.json",
            Platform::Meta,
            "messenger",
            "m_AbCdEf123",
            "6871234567890123",
        ),
        (
            "instagram_dm.json",
            Platform::Meta,
            "instagram",
            "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx",
            "1254477777772919",
        ),
        (
            "instagram_comment.json",
            Platform::Meta,
            "instagram",
            "17865799348089039",
            "18000000000000123",
        ),
        (
            "page_comment.json",
            Platform::Meta,
            "facebook",
            "200000000000002_300000000000003",
            "107000000000001_200000000000002",
        ),
        (
            "whatsapp_text.json",
            Platform::Meta,
            "whatsapp",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "16505551234",
        ),
        (
            "whatsapp_interactive.json",
            Platform::Meta,
            "whatsapp",
            "wamid.BUTTON_REPLY_1",
            "16505559999",
        ),
        (
            "telegram_private.json",
            Platform::Telegram,
            "telegram",
            "1111111:1365",
            "1111111",
        ),
        (
            "telegram_group.json",
            Platform::Telegram,
            "telegram",
            "-1001234567890:77",
            "-1001234567890",
        ),
        (
            "x_mention.json",
            Platform::X,
            "x",
            "1800000000000000001",
            "1800000000000000001",
        ),
        (
            "x_dm.json",
            Platform::X,
            "x",
            "954491830116155396",
            "3001969357-4337869213",
        ),
        (
            "line_text.json",
            Platform::Line,
            "line",
            "468789577898262530",
            "U4af4980629c0d1e2f3a4b5c6d7e8f901",
        ),
    ];
    let mut accepted_total = 0;
    for (name, platform, channel, external_id, thread) in cases {
        let response = deliver(&h, platform, &fixture(name)).await;
        assert_eq!(response.status(), 200, "{name}");
        let body: Value = response.json().await.unwrap();
        let accepted = body["accepted"].as_u64().unwrap();
        assert!(accepted >= 1, "{name}: {body}");
        accepted_total += accepted;
        let record = find(&h, channel, external_id)
            .await
            .unwrap_or_else(|| panic!("{name}: no message {channel}/{external_id}"));
        assert_eq!(record["channel"], channel, "{name}");
        assert_eq!(record["thread_id"], thread, "{name}");
        let record = h.terminal(record["id"].as_str().unwrap()).await;
        let status = record["status"].as_str().unwrap();
        assert!(
            ["replied", "escalated", "ignored"].contains(&status),
            "{name}: {status}"
        );
    }
    // The brand's own messages, echoes and receipts in those payloads were skipped, and
    // everything acknowledged is in the stream.
    assert_eq!(inbound_len(&h).await, accepted_total);
    let page = metrics(&h).await;
    assert!(
        page.contains(r#"firebreak_webhook_skipped_total{source="meta",reason="echo"}"#),
        "echoes are counted"
    );
    assert!(page.contains(r#"firebreak_webhook_skipped_total{source="meta",reason="delivery"}"#));
    assert!(page.contains(r#"firebreak_webhook_skipped_total{source="meta",reason="read"}"#));
    h.stop().await;
}

async fn bad_or_missing_signatures_get_401(adapters: Adapters) {
    let h = start(adapters).await;
    let forged = [
        (
            Platform::Meta,
            "messenger_text.json",
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(hmac("wrong", b"{}"))),
        ),
        (
            Platform::Telegram,
            "telegram_private.json",
            "x-telegram-bot-api-secret-token",
            "not-the-token".to_string(),
        ),
        (
            Platform::X,
            "x_mention.json",
            "x-twitter-webhooks-signature",
            "sha256=AAAA".to_string(),
        ),
        (
            Platform::Line,
            "line_text.json",
            "x-line-signature",
            base64::engine::general_purpose::STANDARD.encode(hmac("wrong", b"{}")),
        ),
    ];
    for (platform, name, header, value) in forged {
        let body = fixture(name);
        for header in [Some((header, value.clone())), None] {
            let response = deliver_with(&h, platform, &body, header).await;
            assert_eq!(response.status(), 401, "{platform:?}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "unauthenticated");
        }
    }
    // A valid Meta signature over other bytes does not cover these bytes.
    let body = fixture("messenger_text.json");
    let (name, value) = Platform::Meta.signature(b"{\"object\":\"page\",\"entry\":[]}");
    let response = deliver_with(&h, Platform::Meta, &body, Some((name, value))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(inbound_len(&h).await, 0, "nothing unsigned was taken in");
    h.stop().await;
}

async fn handshakes_are_answered_exactly(adapters: Adapters) {
    let h = start(adapters).await;
    let url = format!("{}/webhooks/meta", h.base);
    let ok = h
        .http
        .get(&url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", META_VERIFY),
            ("hub.challenge", "1158201444"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = h
        .http
        .get(&url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "guess"),
            ("hub.challenge", "1158201444"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    let crc = h
        .http
        .get(format!("{}/webhooks/x", h.base))
        .query(&[("crc_token", "Q2hhbGxlbmdlVG9rZW4=")])
        .send()
        .await
        .unwrap();
    assert_eq!(crc.status(), 200);
    let body: Value = crc.json().await.unwrap();
    let expected = format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(hmac(X_SECRET, b"Q2hhbGxlbmdlVG9rZW4="))
    );
    assert_eq!(body, json!({ "response_token": expected }));
    h.stop().await;
}

/// The CRC answer is the delivery signature of its token, under the same secret. A
/// forger asks the CRC endpoint to sign a body, then posts the body with the answer.
async fn a_delivery_forged_through_the_crc_endpoint_is_refused(adapters: Adapters) {
    let h = start(adapters).await;
    let crc = |token: String| {
        h.http
            .get(format!("{}/webhooks/x", h.base))
            .query(&[("crc_token", token)])
            .send()
    };

    // A real delivery body: the CRC endpoint refuses to sign it.
    let body = fixture("x_mention.json");
    let asked = crc(String::from_utf8(body.clone()).unwrap()).await.unwrap();
    assert_eq!(asked.status(), 400, "a JSON body is not a crc_token");
    let refusal: Value = asked.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "invalid_argument");
    // The smallest delivery X's parser would take, likewise.
    let minimal = r#"{"for_user_id":"1"}"#;
    assert_eq!(crc(minimal.into()).await.unwrap().status(), 400);

    // What the CRC does sign is never taken as a delivery, even with its answer.
    let token = "Zm9yZ2VkLWRlbGl2ZXJ5";
    let answer: Value = crc(token.into()).await.unwrap().json().await.unwrap();
    let signature = answer["response_token"].as_str().unwrap().to_owned();
    let forged = deliver_with(
        &h,
        Platform::X,
        token.as_bytes(),
        Some(("x-twitter-webhooks-signature", signature)),
    )
    .await;
    assert_eq!(forged.status(), 401);

    assert_eq!(
        inbound_len(&h).await,
        0,
        "nothing forged reached the stream"
    );
    assert!(
        metrics(&h)
            .await
            .contains(r#"source="x",reason="crc_shaped""#)
    );
    h.stop().await;
}

async fn crc_challenges_are_rate_limited_per_client(adapters: Adapters) {
    let h = start(adapters).await;
    let url = format!("{}/webhooks/x", h.base);
    let mut statuses = Vec::new();
    for _ in 0..=firebreak_server::ratelimit::CRC_BURST {
        let response = h
            .http
            .get(&url)
            .query(&[("crc_token", "Q2hhbGxlbmdlVG9rZW4")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(last, Some(429), "over the burst");
    h.stop().await;
}

async fn a_replayed_delivery_creates_one_message(adapters: Adapters) {
    let h = start(adapters).await;
    let body = fixture("telegram_private.json");
    let first = deliver(&h, Platform::Telegram, &body).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    let again = deliver(&h, Platform::Telegram, &body).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(inbound_len(&h).await, 1, "one message in the stream");
    h.stop().await;
}

async fn bad_bodies_get_clear_errors_and_unknown_events_are_counted(adapters: Adapters) {
    let h = start(adapters).await;
    let huge = vec![b' '; 300 * 1024];
    for platform in [Platform::Meta, Platform::Telegram, Platform::X] {
        let response = deliver(&h, platform, &huge).await;
        assert_eq!(response.status(), 413, "{platform:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "payload_too_large");
    }

    let garbage = deliver(
        &h,
        Platform::Telegram,
        b"{\"update_id\": 1, \"message\": {\"message_id\": \"x\"",
    )
    .await;
    assert_eq!(garbage.status(), 400);
    let error: Value = garbage.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("end of input"), "says what: {message}");

    // Well-formed JSON with one field of the wrong type: that update is skipped and
    // counted, naming nothing of its text, and Telegram is not made to resend it.
    let odd = deliver(
        &h,
        Platform::Telegram,
        br#"{"update_id": 2, "message": {"message_id": "x", "date": 1, "chat": {"id": 1, "type": "private"}, "text": "my secret words"}}"#,
    )
    .await;
    assert_eq!(odd.status(), 200);
    let body: Value = odd.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["skipped"].as_u64()),
        (Some(0), Some(1))
    );

    let not_utf8 = deliver(&h, Platform::Meta, b"{\"object\":\"page\xff\"}").await;
    assert_eq!(not_utf8.status(), 400);
    let error: Value = not_utf8.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8")
    );

    let unknown = deliver(
        &h,
        Platform::Telegram,
        br#"{"update_id": 7, "poll": {"id": "1"}}"#,
    )
    .await;
    assert_eq!(unknown.status(), 200, "unknown events are acknowledged");
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["skipped"], 1);
    let page = metrics(&h).await;
    assert!(
        page.contains(r#"firebreak_webhook_skipped_total{source="telegram",reason="invalid"} 1"#),
        "the odd update is counted"
    );
    assert!(
        page.contains(
            r#"firebreak_webhook_skipped_total{source="telegram",reason="unknown_event"} 1"#
        ),
        "unknown event counted"
    );
    assert!(
        page.contains(r#"firebreak_ingest_rejected_total{source="telegram",reason="too_large"} 1"#)
    );
    assert_eq!(inbound_len(&h).await, 0);
    h.stop().await;
}

async fn a_platform_without_a_secret_answers_404(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    for (platform, name) in [
        (Platform::Meta, "messenger_text.json"),
        (Platform::Telegram, "telegram_private.json"),
        (Platform::X, "x_dm.json"),
        (Platform::Line, "line_text.json"),
    ] {
        let response = deliver(&h, platform, &fixture(name)).await;
        assert_eq!(response.status(), 404, "{platform:?}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("FIREBREAK_")
        );
    }
    assert_eq!(inbound_len(&h).await, 0);
    h.stop().await;
}

async fn mail_that_forbids_auto_replies_is_ignored(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let headers = [
        json!({"auto_submitted": "auto-replied"}),
        json!({"precedence": "bulk"}),
        json!({"precedence": "list"}),
        json!({"return_path": ""}),
    ];
    for (i, mail) in headers.into_iter().enumerate() {
        let response = h
            .post_message(&json!({
                "channel": "email",
                "external_id": format!("<auto-{i}@example.com>"),
                "thread_id": format!("thread-{i}"),
                "author": {"id": "noreply@example.com"},
                "visibility": "private",
                "text": support::KEY_QUESTION,
                "mail": mail,
            }))
            .await;
        assert_eq!(response.status(), 202);
        let id = response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let record = h.terminal(&id).await;
        assert_eq!(record["status"], "ignored", "{mail}: {record}");
        assert!(
            record.to_string().contains("automated mail"),
            "ignored for its headers: {record}"
        );
    }
    // The same text from a person is not ignored, so the headers made the difference.
    let response = h
        .post_message(&json!({
            "channel": "email",
            "external_id": "<person@example.com>",
            "thread_id": "thread-person",
            "author": {"id": "jane@example.com"},
            "visibility": "private",
            "text": support::KEY_QUESTION,
            "mail": {"return_path": "jane@example.com"},
        }))
        .await;
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = h.terminal(&id).await;
    assert_ne!(record["status"], "ignored", "{record}");
    h.stop().await;
}

async fn line_user_and_group_messages_land_with_their_visibility(adapters: Adapters) {
    let h = start_ingest_only(adapters).await;
    let response = deliver(&h, Platform::Line, &fixture("line_text.json")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["skipped"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );
    // The normalised messages as they travel on the inbound stream.
    let messages = inbound_messages(&h).await;
    let by_id = |id: &str| {
        messages
            .iter()
            .find(|m| m.external_id == id)
            .unwrap_or_else(|| panic!("no line message {id}"))
    };
    let user = by_id("468789577898262530");
    assert_eq!(user.channel, Channel::Line);
    assert_eq!(user.visibility, Visibility::Private);
    assert_eq!(user.thread_id, "U4af4980629c0d1e2f3a4b5c6d7e8f901");
    assert_eq!(user.author.id, "U4af4980629c0d1e2f3a4b5c6d7e8f901");
    assert_eq!(user.text, "Is my order part of the recall?");
    let group = by_id("468789577898262531");
    assert_eq!(group.visibility, Visibility::Public);
    assert_eq!(group.thread_id, "Ca56f94637cc4347f90a25382909b24b9");
    assert_eq!(group.author.id, "U9bb04f22e1c0d1e2f3a4b5c6d7e8f902");
    assert_eq!(group.text, "Our whole team got the faulty batch");
    assert!(find(&h, "line", "468789577898262531").await.is_some());
    let page = metrics(&h).await;
    assert!(
        page.contains(r#"firebreak_webhook_skipped_total{source="line",reason="follow"} 1"#),
        "the follow is counted"
    );
    assert!(
        page.contains(r#"firebreak_ingest_total{source="line",result="accepted"}"#)
            && !page.contains(r#"firebreak_ingest_total{source="line",result="accepted"} 0"#),
        "{page}"
    );
    h.stop().await;
}

async fn a_replayed_line_event_is_a_duplicate(adapters: Adapters) {
    let h = start(adapters).await;
    let body = fixture("line_text.json");
    let first: Value = deliver(&h, Platform::Line, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["accepted"], 2);
    // LINE redelivers the same events, flagged isRedelivery, with the same ids.
    let redelivered = String::from_utf8(body)
        .unwrap()
        .replace("\"isRedelivery\": false", "\"isRedelivery\": true");
    let again = deliver(&h, Platform::Line, redelivered.as_bytes()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(inbound_len(&h).await, 2);
    h.stop().await;
}

both_adapters!(
    line_user_and_group_messages_land_with_their_visibility,
    a_replayed_line_event_is_a_duplicate,
    every_documented_payload_lands_as_a_normalised_message,
    bad_or_missing_signatures_get_401,
    handshakes_are_answered_exactly,
    a_delivery_forged_through_the_crc_endpoint_is_refused,
    crc_challenges_are_rate_limited_per_client,
    a_replayed_delivery_creates_one_message,
    bad_bodies_get_clear_errors_and_unknown_events_are_counted,
    a_platform_without_a_secret_answers_404,
    mail_that_forbids_auto_replies_is_ignored,
);
