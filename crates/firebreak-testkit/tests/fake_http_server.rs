//! The fake HTTP server records what it receives and answers as scripted.

use std::time::Duration;

use firebreak_testkit::{CannedResponse, FakeHttpServer, wait_until};

#[tokio::test]
async fn records_requests_and_serves_programmed_429_then_200() -> anyhow::Result<()> {
    let server = FakeHttpServer::start().await?;
    server.enqueue_responses([
        CannedResponse::too_many_requests(7),
        CannedResponse::too_many_requests(7),
    ]);
    server.set_response(CannedResponse::new(201).with_json(&serde_json::json!({ "id": "msg-1" })));
    let http = reqwest::Client::new();
    let send = || {
        http.post(format!("{}/v1/messages?dry_run=1", server.url()))
            .header("authorization", "Bearer test-token")
            .body(r#"{"text":"hello"}"#)
            .send()
    };

    for _ in 0..2 {
        let response = send().await?;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    let response = send().await?;
    assert_eq!(response.status(), 201);
    assert_eq!(response.text().await?, r#"{"id":"msg-1"}"#);

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/messages");
    assert_eq!(first.query.as_deref(), Some("dry_run=1"));
    assert_eq!(first.header("authorization"), Some("Bearer test-token"));
    assert_eq!(first.body_json()?["text"], "hello");
    assert!(requests[0].received_at <= requests[2].received_at);
    Ok(())
}

#[tokio::test]
async fn responder_can_be_changed_at_runtime_through_a_handle() -> anyhow::Result<()> {
    let server = FakeHttpServer::start().await?;
    let handle = server.handle();
    let http = reqwest::Client::new();

    assert_eq!(http.get(server.url()).send().await?.status(), 200);
    handle.set_responder(|request| {
        if request.path == "/down" {
            CannedResponse::new(503)
        } else {
            CannedResponse::ok().with_body(request.path.clone())
        }
    });
    assert_eq!(
        http.get(format!("{}/down", server.url()))
            .send()
            .await?
            .status(),
        503
    );
    let echoed = http
        .get(format!("{}/echo", server.url()))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(echoed, "/echo");

    // Requests sent in the background are visible through the handle.
    let url = server.url();
    tokio::spawn(async move { reqwest::Client::new().put(url).send().await });
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(10),
        || async {
            handle
                .requests()
                .iter()
                .any(|request| request.method == "PUT")
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn wait_until_fails_after_the_timeout() {
    let result = wait_until(
        Duration::from_millis(50),
        Duration::from_millis(10),
        || async { false },
    )
    .await;
    assert!(result.is_err());
}
