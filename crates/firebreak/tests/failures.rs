//! What happens when a dependency fails: ingest refuses rather than lies, and comes back
//! by itself. Real servers only: the embedded adapters cannot go down.

mod support;

use std::time::Duration;

use firebreak::app::RunningApp;
use firebreak::config::RunConfig;
use firebreak_core::subjects;
use firebreak_server::auth::Role;
use firebreak_testkit::{NatsServer, RedisServer};
use support::{Adapters, Harness, eventually, message};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_refuses_while_nats_is_down_and_accepts_once_it_is_back() {
    let mut h = Harness::start(Adapters::Real).await;
    let mut accepted = 0u64;
    for i in 0..5 {
        let response = h
            .post_message(&message(&format!("before-{i}"), support::KEY_QUESTION))
            .await;
        assert_eq!(response.status(), 202);
        accepted += 1;
    }

    h.nats.as_mut().unwrap().kill().await.unwrap();
    // The client notices the dead connection within a moment; from then on every
    // attempt must be refused with 503 and Retry-After, never acknowledged.
    let mut refusals = 0;
    for i in 0..10 {
        let response = h
            .post_message(&message(&format!("during-{i}"), support::KEY_QUESTION))
            .await;
        match response.status().as_u16() {
            503 => {
                refusals += 1;
                assert!(
                    response.headers().get("retry-after").is_some(),
                    "503 carries Retry-After"
                );
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "unavailable");
            }
            other => panic!("ingest answered {other} with NATS down"),
        }
    }
    assert_eq!(refusals, 10);
    let readyz = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503, "not ready without NATS");

    h.nats.as_mut().unwrap().restart().await.unwrap();
    let mut after = 0;
    eventually("ingest accepts again after NATS restarts", || {
        after += 1;
        let body = message(&format!("after-{after}"), support::KEY_QUESTION);
        let h = &h;
        async move { h.post_message(&body).await.status() == 202 }
    })
    .await;
    accepted += 1;

    // Everything that got a 2xx is in the stream, and nothing else is.
    let in_stream = h
        .app()
        .bus
        .stream_bounds(subjects::STREAM_INBOUND)
        .await
        .unwrap()
        .last;
    assert_eq!(
        in_stream, accepted,
        "every accepted message, and only those, is in the stream"
    );
    let readyz = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_refuses_while_redis_is_down() {
    let mut h = Harness::start(Adapters::Real).await;
    h.redis.as_mut().unwrap().kill().await.unwrap();
    let response = h.post_message(&message("r1", support::KEY_QUESTION)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let readyz = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    assert_eq!(
        readyz.text().await.unwrap(),
        "not ready",
        "no internal detail without a token"
    );
    let detailed = h
        .http
        .get(format!("{}/readyz", h.base))
        .bearer_auth(h.token(Role::Viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(detailed.status(), 503);
    assert!(detailed.text().await.unwrap().starts_with("not ready: "));
    h.redis.as_mut().unwrap().restart().await.unwrap();
    let id = {
        let mut id = None;
        for _ in 0..100 {
            let response = h.post_message(&message("r2", support::KEY_QUESTION)).await;
            if response.status() == 202 {
                id = Some(
                    response.json::<serde_json::Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        id.expect("accepted after redis restart")
    };
    let record = h.terminal(&id).await;
    assert_eq!(record["status"], "replied", "{record}");
    h.stop().await;
}

async fn start_app(nats: &NatsServer, redis: &RedisServer, roles: &str) -> RunningApp {
    let args = [
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--roles",
        roles,
        "--nats-url",
        &nats.url(),
        "--redis-url",
        &redis.url(),
    ];
    let config = RunConfig::from_args(args).unwrap();
    firebreak::app::start(config, CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_work_is_finished_by_the_next_process() {
    let nats = NatsServer::start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let client = reqwest::Client::new();

    // Only ingest runs: messages are accepted into the stream, nothing classifies them.
    let ingest_only = start_app(&nats, &redis, "ingest").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let text = if i % 2 == 0 {
            support::KEY_QUESTION
        } else {
            "my lawyer will call"
        };
        let response = client
            .post(format!("http://{}/v1/messages", ingest_only.http_addr))
            .bearer_auth(ingest_only.token(Role::Ingest).unwrap())
            .json(&message(&format!("restart-{i}"), text))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        ids.push(
            response.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ingest_only.stop().await;

    // A new process running every role picks the work up from the durable consumers.
    let all = start_app(&nats, &redis, "all").await;
    let viewer = all.token(Role::Viewer).unwrap().to_string();
    for id in &ids {
        let url = format!("http://{}/v1/messages/{id}", all.http_addr);
        eventually("accepted work is finished after a restart", || {
            let (client, url, viewer) = (&client, &url, &viewer);
            async move {
                let Ok(response) = client.get(url).bearer_auth(viewer).send().await else {
                    return false;
                };
                let record: serde_json::Value = response.json().await.unwrap_or_default();
                record["outcome"].is_object()
            }
        })
        .await;
    }
    all.stop().await;
}
