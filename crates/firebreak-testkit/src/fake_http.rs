//! A local HTTP server that records requests and answers as told.
//!
//! It stands in for third-party endpoints (platform APIs, webhook receivers)
//! that tests cannot run for real, so a test can assert what was sent and
//! script failures such as `429 Too Many Requests` with `Retry-After`.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the fake server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    /// The path without the query, e.g. `/v1/messages`.
    pub path: String,
    /// The raw query string without `?`, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request arrived, for asserting back-off between retries.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The value of header `name`, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn body_json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("request body is not JSON")
    }
}

/// A scripted response.
#[derive(Clone, Debug)]
pub struct CannedResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl CannedResponse {
    /// An empty response with `status`.
    ///
    /// # Panics
    /// If `status` is not a valid HTTP status code (a bug in the test).
    pub fn new(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("valid http status code"),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// An empty `200 OK`.
    pub fn ok() -> Self {
        Self::new(200)
    }

    /// `429 Too Many Requests` with `Retry-After: <retry_after_secs>`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(429).with_header("retry-after", &retry_after_secs.to_string())
    }

    /// Adds a header.
    ///
    /// # Panics
    /// If `name` or `value` is not a valid header (a bug in the test).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("valid header name");
        let value = HeaderValue::try_from(value).expect("valid header value");
        self.headers.push((name, value));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn with_json(self, body: &serde_json::Value) -> Self {
        self.with_header("content-type", "application/json")
            .with_body(body.to_string())
    }

    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest) -> CannedResponse + Send + Sync>;

/// State shared between the server task and every handle.
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    /// Answers used first, one per request, before falling back to `responder`.
    queued: Mutex<VecDeque<CannedResponse>>,
    responder: Mutex<Responder>,
}

/// A cloneable handle to inspect and reprogram a [`FakeHttpServer`], e.g.
/// from a task that outlives the borrow of the server.
#[derive(Clone)]
pub struct FakeHttpHandle {
    shared: Arc<Shared>,
}

impl FakeHttpHandle {
    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().len()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.shared.requests.lock().clear();
    }

    /// Answers every request (after any queued responses) with `responder(request)`.
    pub fn set_responder<F>(&self, responder: F)
    where
        F: Fn(&RecordedRequest) -> CannedResponse + Send + Sync + 'static,
    {
        *self.shared.responder.lock() = Arc::new(responder);
    }

    /// Answers every request (after any queued responses) with `response`.
    pub fn set_response(&self, response: CannedResponse) {
        self.set_responder(move |_| response.clone());
    }

    /// Queues one-shot responses, used in order before the responder; e.g.
    /// three `429`s followed by the default `200`.
    pub fn enqueue_responses(&self, responses: impl IntoIterator<Item = CannedResponse>) {
        self.shared.queued.lock().extend(responses);
    }

    fn respond(&self, request: RecordedRequest) -> Response {
        let queued = self.shared.queued.lock().pop_front();
        let response = queued.unwrap_or_else(|| {
            // Clone the Arc so a slow responder does not hold the lock.
            let responder = Arc::clone(&self.shared.responder.lock());
            responder(&request)
        });
        self.shared.requests.lock().push(request);
        response.into_response()
    }
}

impl std::fmt::Debug for FakeHttpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHttpHandle")
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

/// A recording HTTP server on a free port of 127.0.0.1, answering any method
/// and path with `200 OK` until told otherwise. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeHttpServer {
    addr: SocketAddr,
    handle: FakeHttpHandle,
    task: JoinHandle<()>,
}

impl FakeHttpServer {
    /// Starts the server. It keeps the listener it bound, so unlike the
    /// process-based servers there is no port race.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let default_responder: Responder = Arc::new(|_| CannedResponse::ok());
        let handle = FakeHttpHandle {
            shared: Arc::new(Shared {
                requests: Mutex::new(Vec::new()),
                queued: Mutex::new(VecDeque::new()),
                responder: Mutex::new(default_responder),
            }),
        };
        let router = Router::new()
            .fallback(record_and_respond)
            .with_state(handle.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "fake http server stopped");
            }
        });
        Ok(Self { addr, handle, task })
    }

    /// The base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A cloneable handle for inspecting and reprogramming the server.
    pub fn handle(&self) -> FakeHttpHandle {
        self.handle.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.handle.requests()
    }

    /// See [`FakeHttpHandle::set_responder`].
    pub fn set_responder<F>(&self, responder: F)
    where
        F: Fn(&RecordedRequest) -> CannedResponse + Send + Sync + 'static,
    {
        self.handle.set_responder(responder);
    }

    /// See [`FakeHttpHandle::set_response`].
    pub fn set_response(&self, response: CannedResponse) {
        self.handle.set_response(response);
    }

    /// See [`FakeHttpHandle::enqueue_responses`].
    pub fn enqueue_responses(&self, responses: impl IntoIterator<Item = CannedResponse>) {
        self.handle.enqueue_responses(responses);
    }
}

impl Drop for FakeHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record_and_respond(State(handle): State<FakeHttpHandle>, request: Request) -> Response {
    let received_at = Instant::now();
    let (parts, body) = request.into_parts();
    // Fakes accept any size: the limit belongs to the code under test.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(%error, "fake http server could not read request body");
            return CannedResponse::new(400).into_response();
        }
    };
    let request = RecordedRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        received_at,
    };
    handle.respond(request)
}
