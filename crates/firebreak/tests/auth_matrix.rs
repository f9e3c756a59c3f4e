//! The auth matrix: every HTTP route and every gRPC method, called with no token, with
//! a token of a role that may not use it, and with the role that may, answers 401 /
//! 403 / 2xx (UNAUTHENTICATED / PERMISSION_DENIED / OK). The table is in the README.
//!
//! Webhooks authenticate by signature (tests/webhooks.rs); health, readiness and
//! metrics are public. Also here: routes follow `--roles`, and watch streams are capped
//! per token.

#[macro_use]
mod support;

use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Adapters, Harness};
use tonic::transport::Channel;

const P1_TEXT: &str = "if my refund doesn't come I'll kill myself";

/// A role that is refused where `required` is needed.
fn wrong_role(required: Role) -> Role {
    match required {
        Role::Viewer | Role::Moderator => Role::Ingest,
        Role::Ingest => Role::Viewer,
        Role::Crisis => Role::Moderator,
        Role::Admin => Role::Crisis,
    }
}

async fn call(h: &Harness, method: &Method, path: &str, body: &Value, token: Option<Role>) -> u16 {
    let mut request = h.http.request(method.clone(), format!("{}{path}", h.base));
    if let Some(role) = token {
        request = request.bearer_auth(h.token(role));
    }
    request = match body {
        Value::Null => request,
        Value::String(raw) => request.body(raw.clone()),
        json => request.json(json),
    };
    request.send().await.unwrap().status().as_u16()
}

/// Checks one HTTP route's three rows of the matrix.
async fn http_row(h: &Harness, method: Method, path: &str, body: Value, role: Role) {
    let none = call(h, &method, path, &body, None).await;
    assert_eq!(none, 401, "{method} {path} without a token");
    let wrong = call(h, &method, path, &body, Some(wrong_role(role))).await;
    assert_eq!(wrong, 403, "{method} {path} as {}", wrong_role(role));
    let right = call(h, &method, path, &body, Some(role)).await;
    assert!(
        (200..300).contains(&right),
        "{method} {path} as {role}: {right}"
    );
}

async fn submit(h: &Harness, external_id: &str, text: &str) -> String {
    let body = json!({
        "channel": "telegram",
        "external_id": external_id,
        "thread_id": format!("thread-{external_id}"),
        "author": {"id": format!("author-{external_id}"), "handle": "someone"},
        "visibility": "private",
        "text": text,
    });
    h.submit(&body).await
}

fn playbook_yaml() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../firebreak-triage/playbooks/default.yaml"
    );
    std::fs::read_to_string(path).unwrap()
}

