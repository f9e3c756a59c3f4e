//! One set of field limits over HTTP and gRPC: an oversized author name, handle,
//! language hint, attachment or resolution note is refused alike on both, naming the
//! field and never quoting it; nothing reaches the stream.

#[macro_use]
mod support;

use firebreak_core::subjects;
use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use serde_json::{Value, json};
use support::{Adapters, Harness};

const SECRET_ISH: &str = "0612345678";

/// (field, how to spoil an HTTP body, how to spoil a gRPC message)
type Spoil = (&'static str, fn(&mut Value), fn(&mut pb::SubmitMessage));

fn spoilers() -> Vec<Spoil> {
    vec![
        (
            "author.name",
            |b| b["author"]["name"] = json!(SECRET_ISH.repeat(20_000)),
            |m| m.author.as_mut().unwrap().name = SECRET_ISH.repeat(20_000),
        ),
        (
            "author.handle",
            |b| b["author"]["handle"] = json!(SECRET_ISH.repeat(100)),
            |m| m.author.as_mut().unwrap().handle = SECRET_ISH.repeat(100),
        ),
        (
            "language_hint",
            |b| b["language_hint"] = json!(SECRET_ISH.repeat(10)),
            |m| m.language_hint = SECRET_ISH.repeat(10),
        ),
        (
            "attachments",
            |b| b["attachments"] = json!(vec![json!({"kind": "image", "url": "u"}); 33]),
            |m| {
                m.attachments = vec![
                    pb::Attachment {
                        kind: "image".into(),
                        url: "u".into()
                    };
                    33
                ]
            },
        ),
        (
            "attachments[0].url",
            |b| b["attachments"] = json!([{"kind": "image", "url": SECRET_ISH.repeat(300)}]),
            |m| {
                m.attachments = vec![pb::Attachment {
                    kind: "image".into(),
                    url: SECRET_ISH.repeat(300),
                }]
            },
        ),
    ]
}

async fn oversized_fields_are_refused_alike_over_http_and_grpc(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let mut grpc = h.grpc_ingest().await;
    for (field, spoil_http, spoil_grpc) in spoilers() {
        let mut body = support::message(&format!("http-{field}"), "hello");
        spoil_http(&mut body);
        let response = h.post_message(&body).await;
        assert_eq!(response.status(), 400, "{field} over HTTP");
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{field}: {message}");
        assert!(!message.contains(SECRET_ISH), "{message}");

        let mut m = support::submit_message(&format!("grpc-{field}"), "hello");
        spoil_grpc(&mut m);
        let request = h.authed(Role::Ingest, pb::SubmitRequest { message: Some(m) });
        let status = grpc.submit(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(status.message().starts_with(field), "{}", status.message());
        assert!(!status.message().contains(SECRET_ISH));
    }
    let stored = h
        .app()
        .bus
        .stream_len(subjects::STREAM_INBOUND)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing oversized was accepted");
    h.stop().await;
}

async fn an_oversized_resolution_note_is_refused_alike_over_http_and_grpc(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let note = SECRET_ISH.repeat(500);
    let response = h
        .http
        .post(format!("{}/v1/cases/some-case/resolve", h.base))
        .bearer_auth(h.token(Role::Moderator))
        .json(&json!({ "note": note }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("note")
    );

    let mut moderation =
        pb::moderation_client::ModerationClient::connect(format!("http://{}", h.app().grpc_addr))
            .await
            .unwrap();
    let request = h.authed(
        Role::Moderator,
        pb::ResolveRequest {
            id: "some-case".into(),
            note,
            reply: String::new(),
        },
    );
    let status = moderation.resolve(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().starts_with("note"), "{}", status.message());
    h.stop().await;
}

async fn malformed_json_names_the_field_without_quoting_the_value(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let mut body = support::message("quote-1", "hello");
    body["author"]["followers"] = json!(format!("my phone is {SECRET_ISH}"));
    let response = h.post_message(&body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("author.followers"), "{message}");
    assert!(!message.contains(SECRET_ISH), "{message}");
    h.stop().await;
}

both_adapters!(
    oversized_fields_are_refused_alike_over_http_and_grpc,
    an_oversized_resolution_note_is_refused_alike_over_http_and_grpc,
    malformed_json_names_the_field_without_quoting_the_value,
);
