//! The embedded bus: JetStream's semantics (streams, msg-id dedup, durable consumers with
//! explicit ack, nak with delay, ack-wait redelivery, max deliveries) in one process, for
//! `firebreak run` without a NATS server.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};

use crate::port::{
    AckFuture, Bus, BusError, Consumer, ConsumerBacklog, ConsumerOptions, Delivery, DeliveryAcker,
    Envelope, Kv, KvEntry, PublishAck, StoredMessage, StreamBounds, StreamUsage,
};
use crate::topology;

/// Past this many stored messages a stream refuses publishes, as a JetStream stream with
/// `discard: new` does at its byte limit (or drops its oldest, with `discard: old`).
const MAX_MESSAGES_PER_STREAM: usize = 2_000_000;

#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    streams: Mutex<HashMap<String, StreamState>>,
    /// Woken on every publish, nak and ack so waiting fetches look again.
    changed: Notify,
    kv: Arc<MemoryKv>,
}

struct Stored {
    subject: String,
    payload: Bytes,
    headers: Vec<(String, String)>,
}

struct StreamState {
    patterns: Vec<String>,
    retention: topology::Retention,
    discard: topology::Discard,
    duplicate_window: Duration,
    messages: BTreeMap<u64, Stored>,
    last_sequence: u64,
    recent_ids: HashMap<String, (u64, Instant)>,
    consumers: HashMap<String, ConsumerState>,
}

struct ConsumerState {
    options: ConsumerOptions,
    /// The first sequence never delivered.
    next_sequence: u64,
    /// Delivered and not yet settled: sequence → (deliveries so far, redeliver at).
    pending: BTreeMap<u64, (u64, Instant)>,
}

impl MemoryBus {
    pub fn new() -> Self {
        let bus = MemoryBus::default();
        {
            let mut streams = bus.inner.streams.lock();
            for spec in topology::streams() {
                streams.insert(
                    spec.name.to_string(),
                    StreamState {
                        patterns: spec.subjects.clone(),
                        retention: spec.retention,
                        discard: spec.discard,
                        duplicate_window: spec.duplicate_window,
                        messages: BTreeMap::new(),
                        last_sequence: 0,
                        recent_ids: HashMap::new(),
                        consumers: HashMap::new(),
                    },
                );
            }
        }
        bus
    }
}

