//! Sends a plan: Telegram messages as signed webhook deliveries (the secret token, as
//! Telegram sends them), every other channel over `Ingest/SubmitStream` streams with
//! a bounded window each. Open loop: each message leaves when it is due, whatever the
//! answers, so a slow pipeline shows as backlog rather than a slower generator; the
//! generator only waits when a stream's window is full. `paced: false` sends as fast
//! as the windows allow (the capacity run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use firebreak_core::{Channel, Visibility};
use firebreak_proto::v1 as pb;
use futures::StreamExt as _;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

use crate::measure::unix_ms;
use crate::plan::Planned;

/// What became of one planned submission at ingest.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    pub sent_ms: f64,
    /// When ingest answered that the message is on the bus.
    pub acked_ms: Option<f64>,
    /// Ingest recognised a message it already had (a platform retry).
    pub duplicate: bool,
    pub error: Option<String>,
}

pub struct Target {
    pub grpc: String,
    pub http: String,
    pub token: String,
    pub telegram_secret: String,
}

pub struct Shape {
    pub grpc_streams: usize,
    pub window: usize,
    pub webhook_concurrency: usize,
    pub paced: bool,
}

type Log = Arc<Mutex<Vec<Sent>>>;

/// Sends every planned message and waits for every answer. Returns one entry per
/// planned message, in plan order, and when the first message left (unix ms).
pub async fn drive(
    target: &Target,
    shape: &Shape,
    plan: Arc<Vec<Planned>>,
) -> anyhow::Result<(Vec<Sent>, f64)> {
    let log: Log = Arc::new(Mutex::new(vec![Sent::default(); plan.len()]));
    let channel = Endpoint::from_shared(target.grpc.clone())?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", target.grpc))?;
    let mut senders = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..shape.grpc_streams.max(1) {
        let (tx, rx) = mpsc::channel::<usize>(shape.window);
        senders.push(tx);
        streams.push(tokio::spawn(one_stream(
            channel.clone(),
            target.token.clone(),
            shape.window,
            rx,
            plan.clone(),
            log.clone(),
        )));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(shape.webhook_concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let webhook_url = format!("{}/webhooks/telegram", target.http);
    let webhooks = Arc::new(Semaphore::new(shape.webhook_concurrency.max(1)));
    let mut posts = Vec::new();
    let started = Instant::now();
    let started_ms = unix_ms();
    for (i, p) in plan.iter().enumerate() {
        if shape.paced {
            let due = started + Duration::from_secs_f64(p.at);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        if p.channel == Channel::Telegram {
            let permit = webhooks.clone().acquire_owned().await?;
            log.lock()[i].sent_ms = unix_ms();
            let (http, url, secret, log, body) = (
                http.clone(),
                webhook_url.clone(),
                target.telegram_secret.clone(),
                log.clone(),
                telegram_update(p, i),
            );
            posts.push(tokio::spawn(async move {
                post_webhook(&http, &url, &secret, body, i, &log).await;
                drop(permit);
            }));
        } else {
            senders[i % senders.len()]
                .send(i)
                .await
                .context("a submit stream ended early")?;
        }
    }
    drop(senders);
    for stream in streams {
        stream.await??;
    }
    for post in posts {
        post.await?;
    }
    let sent = log.lock().clone();
    Ok((sent, started_ms))
}

async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: String,
    i: usize,
    log: &Log,
) {
    // A platform resends a refused delivery; so does this one, a few times.
    for attempt in 0..20u64 {
        let response = http
            .post(url)
            .header("x-telegram-bot-api-secret-token", secret)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 200 => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                let mut log = log.lock();
                log[i].acked_ms = Some(unix_ms());
                log[i].duplicate = v["duplicates"].as_u64().unwrap_or(0) > 0;
                return;
            }
            Ok(r) if r.status() == 429 || r.status() == 503 => {}
            Ok(r) => {
                log.lock()[i].error = Some(format!("webhook {}", r.status()));
                return;
            }
            Err(e) => log.lock()[i].error = Some(format!("webhook: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
}

/// A Telegram update for a planned message: a private chat is the user's own; a public
/// message is posted in a group.
fn telegram_update(p: &Planned, i: usize) -> String {
    let (chat, message_id) = p
        .external_id
        .split_once(':')
        .map(|(c, m)| (c.parse::<i64>().unwrap_or(0), m.parse::<i64>().unwrap_or(0)))
        .unwrap_or_default();
    let chat_json = match p.visibility {
        Visibility::Private => json!({"id": chat, "type": "private", "first_name": "Surge"}),
        Visibility::Public => json!({"id": chat, "type": "supergroup", "title": "Surge"}),
    };
    json!({
        "update_id": i,
        "message": {
            "message_id": message_id,
            "from": {"id": p.author, "is_bot": false, "first_name": "Surge", "username": format!("u{}", p.author)},
            "chat": chat_json,
            "date": time::OffsetDateTime::now_utc().unix_timestamp(),
            "text": &*p.text,
        }
    })
    .to_string()
}

fn submit_message(p: &Planned) -> pb::SubmitMessage {
    let channel = pb::Channel::from_str_name(&format!(
        "CHANNEL_{}",
        p.channel.as_str().to_ascii_uppercase()
    ))
    .unwrap_or(pb::Channel::Web);
    let visibility = match p.visibility {
        Visibility::Private => pb::Visibility::Private,
        Visibility::Public => pb::Visibility::Public,
    };
    pb::SubmitMessage {
        channel: channel as i32,
        external_id: p.external_id.clone(),
        thread_id: p.thread_id.clone(),
        visibility: visibility as i32,
        author: Some(pb::Author {
            id: p.author.to_string(),
            handle: format!("u{}", p.author),
            followers: p.followers,
            ..Default::default()
        }),
        text: p.text.to_string(),
        ..Default::default()
    }
}

async fn one_stream(
    channel: tonic::transport::Channel,
    token: String,
    window: usize,
    mut due: mpsc::Receiver<usize>,
    plan: Arc<Vec<Planned>>,
    log: Log,
) -> anyhow::Result<()> {
    let mut client =
        pb::ingest_client::IngestClient::new(channel).max_decoding_message_size(1 << 20);
    let (tx, rx) = mpsc::channel::<pb::SubmitStreamRequest>(window);
    let free = Arc::new(Semaphore::new(window));
    let pending = Arc::new(Mutex::new(0usize));
    let sender = {
        let (free, log, pending) = (free.clone(), log.clone(), pending.clone());
        tokio::spawn(async move {
            while let Some(i) = due.recv().await {
                free.acquire().await.expect("semaphore open").forget();
                log.lock()[i].sent_ms = unix_ms();
                *pending.lock() += 1;
                let request = pb::SubmitStreamRequest {
                    sequence: i as u64,
                    message: Some(submit_message(&plan[i])),
                };
                if tx.send(request).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let mut acks = client.submit_stream(request).await?.into_inner();
    loop {
        let next = tokio::time::timeout(Duration::from_millis(200), acks.next()).await;
        match next {
            Ok(Some(ack)) => {
                let ack = ack?;
                free.add_permits(1);
                *pending.lock() -= 1;
                let i = ack.sequence as usize;
                let mut log = log.lock();
                match ack.result {
                    Some(pb::submit_stream_response::Result::Accepted(a)) => {
                        log[i].acked_ms = Some(unix_ms());
                        log[i].duplicate = a.duplicate;
                    }
                    Some(pb::submit_stream_response::Result::Error(e)) => {
                        log[i].error = Some(format!("{}: {}", e.code, e.message));
                    }
                    None => log[i].error = Some("empty ack".into()),
                }
            }
            Ok(None) => break,
            // The stream stays open while messages may still come; it ends once the
            // plan is sent and every ack is in.
            Err(_) => {
                if sender.is_finished() && *pending.lock() == 0 {
                    break;
                }
            }
        }
        if sender.is_finished() && *pending.lock() == 0 {
            break;
        }
    }
    Ok(())
}