async fn every_http_route_answers_401_403_and_2xx_by_role(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let id = submit(&h, "matrix-1", "hello").await;
    let case = h.case_of(&submit(&h, "matrix-p1", P1_TEXT).await).await;
    let message = json!({
        "channel": "telegram", "external_id": "matrix-2", "thread_id": "t",
        "author": {"id": "a"}, "visibility": "private", "text": "hello",
    });
    let rows = [
        (
            Method::POST,
            "/v1/messages".to_string(),
            message,
            Role::Ingest,
        ),
        (
            Method::GET,
            format!("/v1/messages/{id}"),
            Value::Null,
            Role::Viewer,
        ),
        (
            Method::GET,
            "/v1/messages?channel=telegram&external_id=matrix-1".into(),
            Value::Null,
            Role::Viewer,
        ),
        (
            Method::POST,
            "/v1/classify".into(),
            json!({"text": "hello"}),
            Role::Viewer,
        ),
        (Method::GET, "/v1/crisis".into(), Value::Null, Role::Viewer),
        (
            Method::PUT,
            "/v1/crisis".into(),
            json!({"active": false, "reason": "matrix"}),
            Role::Crisis,
        ),
        (
            Method::GET,
            "/v1/playbooks".into(),
            Value::Null,
            Role::Viewer,
        ),
        (
            Method::PUT,
            "/v1/playbooks/matrix".into(),
            // The file's `name:` must be the name it is uploaded as.
            Value::String(playbook_yaml().replacen("name: default", "name: matrix", 1)),
            Role::Crisis,
        ),
        (
            Method::GET,
            "/v1/playbooks/matrix".into(),
            Value::Null,
            Role::Viewer,
        ),
        (
            Method::GET,
            "/v1/playbooks/matrix/diff?against=default".into(),
            Value::Null,
            Role::Viewer,
        ),
        (
            Method::POST,
            "/v1/playbooks/matrix/rehearse".into(),
            json!({"messages": [{"text": "where is my order"}]}),
            Role::Crisis,
        ),
        (
            Method::POST,
            "/v1/playbooks/matrix/activate".into(),
            json!({"reason": "matrix"}),
            Role::Crisis,
        ),
        (
            Method::POST,
            "/v1/playbooks/rollback".into(),
            json!({"reason": "matrix"}),
            Role::Crisis,
        ),
        (Method::GET, "/v1/audit".into(), Value::Null, Role::Viewer),
        (Method::GET, "/v1/cases".into(), Value::Null, Role::Viewer),
        (Method::GET, "/v1/whoami".into(), Value::Null, Role::Viewer),
        (
            Method::GET,
            "/v1/cases/events".into(),
            Value::Null,
            Role::Viewer,
        ),
        (
            Method::GET,
            format!("/v1/cases/{case}"),
            Value::Null,
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/claim"),
            Value::Null,
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/release"),
            Value::Null,
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/claim"),
            Value::Null,
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/ack"),
            Value::Null,
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/resolve"),
            json!({"note": "handled"}),
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/reopen"),
            Value::Null,
            Role::Moderator,
        ),
        (
            Method::POST,
            format!("/v1/cases/{case}/snooze"),
            json!({"minutes": 5}),
            Role::Moderator,
        ),
        (
            Method::POST,
            "/v1/cases/bulk-resolve".into(),
            json!({"ids": [case], "reason": "matrix noise"}),
            Role::Moderator,
        ),
        (
            Method::DELETE,
            format!("/v1/cases/{case}/texts"),
            json!({"reason": "erasure request"}),
            Role::Admin,
        ),
    ];
    for (method, path, body, role) in rows {
        http_row(&h, method, &path, body, role).await;
    }
    // Admin may do everything; public routes need nothing.
    assert_eq!(
        call(
            &h,
            &Method::GET,
            "/v1/cases",
            &Value::Null,
            Some(Role::Admin)
        )
        .await,
        200
    );
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/console",
        "/console/console.js",
        "/console/console.css",
    ] {
        assert_eq!(call(&h, &Method::GET, path, &Value::Null, None).await, 200);
    }
    h.stop().await;
}

fn with(h: &Harness, role: Option<Role>) -> impl Fn() -> tonic::metadata::MetadataMap + '_ {
    move || {
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Some(role) = role {
            let value = format!("Bearer {}", h.token(role)).parse().unwrap();
            metadata.insert("authorization", value);
        }
        metadata
    }
}

fn request<T>(metadata: tonic::metadata::MetadataMap, message: T) -> tonic::Request<T> {
    tonic::Request::from_parts(metadata, Default::default(), message)
}

/// Runs one gRPC method three times (no token, wrong role, right role) and checks the
/// codes. `run` makes the call with the given metadata and returns its status.
async fn grpc_row<F, Fut>(h: &Harness, name: &str, role: Role, run: F)
where
    F: Fn(tonic::metadata::MetadataMap) -> Fut,
    Fut: std::future::Future<Output = tonic::Code>,
{
    assert_eq!(
        run(with(h, None)()).await,
        tonic::Code::Unauthenticated,
        "{name} without a token"
    );
    assert_eq!(
        run(with(h, Some(wrong_role(role)))()).await,
        tonic::Code::PermissionDenied,
        "{name} as {}",
        wrong_role(role)
    );
    assert_eq!(
        run(with(h, Some(role))()).await,
        tonic::Code::Ok,
        "{name} as {role}"
    );
}

fn code<T>(result: Result<T, tonic::Status>) -> tonic::Code {
    result.map_or_else(|s| s.code(), |_| tonic::Code::Ok)
}

