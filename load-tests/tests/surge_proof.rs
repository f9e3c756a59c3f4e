//! The surge harness end to end at CI size: a small surge (`scenarios/ci_surge.yaml`,
//! a few hundred messages through both ingest paths) on the local multi-process
//! cluster, real nats-server and redis-server, every role its own debug `firebreak`
//! process. Every accepted message reaches an outcome, none is answered twice, none is
//! dead-lettered, platform retries are recognised, and every process stops cleanly.

use std::path::{Path, PathBuf};

use firebreak_load::proof;

/// The debug `firebreak` binary, built if this test runs before it was.
fn firebreak() -> PathBuf {
    if let Ok(path) = proof::sibling_firebreak() {
        return path;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "firebreak", "--bin", "firebreak"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building firebreak");
    proof::sibling_firebreak().expect("firebreak was just built")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_surge_on_the_cluster_loses_nothing_and_answers_nothing_twice() {
    let out = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ci_surge.yaml");
    let report = proof::run(&proof::Options {
        scenario,
        firebreak: firebreak(),
        out: out.path().to_path_buf(),
    })
    .await
    .expect("the surge runs");
    let s = &report.surge;
    let summary = firebreak_load::summary::render(&report);
    println!("{summary}");
    assert!(s.accepted > 300, "{summary}");
    assert_eq!(s.refused, 0, "{summary}");
    assert_eq!(s.lost, 0, "{summary}");
    assert_eq!(s.sends.messages_answered_twice, 0, "{summary}");
    assert_eq!(s.dead_lettered, 0, "{summary}");
    assert!(
        s.duplicate_acks > 0 && s.duplicate_acks <= s.platform_retries_planned,
        "platform retries are recognised: {summary}"
    );
    assert!(
        s.outcomes.get("replied").copied().unwrap_or(0) > 0,
        "{summary}"
    );
    assert_eq!(
        s.sends.total,
        s.outcomes.get("replied").copied().unwrap_or(0),
        "one send per replied message: {summary}"
    );
    assert!(
        !s.cases_seen_by_priority.is_empty(),
        "the watcher saw cases: {summary}"
    );
    assert!(
        report
            .exits
            .iter()
            .all(|(_, exit)| exit == "exit status: 0"),
        "every role stops cleanly on SIGTERM: {:?}",
        report.exits
    );
    assert!(out.path().join("report.json").is_file());
    let svg = std::fs::read_to_string(out.path().join("surge.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("P1 cases"));
}