/// NATS subject matching: `*` matches one token, `>` the rest.
fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Inner {
    fn publish(&self, envelope: Envelope) -> Result<PublishAck, BusError> {
        let mut streams = self.streams.lock();
        let (name, stream) = streams
            .iter_mut()
            .find(|(_, s)| {
                s.patterns
                    .iter()
                    .any(|p| subject_matches(p, &envelope.subject))
            })
            .ok_or_else(|| BusError::Other(format!("no stream for {}", envelope.subject)))?;
        let now = Instant::now();
        let window = stream.duplicate_window;
        stream
            .recent_ids
            .retain(|_, (_, at)| now.duration_since(*at) < window);
        if let Some(id) = &envelope.msg_id
            && let Some((sequence, _)) = stream.recent_ids.get(id)
        {
            return Ok(PublishAck {
                stream: name.clone(),
                sequence: *sequence,
                duplicate: true,
            });
        }
        if stream.messages.len() >= MAX_MESSAGES_PER_STREAM {
            match stream.discard {
                topology::Discard::New => return Err(BusError::Full(name.clone())),
                topology::Discard::Old => {
                    stream.messages.pop_first();
                }
            }
        }
        stream.last_sequence += 1;
        let sequence = stream.last_sequence;
        if let Some(id) = envelope.msg_id {
            stream.recent_ids.insert(id, (sequence, now));
        }
        stream.messages.insert(
            sequence,
            Stored {
                subject: envelope.subject,
                payload: envelope.payload,
                headers: envelope.headers,
            },
        );
        let ack = PublishAck {
            stream: name.clone(),
            sequence,
            duplicate: false,
        };
        drop(streams);
        self.changed.notify_waiters();
        Ok(ack)
    }

    /// Takes what is due for one consumer: timed-out or nak'd redeliveries first (oldest
    /// first), then new messages. Returns when the next redelivery falls due otherwise.
    fn take(
        self: &Arc<Self>,
        stream_name: &str,
        durable: &str,
        max: usize,
    ) -> (Vec<Delivery>, Option<Instant>) {
        let mut streams = self.streams.lock();
        let Some(stream) = streams.get_mut(stream_name) else {
            return (Vec::new(), None);
        };
        let Some(consumer) = stream.consumers.get_mut(durable) else {
            return (Vec::new(), None);
        };
        let now = Instant::now();
        let mut taken = Vec::new();
        let mut next_due = None;
        let pending: Vec<u64> = consumer.pending.keys().copied().collect();
        for sequence in pending {
            if taken.len() >= max {
                break;
            }
            let (delivered, due) = consumer.pending[&sequence];
            if due > now {
                next_due = Some(next_due.map_or(due, |d: Instant| d.min(due)));
                continue;
            }
            let limit = consumer.options.max_deliver;
            if (limit > 0 && delivered >= limit as u64) || !stream.messages.contains_key(&sequence)
            {
                // JetStream stops redelivering after max_deliver; the worker has
                // dead-lettered it on its last delivery.
                consumer.pending.remove(&sequence);
                continue;
            }
            consumer
                .pending
                .insert(sequence, (delivered + 1, now + consumer.options.ack_wait));
            taken.push((sequence, delivered + 1));
        }
        // Like JetStream, hand out nothing new while max_ack_pending deliveries are
        // unsettled (zero or a negative limit means unlimited).
        let room = match usize::try_from(consumer.options.max_ack_pending) {
            Ok(limit) if limit > 0 => limit.saturating_sub(consumer.pending.len()),
            _ => usize::MAX,
        };
        let max_new = taken.len().saturating_add(room).min(max);
        while taken.len() < max_new && consumer.next_sequence <= stream.last_sequence {
            let sequence = consumer.next_sequence;
            consumer.next_sequence += 1;
            if stream.messages.contains_key(&sequence) {
                consumer
                    .pending
                    .insert(sequence, (1, now + consumer.options.ack_wait));
                taken.push((sequence, 1));
            }
        }
        let deliveries = taken
            .into_iter()
            .map(|(sequence, delivered)| {
                let stored = &stream.messages[&sequence];
                Delivery {
                    subject: stored.subject.clone(),
                    payload: stored.payload.clone(),
                    headers: stored.headers.clone(),
                    delivered,
                    stream_sequence: sequence,
                    acker: Box::new(MemoryAcker {
                        inner: self.clone(),
                        stream: stream_name.to_string(),
                        durable: durable.to_string(),
                        sequence,
                        delivered,
                    }),
                }
            })
            .collect();
        (deliveries, next_due)
    }

    fn settle(
        &self,
        stream: &str,
        durable: &str,
        sequence: u64,
        delivered: u64,
        redeliver_at: Option<Instant>,
    ) {
        let mut streams = self.streams.lock();
        let Some(consumer) = streams
            .get_mut(stream)
            .and_then(|s| s.consumers.get_mut(durable))
        else {
            return;
        };
        // A settle for an older delivery of a message already redelivered is stale.
        if consumer
            .pending
            .get(&sequence)
            .is_some_and(|(d, _)| *d != delivered)
        {
            return;
        }
        match redeliver_at {
            Some(at) => {
                consumer.pending.insert(sequence, (delivered, at));
            }
            None => {
                consumer.pending.remove(&sequence);
                if let Some(state) = streams.get_mut(stream)
                    && state.retention == topology::Retention::WorkQueue
                {
                    // Done work leaves a work-queue stream.
                    state.messages.remove(&sequence);
                }
            }
        }
        drop(streams);
        self.changed.notify_waiters();
    }
}

