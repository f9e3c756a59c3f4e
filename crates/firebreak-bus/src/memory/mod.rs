//! The embedded bus: JetStream's semantics (streams, msg-id dedup, durable consumers with
//! explicit ack and subject filters, nak with delay, ack-wait redelivery, max deliveries)
//! in one process, for `firebreak run` without a NATS server. Streams are bounded
//! ([`EmbeddedLimits`]): done work leaves work-queue streams, and every stream drops
//! what is past its age, so a process can stay up for days.

mod kv;
mod stream;
mod subject;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::Notify;

pub use stream::EmbeddedLimits;

use crate::port::{
    AckFuture, Bus, BusError, Consumer, ConsumerBacklog, ConsumerOptions, Delivery, DeliveryAcker,
    Envelope, Kv, PublishAck, StoredMessage, StreamBounds, StreamUsage,
};
use stream::StreamState;

#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

struct Inner {
    streams: Mutex<HashMap<String, StreamState>>,
    /// Woken on every publish, nak and ack so waiting fetches look again.
    changed: Notify,
    kv: Arc<kv::MemoryKv>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::with_limits(EmbeddedLimits::default())
    }

    /// A bus whose streams hold at most `limits`.
    pub fn with_limits(limits: EmbeddedLimits) -> Self {
        MemoryBus {
            inner: Arc::new(Inner {
                streams: Mutex::new(stream::all(limits)),
                changed: Notify::new(),
                kv: Arc::default(),
            }),
        }
    }
}

impl Inner {
    fn publish(&self, envelope: Envelope) -> Result<PublishAck, BusError> {
        let mut streams = self.streams.lock();
        let stream = streams
            .values_mut()
            .find(|s| s.captures(&envelope.subject))
            .ok_or_else(|| BusError::Other(format!("no stream for {}", envelope.subject)))?;
        let ack = stream.publish(envelope, Instant::now())?;
        drop(streams);
        if !ack.duplicate {
            self.changed.notify_waiters();
        }
        Ok(ack)
    }

    /// Takes what is due for one consumer, with an acker for each delivery, and when the
    /// next redelivery falls due otherwise.
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
        let (taken, next_due) = stream.take(durable, max, Instant::now());
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
        if let Some(state) = self.streams.lock().get_mut(stream) {
            state.settle(durable, sequence, delivered, redeliver_at);
        }
        self.changed.notify_waiters();
    }

    fn extend(&self, stream: &str, durable: &str, sequence: u64, delivered: u64) {
        if let Some(state) = self.streams.lock().get_mut(stream) {
            state.extend(durable, sequence, delivered);
        }
    }

    /// Runs `read` on a stream, after dropping what is past its age.
    fn with_stream<T>(
        &self,
        stream: &str,
        read: impl FnOnce(&StreamState) -> T,
    ) -> Result<T, BusError> {
        let mut streams = self.streams.lock();
        let state = streams
            .get_mut(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?;
        state.expire(Instant::now());
        Ok(read(state))
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
        self.inner
            .streams
            .lock()
            .get_mut(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?
            .bind(durable, options)?;
        Ok(Box::new(MemoryConsumer {
            inner: self.inner.clone(),
            stream: stream.to_string(),
            durable: durable.to_string(),
        }))
    }

    async fn delete_consumer(&self, stream: &str, durable: &str) -> Result<bool, BusError> {
        let removed = self
            .inner
            .streams
            .lock()
            .get_mut(stream)
            .ok_or_else(|| BusError::Other(format!("no stream {stream}")))?
            .consumers
            .remove(durable)
            .is_some();
        // What it held and had not settled stays in the stream for another consumer.
        self.inner.changed.notify_waiters();
        Ok(removed)
    }

    async fn ready(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn kv(&self) -> Arc<dyn Kv> {
        self.inner.kv.clone()
    }

    async fn stream_len(&self, stream: &str) -> Result<u64, BusError> {
        self.inner
            .with_stream(stream, |state| state.messages.len() as u64)
    }

    async fn consumer_backlog(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<ConsumerBacklog, BusError> {
        self.inner
            .with_stream(stream, |state| state.backlog(durable))
    }

    async fn stream_usage(&self, stream: &str) -> Result<StreamUsage, BusError> {
        self.inner.with_stream(stream, |state| StreamUsage {
            bytes: state.bytes,
            max_bytes: state.max_bytes,
        })
    }

    async fn stream_bounds(&self, stream: &str) -> Result<StreamBounds, BusError> {
        self.inner.with_stream(stream, |state| StreamBounds {
            first: state
                .messages
                .keys()
                .next()
                .copied()
                .unwrap_or(state.last_sequence + 1),
            last: state.last_sequence,
        })
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredMessage>, BusError> {
        self.inner.with_stream(stream, |state| {
            state
                .messages
                .range(from..)
                .take(max)
                .map(|(&sequence, stored)| StoredMessage {
                    sequence,
                    subject: stored.subject.clone(),
                    payload: stored.payload.clone(),
                    headers: stored.headers.clone(),
                })
                .collect()
        })
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
