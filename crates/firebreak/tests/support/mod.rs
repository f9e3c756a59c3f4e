//! Starts Firebreak for a test, on the embedded adapters or on real nats-server and
//! redis-server processes from the testkit, with the same API for both.

#![allow(dead_code)]

pub mod playbooks;

use std::time::Duration;

use firebreak::app::{RunningApp, start};
use firebreak::config::RunConfig;
use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use firebreak_testkit::{NatsServer, RedisServer, wait_until};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapters {
    Embedded,
    Real,
}

pub struct Harness {
    pub app: Option<RunningApp>,
    pub nats: Option<NatsServer>,
    pub redis: Option<RedisServer>,
    pub http: reqwest::Client,
    pub base: String,
    shutdown: CancellationToken,
}

impl Harness {
    pub async fn start(adapters: Adapters) -> Self {
        Self::start_with(adapters, &[]).await
    }

    pub async fn start_with(adapters: Adapters, extra: &[&str]) -> Self {
        let (nats, redis) = match adapters {
            Adapters::Embedded => (None, None),
            Adapters::Real => (
                Some(NatsServer::start().await.expect("nats-server starts")),
                Some(RedisServer::start().await.expect("redis-server starts")),
            ),
        };
        let mut args: Vec<String> = vec![
            "--http-addr".into(),
            "127.0.0.1:0".into(),
            "--grpc-addr".into(),
            "127.0.0.1:0".into(),
        ];
        if let (Some(nats), Some(redis)) = (&nats, &redis) {
            args.extend([
                "--nats-url".into(),
                nats.url(),
                "--redis-url".into(),
                redis.url(),
            ]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = RunConfig::from_args(&args).expect("valid test config");
        let shutdown = CancellationToken::new();
        let app = start(config, shutdown.clone())
            .await
            .expect("firebreak starts");
        let base = format!("http://{}", app.http_addr);
        Harness {
            app: Some(app),
            nats,
            redis,
            http: reqwest::Client::new(),
            base,
            shutdown,
        }
    }

    pub fn app(&self) -> &RunningApp {
        self.app.as_ref().expect("app running")
    }

    pub fn token(&self, role: Role) -> String {
        self.app().token(role).expect("generated token").to_string()
    }

    pub async fn post_message(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/messages", self.base))
            .bearer_auth(self.token(Role::Ingest))
            .json(body)
            .send()
            .await
            .expect("http request")
    }

    /// Posts a message and returns its id, once ingest accepted it (202).
    pub async fn submit(&self, body: &Value) -> String {
        let response = self.post_message(body).await;
        assert_eq!(response.status(), 202, "POST /v1/messages");
        response.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("an id")
            .to_string()
    }

    /// The case a message opened or joined, once it is escalated (15 s at most).
    pub async fn case_of(&self, message_id: &str) -> String {
        let id = firebreak_core::MessageId::parse(message_id).expect("a message id");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(record)) = self.app().log.get(id).await
                && let Some(firebreak_core::Outcome::Escalated { case_id }) = record.outcome
            {
                return case_id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("message {message_id} was not escalated")
    }

    pub async fn get_message(&self, id: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/v1/messages/{id}", self.base))
            .bearer_auth(self.token(Role::Viewer))
            .send()
            .await
            .expect("http request");
        if response.status() == 404 {
            return None;
        }
        assert_eq!(response.status(), 200, "GET /v1/messages/{id}");
        Some(response.json().await.expect("json"))
    }

    /// Waits until the message has a terminal outcome and returns its record.
    pub async fn terminal(&self, id: &str) -> Value {
        let mut last = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if let Some(record) = self.get_message(id).await {
                if record.get("outcome").is_some_and(|o| !o.is_null()) {
                    return record;
                }
                last = Some(record);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("message {id} reached no terminal outcome; last seen {last:?}");
    }

    pub async fn grpc_ingest(&self) -> pb::ingest_client::IngestClient<tonic::transport::Channel> {
        pb::ingest_client::IngestClient::connect(format!("http://{}", self.app().grpc_addr))
            .await
            .expect("grpc connects")
    }

    pub fn authed<T>(&self, role: Role, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token(role))
            .parse()
            .expect("metadata");
        request.metadata_mut().insert("authorization", value);
        request
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }
}

/// Polls `check` until it holds, failing the test after 15 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = wait_until(Duration::from_secs(15), Duration::from_millis(100), check).await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn message(external_id: &str, text: &str) -> Value {
    json!({
        "channel": "telegram",
        "external_id": external_id,
        "thread_id": format!("chat-{external_id}"),
        "author": {"id": format!("user-{external_id}"), "handle": "jane", "followers": 12, "verified": false},
        "visibility": "private",
        "text": text,
    })
}

pub fn submit_message(external_id: &str, text: &str) -> pb::SubmitMessage {
    pb::SubmitMessage {
        channel: pb::Channel::Whatsapp as i32,
        external_id: external_id.to_string(),
        thread_id: format!("wa-{external_id}"),
        visibility: pb::Visibility::Private as i32,
        author: Some(pb::Author {
            id: format!("wa-user-{external_id}"),
            handle: "sam".into(),
            ..Default::default()
        }),
        text: text.to_string(),
        ..Default::default()
    }
}

/// A message the default playbook answers automatically.
pub const KEY_QUESTION: &str = "When will I get my refund?";

/// Runs each async test body once per adapter set, as `embedded::<name>` and
/// `real::<name>`: one suite, both adapters.
#[allow(unused_macros)]
macro_rules! both_adapters {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Adapters::Embedded).await;
                }
            )*
        }
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Adapters::Real).await;
                }
            )*
        }
    };
}
