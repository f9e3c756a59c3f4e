//! The platform the reply workers send to: Telegram's `sendMessage` and the outbound
//! webhook (every other channel). It answers each send at once and writes down when,
//! on which channel, to whom and in answer to which message, so the report can count
//! sends per second, per channel and per recipient, and find any message answered
//! twice. No text is kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::measure::unix_ms;

/// One reply received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub at_ms: f64,
    pub channel: String,
    /// `channel:recipient`.
    pub recipient: String,
    /// What identifies the message answered: Firebreak's message id on the webhook,
    /// `telegram:chat:message` on Telegram.
    pub answers: String,
}

#[derive(Default)]
struct Inner {
    sends: Mutex<Vec<Delivery>>,
    next_id: AtomicU64,
}

pub struct FakePlatform {
    pub url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl FakePlatform {
    pub async fn start() -> anyhow::Result<FakePlatform> {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/outbound", post(outbound))
            // Telegram's `/bot<token>/sendMessage`: one path segment holds the token.
            .route("/{bot}/sendMessage", post(telegram))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakePlatform { url, inner, server })
    }

    /// Every send so far, in arrival order.
    pub fn sends(&self) -> Vec<Delivery> {
        self.inner.sends.lock().clone()
    }
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn record(inner: &Inner, channel: &str, recipient: String, answers: String) -> u64 {
    inner.sends.lock().push(Delivery {
        at_ms: unix_ms(),
        channel: channel.to_string(),
        recipient: format!("{channel}:{recipient}"),
        answers,
    });
    inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
}

async fn outbound(State(inner): State<Arc<Inner>>, Json(body): Json<Value>) -> Json<Value> {
    let channel = body["channel"].as_str().unwrap_or("unknown");
    let recipient = body["recipient_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let answers = body["message_id"].as_str().unwrap_or_default().to_string();
    let id = record(&inner, channel, recipient, answers);
    Json(json!({ "id": format!("fake-{id}") }))
}

async fn telegram(State(inner): State<Arc<Inner>>, Json(body): Json<Value>) -> Json<Value> {
    let chat = match &body["chat_id"] {
        Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    let replied_to = body["reply_parameters"]["message_id"]
        .as_i64()
        .map(|m| m.to_string())
        .unwrap_or_default();
    let answers = format!("telegram:{chat}:{replied_to}");
    let id = record(&inner, "telegram", chat, answers);
    Json(json!({ "ok": true, "result": { "message_id": id } }))
}

/// What the sends add up to.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SendStats {
    pub total: usize,
    /// Messages answered more than once, and the extra sends.
    pub messages_answered_twice: usize,
    pub duplicate_sends: usize,
    pub per_channel: BTreeMap<String, usize>,
    pub recipients: usize,
    /// The most replies one recipient got, and the most within one second.
    pub max_per_recipient: usize,
    pub max_per_recipient_per_sec: usize,
}

pub fn stats(sends: &[Delivery]) -> SendStats {
    let mut by_message: HashMap<&str, usize> = HashMap::new();
    let mut by_recipient: HashMap<&str, usize> = HashMap::new();
    let mut by_recipient_sec: HashMap<(&str, i64), usize> = HashMap::new();
    let mut per_channel: BTreeMap<String, usize> = BTreeMap::new();
    for s in sends {
        *by_message.entry(&s.answers).or_default() += 1;
        *by_recipient.entry(&s.recipient).or_default() += 1;
        *by_recipient_sec
            .entry((&s.recipient, (s.at_ms / 1000.0) as i64))
            .or_default() += 1;
        *per_channel.entry(s.channel.clone()).or_default() += 1;
    }
    SendStats {
        total: sends.len(),
        messages_answered_twice: by_message.values().filter(|n| **n > 1).count(),
        duplicate_sends: by_message.values().map(|n| n.saturating_sub(1)).sum(),
        per_channel,
        recipients: by_recipient.len(),
        max_per_recipient: by_recipient.values().copied().max().unwrap_or(0),
        max_per_recipient_per_sec: by_recipient_sec.values().copied().max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_answered_twice_is_counted_once_with_its_extra_send() {
        let platform = FakePlatform::start().await.unwrap();
        let client = reqwest::Client::new();
        for message in ["m1", "m2", "m1"] {
            let r = client
                .post(format!("{}/outbound", platform.url))
                .json(&json!({"channel": "messenger", "recipient_id": "u1", "message_id": message}))
                .send()
                .await
                .unwrap();
            assert!(r.json::<Value>().await.unwrap()["id"].is_string());
        }
        let r = client
            .post(format!("{}/bot4242:x/sendMessage", platform.url))
            .json(&json!({"chat_id": 7, "text": "hi", "reply_parameters": {"message_id": 9}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["ok"], true);
        let s = stats(&platform.sends());
        assert_eq!(s.total, 4);
        assert_eq!(s.messages_answered_twice, 1);
        assert_eq!(s.duplicate_sends, 1);
        assert_eq!(s.per_channel["telegram"], 1);
        assert_eq!(s.max_per_recipient, 3);
    }
}
