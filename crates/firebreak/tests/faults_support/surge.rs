//! The surge the fault scenarios send, and the two checks every scenario makes: every
//! accepted message reached a recorded outcome (0 lost), and no message or recipient
//! got two replies (0 duplicates).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use firebreak_core::{Channel, MessageId, Outcome};
use serde_json::{Value, json};

use super::cluster::{Cluster, INGEST_TOKEN};

/// A message the default playbook answers automatically.
pub const KEY_QUESTION: &str = "How do I get a refund?";
/// A message the default playbook hands to a person (legal flag).
pub const ESCALATION: &str = "I am calling my lawyer about this";

/// External ids start here; Telegram replies quote them as `reply_parameters.message_id`.
const FIRST_EXTERNAL_ID: i64 = 1_000_000;

/// Message `n` of a surge: four in five ask the key question, one in five is for a
/// person. Each has its own author and chat, so the thread cap and author cooldown
/// (tested elsewhere) do not turn answers into "ignored".
pub fn message(n: usize) -> Value {
    let external = FIRST_EXTERNAL_ID + n as i64;
    let text = if n % 5 == 4 { ESCALATION } else { KEY_QUESTION };
    json!({
        "channel": "telegram",
        "external_id": external.to_string(),
        "thread_id": format!("chat-{external}"),
        "author": {"id": (7_000_000 + n).to_string(), "handle": format!("fan{n}"), "followers": 3, "verified": false},
        "visibility": "private",
        "text": text,
    })
}

pub fn message_id(n: usize) -> MessageId {
    MessageId::derive(
        Channel::Telegram,
        &(FIRST_EXTERNAL_ID + n as i64).to_string(),
    )
}

fn reply_key(n: usize) -> i64 {
    FIRST_EXTERNAL_ID + n as i64
}

/// What ingest answered, counted.
#[derive(Debug, Default, Clone)]
pub struct Ingested {
    pub accepted: Vec<usize>,
    /// 503 answers (each retried, as a platform retries a webhook).
    pub refused: usize,
}

/// Posts messages `range` to the ingest node, `concurrency` at a time and, unless
/// `per_sec` is 0, no faster than `per_sec` (so a fault can land while messages still
/// arrive). A 503 or a refused connection is retried 200 ms later, as a platform resends
/// a webhook; any other answer but 202 fails the test.
pub async fn submit(
    ingest_http: &str,
    range: std::ops::Range<usize>,
    concurrency: usize,
    per_sec: u32,
) -> Ingested {
    submit_counting(
        ingest_http,
        range,
        concurrency,
        per_sec,
        &AtomicUsize::new(0),
    )
    .await
}

/// A surge being sent in the background.
pub struct Surge {
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Ingested>,
}

