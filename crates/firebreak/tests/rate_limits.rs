//! The request limits apply after authentication, keyed by who was authenticated:
//! unsigned deliveries cannot spend a platform's bucket, each token has its own bucket
//! across HTTP and gRPC, and classification has a smaller one per token.

mod support;

use firebreak_proto::v1 as pb;
use firebreak_server::auth::{Role, tokens_file_line};
use serde_json::json;
use support::{Adapters, Harness, message, submit_message};

const TELEGRAM_SECRET: &str = "rate_limit_token";

fn update(n: u64) -> Vec<u8> {
    json!({
        "update_id": n,
        "message": {
            "message_id": n,
            "from": {"id": 42, "is_bot": false, "first_name": "Ana"},
            "chat": {"id": 42, "type": "private", "first_name": "Ana"},
            "date": 1_700_000_000,
            "text": "Where is my refund?",
        }
    })
    .to_string()
    .into_bytes()
}

async fn telegram(h: &Harness, secret: &str, n: u64) -> u16 {
    h.http
        .post(format!("{}/webhooks/telegram", h.base))
        .header("x-telegram-bot-api-secret-token", secret)
        .body(update(n))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_deliveries_cannot_spend_a_platforms_bucket() {
    let h = Harness::start_with(
        Adapters::Real,
        &[
            "--telegram-secret-token",
            TELEGRAM_SECRET,
            "--ingest-rate-per-source",
            "3",
        ],
    )
    .await;
    // A flood of forged deliveries, from the same address as the platform (as behind
    // an Ingress): each is refused, and none is charged to Telegram's bucket.
    for n in 0..30 {
        assert_eq!(telegram(&h, "forged", n).await, 401);
    }
    let mut statuses = Vec::new();
    for n in 100..106 {
        statuses.push(telegram(&h, TELEGRAM_SECRET, n).await);
    }
    assert_eq!(
        &statuses[..3],
        [200, 200, 200],
        "the platform's burst is whole"
    );
    assert!(
        statuses.contains(&429),
        "then its rate applies: {statuses:?}"
    );
    h.stop().await;
}

fn authed<T>(secret: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    request
}

const LOADER_A: &str = "fb_loader_a_secret";
const LOADER_B: &str = "fb_loader_b_secret";
const VIEWER_A: &str = "fb_viewer_a_secret";
const VIEWER_B: &str = "fb_viewer_b_secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_has_its_own_bucket_on_http_and_grpc_and_classify_a_smaller_one() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let lines = [
        tokens_file_line(Role::Ingest, "loader-a", LOADER_A),
        tokens_file_line(Role::Ingest, "loader-b", LOADER_B),
        tokens_file_line(Role::Viewer, "viewer-a", VIEWER_A),
        tokens_file_line(Role::Viewer, "viewer-b", VIEWER_B),
    ];
    std::fs::write(&tokens, lines.join("\n")).unwrap();
    let h = Harness::start_with(
        Adapters::Real,
        &[
            "--tokens-file",
            tokens.to_str().unwrap(),
            "--ingest-rate-per-source",
            "5",
            "--classify-rate-per-token",
            "1",
        ],
    )
    .await;
    let post = |secret: &'static str, n: u32| {
        let h = &h;
        async move {
            h.http
                .post(format!("{}/v1/messages", h.base))
                .bearer_auth(secret)
                .json(&message(&format!("rl-{secret}-{n}"), "hello"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Warm up with the other token: one of the first requests after start pays a
    // one-off set-up (seen up to 1.6 s), long enough for a bucket to refill mid-burst.
    for n in 0..2 {
        assert_eq!(post(LOADER_B, 100 + n).await, 202);
    }
    // Connected before the burst, so the bucket has no time to refill in between.
    let grpc = format!("http://{}", h.app().grpc_addr);
    let ingest = pb::ingest_client::IngestClient::connect(grpc.clone())
        .await
        .unwrap();
    // Ten at once: the bucket (5 a second, burst 5) lets five through and refuses the
    // rest, however slowly a loaded machine answers each request (sent one after the
    // other, seven requests could take long enough for the bucket to refill).
    let statuses = futures::future::join_all((0..10).map(|n| post(LOADER_A, n))).await;
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert!((5..10).contains(&accepted), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 429),
        "{statuses:?}"
    );

    // The same bucket over gRPC, right after the burst: five at once, so that a token
    // refilled meanwhile cannot let them all through.
    let answers = futures::future::join_all((0..5).map(|n| {
        let mut ingest = ingest.clone();
        async move {
            ingest
                .submit(authed(
                    LOADER_A,
                    pb::SubmitRequest {
                        message: Some(submit_message(&format!("rl-grpc-a-{n}"), "hello")),
                    },
                ))
                .await
        }
    }))
    .await;
    let refused = answers
        .into_iter()
        .find_map(Result::err)
        .expect("the spent bucket refuses gRPC too");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(refused.metadata().get("retry-after").is_some());
    assert_eq!(
        post(LOADER_B, 0).await,
        202,
        "another token, another bucket"
    );

    let classify = |secret: &'static str| {
        let h = &h;
        async move {
            h.http
                .post(format!("{}/v1/classify", h.base))
                .bearer_auth(secret)
                .json(&json!({"text": "where is my order"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Classification: one per second per token, apart from the general bucket. A first
    // call warms the encoder up, so the burst below is not spread by its start-up.
    let mut classifier = pb::classifier_client::ClassifierClient::connect(grpc)
        .await
        .unwrap();
    let request = || pb::ClassifyRequest {
        message: Some(pb::SubmitMessage {
            text: "where is my order".into(),
            ..Default::default()
        }),
        crisis: None,
    };
    assert!(
        classifier
            .classify(authed(VIEWER_B, request()))
            .await
            .is_ok()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Sent at once, so the bucket has little time to refill between them.
    let (a, b, c, d) = tokio::join!(
        classify(VIEWER_A),
        classify(VIEWER_A),
        classify(VIEWER_A),
        classify(VIEWER_A)
    );
    let statuses = [a, b, c, d];
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let (mut c1, mut c2, mut c3) = (classifier.clone(), classifier.clone(), classifier.clone());
    let (a, b, c) = tokio::join!(
        c1.classify(authed(VIEWER_A, request())),
        c2.classify(authed(VIEWER_A, request())),
        c3.classify(authed(VIEWER_A, request()))
    );
    let codes: Vec<tonic::Code> = [a, b, c]
        .into_iter()
        .map(|r| r.err().map_or(tonic::Code::Ok, |s| s.code()))
        .collect();
    assert!(codes.contains(&tonic::Code::ResourceExhausted), "{codes:?}");
    // The token's general bucket (5/s) was not what refused them.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(classify(VIEWER_A).await, 200);
    h.stop().await;
}
