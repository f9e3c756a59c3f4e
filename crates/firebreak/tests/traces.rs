//! One message, one trace, across processes: a small OTLP collector listens on
//! loopback, three `firebreak run` processes (ingest, classify, reply) export their
//! spans to it, and one message submitted to ingest must show up as a single trace id
//! with spans from all three roles. No span carries the message's text or its
//! author's personal data. Real nats-server and redis-server, real child processes.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_server::auth::{Role, new_secret, tokens_file_line};
use firebreak_testkit::{ChildProcess, NatsServer, RedisServer, free_port, wait_until};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::json;
use tokio::sync::Mutex;

/// Everything the processes exported.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().await.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// One exported span, flattened.
#[derive(Debug)]
struct Span {
    service: String,
    trace_id: Vec<u8>,
    name: String,
    /// Every string in its attributes and events, for the personal-data check.
    strings: Vec<String>,
    attributes: Vec<(String, String)>,
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

async fn spans(collector: &Collector) -> Vec<Span> {
    let mut out = Vec::new();
    for request in collector.0.lock().await.iter() {
        for resource_spans in &request.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| pairs(&r.attributes))
                .unwrap_or_default();
            let service = resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    let attributes = pairs(&span.attributes);
                    let mut strings: Vec<String> =
                        attributes.iter().map(|(_, v)| v.clone()).collect();
                    for event in &span.events {
                        strings.push(event.name.clone());
                        strings.extend(pairs(&event.attributes).into_iter().map(|(_, v)| v));
                    }
                    out.push(Span {
                        service: service.clone(),
                        trace_id: span.trace_id.clone(),
                        name: span.name.clone(),
                        strings,
                        attributes,
                    });
                }
            }
        }
    }
    out
}

struct RoleProcess {
    process: ChildProcess,
    http: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_is_one_trace_across_three_roles_without_personal_data() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let serving = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });

    let nats = NatsServer::start().await.expect("nats-server starts");
    let redis = RedisServer::start().await.expect("redis-server starts");
    let dir = tempfile::tempdir().unwrap();
    let (ingest_token, viewer_token) = (new_secret(), new_secret());
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!(
            "{}\n{}\n",
            tokens_file_line(Role::Ingest, "trace-test", &ingest_token),
            tokens_file_line(Role::Viewer, "trace-viewer", &viewer_token)
        ),
    )
    .unwrap();

    let mut roles = Vec::new();
    for role in ["ingest", "classify", "reply"] {
        let http = format!("127.0.0.1:{}", free_port().unwrap());
        let grpc = format!("127.0.0.1:{}", free_port().unwrap());
        let args: Vec<OsString> = [
            "run",
            "--roles",
            role,
            "--http-addr",
            &http,
            "--grpc-addr",
            &grpc,
            "--nats-url",
            &nats.url(),
            "--redis-url",
            &redis.url(),
            "--tokens-file",
            tokens.to_str().unwrap(),
            "--otlp-endpoint",
            &otlp,
            "--log-format",
            "json",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let log = dir.path().join(format!("{role}.log"));
        // The batch exporter's default 5 s delay is what a pod wants; the test wants
        // its spans sooner. (The child's environment, not this process's.)
        let process = ChildProcess::spawn_with_env(
            env!("CARGO_BIN_EXE_firebreak").as_ref(),
            &args,
            &[("OTEL_BSP_SCHEDULE_DELAY", "200")],
            &log,
        )
        .expect("firebreak starts");
        roles.push(RoleProcess { process, http });
    }
    let client = reqwest::Client::new();
    for role in &roles {
        let ready = format!("http://{}/readyz", role.http);
        wait_until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async {
                client
                    .get(&ready)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            },
        )
        .await
        .unwrap_or_else(|_| panic!("not ready; log:\n{}", role.process.log_tail(30)));
    }

    let secret_text = "When will I get my refund? My card ends 4242";
    let handle = "tracehandle-7731";
    let author_id = "author-7731-private";
    let response = client
        .post(format!("http://{}/v1/messages", roles[0].http))
        .bearer_auth(&ingest_token)
        .json(&json!({
            "channel": "telegram",
            "external_id": "trace-1",
            "thread_id": "chat-trace-1",
            "author": {"id": author_id, "handle": handle, "followers": 3, "verified": false},
            "visibility": "private",
            "text": secret_text,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("http://{}/v1/messages/{id}", roles[0].http);
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let Ok(r) = client.get(&url).bearer_auth(&viewer_token).send().await else {
                return false;
            };
            let record: serde_json::Value = r.json().await.unwrap_or_default();
            record["status"] == "replied"
        },
    )
    .await
    .expect("the message is replied to");

    // Stop the roles: shutdown flushes whatever the exporters still hold.
    for role in &mut roles {
        role.process.terminate().await.unwrap();
    }
    let started = Instant::now();
    let services = loop {
        let spans = spans(&collector).await;
        let traces: Vec<&Vec<u8>> = spans
            .iter()
            .filter(|s| {
                s.attributes
                    .iter()
                    .any(|(k, v)| k == "message_id" && *v == id)
            })
            .map(|s| &s.trace_id)
            .collect();
        let mut services: Vec<&str> = spans
            .iter()
            .filter(|s| traces.first().is_some_and(|t| *t == &s.trace_id))
            .map(|s| s.service.as_str())
            .collect();
        services.sort();
        services.dedup();
        if services.len() >= 3 || started.elapsed() > Duration::from_secs(15) {
            // One trace id for the message, whichever stage's span names it.
            let mut distinct = traces.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 1, "one trace for the message: {spans:#?}");
            for span in &spans {
                for value in &span.strings {
                    // "ends 4242", not "4242": four digits alone turn up in random
                    // ports and ids.
                    for private in [secret_text, "refund?", "ends 4242", handle, author_id] {
                        assert!(
                            !value.contains(private),
                            "span {} ({}) carries {private:?} in {value:?}",
                            span.name,
                            span.service
                        );
                    }
                }
            }
            break services.into_iter().map(str::to_string).collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        services,
        ["firebreak-classify", "firebreak-ingest", "firebreak-reply"],
        "spans from the three roles in one trace"
    );
}