impl Surge {
    /// Starts [`submit`] in the background.
    pub fn start(
        ingest_http: &str,
        range: std::ops::Range<usize>,
        concurrency: usize,
        per_sec: u32,
    ) -> Self {
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let http = ingest_http.to_string();
        let task = tokio::spawn(async move {
            submit_counting(&http, range, concurrency, per_sec, &counter).await
        });
        Surge { accepted, task }
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits until every message is accepted.
    pub async fn finish(self) -> Ingested {
        self.task.await.expect("surge task")
    }
}

async fn submit_counting(
    ingest_http: &str,
    range: std::ops::Range<usize>,
    concurrency: usize,
    per_sec: u32,
    counter: &AtomicUsize,
) -> Ingested {
    let client = reqwest::Client::new();
    let url = format!("{ingest_http}/v1/messages");
    let start = tokio::time::Instant::now();
    let first = range.start;
    let posts = range.map(|n| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            if per_sec > 0 {
                let turn = Duration::from_secs_f64((n - first) as f64 / f64::from(per_sec));
                tokio::time::sleep_until(start + turn).await;
            }
            let mut refused = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let answer = client
                    .post(&url)
                    .bearer_auth(INGEST_TOKEN)
                    .json(&message(n))
                    .send()
                    .await;
                match answer.map(|r| r.status().as_u16()) {
                    Ok(202) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                        return (n, refused);
                    }
                    Ok(503) | Err(_) => refused += 1,
                    Ok(other) => panic!("ingest answered {other} for message {n}"),
                }
                assert!(
                    Instant::now() < deadline,
                    "message {n} never accepted ({refused} refusals)"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let results: Vec<(usize, usize)> = futures::StreamExt::collect(
        futures::StreamExt::buffer_unordered(futures::stream::iter(posts), concurrency),
    )
    .await;
    Ingested {
        accepted: results.iter().map(|(n, _)| *n).collect(),
        refused: results.iter().map(|(_, r)| r).sum(),
    }
}

/// Every accepted message's recorded outcome, once all have one. Fails the test,
/// naming how many are missing, if they do not within `timeout`.
pub async fn outcomes(
    cluster: &Cluster,
    accepted: &[usize],
    timeout: Duration,
) -> HashMap<usize, Outcome> {
    let started = Instant::now();
    let mut done = HashMap::new();
    loop {
        for &n in accepted {
            if !done.contains_key(&n)
                && let Some(outcome) = cluster.outcome(message_id(n)).await
            {
                done.insert(n, outcome);
            }
        }
        if done.len() == accepted.len() {
            return done;
        }
        let missing: Vec<_> = accepted.iter().filter(|n| !done.contains_key(n)).collect();
        assert!(
            started.elapsed() < timeout,
            "{} of {} accepted messages have no outcome after {timeout:?} (lost?), e.g. {:?}",
            missing.len(),
            accepted.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Replied { .. } => "replied",
        Outcome::Escalated { .. } => "escalated",
        Outcome::Ignored { .. } => "ignored",
        Outcome::DeadLettered { .. } => "dead_lettered",
    }
}

/// What a scenario measured, printed for docs/faults.md.
#[derive(Debug)]
pub struct Tally {
    pub accepted: usize,
    pub by_outcome: BTreeMap<&'static str, usize>,
    /// Replies the platform posted for these messages.
    pub posted: usize,
    /// Escalated messages the platform had posted a reply for: sends whose answer
    /// never came back (a crash or a timeout), handed to a person instead of resent.
    pub posted_then_escalated: usize,
}

/// Checks 0 lost (every accepted message has an outcome, which `outcomes` already
/// waited for) and 0 duplicates (at most one posted reply per message and per chat;
/// exactly one for every `replied` message), and tallies the rest.
pub async fn check(cluster: &Cluster, outcomes: &HashMap<usize, Outcome>) -> Tally {
    cluster.platform.assert_no_duplicate_replies().await;
    let posted = cluster.platform.posted_per_message().await;
    let mut by_outcome = BTreeMap::new();
    let mut posted_then_escalated = 0;
    let mut posted_total = 0;
    for (&n, outcome) in outcomes {
        *by_outcome.entry(outcome_name(outcome)).or_default() += 1;
        let sent = posted.get(&reply_key(n)).copied().unwrap_or(0);
        posted_total += sent;
        match outcome {
            Outcome::Replied { .. } => {
                assert_eq!(sent, 1, "message {n} recorded as replied, posted {sent}")
            }
            Outcome::Escalated { .. } if sent == 1 => posted_then_escalated += 1,
            other => assert_eq!(sent, 0, "message {n} ended {other:?} yet was posted"),
        }
    }
    let tally = Tally {
        accepted: outcomes.len(),
        by_outcome,
        posted: posted_total,
        posted_then_escalated,
    };
    eprintln!("{tally:?}");
    tally
}

/// The message sent before a surge, so that start-up (first connections, the first
/// triage) is over before a fault is timed against the surge.
pub const WARM_UP: usize = 90_000;

/// Sends one key question and waits for its reply: the cluster flows end to end.
pub async fn warm_up(cluster: &Cluster, ingest_http: &str) {
    let sent = submit(ingest_http, WARM_UP..WARM_UP + 1, 1, 0).await;
    let done = outcomes(cluster, &sent.accepted, Duration::from_secs(30)).await;
    assert!(
        matches!(done.get(&WARM_UP), Some(Outcome::Replied { .. })),
        "warm-up message not replied: {done:?}"
    );
}

/// Waits until the platform posted `replies` (the pipeline flows end to end), and
/// checks the surge is still arriving: the fault that follows lands mid-surge.
pub async fn mid_surge(cluster: &Cluster, surge: &Surge, replies: usize) {
    let flowing = firebreak_testkit::wait_until(
        Duration::from_secs(30),
        Duration::from_millis(10),
        || async { cluster.platform.posted_count().await >= replies },
    )
    .await;
    assert!(flowing.is_ok(), "no {replies} replies within 30 s");
    assert!(
        !surge.is_finished(),
        "the surge was all in before the fault"
    );
    eprintln!(
        "fault after {} accepted, {} replies",
        surge.accepted(),
        cluster.platform.posted_count().await
    );
}

/// Reads every 10th message back through the HTTP API (`GET /v1/messages/{id}` on an
/// ingest node, as a viewer) and checks it reports the outcome the store holds.
pub async fn api_agrees(ingest_http: &str, outcomes: &HashMap<usize, Outcome>) {
    let client = reqwest::Client::new();
    let mut sample: Vec<_> = outcomes.iter().collect();
    sample.sort_by_key(|(n, _)| **n);
    for (n, outcome) in sample.into_iter().step_by(10) {
        let record: Value = client
            .get(format!("{ingest_http}/v1/messages/{}", message_id(*n)))
            .bearer_auth(super::cluster::VIEWER_TOKEN)
            .send()
            .await
            .expect("api answers")
            .json()
            .await
            .expect("a record");
        assert_eq!(
            record["status"].as_str(),
            Some(outcome_name(outcome)),
            "message {n} through the API: {record}"
        );
    }
}
