//! A fake Telegram Bot API for the fault scenarios: it counts every reply it *posted*
//! per message and per recipient, and can be switched live to answer 429 with
//! `Retry-After`, 500, to hang past the client's timeout, or to answer slowly.
//!
//! The testkit's `FakeHttpServer` answers synchronously, so it cannot hang or be slow
//! without blocking a runtime thread; this one answers from an async handler.
//!
//! "Posted" is what a real platform would show in the chat: a request it answered 2xx,
//! and also a request it hangs on (the platform posted, the answer never came back in
//! time). Counting the hung ones as posted is the worst case for duplicates: a client
//! that retried such a send would be caught as a double reply.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// How the platform answers from now on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 200 with a Telegram `ok` answer.
    Ok,
    /// 429 with `Retry-After` (seconds) in the header and the body, as Telegram does.
    RateLimited { retry_after_secs: u64 },
    /// 500: the platform failed and says so (not posted).
    ServerError,
    /// Posts, then answers only after this long (longer than the client's timeout).
    Hang(Duration),
    /// Posts and answers 200 after this long: a slow but working platform.
    Slow(Duration),
}

/// One request the platform received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    /// The message replied to (`reply_parameters.message_id`): one per inbound message.
    pub reply_to: i64,
    pub chat: String,
    /// Whether this request put a reply in the chat.
    pub posted: bool,
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    received: Mutex<Vec<Received>>,
}

/// The fake platform; dropping it stops the server.
pub struct FakePlatform {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakePlatform {
    pub async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("fake platform binds");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakePlatform { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().await = Some(mode);
    }

    pub async fn received(&self) -> Vec<Received> {
        self.shared.received.lock().await.clone()
    }

    /// Replies posted so far (every request that put a reply in a chat).
    pub async fn posted_count(&self) -> usize {
        self.received().await.iter().filter(|r| r.posted).count()
    }

    /// Replies posted per inbound message.
    pub async fn posted_per_message(&self) -> HashMap<i64, usize> {
        let mut counts = HashMap::new();
        for request in self.received().await.iter().filter(|r| r.posted) {
            *counts.entry(request.reply_to).or_default() += 1;
        }
        counts
    }

    /// Replies posted per recipient chat.
    pub async fn posted_per_chat(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for request in self.received().await.iter().filter(|r| r.posted) {
            *counts.entry(request.chat.clone()).or_default() += 1;
        }
        counts
    }

    /// Panics naming the first message or chat that got two replies.
    pub async fn assert_no_duplicate_replies(&self) {
        for (message, count) in self.posted_per_message().await {
            assert!(count <= 1, "message {message} got {count} replies");
        }
        for (chat, count) in self.posted_per_chat().await {
            assert!(count <= 1, "chat {chat} got {count} replies");
        }
    }
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let at = Instant::now();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let reply_to = json["reply_parameters"]["message_id"]
        .as_i64()
        .unwrap_or(-1);
    let chat = json["chat_id"].to_string();
    let mode = shared.mode.lock().await.unwrap_or(Mode::Ok);
    let posted = matches!(mode, Mode::Ok | Mode::Hang(_) | Mode::Slow(_));
    // Recorded on arrival: a hung request was posted even if its answer never leaves.
    shared.received.lock().await.push(Received {
        at,
        reply_to,
        chat,
        posted,
    });
    let ok = || {
        let body = serde_json::json!({"ok": true, "result": {"message_id": 1}});
        (StatusCode::OK, axum::Json(body)).into_response()
    };
    match mode {
        Mode::Ok => ok(),
        Mode::Slow(delay) | Mode::Hang(delay) => {
            tokio::time::sleep(delay).await;
            ok()
        }
        Mode::RateLimited { retry_after_secs } => {
            let body = serde_json::json!({
                "ok": false,
                "error_code": 429,
                "description": "Too Many Requests",
                "parameters": {"retry_after": retry_after_secs},
            });
            let retry_after = retry_after_secs.to_string();
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after)],
                axum::Json(body),
            )
                .into_response()
        }
        Mode::ServerError => {
            let body = serde_json::json!({"ok": false, "error_code": 500, "description": "Internal Server Error"});
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
    }
}
