//! `grpc-stream`: N concurrent `Ingest/SubmitStream` streams share M messages. Each
//! stream keeps at most `window` messages unacknowledged, as a well-behaved connector
//! would, and latency is the time from sending a message to receiving its ack.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use firebreak_proto::v1 as pb;
use futures::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::report::{self, Counts};

pub struct Options {
    pub grpc: String,
    pub token: String,
    pub streams: usize,
    pub messages: u64,
    pub window: usize,
    pub run_id: String,
}

pub async fn run(options: Options, texts: Arc<Vec<String>>) -> anyhow::Result<()> {
    let channel = Endpoint::from_shared(options.grpc.clone())?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", options.grpc))?;
    let per_stream = options.messages / options.streams as u64;
    let options = Arc::new(options);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for stream in 0..options.streams {
        tasks.push(tokio::spawn(one_stream(
            channel.clone(),
            options.clone(),
            texts.clone(),
            stream,
            per_stream,
        )));
    }
    let mut histogram = report::histogram();
    let mut counts = Counts::default();
    for task in tasks {
        let (h, c) = task.await??;
        histogram.add(&h)?;
        counts.accepted += c.accepted;
        counts.duplicates += c.duplicates;
        counts.errors += c.errors;
    }
    report::print("grpc-stream", &counts, started.elapsed(), &histogram);
    Ok(())
}

fn message(options: &Options, texts: &[String], stream: usize, i: u64) -> pb::SubmitMessage {
    let n = stream as u64 * 1_000_003 + i;
    pb::SubmitMessage {
        channel: pb::Channel::X as i32,
        external_id: format!("{}-{stream}-{i}", options.run_id),
        thread_id: format!("{}-thread-{}", options.run_id, n % 5_000),
        visibility: pb::Visibility::Public as i32,
        author: Some(pb::Author {
            id: format!("load-user-{}", n % 20_000),
            handle: format!("user{}", n % 20_000),
            followers: n % 3_000,
            ..Default::default()
        }),
        text: texts[(n % texts.len() as u64) as usize].clone(),
        ..Default::default()
    }
}

async fn one_stream(
    channel: Channel,
    options: Arc<Options>,
    texts: Arc<Vec<String>>,
    stream: usize,
    count: u64,
) -> anyhow::Result<(Histogram<u64>, Counts)> {
    let mut client =
        pb::ingest_client::IngestClient::new(channel).max_decoding_message_size(1 << 20);
    let (tx, rx) = mpsc::channel::<pb::SubmitStreamRequest>(options.window);
    let window = Arc::new(Semaphore::new(options.window));
    let sent_at: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..count).map(|_| std::sync::OnceLock::new()).collect());

    let sender = {
        let (window, sent_at, options) = (window.clone(), sent_at.clone(), options.clone());
        tokio::spawn(async move {
            for i in 0..count {
                let permit = window.acquire().await.expect("semaphore open");
                permit.forget();
                let _ = sent_at[i as usize].set(Instant::now());
                let request = pb::SubmitStreamRequest {
                    sequence: i,
                    message: Some(message(&options, &texts, stream, i)),
                };
                if tx.send(request).await.is_err() {
                    return;
                }
            }
        })
    };

    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", options.token).parse()?,
    );
    let mut acks = client.submit_stream(request).await?.into_inner();
    let mut histogram = report::histogram();
    let mut counts = Counts::default();
    let mut received = 0u64;
    while received < count {
        let Some(ack) = tokio::time::timeout(Duration::from_secs(30), acks.next())
            .await
            .context("no ack for 30 s")?
        else {
            anyhow::bail!("stream {stream} ended after {received} of {count} acks");
        };
        let ack = ack?;
        received += 1;
        window.add_permits(1);
        if let Some(at) = sent_at.get(ack.sequence as usize).and_then(|t| t.get()) {
            report::record(&mut histogram, at.elapsed());
        }
        match ack.result {
            Some(pb::submit_stream_response::Result::Accepted(a)) if a.duplicate => {
                counts.duplicates += 1
            }
            Some(pb::submit_stream_response::Result::Accepted(_)) => counts.accepted += 1,
            _ => counts.errors += 1,
        }
    }
    sender.await?;
    Ok((histogram, counts))
}
