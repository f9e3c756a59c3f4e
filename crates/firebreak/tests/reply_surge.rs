//! The reply service under a surge, against real nats-server and redis-server and a
//! fake Telegram that timestamps every send: budgets hold across two reply workers,
//! authors and threads are not spammed, variants spread, nothing is lost or sent twice
//! (also across a kill -9 of a worker), a 429 is waited out, and crisis mode switches
//! the key questions and budgets live.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak::app::{RunningApp, start};
use firebreak::config::RunConfig;
use firebreak_core::crisis::KV_CRISIS_KEY;
use firebreak_core::{Channel, CrisisMode, MessageId, MessageRecord, Outcome};
use firebreak_server::auth::Role;
use firebreak_testkit::{
    CannedResponse, ChildProcess, FakeHttpServer, NatsServer, RecordedRequest, RedisServer,
    free_port, wait_until,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The test playbook's Telegram budget (replies per second) outside crisis mode.
const TELEGRAM_BUDGET: usize = 40;
/// Its Telegram budget in crisis mode.
const CRISIS_TELEGRAM_BUDGET: usize = 3;
const THREAD_CAP: usize = 3;
/// A message the playbook answers with its `refund` key question.
const REFUND_QUESTION: &str = "How do I get a refund?";

/// The built-in playbook with budgets small enough for a test to see them at work.
fn test_playbook(dir: &std::path::Path) -> std::path::PathBuf {
    let mut yaml = include_str!("../../firebreak-triage/playbooks/default.yaml").to_string();
    for (from, to) in [
        (
            "  global_per_sec: 50\n",
            "  global_per_sec: 500\n".to_string(),
        ),
        (
            "    telegram: 30\n",
            format!("    telegram: {TELEGRAM_BUDGET}\n"),
        ),
        (
            "  author_cooldown_secs: 21600\n  thread_cap: 2\n",
            format!("  author_cooldown_secs: 3600\n  thread_cap: {THREAD_CAP}\n"),
        ),
        (
            "repeat_complainer: { count: 3, window_secs: 86400 }",
            "repeat_complainer: { count: 1000, window_secs: 60 }".to_string(),
        ),
        (
            "    global_per_sec: 150\n",
            format!(
                "    global_per_sec: 150\n    per_channel_per_sec:\n      telegram: {CRISIS_TELEGRAM_BUDGET}\n"
            ),
        ),
    ] {
        assert!(yaml.contains(from), "default playbook changed: {from:?}");
        yaml = yaml.replacen(from, &to, 1);
    }
    let path = dir.join("playbook.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

struct Cluster {
    nats: NatsServer,
    redis: RedisServer,
    platform: FakeHttpServer,
    dir: tempfile::TempDir,
    playbook: std::path::PathBuf,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let playbook = test_playbook(dir.path());
        Cluster {
            nats: NatsServer::start().await.expect("nats-server starts"),
            redis: RedisServer::start().await.expect("redis-server starts"),
            platform: FakeHttpServer::start().await.expect("fake platform starts"),
            dir,
            playbook,
        }
    }

    fn args(&self, roles: &str, http: &str) -> Vec<String> {
        [
            "--roles",
            roles,
            "--http-addr",
            http,
            "--grpc-addr",
            "127.0.0.1:0",
            "--nats-url",
            &self.nats.url(),
            "--redis-url",
            &self.redis.url(),
            "--playbook",
            self.playbook.to_str().unwrap(),
            "--telegram-bot-token",
            "123:test-token",
            "--telegram-api-url",
            &self.platform.url(),
            "--ingest-rate-per-source",
            "0",
            "--reply-ack-wait-secs",
            "6",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    async fn app(&self, roles: &str, shutdown: &CancellationToken) -> RunningApp {
        let config = RunConfig::from_args(self.args(roles, "127.0.0.1:0")).expect("config");
        start(config, shutdown.clone())
            .await
            .expect("firebreak starts")
    }

    /// A reply worker in a child process, so that a kill is a real kill -9.
    async fn child(&self, name: &str) -> ChildProcess {
        let port = free_port().unwrap();
        let mut args: Vec<OsString> = vec!["run".into()];
        args.extend(
            self.args("reply", &format!("127.0.0.1:{port}"))
                .into_iter()
                .map(OsString::from),
        );
        let log = self.dir.path().join(format!("{name}.log"));
        let child = ChildProcess::spawn(env!("CARGO_BIN_EXE_firebreak").as_ref(), &args, &log)
            .expect("firebreak binary starts");
        let health = format!("http://127.0.0.1:{port}/healthz");
        let client = reqwest::Client::new();
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
        .unwrap_or_else(|_| panic!("{name} up; log:\n{}", child.log_tail(30)));
        child
    }
}

/// One surge message: author `a`'s `k`-th, in one of `threads` public group chats.
fn surge_message(
    n: usize,
    author: usize,
    k: usize,
    threads: usize,
    text: &str,
) -> serde_json::Value {
    json!({
        "channel": "telegram",
        "external_id": (100_000 + n).to_string(),
        "thread_id": format!("group-{}", (author * 5 + k) % threads),
        "author": {"id": (5_000_000 + author).to_string(), "handle": format!("fan{author}"), "followers": 10, "verified": false},
        "visibility": "public",
        "text": text,
    })
}

fn message_id(n: usize) -> MessageId {
    MessageId::derive(Channel::Telegram, &(100_000 + n).to_string())
}

/// Posts every message through the ingest API, many at a time.
async fn submit(app: &RunningApp, messages: Vec<serde_json::Value>) {
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/messages", app.http_addr);
    let token = app.token(Role::Ingest).unwrap().to_string();
    let posts = messages.into_iter().map(|body| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            assert_eq!(response.expect("ingest answers").status(), 202);
        }
    });
    futures::StreamExt::for_each_concurrent(futures::stream::iter(posts), 64, |p| p).await;
}

/// Waits until every message has a terminal outcome, and returns the records.
async fn terminal_records(app: &RunningApp, count: usize, timeout: Duration) -> Vec<MessageRecord> {
    let started = Instant::now();
    loop {
        let mut records = Vec::with_capacity(count);
        for n in 0..count {
            if let Some(record) = app.log.get(message_id(n)).await.unwrap()
                && record.outcome.is_some()
            {
                records.push(record);
            }
        }
        if records.len() == count {
            return records;
        }
        assert!(
            started.elapsed() < timeout,
            "only {} of {count} messages reached an outcome",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What the fake platform received: one entry per send.
struct Send {
    at: Instant,
    chat: String,
    replied_to: i64,
}

fn sends(requests: &[RecordedRequest]) -> Vec<Send> {
    requests
        .iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .map(|r| {
            let body = r.body_json().unwrap();
            Send {
                at: r.received_at,
                chat: body["chat_id"].to_string(),
                replied_to: body["reply_parameters"]["message_id"].as_i64().unwrap(),
            }
        })
        .collect()
}

/// Most sends seen in any one-second window starting at a send.
fn max_per_second(sends: &[Send]) -> usize {
    let mut times: Vec<Instant> = sends.iter().map(|s| s.at).collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t < times[i] + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn outcome_name(record: &MessageRecord) -> &'static str {
    match record.outcome.as_ref().unwrap() {
        Outcome::Replied { .. } => "replied",
        Outcome::Escalated { .. } => "escalated",
        Outcome::Ignored { .. } => "ignored",
        Outcome::DeadLettered { .. } => "dead_lettered",
    }
}

fn assert_no_duplicate_sends(sends: &[Send]) {
    let mut seen = HashSet::new();
    for send in sends {
        assert!(
            seen.insert(send.replied_to),
            "message {} answered twice",
            send.replied_to
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_surge_is_answered_within_every_budget_by_two_workers() {
    let cluster = Cluster::start().await;
    let shutdown = CancellationToken::new();
    let front = cluster.app("ingest,classify,escalation", &shutdown).await;
    let _reply_a = cluster.app("reply", &shutdown).await;
    let _reply_b = cluster.app("reply", &shutdown).await;

    // 5,000 messages on one key question from 1,000 authors (5 each), spread over
    // 100 public group chats: 50 messages and 50 distinct authors per chat.
    let (authors, per_author, threads) = (1000, 5, 100);
    let mut messages = Vec::new();
    for k in 0..per_author {
        for a in 0..authors {
            let n = a * per_author + k;
            messages.push(surge_message(n, a, k, threads, REFUND_QUESTION));
        }
    }
    let count = messages.len();
    let started = Instant::now();
    submit(&front, messages).await;
    let ingest_secs = started.elapsed().as_secs_f64();
    let records = terminal_records(&front, count, Duration::from_secs(90)).await;

    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        *outcomes.entry(outcome_name(record)).or_default() += 1;
    }
    eprintln!("ingested {count} in {ingest_secs:.1}s; outcomes {outcomes:?}");
    assert_eq!(outcomes.get("dead_lettered"), None);

    let sends = sends(&cluster.platform.requests());
    let replied = outcomes.get("replied").copied().unwrap_or(0);
    assert_eq!(sends.len(), replied, "one send per replied message");
    assert_no_duplicate_sends(&sends);
    assert!(replied >= threads * 2, "too few replies: {replied}");
    let peak = max_per_second(&sends);
    assert!(peak <= TELEGRAM_BUDGET, "{peak} sends in one second");

    let mut per_author: HashMap<&str, usize> = HashMap::new();
    for send in &sends {
        *per_author.entry(&send.chat).or_default() += 1;
    }
    assert!(
        per_author.values().all(|&n| n <= 1),
        "an author got two automatic replies"
    );

    let mut variants = HashSet::new();
    let mut per_thread: HashMap<&str, Vec<&str>> = HashMap::new();
    for record in &records {
        if let Some(Outcome::Replied { variant, .. }) = &record.outcome {
            variants.insert(variant.as_str());
            per_thread
                .entry(&record.thread_id)
                .or_default()
                .push(variant);
        }
    }
    assert!(variants.len() >= 3, "variants used: {variants:?}");
    for (thread, used) in &per_thread {
        let distinct: HashSet<_> = used.iter().collect();
        assert_eq!(
            distinct.len(),
            used.len(),
            "thread {thread} saw a variant twice"
        );
        assert!(used.len() <= THREAD_CAP, "thread {thread} over its cap");
    }
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_platform_429_is_waited_out_and_nothing_is_lost() {
    let cluster = Cluster::start().await;
    let shutdown = CancellationToken::new();
    let front = cluster
        .app("ingest,classify,escalation,reply", &shutdown)
        .await;
    cluster.platform.enqueue_responses([
        CannedResponse::too_many_requests(1),
        CannedResponse::too_many_requests(1),
    ]);
    let messages: Vec<_> = (0..20)
        .map(|n| surge_message(n, n, 0, 1000, REFUND_QUESTION))
        .collect();
    submit(&front, messages).await;
    let records = terminal_records(&front, 20, Duration::from_secs(30)).await;
    for record in &records {
        assert_eq!(outcome_name(record), "replied", "{record:#?}");
    }

    let requests = cluster.platform.requests();
    let all = sends(&requests);
    // The first two requests got the 429s; each message's next try came no sooner
    // than the second it was told to wait.
    for limited in &all[..2] {
        let next = all[2..]
            .iter()
            .find(|s| s.replied_to == limited.replied_to)
            .expect("a rate-limited reply was retried");
        assert!(
            next.at - limited.at >= Duration::from_secs(1),
            "retried after {:?}",
            next.at - limited.at
        );
    }
    let sends = sends(&requests[2..]);
    assert_eq!(sends.len(), 20);
    assert_no_duplicate_sends(&sends);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_reply_worker_mid_surge_loses_nothing_and_sends_nothing_twice() {
    let cluster = Cluster::start().await;
    let shutdown = CancellationToken::new();
    let front = cluster.app("ingest,classify,escalation", &shutdown).await;
    let mut worker_a = cluster.child("reply-a").await;
    let mut worker_b = cluster.child("reply-b").await;

    let (authors, per_author, threads) = (300, 5, 100);
    let mut messages = Vec::new();
    for k in 0..per_author {
        for a in 0..authors {
            messages.push(surge_message(
                a * per_author + k,
                a,
                k,
                threads,
                REFUND_QUESTION,
            ));
        }
    }
    let count = messages.len();
    submit(&front, messages).await;
    wait_until(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async { cluster.platform.requests().len() >= 40 },
    )
    .await
    .expect("replies flowing");
    worker_a.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _worker_a = cluster.child("reply-a").await;

    let records = terminal_records(&front, count, Duration::from_secs(60)).await;
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        *outcomes.entry(outcome_name(record)).or_default() += 1;
    }
    eprintln!("after a kill -9: outcomes {outcomes:?}");
    assert_eq!(outcomes.get("dead_lettered"), None);
    let sends = sends(&cluster.platform.requests());
    assert_no_duplicate_sends(&sends);
    // A send whose outcome the crash hid is escalated, never sent again, so the
    // platform saw at least every recorded reply.
    assert!(sends.len() >= outcomes.get("replied").copied().unwrap_or(0));
    assert!(TELEGRAM_BUDGET >= max_per_second(&sends));
    worker_b.terminate().await.unwrap();
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crisis_mode_switches_key_questions_and_budgets_within_a_second() {
    let cluster = Cluster::start().await;
    let shutdown = CancellationToken::new();
    let front = cluster.app("ingest,classify,escalation", &shutdown).await;
    let reply = Arc::new(cluster.app("reply", &shutdown).await);

    // Outside crisis mode the recall question is not one the playbook answers.
    let recall = "Is my product affected by the recall?";
    let mode = CrisisMode {
        active: true,
        reason: "product recall".into(),
        actor: "test".into(),
        changed_at: time::OffsetDateTime::now_utc(),
        ..CrisisMode::off()
    };
    let switched = Instant::now();
    front
        .bus
        .kv()
        .put(KV_CRISIS_KEY, serde_json::to_vec(&mode).unwrap().into())
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(1),
        Duration::from_millis(10),
        || async {
            reply.settings.current().crisis_active() && front.settings.current().crisis_active()
        },
    )
    .await
    .expect("crisis mode applied within a second");
    let applied_in = switched.elapsed();
    let settings = reply.settings.current();
    let budgets = &settings.playbook().mode(true).budgets;
    assert_eq!(
        budgets.channel_per_sec(Channel::Telegram),
        CRISIS_TELEGRAM_BUDGET as f64
    );
    eprintln!("crisis mode applied in {applied_in:?}");

    // The crisis-only question is now answered, at the crisis pace.
    let messages: Vec<_> = (0..12)
        .map(|n| surge_message(n, n, 0, 12, recall))
        .collect();
    submit(&front, messages).await;
    let records = terminal_records(&front, 12, Duration::from_secs(30)).await;
    for record in &records {
        match record.outcome.as_ref().unwrap() {
            Outcome::Replied { variant, .. } => {
                assert!(variant.starts_with("affected_products."), "{variant}")
            }
            other => panic!("crisis question not answered: {other:?}"),
        }
    }
    let sends = sends(&cluster.platform.requests());
    assert_eq!(sends.len(), 12);
    assert!(max_per_second(&sends) <= CRISIS_TELEGRAM_BUDGET);
    shutdown.cancel();
}
