//! Tokens without restarts: a token added to the tokens file is accepted by a running
//! server within 5 s, one revoked with `firebreak token revoke` is refused, and every
//! change is an audit entry naming the tokens (never their hashes).

mod support;

use std::time::{Duration, Instant};

use firebreak_server::auth::{Role, new_secret, tokens_file_line};
use support::{Adapters, Harness};

/// How long a running server may take to apply a tokens-file change.
const RELOAD_WITHIN: Duration = Duration::from_secs(5);

async fn status_with(h: &Harness, secret: &str) -> u16 {
    h.http
        .get(format!("{}/v1/cases", h.base))
        .bearer_auth(secret)
        .send()
        .await
        .expect("http request")
        .status()
        .as_u16()
}

/// Polls until `secret` gets `expected`, and returns how long that took.
async fn until_status(h: &Harness, secret: &str, expected: u16) -> Duration {
    let started = Instant::now();
    loop {
        let status = status_with(h, secret).await;
        if status == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RELOAD_WITHIN,
            "still {status} after {RELOAD_WITHIN:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_added_is_accepted_and_a_revoked_one_refused_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let (admin, viewer, moderator) = (new_secret(), new_secret(), new_secret());
    let line = |role, name, secret: &str| format!("{}\n", tokens_file_line(role, name, secret));
    std::fs::write(
        &path,
        format!(
            "# ops\n{}{}",
            line(Role::Admin, "root", &admin),
            line(Role::Viewer, "dashboards", &viewer)
        ),
    )
    .unwrap();
    let h = Harness::start_with(Adapters::Real, &["--tokens-file", path.to_str().unwrap()]).await;
    assert_eq!(status_with(&h, &viewer).await, 200);
    assert_eq!(
        status_with(&h, &moderator).await,
        401,
        "not in the file yet"
    );

    // A new moderator: one line appended, no restart.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&line(Role::Moderator, "mo", &moderator));
    std::fs::write(&path, text).unwrap();
    let took = until_status(&h, &moderator, 200).await;
    assert!(took < RELOAD_WITHIN, "accepted after {took:?}");

    // Revoked through the CLI, as an operator would.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["token", "revoke", "--tokens-file"])
        .arg(&path)
        .args(["--name", "dashboards"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    until_status(&h, &viewer, 401).await;
    assert_eq!(status_with(&h, &moderator).await, 200, "others unaffected");

    // A broken file is refused; the tokens in force stay.
    std::fs::write(&path, "admin root not-a-hash\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        status_with(&h, &moderator).await,
        200,
        "kept after a bad file"
    );

    // Both changes are audited, by name.
    let audit: serde_json::Value = h
        .http
        .get(format!("{}/v1/audit?action_prefix=tokens", h.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(text.contains("moderator/mo"), "{text}");
    assert!(text.contains("viewer/dashboards"), "{text}");
    for secret in [&admin, &viewer, &moderator] {
        let hash = tokens_file_line(Role::Admin, "x", secret);
        let hash = hash.rsplit(' ').next().unwrap();
        assert!(!text.contains(hash), "no hash in the audit");
    }
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("firebreak_token_reloads_total{result=\"invalid\"} 1"),
        "the refused file is counted"
    );
    assert!(
        metrics.contains(
            "firebreak_auth_rejected_total{transport=\"http\",reason=\"unauthenticated\"}"
        ),
        "401s are counted"
    );
    h.stop().await;
}
