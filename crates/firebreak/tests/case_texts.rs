//! What people wrote, as moderators read it and as nobody else does: the conversation
//! in `GET /v1/cases/{id}` and gRPC `GetCase` for moderator and admin tokens; crisis and
//! viewer tokens list the queue without texts, notes or the case audit; a reply given
//! with resolve is on the case, in the message history and in the audit; an admin
//! purges texts while the case stays. And the CLI that reads them.

#[macro_use]
mod support;

use std::process::Command;
use std::time::Duration;

use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use serde_json::{Value, json};
use support::{Adapters, Harness};

both_adapters!(
    a_moderator_reads_the_conversation_and_a_viewer_only_the_queue,
    a_reply_given_with_resolve_is_on_the_case_the_history_and_the_audit,
    an_admin_purge_removes_texts_and_keeps_the_case,
    the_sse_feed_resumes_after_its_cursor_and_hides_notes_from_viewers,
);

const P1_TEXT: &str = "if my refund doesn't come I'll kill myself";

async fn post(h: &Harness, external_id: &str, text: &str) -> String {
    let body = json!({
        "channel": "telegram",
        "external_id": external_id,
        "thread_id": format!("chat-{external_id}"),
        "author": {"id": format!("user-{external_id}"), "handle": "jane_d", "name": "Jane Doe",
                   "followers": 4321, "verified": true},
        "visibility": "private",
        "text": text,
    });
    h.submit(&body).await
}

