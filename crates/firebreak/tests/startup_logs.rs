//! What start-up tells an operator, as a log file receives it: no colour codes when
//! stdout is not a terminal, and plain words about what is not production-ready (the
//! embedded bus and store keep nothing across a restart; replies go to the dry run).

use std::ffi::OsString;
use std::time::Duration;

use firebreak_testkit::{ChildProcess, free_port, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_gets_no_colour_codes_and_start_up_names_adapters_and_connectors() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("firebreak.log");
    let http = format!("127.0.0.1:{}", free_port().unwrap());
    let grpc = format!("127.0.0.1:{}", free_port().unwrap());
    let args: Vec<OsString> = ["run", "--http-addr", &http, "--grpc-addr", &grpc]
        .iter()
        .map(OsString::from)
        .collect();
    let mut child = ChildProcess::spawn(env!("CARGO_BIN_EXE_firebreak").as_ref(), &args, &log)
        .expect("firebreak starts");
    let client = reqwest::Client::new();
    let health = format!("http://{http}/healthz");
    wait_until(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await
    .expect("listening");
    child.terminate().await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
    for expected in [
        "bus: embedded in-process (not durable",
        "store: embedded in-memory (not durable",
        "connectors: dry run for every channel (replies are recorded, not sent",
        "notifier: none",
        "playbook: built-in demo playbook",
    ] {
        assert!(
            text.contains(expected),
            "start-up does not say {expected:?}:\n{text}"
        );
    }
}
