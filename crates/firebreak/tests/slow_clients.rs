//! Slow and abandoned clients over a real socket: a stalled head, a stalled body and an
//! abandoned body each lose their connection after the configured timeout and are
//! counted under their own reason. Also: oversized gRPC messages are refused on every
//! service.
//!
//! Timeouts concern the HTTP front only, so these run on the embedded adapters.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use support::{Adapters, Harness};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const META_SECRET: &str = "meta-app-secret-for-tests";

async fn start() -> Harness {
    Harness::start_with(
        Adapters::Embedded,
        &[
            "--meta-app-secret",
            META_SECRET,
            "--http-header-timeout-secs",
            "1",
            "--http-body-timeout-secs",
            "1",
            "--http-idle-timeout-secs",
            "2",
        ],
    )
    .await
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(h.app().http_addr).await.unwrap()
}

/// Reads until the server closes the connection; what it said, and how long it took.
async fn until_closed(mut stream: TcpStream) -> (String, Duration) {
    let begun = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    (String::from_utf8_lossy(&seen).into_owned(), begun.elapsed())
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

fn meta_head(content_length: usize) -> String {
    format!(
        "POST /webhooks/meta HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         x-hub-signature-256: sha256=00\r\ncontent-length: {content_length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_head_is_closed_after_the_header_timeout() {
    let h = start().await;
    let mut stream = connect(&h).await;
    stream
        .write_all(b"POST /v1/messages HTTP/1.1\r\nhost: test\r\ncontent-")
        .await
        .unwrap();
    let (_, took) = until_closed(stream).await;
    assert!(took < Duration::from_secs(4), "closed after {took:?}");

    // A connection that never says anything goes the same way.
    let (said, took) = until_closed(connect(&h).await).await;
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    assert!(!said.contains("200"), "{said}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_and_is_closed_after_the_body_timeout() {
    let h = start().await;
    let mut stream = connect(&h).await;
    stream
        .write_all(meta_head(100_000).as_bytes())
        .await
        .unwrap();
    stream.write_all(b"{\"object\":\"page\",").await.unwrap();
    let (said, took) = until_closed(stream).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    let page = metrics(&h).await;
    assert!(
        page.contains(r#"source="meta",reason="body_timeout"} 1"#),
        "{page}"
    );
    assert!(!page.contains(r#"source="meta",reason="too_large""#));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_body_is_counted_as_disconnected_not_too_large() {
    let h = start().await;
    let mut stream = connect(&h).await;
    stream
        .write_all(meta_head(100_000).as_bytes())
        .await
        .unwrap();
    stream.write_all(b"{\"object\":").await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    support::eventually("the disconnect is counted", || async {
        metrics(&h)
            .await
            .contains(r#"source="meta",reason="disconnected"} 1"#)
    })
    .await;
    assert!(
        !metrics(&h)
            .await
            .contains(r#"source="meta",reason="too_large""#)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_stalled_bodies_are_all_dropped() {
    let h = start().await;
    let body = vec![b' '; 200 * 1024];
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = connect(&h).await;
        stream
            .write_all(meta_head(250 * 1024).as_bytes())
            .await
            .unwrap();
        stream.write_all(&body).await.unwrap();
        stalled.push(tokio::spawn(until_closed(stream)));
    }
    // 200 × 250 KiB is past the in-flight body budget: those over it are refused at
    // once (503), the others time out (408); every connection closes.
    let mut timed_out = 0;
    for closed in stalled {
        let (said, took) = closed.await.unwrap();
        assert!(
            said.starts_with("HTTP/1.1 408") || said.starts_with("HTTP/1.1 503"),
            "{said}"
        );
        timed_out += usize::from(said.starts_with("HTTP/1.1 408"));
        assert!(took < Duration::from_secs(6), "closed after {took:?}");
    }
    assert!(
        timed_out > 0,
        "the bodies within the budget are read until the timeout"
    );
    // Every connection is gone: a fresh request is served at once.
    let health = h.http.get(format!("{}/healthz", h.base)).send().await;
    assert_eq!(health.unwrap().status(), 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let h = start().await;
    let mut stream = connect(&h).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let (said, took) = until_closed(stream).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_grpc_messages_are_refused_on_every_service() {
    let h = start().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let big = "x".repeat(100 * 1024);
    let is_too_large = |status: tonic::Status| {
        assert!(
            matches!(
                status.code(),
                tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
            ),
            "{status:?}"
        );
    };
    let mut classifier = pb::classifier_client::ClassifierClient::new(channel.clone());
    let request = h.authed(
        Role::Viewer,
        pb::ClassifyRequest {
            message: Some(support::submit_message("big-0", &"x".repeat(300 * 1024))),
            ..Default::default()
        },
    );
    is_too_large(classifier.classify(request).await.unwrap_err());

    let mut moderation = pb::moderation_client::ModerationClient::new(channel.clone());
    let request = h.authed(
        Role::Moderator,
        pb::ResolveRequest {
            id: "c".into(),
            note: big.clone(),
            ..Default::default()
        },
    );
    is_too_large(moderation.resolve(request).await.unwrap_err());

    let mut crisis = pb::crisis_control_client::CrisisControlClient::new(channel.clone());
    let request = h.authed(
        Role::Crisis,
        pb::SetModeRequest {
            reason: big.clone(),
            ..Default::default()
        },
    );
    is_too_large(crisis.set_mode(request).await.unwrap_err());

    let mut ingest = pb::ingest_client::IngestClient::new(channel);
    let mut message = support::submit_message("big-1", "hello");
    message.text = "x".repeat(300 * 1024);
    let request = h.authed(
        Role::Ingest,
        pb::SubmitRequest {
            message: Some(message),
        },
    );
    is_too_large(ingest.submit(request).await.unwrap_err());
    h.stop().await;
}
