//! The moderator console in a real browser: headless Chromium driven through
//! chromedriver (WebDriver, via fantoccini) against a running Firebreak on real
//! nats-server and redis-server. It signs in (after a wrong token is refused), sees a
//! case created by a posted message appear without a reload with its text and author,
//! claims it and resolves it with a reply (checked on the case and in the message's
//! history), bulk-resolves three noise cases, and toggles crisis mode to see the banner.
//!
//! Skipped, with a message, only when `chromium` or `chromedriver` is not installed
//! (`scripts/test-all` installs Debian's `chromium` and `chromium-driver`).
//! `FIREBREAK_CONSOLE_SCREENSHOT=docs/console-queue.png` saves the queue as a PNG.

#[macro_use]
mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use firebreak_server::auth::Role;
use firebreak_testkit::{ChildProcess, free_port};
use serde_json::{Value, json};
use support::{Adapters, Harness};

const P1_TEXT: &str = "if my refund doesn't come I'll kill myself";
const REPLY: &str = "We hear you, Jane. Someone from our team is calling you now.";

fn installed(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    _process: ChildProcess,
    url: String,
}

async fn start_driver(chromedriver: &Path, dir: &Path) -> Driver {
    let port = free_port().unwrap();
    let process = ChildProcess::spawn(
        chromedriver,
        &[OsString::from(format!("--port={port}"))],
        &dir.join("chromedriver.log"),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http.get(format!("{url}/status")).send().await.is_ok() {
            return Driver {
                _process: process,
                url,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start: {}", process.log_tail(40));
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1500,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

async fn post(h: &Harness, external_id: &str, text: &str) -> String {
    let body = json!({
        "channel": "telegram",
        "external_id": external_id,
        "thread_id": format!("chat-{external_id}"),
        "author": {"id": format!("user-{external_id}"), "handle": "jane_d", "name": "Jane Doe",
                   "followers": 812, "verified": false},
        "visibility": "private",
        "text": text,
    });
    h.submit(&body).await
}

async fn api(h: &Harness, path: &str) -> Value {
    h.http
        .get(format!("{}{path}", h.base))
        .bearer_auth(h.token(Role::Admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the page until `css` matches an element whose text contains `needle`.
async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        for element in client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            if let Ok(text) = element.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {css} shows {needle:?}; last seen {last:?}");
}

async fn eventually_api<F: Fn(&Value) -> bool>(h: &Harness, path: &str, what: &str, check: F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = api(h, path).await;
        if check(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: last {last}");
}

async fn sign_in(client: &Client, h: &Harness, token: &str) {
    client.goto(&format!("{}/console", h.base)).await.unwrap();
    let field = client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(token).await.unwrap();
    client
        .find(Locator::Css("#signin-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Finds and clicks, again when the live queue re-rendered the element in between
/// (a stale element reference), for up to 5 s.
async fn click(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = client.find(Locator::Css(css)).await;
        let clicked = match found {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        match clicked {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_works_the_queue_in_a_real_browser() {
    let (Some(chromium), Some(chromedriver)) = (installed("chromium"), installed("chromedriver"))
    else {
        eprintln!(
            "SKIPPED a_moderator_works_the_queue_in_a_real_browser: chromium and chromedriver \
             are not installed (apt-get install chromium chromium-driver; scripts/test-all does)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(Adapters::Real).await;
    let driver = start_driver(&chromedriver, dir.path()).await;
    let client = browser(&driver, &chromium, &dir.path().join("profile")).await;

    // A wrong token is refused plainly.
    sign_in(&client, &h, "fb_not-a-token").await;
    wait_text(&client, "#signin-error", "not accepted").await;
    sign_in(&client, &h, &h.token(Role::Moderator)).await;
    wait_text(&client, "#who", "(moderator)").await;

    // A posted message becomes a case in the open page, with its text and author.
    let message_id = post(&h, "browser-1", P1_TEXT).await;
    let case = h.case_of(&message_id).await;
    let row = format!("#case-{case}");
    wait_text(&client, &row, "P1").await;
    wait_text(&client, &row, "@jane_d: if my refund").await;

    // Noise the moderator will clear in bulk, and a screenshot of a queue with cases.
    let mut noise = Vec::new();
    let noisy = [
        "I will sue you, see you in court",
        "I want to speak to a human",
        "My lawyer will contact you about this scam",
    ];
    for (n, text) in noisy.iter().enumerate() {
        let id = post(&h, &format!("browser-noise-{n}"), text).await;
        noise.push(h.case_of(&id).await);
    }
    for id in &noise {
        wait_text(&client, &format!("#case-{id}"), "open").await;
    }
    if let Some(path) = std::env::var_os("FIREBREAK_CONSOLE_SCREENSHOT") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(&path, png).unwrap();
    }

    // Open, claim, resolve with a reply.
    click(&client, &row).await;
    wait_text(&client, "#conversation li.message", P1_TEXT).await;
    wait_text(&client, "#conversation li.message", "Jane Doe @jane_d").await;
    click(&client, "button[data-action=claim]").await;
    wait_text(&client, "#case-facts", "held by generated-moderator").await;
    type_into(&client, "#resolve-note", "called her back, she is safe").await;
    type_into(&client, "#resolve-reply", REPLY).await;
    click(&client, "#resolve-form button[type=submit]").await;
    wait_text(&client, "#conversation li.reply", REPLY).await;
    eventually_api(
        &h,
        &format!("/v1/cases/{case}"),
        "the case resolved with the reply",
        |c| c["status"] == "resolved" && c["replies"][0]["text"] == REPLY,
    )
    .await;
    let record = api(&h, &format!("/v1/messages/{message_id}")).await;
    assert!(
        record["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("moderator_reply")),
        "the reply is in the message history: {record}"
    );

    // Bulk resolve as noise.
    for id in &noise {
        click(&client, &format!("#case-{id} input[type=checkbox]")).await;
    }
    type_into(&client, "#bulk-reason", "figure of speech").await;
    click(&client, "#bulk-resolve").await;
    wait_text(&client, "#bulk-result", "Resolved 3 as noise").await;
    for id in &noise {
        eventually_api(&h, &format!("/v1/cases/{id}"), "noise resolved", |c| {
            c["status"] == "resolved" && c["resolution_note"] == "noise: figure of speech"
        })
        .await;
    }

    // A crisis token toggles crisis mode and everyone sees the banner.
    click(&client, "#sign-out").await;
    sign_in(&client, &h, &h.token(Role::Crisis)).await;
    wait_text(&client, "#who", "(crisis)").await;
    type_into(&client, "#crisis-reason", "product recall").await;
    click(&client, "#crisis-button").await;
    let banner = wait_text(&client, "#crisis-banner", "CRISIS MODE ON").await;
    assert!(banner.contains("generated-crisis"), "{banner}");
    assert!(banner.contains("product recall"), "{banner}");

    client.close().await.unwrap();
    h.stop().await;
}
