//! Follows every accepted message to its terminal outcome. While the pipeline still
//! holds work (its consumers' pending and unacknowledged counts, read from JetStream),
//! the harness only watches those counts, so its reads do not compete with the drain;
//! then it reads each message's record (`GET /v1/messages/{id}`) and takes the time of
//! its terminal entry from the history. A message still without an outcome when the
//! patience runs out is lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_core::{MessageId, MessageRecord, Stage};
use futures::StreamExt as _;

/// The end of one message.
#[derive(Clone, Debug)]
pub struct Ending {
    pub stage: Stage,
    /// Unix ms of the terminal history entry.
    pub at_ms: f64,
    /// Deferrals on the way (budget waits).
    pub deferrals: usize,
    /// Unix ms of the classification, when the history has one.
    pub classified_ms: Option<f64>,
}

/// Work the pipeline's consumers still hold: pending plus unacknowledged, summed.
pub async fn backlog(js: &async_nats::jetstream::Context) -> anyhow::Result<u64> {
    let mut total = 0;
    for stream in [
        firebreak_core::subjects::STREAM_INBOUND,
        firebreak_core::subjects::STREAM_URGENT,
        firebreak_core::subjects::STREAM_REPLY,
        firebreak_core::subjects::STREAM_ESCALATE,
    ] {
        let Ok(stream) = js.get_stream(stream).await else {
            continue;
        };
        let mut consumers = stream.consumers();
        while let Some(info) = consumers.next().await {
            let info = info?;
            total += info.num_pending + info.num_ack_pending as u64;
        }
    }
    Ok(total)
}

/// Waits (up to `patience`) until the pipeline holds no work for a second, calling
/// `sample` with each reading.
pub async fn wait_drained(
    js: &async_nats::jetstream::Context,
    patience: Duration,
    mut sample: impl FnMut(u64),
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + patience;
    let mut quiet_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let held = backlog(js).await?;
        sample(held);
        if held == 0 {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(1) {
                return Ok(true);
            }
        } else {
            quiet_since = None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(false)
}

/// Reads the record of each id until every one has an outcome or `patience` runs out.
/// Ids missing from the map had none.
pub async fn collect(
    http: &str,
    token: &str,
    ids: Vec<MessageId>,
    patience: Duration,
) -> anyhow::Result<HashMap<MessageId, Ending>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let deadline = Instant::now() + patience;
    let base = Arc::new(format!("{http}/v1/messages"));
    let mut endings = HashMap::new();
    let mut open = ids;
    loop {
        let read: Vec<(MessageId, Option<Ending>)> =
            futures::stream::iter(open.iter().copied().map(|id| {
                let (client, base, token) = (client.clone(), base.clone(), token.to_string());
                async move {
                    let ending = fetch(&client, &base, &token, id).await;
                    (id, ending)
                }
            }))
            .buffer_unordered(16)
            .collect()
            .await;
        open.clear();
        for (id, ending) in read {
            match ending {
                Some(e) => {
                    endings.insert(id, e);
                }
                None => open.push(id),
            }
        }
        if open.is_empty() || Instant::now() > deadline {
            return Ok(endings);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn fetch(client: &reqwest::Client, base: &str, token: &str, id: MessageId) -> Option<Ending> {
    let response = client
        .get(format!("{base}/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    let record: MessageRecord = response.json().await.ok()?;
    ending(&record)
}

/// The terminal entry of a record, if it has one.
pub fn ending(record: &MessageRecord) -> Option<Ending> {
    if !record.status.is_terminal() {
        return None;
    }
    let terminal = record
        .history
        .iter()
        .rev()
        .find(|h| h.stage.is_terminal())?;
    let unix_ms = |at: time::OffsetDateTime| (at.unix_timestamp_nanos() / 1_000) as f64 / 1000.0;
    Some(Ending {
        stage: record.status,
        at_ms: unix_ms(terminal.at),
        classified_ms: record
            .history
            .iter()
            .find(|h| h.stage == Stage::Classified)
            .map(|h| unix_ms(h.at)),
        deferrals: record
            .history
            .iter()
            .filter(|h| h.stage == Stage::Deferred)
            .count(),
    })
}