async fn get(h: &Harness, path: &str, role: Role) -> (u16, Value) {
    let response = h
        .http
        .get(format!("{}{path}", h.base))
        .bearer_auth(h.token(role))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_as(h: &Harness, path: &str, role: Role, body: Value) -> (u16, Value) {
    let response = h
        .http
        .post(format!("{}{path}", h.base))
        .bearer_auth(h.token(role))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_moderator_reads_the_conversation_and_a_viewer_only_the_queue(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let case = h.case_of(&post(&h, "texts-1", P1_TEXT).await).await;

    let (status, body) = get(&h, &format!("/v1/cases/{case}"), Role::Moderator).await;
    assert_eq!(status, 200);
    let message = &body["messages"][0];
    assert_eq!(message["text"], P1_TEXT);
    assert_eq!(message["channel"], "telegram");
    assert_eq!(message["visibility"], "private");
    assert!(message["at"].is_string());
    assert_eq!(message["author"]["handle"], "jane_d");
    assert_eq!(message["author"]["name"], "Jane Doe");
    assert_eq!(message["author"]["followers"], 4321);
    assert_eq!(message["author"]["verified"], true);
    assert!(
        !message["flags"].as_array().unwrap().is_empty(),
        "flags with evidence: {message}"
    );
    let (status, _) = get(&h, &format!("/v1/cases/{case}"), Role::Admin).await;
    assert_eq!(status, 200);

    // Crisis and viewer tokens: the queue, never the texts.
    for role in [Role::Viewer, Role::Crisis] {
        let (status, _) = get(&h, &format!("/v1/cases/{case}"), role).await;
        assert_eq!(status, 403, "{role} read the texts");
        let (status, list) = get(&h, "/v1/cases", role).await;
        assert_eq!(status, 200, "{role} lists the queue");
        let listed = &list["cases"][0];
        assert_eq!(listed["id"], case.as_str());
        assert_eq!(listed["priority"], "P1");
        assert!(listed.get("excerpt").is_none(), "{role} got an excerpt");
        assert!(
            listed["flags"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["evidence"] == ""),
            "{role} got evidence quoted from the text: {listed}"
        );
    }
    let (_, list) = get(&h, "/v1/cases", Role::Moderator).await;
    assert!(
        list["cases"][0]["excerpt"]
            .as_str()
            .unwrap()
            .starts_with("if my refund")
    );

    // Notes: resolved with one, then listed by a viewer without it.
    let (status, _) = post_as(
        &h,
        &format!("/v1/cases/{case}/claim"),
        Role::Moderator,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_as(
        &h,
        &format!("/v1/cases/{case}/resolve"),
        Role::Moderator,
        json!({"note": "called her, she is safe"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = get(&h, "/v1/cases?status=resolved", Role::Viewer).await;
    assert_eq!(list["cases"][0]["resolution_note"], "");
    let (_, list) = get(&h, "/v1/cases?status=resolved", Role::Moderator).await;
    assert_eq!(
        list["cases"][0]["resolution_note"],
        "called her, she is safe"
    );

    // The case audit: moderators only.
    let (status, _) = get(&h, "/v1/audit?action_prefix=case.", Role::Viewer).await;
    assert_eq!(status, 403);
    let (status, audit) = get(&h, "/v1/audit", Role::Viewer).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.iter().all(|a| !a.starts_with("case.")),
        "{actions:?}"
    );
    let mut found = false;
    for _ in 0..50 {
        let (status, audit) = get(&h, "/v1/audit?action_prefix=case.", Role::Moderator).await;
        assert_eq!(status, 200);
        found = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "case.resolve" && e["reason"] == "called her, she is safe");
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "the resolve is in the case audit for moderators");

    // gRPC: the same rule.
    let mut moderation =
        pb::moderation_client::ModerationClient::connect(format!("http://{}", h.app().grpc_addr))
            .await
            .unwrap();
    let refused = moderation
        .get_case(h.authed(Role::Viewer, pb::GetCaseRequest { id: case.clone() }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let got = moderation
        .get_case(h.authed(Role::Moderator, pb::GetCaseRequest { id: case.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.messages[0].text, P1_TEXT);
    assert_eq!(got.messages[0].author.as_ref().unwrap().followers, 4321);
    let listed = moderation
        .list_cases(h.authed(
            Role::Crisis,
            pb::ListCasesRequest {
                status: vec![pb::CaseStatus::Resolved as i32],
                limit: 10,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases[0].id, case);
    assert_eq!(listed.cases[0].resolution_note, "");
    h.stop().await;
}

async fn a_reply_given_with_resolve_is_on_the_case_the_history_and_the_audit(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let message_id = post(&h, "texts-2", P1_TEXT).await;
    let case = h.case_of(&message_id).await;
    let (status, refused) = post_as(
        &h,
        &format!("/v1/cases/{case}/resolve"),
        Role::Moderator,
        json!({"note": "done"}),
    )
    .await;
    assert_eq!(status, 409, "resolved without a claim: {refused}");
    post_as(
        &h,
        &format!("/v1/cases/{case}/claim"),
        Role::Moderator,
        Value::Null,
    )
    .await;
    let (status, body) = post_as(
        &h,
        &format!("/v1/cases/{case}/resolve"),
        Role::Moderator,
        json!({"note": "reached out", "reply": "We hear you. A person from our team will call you now."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = get(&h, &format!("/v1/cases/{case}"), Role::Moderator).await;
    assert_eq!(
        body["replies"][0]["text"],
        "We hear you. A person from our team will call you now."
    );
    assert_eq!(body["replies"][0]["message_id"], message_id.as_str());
    let record = h.get_message(&message_id).await.unwrap();
    let history = record["history"].as_array().unwrap();
    assert!(
        history.iter().any(|e| e["stage"] == "replied"
            && e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("moderator_reply")),
        "{history:?}"
    );
    let mut audited = false;
    for _ in 0..50 {
        let (_, audit) = get(&h, "/v1/audit?action_prefix=case.resolve", Role::Admin).await;
        audited = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["subject"] == case.as_str() && e["detail"]["reply"]["chars"] == 54);
        if audited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(audited, "the reply is in the audit");
    h.stop().await;
}

async fn an_admin_purge_removes_texts_and_keeps_the_case(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let case = h.case_of(&post(&h, "texts-3", P1_TEXT).await).await;
    let purge = |role: Role| {
        h.http
            .delete(format!("{}/v1/cases/{case}/texts", h.base))
            .bearer_auth(h.token(role))
            .json(&json!({"reason": "data-protection request 7"}))
            .send()
    };
    assert_eq!(purge(Role::Moderator).await.unwrap().status(), 403);
    let response = purge(Role::Admin).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["purged"], true);
    let (_, body) = get(&h, &format!("/v1/cases/{case}"), Role::Moderator).await;
    assert_eq!(body["messages"], json!([]));
    assert_eq!(body["texts_purged"], true);
    assert_eq!(body["priority"], "P1");
    assert_eq!(body["message_ids"].as_array().unwrap().len(), 1);
    assert!(!body["flags"].as_array().unwrap().is_empty());
    h.stop().await;
}

fn cli(h: &Harness, role: Role, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(args)
        .env("FIREBREAK_SERVER", format!("http://{}", h.app().grpc_addr))
        .env("FIREBREAK_TOKEN", h.token(role))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_shows_by_prefix_snoozes_and_reopens() {
    let h = Harness::start(Adapters::Embedded).await;
    let case = h.case_of(&post(&h, "cli-1", P1_TEXT).await).await;
    let list = cli(&h, Role::Moderator, &["cases", "list"]);
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    let mut lines = list.lines();
    let header = lines.next().unwrap();
    for column in ["ID", "PRI", "STATUS", "AGE", "DUE", "FLAGS", "EXCERPT"] {
        assert!(header.contains(column), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&case[..8]), "{row}");
    assert!(row.contains("claim in"), "{row}");
    assert!(row.contains("if my refund"), "{row}");

    let show = cli(&h, Role::Moderator, &["cases", "show", &case[..8]]);
    assert!(show.status.success(), "{show:?}");
    let show = String::from_utf8(show.stdout).unwrap();
    assert!(show.contains(P1_TEXT), "{show}");
    assert!(show.contains("Jane Doe @jane_d (verified)"), "{show}");
    let json = cli(
        &h,
        Role::Moderator,
        &["cases", "show", &case[..8], "--json"],
    );
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["messages"][0]["text"], P1_TEXT);

    let snoozed = cli(
        &h,
        Role::Moderator,
        &["cases", "snooze", &case[..8], "--minutes", "30"],
    );
    assert!(snoozed.status.success(), "{snoozed:?}");
    assert!(String::from_utf8_lossy(&snoozed.stdout).contains("snoozed"));
    let reopened = cli(&h, Role::Moderator, &["cases", "reopen", &case[..8]]);
    assert!(reopened.status.success(), "{reopened:?}");
    assert!(String::from_utf8_lossy(&reopened.stdout).contains("open"));
    let unknown = cli(&h, Role::Moderator, &["cases", "show", "ffffffff"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no case id starts with"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_a_command_quietly() {
    let h = Harness::start(Adapters::Embedded).await;
    for _ in 0..3 {
        let output = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "set -o pipefail; {} crisis status | true",
                    env!("CARGO_BIN_EXE_firebreak")
                ),
            ])
            .env("FIREBREAK_SERVER", format!("http://{}", h.app().grpc_addr))
            .env("FIREBREAK_TOKEN", h.token(Role::Viewer))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(output.status.code(), Some(0), "{stderr}");
    }
    h.stop().await;
}

/// Reads SSE events from `response` until `count` `case` events came (15 s at most).
async fn sse_events(mut response: reqwest::Response, count: usize) -> Vec<(u64, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .expect("stream open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(str::trim);
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data:"))
                .map(str::trim);
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id.parse().unwrap(), serde_json::from_str(data).unwrap()));
            }
        }
    }
    events
}

async fn the_sse_feed_resumes_after_its_cursor_and_hides_notes_from_viewers(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let feed = |role: Role, cursor: Option<u64>| {
        let mut request = h
            .http
            .get(format!("{}/v1/cases/events", h.base))
            .bearer_auth(h.token(role));
        if let Some(cursor) = cursor {
            request = request.header("Last-Event-ID", cursor.to_string());
        }
        request.send()
    };
    let case = h.case_of(&post(&h, "sse-1", P1_TEXT).await).await;
    // From 0: the open case, stamped with the log's head.
    let opening = sse_events(feed(Role::Moderator, None).await.unwrap(), 1).await;
    let (head, first) = &opening[0];
    assert_eq!(first["case"]["id"], case.as_str());
    assert_eq!(first["kind"], "opened");
    // Changes after the head, read on reconnect from the cursor: none missed.
    post_as(
        &h,
        &format!("/v1/cases/{case}/claim"),
        Role::Moderator,
        Value::Null,
    )
    .await;
    post_as(
        &h,
        &format!("/v1/cases/{case}/resolve"),
        Role::Moderator,
        json!({"note": "private note"}),
    )
    .await;
    let resumed = sse_events(feed(Role::Moderator, Some(*head)).await.unwrap(), 2).await;
    assert_eq!(resumed[0].0, head + 1);
    assert_eq!(resumed[0].1["kind"], "claimed");
    assert_eq!(resumed[1].0, head + 2);
    assert_eq!(resumed[1].1["kind"], "resolved");
    assert_eq!(resumed[1].1["case"]["resolution_note"], "private note");
    let viewer = sse_events(feed(Role::Viewer, Some(*head)).await.unwrap(), 2).await;
    assert_eq!(viewer[1].1["case"]["resolution_note"], "");
    let refused = feed(Role::Ingest, None).await.unwrap();
    assert_eq!(refused.status(), 403);
    h.stop().await;
}
