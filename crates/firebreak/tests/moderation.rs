//! The moderators' side end to end, against real nats-server and redis-server: cases
//! group a pile-on, a claim race has one winner, SLA breaches re-escalate and notify a
//! (fake) chat webhook, nothing is lost across a restart of every process, Watch
//! resumes without a gap, and a P1 case reaches a watcher fast during a reply surge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak::app::{RunningApp, start};
use firebreak::config::RunConfig;
use firebreak_proto::v1 as pb;
use firebreak_server::auth::{Role, tokens_file_line};
use firebreak_testkit::{FakeHttpServer, NatsServer, RedisServer, wait_until};
use pb::moderation_client::ModerationClient;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

const ALICE: &str = "secret-alice";
const BOB: &str = "secret-bob";
const INGEST: &str = "secret-ingest";
const P1_TEXT: &str = "if my refund doesn't come I'll kill myself";
/// The P1 claim deadline of the test playbook.
const P1_CLAIM_SECS: u64 = 3;

/// The built-in playbook with a P1 claim deadline short enough to breach in a test.
fn test_playbook(dir: &Path) -> PathBuf {
    let yaml = include_str!("../../firebreak-triage/playbooks/default.yaml");
    let from = "  P1: { claim_secs: 60, ack_secs: 300,";
    assert!(yaml.contains(from), "default playbook changed");
    let yaml = yaml.replacen(
        from,
        &format!("  P1: {{ claim_secs: {P1_CLAIM_SECS}, ack_secs: 300,"),
        1,
    );
    let path = dir.join("playbook.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn tokens_file(dir: &Path) -> PathBuf {
    let lines = [
        tokens_file_line(Role::Moderator, "alice", ALICE),
        tokens_file_line(Role::Moderator, "bob", BOB),
        tokens_file_line(Role::Ingest, "loader", INGEST),
    ];
    let path = dir.join("tokens");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Real servers and the files a Firebreak process is started with.
struct Env {
    nats: NatsServer,
    redis: RedisServer,
    webhook: FakeHttpServer,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Env {
    async fn new() -> Self {
        Env {
            nats: NatsServer::start().await.unwrap(),
            redis: RedisServer::start().await.unwrap(),
            webhook: FakeHttpServer::start().await.unwrap(),
            dir: tempfile::tempdir().unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn start(&self) -> App {
        let args: Vec<String> = vec![
            "--http-addr".into(),
            "127.0.0.1:0".into(),
            "--grpc-addr".into(),
            "127.0.0.1:0".into(),
            "--nats-url".into(),
            self.nats.url(),
            "--redis-url".into(),
            self.redis.url(),
            "--tokens-file".into(),
            tokens_file(self.dir.path()).display().to_string(),
            "--playbook".into(),
            test_playbook(self.dir.path()).display().to_string(),
            "--notify-webhook-url".into(),
            format!("{}/hooks/chat", self.webhook.url()),
            "--ingest-rate-per-source".into(),
            "0".into(),
        ];
        let config = RunConfig::from_args(&args).unwrap();
        let app = start(config, CancellationToken::new()).await.unwrap();
        App {
            base: format!("http://{}", app.http_addr),
            grpc: format!("http://{}", app.grpc_addr),
            http: self.http.clone(),
            app,
        }
    }
}

struct App {
    app: RunningApp,
    base: String,
    grpc: String,
    http: reqwest::Client,
}

impl App {
    async fn post(&self, body: &Value) -> String {
        let response = self
            .http
            .post(format!("{}/v1/messages", self.base))
            .bearer_auth(INGEST)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The case a message went to, once escalated.
    async fn case_of(&self, message_id: &str) -> String {
        let id = firebreak_core::MessageId::parse(message_id).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(record)) = self.app.log.get(id).await
                && let Some(firebreak_core::Outcome::Escalated { case_id }) = record.outcome
            {
                return case_id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("message {message_id} was not escalated")
    }

    async fn rest(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn moderation(&self) -> ModerationClient<tonic::transport::Channel> {
        ModerationClient::connect(self.grpc.clone()).await.unwrap()
    }
}

fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn message(external_id: &str, thread: &str, author: &str, text: &str) -> Value {
    json!({
        "channel": "telegram",
        "external_id": external_id,
        "thread_id": thread,
        "author": {"id": author, "handle": "someone", "followers": 10},
        "visibility": "private",
        "text": text,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_moderators_racing_to_claim_one_case_exactly_one_wins() {
    let env = Env::new().await;
    let app = env.start().await;
    for round in 0..3 {
        let id = app
            .post(&message(
                &format!("race-{round}"),
                &format!("chat-{round}"),
                &format!("u{round}"),
                P1_TEXT,
            ))
            .await;
        let case = app.case_of(&id).await;
        let (mut a, mut b) = (app.moderation().await, app.moderation().await);
        let (alice, bob) = tokio::join!(
            a.claim(authed(ALICE, pb::ClaimRequest { id: case.clone() })),
            b.claim(authed(BOB, pb::ClaimRequest { id: case.clone() })),
        );
        let wins = [alice.is_ok(), bob.is_ok()];
        assert_eq!(
            wins.iter().filter(|w| **w).count(),
            1,
            "round {round}: {wins:?}"
        );
        let loser = if wins[0] {
            bob.unwrap_err()
        } else {
            alice.unwrap_err()
        };
        assert_eq!(loser.code(), tonic::Code::FailedPrecondition, "{loser:?}");
        let winner = if wins[0] { "alice" } else { "bob" };
        let (status, body) = app
            .rest(
                reqwest::Method::GET,
                &format!("/v1/cases/{case}"),
                Some(ALICE),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["assignee"], winner);
        assert_eq!(body["status"], "claimed");
        // The REST API agrees: the other moderator gets 409.
        let other = if wins[0] { BOB } else { ALICE };
        let (status, body) = app
            .rest(
                reqwest::Method::POST,
                &format!("/v1/cases/{case}/claim"),
                Some(other),
            )
            .await;
        assert_eq!(status, 409, "{body}");
    }
    // Auth and unknown ids.
    let (status, _) = app.rest(reqwest::Method::GET, "/v1/cases", None).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .rest(reqwest::Method::GET, "/v1/cases", Some(INGEST))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .rest(reqwest::Method::POST, "/v1/cases/nope/claim", Some(ALICE))
        .await;
    assert_eq!(status, 404);
    // Every transition is audited with the token's name.
    let (status, audit) = app
        .rest(
            reqwest::Method::GET,
            "/v1/audit?action_prefix=case.",
            Some(ALICE),
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let claims: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "case.claim")
        .collect();
    assert_eq!(claims.len(), 3, "one audited claim per won race: {audit}");
    assert!(
        claims
            .iter()
            .all(|e| e["actor"] == "alice" || e["actor"] == "bob")
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_escalated_messages_on_twenty_threads_make_twenty_cases() {
    let env = Env::new().await;
    let app = Arc::new(env.start().await);
    let mut posts = tokio::task::JoinSet::new();
    for worker in 0..20 {
        let app = app.clone();
        posts.spawn(async move {
            for k in 0..25 {
                let n = worker * 25 + k;
                // Distinct authors: only the thread groups them.
                app.post(&message(
                    &format!("pile-{n}"),
                    &format!("thread-{}", n % 20),
                    &format!("author-{n}"),
                    P1_TEXT,
                ))
                .await;
            }
        });
    }
    while posts.join_next().await.is_some() {}
    let grouped = wait_until(Duration::from_secs(40), Duration::from_millis(200), || {
        let app = app.clone();
        async move {
            let cases = app.app.cases.list(&[], 1000).await.unwrap();
            cases.iter().map(|c| c.message_count).sum::<u64>() == 500
        }
    })
    .await;
    assert!(grouped.is_ok(), "not every message reached a case");
    let (status, body) = app
        .rest(
            reqwest::Method::GET,
            "/v1/cases?status=open&limit=1000",
            Some(ALICE),
        )
        .await;
    assert_eq!(status, 200);
    let cases = body["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 20, "20 cases, not 500");
    assert!(
        cases
            .iter()
            .all(|c| c["message_count"] == 25 && c["priority"] == "P1")
    );
}

async fn wait_for_notifications(env: &Env, at_least: usize, within: Duration) -> Vec<Value> {
    let got = wait_until(within, Duration::from_millis(100), || async {
        env.webhook.requests().len() >= at_least
    })
    .await;
    assert!(
        got.is_ok(),
        "expected {at_least} notifier calls, got {}",
        env.webhook.requests().len()
    );
    env.webhook
        .requests()
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sla_breach_re_escalates_to_the_next_tier_and_calls_the_notifier() {
    let env = Env::new().await;
    let app = env.start().await;
    let id = app
        .post(&message("sla-1", "chat-sla", "u-sla", P1_TEXT))
        .await;
    let case = app.case_of(&id).await;
    let bodies = wait_for_notifications(&env, 1, Duration::from_secs(P1_CLAIM_SECS + 10)).await;
    let body = &bodies[0];
    assert_eq!(body["case_id"], case.as_str());
    assert_eq!(body["breach"], "claim");
    assert_eq!(body["tier"], 1);
    assert_eq!(body["tier_name"], "crisis-lead");
    assert!(
        body["text"].as_str().unwrap().contains(&case),
        "a chat-readable text: {body}"
    );
    assert!(
        !body.to_string().contains("refund doesn't come"),
        "never the message text"
    );
    let (_, shown) = app
        .rest(
            reqwest::Method::GET,
            &format!("/v1/cases/{case}"),
            Some(ALICE),
        )
        .await;
    assert!(
        shown["tier"].as_u64().unwrap() >= 1,
        "the tier shows on the case: {shown}"
    );
    assert!(shown["breaches"].as_u64().unwrap() >= 1);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Registered at 0 from the start: the breach must have moved it.
    assert!(
        !metrics.contains(r#"firebreak_events_total{kind="sla_breach"} 0"#),
        "breaches are counted"
    );
    assert!(
        !metrics.contains(r#"firebreak_sla_breaches_total{priority="P1",tier="1"} 0"#)
            || !metrics.contains(r#"firebreak_sla_breaches_total{priority="P2",tier="1"} 0"#)
            || !metrics.contains(r#"firebreak_sla_breaches_total{priority="P3",tier="1"} 0"#)
            || !metrics.contains(r#"firebreak_sla_breaches_total{priority="P4",tier="1"} 0"#),
        "by priority and tier"
    );
    // Claiming stops the claim escalation: no further claim breach for this case.
    app.moderation()
        .await
        .claim(authed(ALICE, pb::ClaimRequest { id: case.clone() }))
        .await
        .unwrap();
    let before = env.webhook.requests().len();
    tokio::time::sleep(Duration::from_secs(P1_CLAIM_SECS + 2)).await;
    assert_eq!(
        env.webhook.requests().len(),
        before,
        "no breach after the claim"
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_every_process_loses_no_case_and_no_sla_timer() {
    let mut env = Env::new().await;
    let app = env.start().await;
    let id = app
        .post(&message("restart-1", "chat-restart", "u-restart", P1_TEXT))
        .await;
    let case = app.case_of(&id).await;
    app.app.stop().await;
    assert_eq!(
        env.webhook.requests().len(),
        0,
        "stopped before the deadline"
    );
    env.nats.kill().await.unwrap();
    env.redis.kill().await.unwrap();
    env.nats.restart().await.unwrap();
    env.redis.restart().await.unwrap();
    let app = env.start().await;
    let (status, body) = app
        .rest(
            reqwest::Method::GET,
            &format!("/v1/cases/{case}"),
            Some(ALICE),
        )
        .await;
    assert_eq!(status, 200, "the case survived: {body}");
    assert_eq!(body["status"], "open");
    let bodies = wait_for_notifications(&env, 1, Duration::from_secs(P1_CLAIM_SECS + 15)).await;
    assert_eq!(
        bodies[0]["case_id"],
        case.as_str(),
        "the SLA timer survived and fired once"
    );
    app.app.stop().await;
}

async fn next_event(stream: &mut tonic::Streaming<pb::WatchResponse>) -> pb::CaseEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("no error")
        .event
        .expect("event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_disconnect_without_missing_an_event() {
    let env = Env::new().await;
    let app = env.start().await;
    let mut client = app.moderation().await;
    let mut stream = client
        .watch(authed(ALICE, pb::WatchRequest { cursor: 0 }))
        .await
        .unwrap()
        .into_inner();
    let id = app
        .post(&message("watch-1", "chat-watch", "u-watch", P1_TEXT))
        .await;
    let case = app.case_of(&id).await;
    let opened = next_event(&mut stream).await;
    assert_eq!(opened.kind, pb::CaseEventKind::Opened as i32);
    assert_eq!(opened.case.as_ref().unwrap().id, case);
    drop(stream); // the moderator's laptop goes to sleep

    client
        .claim(authed(ALICE, pb::ClaimRequest { id: case.clone() }))
        .await
        .unwrap();
    client
        .acknowledge(authed(ALICE, pb::AcknowledgeRequest { id: case.clone() }))
        .await
        .unwrap();
    let second = app
        .post(&message("watch-2", "chat-watch", "u-watch", P1_TEXT))
        .await;
    app.case_of(&second).await;

    let mut resumed = client
        .watch(authed(
            ALICE,
            pb::WatchRequest {
                cursor: opened.cursor,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut cursor = opened.cursor;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut resumed).await;
        assert_eq!(event.cursor, cursor + 1, "no gap after cursor {cursor}");
        cursor = event.cursor;
        kinds.push(event.kind);
    }
    assert_eq!(
        kinds,
        [
            pb::CaseEventKind::Claimed,
            pb::CaseEventKind::Acknowledged,
            pb::CaseEventKind::Updated
        ]
        .map(|k| k as i32)
    );
    app.app.stop().await;
}

/// Invariant 5. The reply budget (50/s in the default playbook) keeps thousands of
/// auto-replies queued on FB_REPLY while P1 messages arrive; each P1 case must reach a
/// watching moderator within a second. The figure is printed; the assertion leaves a
/// wide margin for a loaded CI machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p1_case_reaches_a_watcher_fast_at_the_peak_of_a_reply_surge() {
    const SURGE: usize = 3000;
    const P1S: usize = 20;
    let env = Env::new().await;
    let app = Arc::new(env.start().await);
    let mut stream = app
        .moderation()
        .await
        .watch(authed(ALICE, pb::WatchRequest { cursor: 0 }))
        .await
        .unwrap()
        .into_inner();
    let arrivals = tokio::spawn(async move {
        let mut seen: HashMap<String, Instant> = HashMap::new();
        while seen.len() < P1S {
            let item = match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                Ok(Some(Ok(item))) => item,
                other => panic!("watch ended: {other:?}"),
            };
            let case = item.event.and_then(|e| e.case).unwrap();
            seen.entry(case.thread_id).or_insert_with(Instant::now);
        }
        seen
    });
    let mut surge = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let app = app.clone();
        surge.spawn(async move {
            for k in 0..SURGE / 16 {
                let n = worker * 1000 + k;
                app.post(&message(
                    &format!("surge-{n}"),
                    &format!("surge-thread-{n}"),
                    &format!("surge-{n}"),
                    "how do I get a refund",
                ))
                .await;
            }
        });
    }
    // Let the reply queue build up, then send P1s into the thick of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut posted = HashMap::new();
    for n in 0..P1S {
        let thread = format!("p1-thread-{n}");
        posted.insert(thread.clone(), Instant::now());
        app.post(&message(
            &format!("p1-{n}"),
            &thread,
            &format!("p1-author-{n}"),
            P1_TEXT,
        ))
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let seen = arrivals.await.unwrap();
    let replied_by_then = app.app.dry_run.as_ref().unwrap().total_sent();
    let mut latencies: Vec<Duration> = posted
        .iter()
        .map(|(thread, at)| {
            seen.get(thread)
                .map_or(Duration::MAX, |arrived| arrived.duration_since(*at))
        })
        .collect();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    println!(
        "P1 to watcher during a {SURGE}-message reply surge: p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies.last().unwrap()
    );
    println!("auto-replies sent by the time the last P1 arrived: {replied_by_then} of {SURGE}");
    assert!(
        (replied_by_then as usize) < SURGE,
        "the reply queue was still full"
    );
    surge.abort_all();
    assert!(
        p99 < Duration::from_secs(3),
        "P1 latency p99 {p99:?} (target 1 s)"
    );
}
