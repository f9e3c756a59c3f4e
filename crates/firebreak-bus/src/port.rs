//! The traits every bus adapter implements, and the values that cross them.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot be reached or did not answer in time; the caller may retry later.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The stream refused the message because it is full.
    #[error("stream full: {0}")]
    Full(String),
    #[error("bus error: {0}")]
    Other(String),
}

/// A message to publish. `msg_id` is the JetStream dedup id (`Nats-Msg-Id`).
#[derive(Clone, Debug)]
pub struct Envelope {
    pub subject: String,
    pub payload: Bytes,
    pub msg_id: Option<String>,
    /// Extra headers, e.g. W3C `traceparent`.
    pub headers: Vec<(String, String)>,
}

impl Envelope {
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Envelope {
            subject: subject.into(),
            payload: payload.into(),
            msg_id: None,
            headers: Vec::new(),
        }
    }

    pub fn with_msg_id(mut self, id: impl Into<String>) -> Self {
        self.msg_id = Some(id.into());
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishAck {
    pub stream: String,
    pub sequence: u64,
    /// The stream already had a message with this `msg_id`.
    pub duplicate: bool,
}

/// Resolves when the stream has durably stored the message.
pub type AckFuture = BoxFuture<'static, Result<PublishAck, BusError>>;

#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// Deliveries after which the bus stops redelivering a message; -1 (the default)
    /// for never. The pipeline's worker keeps it at -1 and counts attempts itself, so
    /// that giving up is always its decision, taken after the message is dead-lettered.
    pub max_deliver: i64,
    /// How long a delivery may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// Most unacknowledged deliveries outstanding at once.
    pub max_ack_pending: i64,
    /// Only messages on subjects matching this pattern (none: the whole stream). On a
    /// work-queue stream consumers' filters must not overlap, so that each message has
    /// one consumer: binding one whose filter collides with another's fails.
    pub filter_subject: Option<String>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            max_deliver: -1,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            filter_subject: None,
        }
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends a message and returns the future of its acknowledgment, so a caller can keep
    /// many publishes in flight. Fails at once when the bus is known to be down.
    async fn publish(&self, envelope: Envelope) -> Result<AckFuture, BusError>;

    /// Binds to a durable pull consumer, creating it if needed.
    async fn consumer(
        &self,
        stream: &str,
        durable: &str,
        options: ConsumerOptions,
    ) -> Result<Box<dyn Consumer>, BusError>;

    /// Removes a durable consumer; `Ok(false)` when there was none. What it had
    /// delivered and not settled stays in a work-queue stream for the next consumer.
    async fn delete_consumer(&self, stream: &str, durable: &str) -> Result<bool, BusError>;

    /// Ok when the bus answers and every stream exists.
    async fn ready(&self) -> Result<(), BusError>;

    /// The control KV bucket (crisis mode, active playbook).
    fn kv(&self) -> std::sync::Arc<dyn Kv>;

    /// Messages stored in a stream, for tests, metrics and operators.
    async fn stream_len(&self, stream: &str) -> Result<u64, BusError>;

    /// A durable consumer's backlog; all zero for a consumer not created yet.
    async fn consumer_backlog(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<ConsumerBacklog, BusError>;

    /// Bytes a stream holds and its limit.
    async fn stream_usage(&self, stream: &str) -> Result<StreamUsage, BusError>;

    /// The first and last sequence a stream holds, to page through it with
    /// [`Bus::read_stream`].
    async fn stream_bounds(&self, stream: &str) -> Result<StreamBounds, BusError>;

    /// Up to `max` stored messages with sequence `from` or later, oldest first, read
    /// without a consumer (nothing is acknowledged or moved). For streams that are read
    /// back rather than worked off, such as the audit.
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredMessage>, BusError>;
}

/// A durable consumer's backlog, for the lag metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerBacklog {
    /// In the stream, not yet delivered to the consumer.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
    /// Of those unacknowledged, delivered more than once.
    pub redelivered: u64,
}

/// How full a stream is: past `max_bytes` publishes are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamUsage {
    pub bytes: u64,
    pub max_bytes: u64,
}

/// A stream's extent. An empty stream has `first == last + 1`, as in JetStream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamBounds {
    pub first: u64,
    pub last: u64,
}

/// A message as stored in a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub sequence: u64,
    pub subject: String,
    pub payload: Bytes,
    pub headers: Vec<(String, String)>,
}

#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` deliveries, waiting at most `expires` for the first one.
    async fn fetch(&mut self, max: usize, expires: Duration) -> Result<Vec<Delivery>, BusError>;
}

/// Settles one delivery. Implementations must tolerate being called after the bus
/// reconnected; the bus then redelivers if the settle was lost.
#[async_trait]
pub trait DeliveryAcker: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    /// Redeliver after `delay` (or at once).
    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError>;
    /// Never redeliver.
    async fn term(&self) -> Result<(), BusError>;
    /// Still working on it: restarts the ack wait, so a slow (not failed) delivery is
    /// not redelivered meanwhile (JetStream's `+WPI`).
    async fn progress(&self) -> Result<(), BusError>;
}

pub struct Delivery {
    pub subject: String,
    pub payload: Bytes,
    pub headers: Vec<(String, String)>,
    /// 1 on first delivery.
    pub delivered: u64,
    pub stream_sequence: u64,
    pub acker: Box<dyn DeliveryAcker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.subject)
            .field("delivered", &self.delivered)
            .field("stream_sequence", &self.stream_sequence)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Bytes,
    pub revision: u64,
}

#[async_trait]
pub trait Kv: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError>;
    /// Writes and returns the new revision.
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError>;
    /// Writes only if the key's latest revision is still `expected` (0: the key must not
    /// exist yet). `Ok(None)` when someone else wrote first, so concurrent writers never
    /// silently overwrite each other.
    async fn put_if(&self, key: &str, value: Bytes, expected: u64)
    -> Result<Option<u64>, BusError>;
    /// Every key starting with `prefix`, sorted.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, BusError>;
    /// The current value (if any) followed by every later change.
    async fn watch(&self, key: &str) -> Result<BoxStream<'static, KvEntry>, BusError>;
}
