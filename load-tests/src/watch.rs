//! A moderator's `Moderation/Watch` stream, timing when each message first shows up in
//! a case event and at which priority: the P1 delivery latency is that time minus the
//! time ingest accepted the message.

use std::collections::HashMap;
use std::sync::Arc;

use firebreak_core::MessageId;
use firebreak_proto::v1 as pb;
use futures::StreamExt as _;
use parking_lot::Mutex;
use tonic::transport::Endpoint;

use crate::measure::unix_ms;

/// When a message was first seen in a case, and the case's priority then.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub at_ms: f64,
    /// 1 for P1 ... 4 for P4.
    pub priority: i32,
}

pub struct Watcher {
    seen: Arc<Mutex<HashMap<MessageId, Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Opens the stream (from now) and keeps reading it until dropped.
    pub async fn start(grpc: &str, token: &str) -> anyhow::Result<Watcher> {
        let channel = Endpoint::from_shared(grpc.to_string())?.connect().await?;
        let mut client = pb::moderation_client::ModerationClient::new(channel);
        let mut request = tonic::Request::new(pb::WatchRequest { cursor: 0 });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let mut events = client.watch(request).await?.into_inner();
        let seen: Arc<Mutex<HashMap<MessageId, Seen>>> = Arc::default();
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(response)) = events.next().await {
                let at_ms = unix_ms();
                let Some(case) = response.event.and_then(|e| e.case) else {
                    continue;
                };
                let mut seen = sink.lock();
                for id in case
                    .message_ids
                    .iter()
                    .filter_map(|id| MessageId::parse(id))
                {
                    seen.entry(id).or_insert(Seen {
                        at_ms,
                        priority: case.priority,
                    });
                }
            }
        });
        Ok(Watcher { seen, task })
    }

    pub fn seen(&self) -> HashMap<MessageId, Seen> {
        self.seen.lock().clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
