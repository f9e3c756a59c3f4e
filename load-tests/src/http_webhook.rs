//! `http-webhook`: C concurrent clients post Telegram updates to `/webhooks/telegram`
//! with the secret token, as Telegram itself would. A request's latency covers the whole
//! delivery: signature check, parse, publish and the JetStream ack.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::report::{self, Counts};

pub struct Options {
    pub target: String,
    pub telegram_secret: String,
    pub concurrency: usize,
    pub messages: u64,
    pub run_id: u64,
}

pub async fn run(options: Options, texts: Arc<Vec<String>>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let url = format!("{}/webhooks/telegram", options.target.trim_end_matches('/'));
    let next = Arc::new(AtomicU64::new(0));
    let options = Arc::new(options);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.concurrency {
        let (client, url, next, options, texts) = (
            client.clone(),
            url.clone(),
            next.clone(),
            options.clone(),
            texts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut histogram = report::histogram();
            let mut counts = Counts::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= options.messages {
                    break;
                }
                let body = update(&options, &texts, i);
                let at = Instant::now();
                let response = client
                    .post(&url)
                    .header("x-telegram-bot-api-secret-token", &options.telegram_secret)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                report::record(&mut histogram, at.elapsed());
                match response {
                    Ok(r) if r.status() == 200 => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if v["duplicates"].as_u64().unwrap_or(0) > 0 {
                            counts.duplicates += 1;
                        } else {
                            counts.accepted += 1;
                        }
                    }
                    _ => counts.errors += 1,
                }
            }
            (histogram, counts)
        }));
    }
    let mut histogram: Histogram<u64> = report::histogram();
    let mut counts = Counts::default();
    for task in tasks {
        let (h, c) = task.await?;
        histogram.add(&h)?;
        counts.accepted += c.accepted;
        counts.duplicates += c.duplicates;
        counts.errors += c.errors;
    }
    report::print("http-webhook", &counts, started.elapsed(), &histogram);
    Ok(())
}

/// A private-chat Telegram update, unique per run and index.
fn update(options: &Options, texts: &[String], i: u64) -> String {
    let chat = 100_000 + (i % 20_000) as i64;
    json!({
        "update_id": i,
        "message": {
            "message_id": options.run_id * 10_000_000 + i,
            "from": {"id": chat, "is_bot": false, "first_name": "Load", "username": format!("load{chat}")},
            "chat": {"id": chat, "type": "private", "first_name": "Load"},
            "date": 1_700_000_000,
            "text": texts[(i % texts.len() as u64) as usize],
        }
    })
    .to_string()
}