impl Inner {
    /// Restarts a delivery's ack wait, if it is still the current delivery.
    fn extend(&self, stream: &str, durable: &str, sequence: u64, delivered: u64) {
        let mut streams = self.streams.lock();
        let Some(consumer) = streams
            .get_mut(stream)
            .and_then(|s| s.consumers.get_mut(durable))
        else {
            return;
        };
        let ack_wait = consumer.options.ack_wait;
        if let Some((d, due)) = consumer.pending.get_mut(&sequence)
            && *d == delivered
        {
            *due = Instant::now() + ack_wait;
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, envelope: Envelope) -> Result<AckFuture, BusError> {
        let ack = self.inner.publish(envelope);
        Ok(Box::pin(async move { ack }))
    }

    async fn consumer(
        &self,
        stream: &str,
        durable: &str,
        options: ConsumerOptions,
    ) -> Result<Box<dyn Consumer>, BusError> {
        let mut streams = self.inner.streams.lock();
        let state = streams
            .get_mut(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        if state.retention == topology::Retention::WorkQueue
            && state.consumers.keys().any(|name| name != durable)
        {
            // As JetStream: a work-queue stream has one consumer per subject.
            return Err(BusError::Other(format!(
                "work-queue stream {stream} already has a consumer"
            )));
        }
        // Create or update, like JetStream's consumer create: a rebinding with new
        // options (an upgrade) applies them and keeps the consumer's position.
        state
            .consumers
            .entry(durable.to_string())
            .and_modify(|c| c.options = options.clone())
            .or_insert_with(|| ConsumerState {
                options,
                next_sequence: 1,
                pending: BTreeMap::new(),
            });
        Ok(Box::new(MemoryConsumer {
            inner: self.inner.clone(),
            stream: stream.to_string(),
            durable: durable.to_string(),
        }))
    }

    async fn ready(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn kv(&self) -> Arc<dyn Kv> {
        self.inner.kv.clone()
    }

    async fn stream_len(&self, stream: &str) -> Result<u64, BusError> {
        let streams = self.inner.streams.lock();
        let state = streams
            .get(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        Ok(state.messages.len() as u64)
    }

    async fn consumer_backlog(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<ConsumerBacklog, BusError> {
        let streams = self.inner.streams.lock();
        let state = streams
            .get(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        let Some(consumer) = state.consumers.get(durable) else {
            return Ok(ConsumerBacklog::default());
        };
        Ok(ConsumerBacklog {
            pending: state.messages.range(consumer.next_sequence..).count() as u64,
            ack_pending: consumer.pending.len() as u64,
            redelivered: consumer.pending.values().filter(|(n, _)| *n > 1).count() as u64,
        })
    }

    async fn stream_usage(&self, stream: &str) -> Result<StreamUsage, BusError> {
        let streams = self.inner.streams.lock();
        let state = streams
            .get(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        let max_bytes = topology::streams()
            .into_iter()
            .find(|spec| spec.name == stream)
            .map_or(0, |spec| spec.max_bytes as u64);
        Ok(StreamUsage {
            bytes: state
                .messages
                .values()
                .map(|m| m.payload.len() as u64)
                .sum(),
            max_bytes,
        })
    }

    async fn stream_bounds(&self, stream: &str) -> Result<StreamBounds, BusError> {
        let streams = self.inner.streams.lock();
        let state = streams
            .get(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        let first = state
            .messages
            .keys()
            .next()
            .copied()
            .unwrap_or(state.last_sequence + 1);
        Ok(StreamBounds {
            first,
            last: state.last_sequence,
        })
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredMessage>, BusError> {
        let streams = self.inner.streams.lock();
        let state = streams
            .get(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        Ok(state
            .messages
            .range(from..)
            .take(max)
            .map(|(&sequence, stored)| StoredMessage {
                sequence,
                subject: stored.subject.clone(),
                payload: stored.payload.clone(),
                headers: stored.headers.clone(),
            })
            .collect())
    }
}

struct MemoryConsumer {
    inner: Arc<Inner>,
    stream: String,
    durable: String,
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn fetch(&mut self, max: usize, expires: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = tokio::time::Instant::now() + expires;
        loop {
            // Register interest before looking, so a publish between the look and the
            // wait is not missed.
            let changed = self.inner.changed.notified();
            let (deliveries, next_due) = self.inner.take(&self.stream, &self.durable, max);
            if !deliveries.is_empty() {
                return Ok(deliveries);
            }
            let mut wake = deadline;
            if let Some(due) = next_due {
                wake = wake.min(tokio::time::Instant::from_std(due));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

struct MemoryAcker {
    inner: Arc<Inner>,
    stream: String,
    durable: String,
    sequence: u64,
    delivered: u64,
}

#[async_trait]
impl DeliveryAcker for MemoryAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.inner.settle(
            &self.stream,
            &self.durable,
            self.sequence,
            self.delivered,
            None,
        );
        Ok(())
    }

    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        let at = Instant::now() + delay.unwrap_or_default();
        self.inner.settle(
            &self.stream,
            &self.durable,
            self.sequence,
            self.delivered,
            Some(at),
        );
        Ok(())
    }

    async fn term(&self) -> Result<(), BusError> {
        self.ack().await
    }

    async fn progress(&self) -> Result<(), BusError> {
        self.inner
            .extend(&self.stream, &self.durable, self.sequence, self.delivered);
        Ok(())
    }
}

#[derive(Default)]
struct MemoryKv {
    entries: Mutex<(u64, HashMap<String, KvEntry>)>,
    changes: std::sync::OnceLock<broadcast::Sender<KvEntry>>,
}

impl MemoryKv {
    fn sender(&self) -> &broadcast::Sender<KvEntry> {
        self.changes.get_or_init(|| broadcast::channel(256).0)
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError> {
        Ok(self.entries.lock().1.get(key).cloned())
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        let entry = {
            let mut entries = self.entries.lock();
            entries.0 += 1;
            let entry = KvEntry {
                key: key.to_string(),
                value,
                revision: entries.0,
            };
            entries.1.insert(key.to_string(), entry.clone());
            entry
        };
        let revision = entry.revision;
        let _ = self.sender().send(entry);
        Ok(revision)
    }

    async fn put_if(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
    ) -> Result<Option<u64>, BusError> {
        let entry = {
            let mut entries = self.entries.lock();
            let current = entries.1.get(key).map_or(0, |e| e.revision);
            if current != expected {
                return Ok(None);
            }
            entries.0 += 1;
            let entry = KvEntry {
                key: key.to_string(),
                value,
                revision: entries.0,
            };
            entries.1.insert(key.to_string(), entry.clone());
            entry
        };
        let revision = entry.revision;
        let _ = self.sender().send(entry);
        Ok(Some(revision))
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, BusError> {
        let mut keys: Vec<String> = self
            .entries
            .lock()
            .1
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn watch(&self, key: &str) -> Result<BoxStream<'static, KvEntry>, BusError> {
        // Subscribe before reading the current value so no change falls in between.
        let receiver = self.sender().subscribe();
        let current = self.get(key).await?;
        let key = key.to_string();
        let last_seen = current.as_ref().map_or(0, |e| e.revision);
        let changes =
            tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |change| {
                let key = key.clone();
                async move {
                    change
                        .ok()
                        .filter(|e| e.key == key && e.revision > last_seen)
                }
            });
        Ok(futures::stream::iter(current).chain(changes).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches("fb.in.>", "fb.in.x"));
        assert!(subject_matches("fb.in.>", "fb.in.x.y"));
        assert!(!subject_matches("fb.in.>", "fb.in"));
        assert!(subject_matches("fb.*.x", "fb.in.x"));
        assert!(subject_matches("fb.audit", "fb.audit"));
        assert!(!subject_matches("fb.audit", "fb.audit.x"));
    }
}
