//! The playbook lifecycle end to end, through the running binary's HTTP API, gRPC and
//! command line, on real nats-server and redis-server: versions uploaded, shown,
//! compared, activated and rolled back; the built-in playbook listed and reactivated;
//! crisis mode returning to the normal playbook; a minimal one-language playbook
//! answering a message; the classify preview; a rehearsal on recorded messages and on
//! the inbound archive that blocks a careless draft. The command line's walk through
//! the same lifecycle is in `playbook_cli.rs`.

mod support;

use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use serde_json::{Value, json};
use support::playbooks::{
    BUILTIN, MINIMAL, active_version, call, careless_draft, named, runs, upload,
};
use support::{Adapters, Harness, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_uploaded_compared_activated_and_rolled_back_over_http() {
    let h = Harness::start(Adapters::Real).await;
    let (status, first) = upload(&h, "recall", &named("recall")).await;
    assert_eq!(status, 200, "{first}");
    let first = first["version"].as_str().unwrap().to_string();
    assert_eq!(
        call(
            &h,
            reqwest::Method::POST,
            "/v1/playbooks/recall/activate",
            Role::Crisis,
            Some(json!({"reason": "recall day"}))
        )
        .await
        .0,
        200
    );
    runs(&h, &first).await;
    let edited = named("recall").replace("thread_cap: 2", "thread_cap: 1");
    let (_, second) = upload(&h, "recall", &edited).await;
    let second = second["version"].as_str().unwrap().to_string();
    assert_eq!(second.split('@').next(), Some("recall"));
    assert_ne!(first, second);

    // Any stored version reads back, with who uploaded it.
    let (status, shown) = call(
        &h,
        reqwest::Method::GET,
        &format!("/v1/playbooks/{first}"),
        Role::Viewer,
        None,
    )
    .await;
    assert_eq!(status, 200, "GET /v1/playbooks/{{name}} is no longer a 405");
    assert_eq!(shown["source"], named("recall"));
    assert_eq!(shown["playbook"]["uploaded_by"], "generated-crisis");
    assert_eq!(shown["playbook"]["role"], "crisis");
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
    let (_, diff) = call(
        &h,
        reqwest::Method::GET,
        &format!("/v1/playbooks/{second}/diff?against={first}"),
        Role::Viewer,
        None,
    )
    .await;
    assert!(
        diff["diff"]
            .as_str()
            .unwrap()
            .contains("-  thread_cap: 2\n+  thread_cap: 1"),
        "{diff}"
    );

    let (status, _) = call(
        &h,
        reqwest::Method::POST,
        &format!("/v1/playbooks/{second}/activate"),
        Role::Crisis,
        None,
    )
    .await;
    assert_eq!(status, 200);
    runs(&h, &second).await;
    let (status, rolled) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/rollback",
        Role::Crisis,
        Some(json!({"reason": "too strict"})),
    )
    .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["playbook"]["version"], first);
    runs(&h, &first).await;

    // A viewer reads but does not change.
    assert_eq!(
        call(
            &h,
            reqwest::Method::POST,
            "/v1/playbooks/rollback",
            Role::Viewer,
            None
        )
        .await
        .0,
        403
    );
    // Names and `name:` fields cannot disagree.
    let (status, refused) = upload(&h, "othername", &named("outage")).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must agree"),
        "{refused}"
    );

    let (_, audit) = call(
        &h,
        reqwest::Method::GET,
        "/v1/audit?action_prefix=playbook.&limit=20",
        Role::Viewer,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "playbook.rollback",
            "playbook.activate",
            "playbook.upload",
            "playbook.activate",
            "playbook.upload"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisis_off_returns_to_the_normal_playbook_and_default_comes_back() {
    let h = Harness::start(Adapters::Real).await;
    let builtin = firebreak_triage::Playbook::builtin().version().to_string();
    let (_, listed) = call(
        &h,
        reqwest::Method::GET,
        "/v1/playbooks",
        Role::Viewer,
        None,
    )
    .await;
    assert!(
        listed["playbooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "default" && p["active"] == true),
        "{listed}"
    );
    let (status, shown) = call(
        &h,
        reqwest::Method::GET,
        "/v1/playbooks/default",
        Role::Viewer,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["source"], BUILTIN);

    let (_, everyday) = upload(&h, "everyday", &named("everyday")).await;
    let everyday = everyday["version"].as_str().unwrap().to_string();
    upload(&h, "outage", &named("outage")).await;
    call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/everyday/activate",
        Role::Crisis,
        None,
    )
    .await;
    let (status, on) = call(
        &h,
        reqwest::Method::PUT,
        "/v1/crisis",
        Role::Crisis,
        Some(json!({"active": true, "reason": "outage", "playbook": "outage"})),
    )
    .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["normal_playbook"], everyday);
    let (_, status_now) = call(&h, reqwest::Method::GET, "/v1/crisis", Role::Viewer, None).await;
    assert_eq!(
        status_now["normal_playbook"], everyday,
        "crisis status shows the way back"
    );

    let (_, off) = call(
        &h,
        reqwest::Method::PUT,
        "/v1/crisis",
        Role::Crisis,
        Some(json!({"active": false, "reason": "over"})),
    )
    .await;
    assert_eq!(off["playbook"], everyday);
    assert_eq!(off["normal_playbook"], Value::Null);
    runs(&h, &everyday).await;

    // `crisis on --playbook default` works, and default is reactivated.
    let (status, on) = call(
        &h,
        reqwest::Method::PUT,
        "/v1/crisis",
        Role::Crisis,
        Some(json!({"active": true, "reason": "drill", "playbook": "default"})),
    )
    .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["playbook"], builtin);
    runs(&h, &builtin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimal_one_language_playbook_answers_a_message_end_to_end() {
    let h = Harness::start(Adapters::Real).await;
    let (status, uploaded) = upload(&h, "recall-en", MINIMAL).await;
    assert_eq!(status, 200, "{uploaded}");
    let (status, _) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/recall-en/activate",
        Role::Crisis,
        None,
    )
    .await;
    assert_eq!(status, 200);
    runs(&h, uploaded["version"].as_str().unwrap()).await;

    // The preview shows every variant, rendered for this author.
    let (status, preview) = call(
        &h,
        reqwest::Method::POST,
        "/v1/classify",
        Role::Viewer,
        Some(json!({"text": "how do I get a refund for the recalled product", "visibility": "private", "author": {"id": "u1", "handle": "jane"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(preview["key_question"], "refund");
    let replies = preview["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 3, "{preview}");
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hi @jane, every recalled jar"),
        "{preview}"
    );

    let id = h
        .submit(&support::message(
            "min-1",
            "how do I get a refund for the recalled product",
        ))
        .await;
    let record = h.terminal(&id).await;
    assert_eq!(record["status"], "replied", "{record}");
    assert!(
        record["outcome"]["text"]
            .as_str()
            .unwrap()
            .contains("https://example.com/recall/refund"),
        "{record}"
    );
}

fn recorded() -> Vec<Value> {
    include_str!("../../firebreak-control/tests/fixtures/recall_messages.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_reports_the_changes_and_blocks_a_draft_that_answers_a_threat() {
    let h = Harness::start(Adapters::Real).await;
    let draft = careless_draft();
    let (status, report) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/draft/rehearse",
        Role::Crisis,
        Some(json!({"playbook": draft, "messages": recorded(), "crisis": false})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["messages"], 6);
    assert_eq!(report["changed"], 3);
    assert_eq!(report["by_key_question"]["refund → money_back"], 2);
    assert_eq!(report["by_route"]["escalate → reply"], 1);
    assert_eq!(report["by_priority"]["P1 → P4"], 1);
    assert_eq!(
        report["sensitive_auto_replies"].as_array().unwrap().len(),
        1
    );
    assert_eq!(report["blocks_activation"], true);
    assert!(report["needed_per_sec"].as_f64().unwrap() > 0.0);

    let (status, _) = upload(&h, "draft", &draft).await;
    assert_eq!(status, 200);
    let running = active_version(&h);
    let (status, blocked) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/draft/activate",
        Role::Crisis,
        None,
    )
    .await;
    assert_eq!(status, 409, "{blocked}");
    assert!(
        blocked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sensitive"),
        "{blocked}"
    );
    assert_eq!(active_version(&h), running);
    let (status, _) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/draft/activate",
        Role::Crisis,
        Some(json!({"force": true, "reason": "accepted"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, audit) = call(
        &h,
        reqwest::Method::GET,
        "/v1/audit?action_prefix=playbook.force",
        Role::Viewer,
        None,
    )
    .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);

    // The draft's name must be the one in the URL.
    let (status, _) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/other/rehearse",
        Role::Crisis,
        Some(json!({"playbook": careless_draft(), "messages": recorded()})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_replays_the_inbound_archive_and_a_purge_reaches_it() {
    let h = Harness::start(Adapters::Real).await;
    let mut ids = Vec::new();
    for (i, m) in recorded().iter().enumerate() {
        ids.push(
            h.submit(&support::message(
                &format!("arch-{i}"),
                m["text"].as_str().unwrap(),
            ))
            .await,
        );
    }
    for id in &ids {
        h.terminal(id).await;
    }
    let body = json!({"playbook": careless_draft(), "since_secs": 3600, "crisis": false});
    // The archive writer stores in batches, off the request path: poll until it has.
    let rehearse = || {
        call(
            &h,
            reqwest::Method::POST,
            "/v1/playbooks/draft/rehearse",
            Role::Crisis,
            Some(body.clone()),
        )
    };
    eventually("the archive holds the messages", || async {
        rehearse().await.1["messages"] == 6
    })
    .await;
    let report = rehearse().await.1;
    assert_eq!(
        report["sensitive_auto_replies"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert!(
        report["sensitive_auto_replies"][0].get("text").is_none(),
        "a crisis token sees no archived text"
    );

    // The threat opened a case; purging its texts purges the archived message too.
    let threat = &ids[3];
    let case = h.case_of(threat).await;
    let purged = h
        .http
        .delete(format!("{}/v1/cases/{case}/texts", h.base))
        .bearer_auth(h.token(Role::Admin))
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), 200);
    let purged: Value = purged.json().await.unwrap();
    assert_eq!(purged["archived_purged"], 1, "{purged}");
    let (_, report) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/draft/rehearse",
        Role::Crisis,
        Some(body),
    )
    .await;
    assert_eq!(report["messages"], 5);
    assert_eq!(
        report["sensitive_auto_replies"].as_array().unwrap().len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_shows_lists_and_previews() {
    let h = Harness::start(Adapters::Embedded).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", h.app().grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut playbooks = pb::playbooks_client::PlaybooksClient::new(channel.clone());
    let listed = playbooks
        .list_playbooks(h.authed(Role::Viewer, pb::ListPlaybooksRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .playbooks
            .iter()
            .any(|p| p.name == "default" && p.builtin)
    );
    let shown = playbooks
        .get_playbook(h.authed(
            Role::Viewer,
            pb::GetPlaybookRequest {
                reference: "default".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.source, BUILTIN);
    let refused = playbooks
        .upload_playbook(h.authed(
            Role::Viewer,
            pb::UploadPlaybookRequest {
                name: "x".into(),
                source: named("x"),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    let mut classifier = pb::classifier_client::ClassifierClient::new(channel);
    let preview = classifier
        .classify(h.authed(
            Role::Viewer,
            pb::ClassifyRequest {
                message: Some(pb::SubmitMessage {
                    text: support::KEY_QUESTION.into(),
                    visibility: pb::Visibility::Private as i32,
                    author: Some(pb::Author {
                        id: "a".into(),
                        handle: "sam".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                crisis: Some(false),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.replies.len(), 3);
    assert!(preview.replies.iter().all(|r| !r.text.contains("{{")));
    assert!(
        preview.replies.iter().any(|r| r.text.contains("@sam")),
        "{:?}",
        preview.replies
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_playbook_requests_get_clear_errors() {
    let h = Harness::start_with(Adapters::Embedded, &["--archive-hours", "0"]).await;
    let (status, missing) = call(
        &h,
        reqwest::Method::GET,
        "/v1/playbooks/nope",
        Role::Viewer,
        None,
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "not_found");
    let (status, bad) = call(
        &h,
        reqwest::Method::GET,
        "/v1/playbooks/Bad%20Name",
        Role::Viewer,
        None,
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("a-z"),
        "{bad}"
    );
    let (status, _) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/nope/activate",
        Role::Crisis,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, nothing) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/rollback",
        Role::Crisis,
        None,
    )
    .await;
    assert_eq!(status, 400, "{nothing}");
    assert!(
        nothing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no earlier activation")
    );
    let (status, reserved) = upload(&h, "rollback", &named("rollback")).await;
    assert_eq!(status, 400, "{reserved}");

    // Without an archive, a rehearsal needs its messages, and says so.
    let (status, no_archive) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/default/rehearse",
        Role::Crisis,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400, "{no_archive}");
    assert!(
        no_archive["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archive"),
        "{no_archive}"
    );
    let malformed = h
        .http
        .post(format!("{}/v1/playbooks/default/rehearse", h.base))
        .bearer_auth(h.token(Role::Crisis))
        .body("{\"messages\": [{\"txt\": \"hi\"}]}")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let too_large = h
        .http
        .post(format!("{}/v1/playbooks/default/rehearse", h.base))
        .bearer_auth(h.token(Role::Crisis))
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    let (status, invalid) = call(
        &h,
        reqwest::Method::POST,
        "/v1/playbooks/draft/rehearse",
        Role::Crisis,
        Some(json!({"playbook": "name: draft\nbudgets:\n  thread_capp: 1\n", "messages": [{"text": "hi"}]})),
    )
    .await;
    assert_eq!(status, 400, "{invalid}");
    let message = invalid["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("thread_capp") && message.contains("key_questions"),
        "every problem at once: {message}"
    );
}