async fn every_grpc_method_answers_by_role(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let channel = Channel::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let case = h.case_of(&submit(&h, "grpc-p1", P1_TEXT).await).await;
    let ingest = pb::ingest_client::IngestClient::new(channel.clone());
    let classifier = pb::classifier_client::ClassifierClient::new(channel.clone());
    let moderation = pb::moderation_client::ModerationClient::new(channel.clone());
    let crisis = pb::crisis_control_client::CrisisControlClient::new(channel.clone());

    let counter = std::sync::atomic::AtomicUsize::new(0);
    grpc_row(&h, "Ingest/Submit", Role::Ingest, |md| {
        let mut c = ingest.clone();
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let message = support::submit_message(&format!("grpc-matrix-{n}"), "hello");
        async move {
            let r = request(
                md,
                pb::SubmitRequest {
                    message: Some(message),
                },
            );
            code(c.submit(r).await)
        }
    })
    .await;
    grpc_row(&h, "Ingest/SubmitStream", Role::Ingest, |md| {
        let mut c = ingest.clone();
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let message = support::submit_message(&format!("grpc-stream-{n}"), "hello");
        async move {
            let outbound = tokio_stream::iter([pb::SubmitStreamRequest {
                message: Some(message),
                ..Default::default()
            }]);
            match c.submit_stream(request(md, outbound)).await {
                Ok(response) => {
                    let mut acks = response.into_inner();
                    code(acks.message().await)
                }
                Err(s) => s.code(),
            }
        }
    })
    .await;
    grpc_row(&h, "Classifier/Classify", Role::Viewer, |md| {
        let mut c = classifier.clone();
        async move {
            let r = pb::ClassifyRequest {
                message: Some(support::submit_message("dry", "hello")),
                ..Default::default()
            };
            code(c.classify(request(md, r)).await)
        }
    })
    .await;
    grpc_row(&h, "Moderation/Watch", Role::Moderator, |md| {
        let mut c = moderation.clone();
        async move { code(c.watch(request(md, pb::WatchRequest { cursor: 0 })).await) }
    })
    .await;
    grpc_row(&h, "Moderation/ListCases", Role::Viewer, |md| {
        let mut c = moderation.clone();
        async move {
            code(
                c.list_cases(request(md, pb::ListCasesRequest::default()))
                    .await,
            )
        }
    })
    .await;
    grpc_row(&h, "Moderation/GetCase", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let id = case.clone();
        async move { code(c.get_case(request(md, pb::GetCaseRequest { id })).await) }
    })
    .await;
    grpc_row(&h, "Moderation/Claim", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let id = case.clone();
        async move { code(c.claim(request(md, pb::ClaimRequest { id })).await) }
    })
    .await;
    grpc_row(&h, "Moderation/Release", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let id = case.clone();
        async move { code(c.release(request(md, pb::ReleaseRequest { id })).await) }
    })
    .await;
    let mut reclaim = moderation.clone();
    let again = request(
        with(&h, Some(Role::Moderator))(),
        pb::ClaimRequest { id: case.clone() },
    );
    reclaim.claim(again).await.unwrap();
    grpc_row(&h, "Moderation/Acknowledge", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let id = case.clone();
        async move {
            code(
                c.acknowledge(request(md, pb::AcknowledgeRequest { id }))
                    .await,
            )
        }
    })
    .await;
    grpc_row(&h, "Moderation/Resolve", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let r = pb::ResolveRequest {
            id: case.clone(),
            note: "handled".into(),
            reply: String::new(),
        };
        async move { code(c.resolve(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "Moderation/Reopen", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let id = case.clone();
        async move { code(c.reopen(request(md, pb::ReopenRequest { id })).await) }
    })
    .await;
    grpc_row(&h, "Moderation/Snooze", Role::Moderator, |md| {
        let mut c = moderation.clone();
        let r = pb::SnoozeRequest {
            id: case.clone(),
            until: Some(firebreak_core::wire::timestamp(
                time::OffsetDateTime::now_utc() + time::Duration::minutes(5),
            )),
        };
        async move { code(c.snooze(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "CrisisControl/GetMode", Role::Viewer, |md| {
        let mut c = crisis.clone();
        async move { code(c.get_mode(request(md, pb::GetModeRequest {})).await) }
    })
    .await;
    grpc_row(&h, "CrisisControl/SetMode", Role::Crisis, |md| {
        let mut c = crisis.clone();
        let r = pb::SetModeRequest {
            active: false,
            reason: "matrix".into(),
            ..Default::default()
        };
        async move { code(c.set_mode(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "CrisisControl/WatchMode", Role::Viewer, |md| {
        let mut c = crisis.clone();
        async move { code(c.watch_mode(request(md, pb::WatchModeRequest {})).await) }
    })
    .await;
    let playbooks = pb::playbooks_client::PlaybooksClient::new(channel.clone());
    grpc_row(&h, "Playbooks/ListPlaybooks", Role::Viewer, |md| {
        let mut c = playbooks.clone();
        async move {
            code(
                c.list_playbooks(request(md, pb::ListPlaybooksRequest {}))
                    .await,
            )
        }
    })
    .await;
    grpc_row(&h, "Playbooks/GetPlaybook", Role::Viewer, |md| {
        let mut c = playbooks.clone();
        let r = pb::GetPlaybookRequest {
            reference: "default".into(),
        };
        async move { code(c.get_playbook(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "Playbooks/DiffPlaybooks", Role::Viewer, |md| {
        let mut c = playbooks.clone();
        let r = pb::DiffPlaybooksRequest {
            from: "default".into(),
            to: "default".into(),
        };
        async move { code(c.diff_playbooks(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "Playbooks/UploadPlaybook", Role::Crisis, |md| {
        let mut c = playbooks.clone();
        let r = pb::UploadPlaybookRequest {
            name: "grpcmatrix".into(),
            source: playbook_yaml().replacen("name: default", "name: grpcmatrix", 1),
        };
        async move { code(c.upload_playbook(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "Playbooks/RehearsePlaybook", Role::Crisis, |md| {
        let mut c = playbooks.clone();
        let r = pb::RehearsePlaybookRequest {
            name: "grpcmatrix".into(),
            messages_jsonl: "{\"text\": \"where is my order\"}\n".into(),
            ..Default::default()
        };
        async move { code(c.rehearse_playbook(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "Playbooks/ActivatePlaybook", Role::Crisis, |md| {
        let mut c = playbooks.clone();
        let r = pb::ActivatePlaybookRequest {
            reference: "grpcmatrix".into(),
            ..Default::default()
        };
        async move { code(c.activate_playbook(request(md, r)).await) }
    })
    .await;
    grpc_row(&h, "Playbooks/RollbackPlaybook", Role::Crisis, |md| {
        let mut c = playbooks.clone();
        async move {
            code(
                c.rollback_playbook(request(md, pb::RollbackPlaybookRequest::default()))
                    .await,
            )
        }
    })
    .await;
    grpc_row(&h, "CrisisControl/ListAudit", Role::Viewer, |md| {
        let mut c = crisis.clone();
        async move {
            code(
                c.list_audit(request(md, pb::ListAuditRequest::default()))
                    .await,
            )
        }
    })
    .await;
    h.stop().await;
}

both_adapters!(
    every_http_route_answers_401_403_and_2xx_by_role,
    every_grpc_method_answers_by_role,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_serves_only_the_routes_of_its_roles() {
    let h = Harness::start_with(Adapters::Embedded, &["--roles", "ingest"]).await;
    let crisis = call(
        &h,
        &Method::GET,
        "/v1/crisis",
        &Value::Null,
        Some(Role::Admin),
    )
    .await;
    assert_eq!(crisis, 404, "control routes are not on an ingest process");
    let cases = call(
        &h,
        &Method::GET,
        "/v1/cases",
        &Value::Null,
        Some(Role::Admin),
    )
    .await;
    assert_eq!(cases, 404, "case routes are not on an ingest process");
    let classify = call(
        &h,
        &Method::POST,
        "/v1/classify",
        &json!({"text": "x"}),
        Some(Role::Admin),
    )
    .await;
    assert_eq!(classify, 404);
    submit(&h, "roles-1", "hello").await;
    assert_eq!(
        call(&h, &Method::GET, "/metrics", &Value::Null, None).await,
        200
    );

    let channel = Channel::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut crisis = pb::crisis_control_client::CrisisControlClient::new(channel.clone());
    let r = request(with(&h, Some(Role::Admin))(), pb::GetModeRequest {});
    assert_eq!(code(crisis.get_mode(r).await), tonic::Code::Unimplemented);
    let mut ingest = pb::ingest_client::IngestClient::new(channel);
    let r = request(
        with(&h, Some(Role::Ingest))(),
        pb::SubmitRequest {
            message: Some(support::submit_message("roles-2", "hello")),
        },
    );
    assert_eq!(code(ingest.submit(r).await), tonic::Code::Ok);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_are_capped_per_token() {
    let h = Harness::start(Adapters::Embedded).await;
    let channel = Channel::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut crisis = pb::crisis_control_client::CrisisControlClient::new(channel);
    let mut open = Vec::new();
    for _ in 0..firebreak_server::watch_limit::DEFAULT_PER_TOKEN {
        let r = request(with(&h, Some(Role::Viewer))(), pb::WatchModeRequest {});
        open.push(crisis.watch_mode(r).await.unwrap().into_inner());
    }
    let r = request(with(&h, Some(Role::Viewer))(), pb::WatchModeRequest {});
    let refused = crisis.watch_mode(r).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    // Another token has its own allowance.
    let r = request(with(&h, Some(Role::Crisis))(), pb::WatchModeRequest {});
    assert!(crisis.watch_mode(r).await.is_ok());
    // Closing a stream gives its place back.
    drop(open.pop());
    support::eventually("a closed stream frees its slot", || {
        let mut c = crisis.clone();
        let r = request(with(&h, Some(Role::Viewer))(), pb::WatchModeRequest {});
        async move {
            match c.watch_mode(r).await {
                Ok(stream) => {
                    // Keep it open only for this check.
                    drop(stream);
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await;
    h.stop().await;
}
