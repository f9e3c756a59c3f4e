//! The command line through the playbook lifecycle, against the running binary: from a
//! copy of the built-in playbook to an active, rehearsed one with `FIREBREAK_SERVER`
//! set to the HTTP address alone, and a wrong port told as such.

mod support;

use firebreak_server::auth::Role;
use support::playbooks::{BUILTIN, careless_draft};
use support::{Adapters, Harness};

fn cli(server: &str, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(args)
        .env("FIREBREAK_SERVER", server)
        .env("FIREBREAK_TOKEN", token)
        .output()
        .expect("firebreak runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_walks_from_a_copy_of_the_default_to_an_active_rehearsed_playbook() {
    let h = Harness::start(Adapters::Embedded).await;
    let crisis = h.token(Role::Crisis);
    // The HTTP address is enough: the CLI asks it where gRPC listens.
    let http = h.app().http_addr.to_string();
    let dir = tempfile::tempdir().unwrap();

    let shown = cli(&http, &crisis, &["playbook", "show", "default", "--yaml"]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let copy = String::from_utf8(shown.stdout).unwrap();
    assert_eq!(copy, BUILTIN);
    let draft = dir.path().join("recall.yaml");
    std::fs::write(
        &draft,
        copy.replacen("name: default", "name: recall", 1)
            .replace("thread_cap: 2", "thread_cap: 1"),
    )
    .unwrap();
    let messages = dir.path().join("messages.jsonl");
    std::fs::write(
        &messages,
        include_str!("../../firebreak-control/tests/fixtures/recall_messages.jsonl"),
    )
    .unwrap();

    let check = cli(
        &http,
        &crisis,
        &["playbook", "check", draft.to_str().unwrap()],
    );
    assert!(check.status.success());
    let rehearsed = cli(
        &http,
        &crisis,
        &[
            "rehearse",
            draft.to_str().unwrap(),
            "--file",
            messages.to_str().unwrap(),
        ],
    );
    let out = String::from_utf8_lossy(&rehearsed.stdout);
    assert!(
        rehearsed.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&rehearsed.stderr)
    );
    assert!(out.contains("6 messages, 0 decisions change"), "{out}");
    assert!(
        out.contains("no sensitive message would be answered automatically"),
        "{out}"
    );

    let uploaded = cli(
        &http,
        &crisis,
        &["playbook", "upload", draft.to_str().unwrap()],
    );
    assert!(
        uploaded.status.success(),
        "{}",
        String::from_utf8_lossy(&uploaded.stderr)
    );
    let diff = cli(&http, &crisis, &["playbook", "diff", "default", "recall"]);
    let diff_out = String::from_utf8_lossy(&diff.stdout);
    assert!(diff_out.contains("+  thread_cap: 1"), "{diff_out}");
    let on = cli(
        &http,
        &crisis,
        &["crisis", "on", "--reason", "recall", "--playbook", "recall"],
    );
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    let status = cli(&http, &crisis, &["crisis", "status"]);
    let status_out = String::from_utf8_lossy(&status.stdout);
    assert!(
        status_out.contains("crisis off returns to: default@"),
        "{status_out}"
    );
    let listed = cli(&http, &crisis, &["playbook", "list"]);
    let listed_out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed_out.lines().any(|l| l.starts_with("* recall@")),
        "{listed_out}"
    );

    // The careless draft is blocked: exit code 2, and activation refused.
    let careless = dir.path().join("draft.yaml");
    std::fs::write(&careless, careless_draft()).unwrap();
    let blocked = cli(
        &http,
        &crisis,
        &[
            "rehearse",
            careless.to_str().unwrap(),
            "--file",
            messages.to_str().unwrap(),
            "--normal",
        ],
    );
    assert_eq!(blocked.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&blocked.stdout).contains("BLOCKED: 1 sensitive message"));

    let rolled = cli(&http, &crisis, &["playbook", "rollback"]);
    assert!(
        rolled.status.success(),
        "{}",
        String::from_utf8_lossy(&rolled.stderr)
    );
    assert!(String::from_utf8_lossy(&rolled.stdout).contains("default@"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_port_gets_an_error_that_says_so() {
    let h = Harness::start(Adapters::Embedded).await;
    // Something that speaks HTTP but is not Firebreak.
    let other = firebreak_testkit::FakeHttpServer::start().await.unwrap();
    let out = cli(&other.url(), &h.token(Role::Viewer), &["playbook", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not answer gRPC"), "{err}");
    assert!(err.contains("FIREBREAK_SERVER"), "{err}");
    assert!(!err.contains("grpc-status header missing, mapped"), "{err}");
}
