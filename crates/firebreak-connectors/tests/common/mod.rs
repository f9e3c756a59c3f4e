//! A fake platform for the connector tests: an axum server on a free local port that
//! records every request and answers from a script, then a default answer.

#![allow(dead_code)] // each test binary uses a different part of it

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use firebreak_connectors::{HttpOptions, OutboundReply, build_http_client};
use firebreak_core::{Channel, Visibility};
use parking_lot::Mutex;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
    pub received_at: Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// Held back this long before answering, to provoke client timeouts.
    pub delay: Duration,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct Shared {
    recorded: Mutex<Vec<RecordedRequest>>,
    script: Mutex<VecDeque<Answer>>,
    default_answer: Answer,
}

pub struct FakePlatform {
    pub base_url: String,
    shared: Arc<Shared>,
}

impl FakePlatform {
    /// Starts the server; it answers `default_answer` once the script runs out.
    pub async fn start(default_answer: Answer) -> Self {
        let shared = Arc::new(Shared {
            recorded: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default_answer,
        });
        let app = axum::Router::new()
            .fallback(record_and_answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakePlatform {
            base_url: format!("http://{address}"),
            shared,
        }
    }

    /// Queues answers given before the default one, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.script.lock().extend(answers);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorded.lock().clone()
    }

    pub fn only_request(&self) -> RecordedRequest {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.into_iter().next().unwrap()
    }
}

async fn record_and_answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.recorded.lock().push(RecordedRequest {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        received_at: Instant::now(),
    });
    let answer = shared
        .script
        .lock()
        .pop_front()
        .unwrap_or_else(|| shared.default_answer.clone());
    tokio::time::sleep(answer.delay).await;
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap(),
        axum::Json(answer.body),
    )
        .into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

pub fn client() -> reqwest::Client {
    build_http_client(&HttpOptions::default()).unwrap()
}

pub fn client_with_timeout(request_timeout: Duration) -> reqwest::Client {
    build_http_client(&HttpOptions {
        request_timeout,
        ..HttpOptions::default()
    })
    .unwrap()
}

pub fn reply(channel: Channel, visibility: Visibility) -> OutboundReply {
    OutboundReply {
        message_id: "0190f5e2-7c1a-7d3e-9a51-3c7ef0b2d94a".into(),
        channel,
        thread_id: "thread-1".into(),
        recipient_id: "4242".into(),
        in_reply_to_external_id: "777".into(),
        visibility,
        text: "Thanks for reaching out, we are on it.".into(),
        idempotency_key: OutboundReply::auto_reply_key("0190f5e2-7c1a-7d3e-9a51-3c7ef0b2d94a"),
        reply_token: None,
    }
}
