//! The real bus: NATS JetStream streams, durable pull consumers and a KV bucket.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, message::PublishMessage, stream};
use async_nats::{HeaderMap, connection::State};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tracing::{debug, info, warn};

use crate::port::{
    AckFuture, Bus, BusError, Consumer, ConsumerBacklog, ConsumerOptions, Delivery, DeliveryAcker,
    Envelope, Kv, KvEntry, PublishAck, StoredMessage, StreamBounds, StreamUsage,
};
use crate::topology::{self, Discard, Retention, StreamSpec};

/// How long a publish may wait for the stream's ack before ingest gives up with 503.
const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// Direct reads of stored messages kept in flight at once by `read_stream`.
const READ_CONCURRENCY: usize = 32;

/// Values kept per key in the control bucket.
const KV_HISTORY: i64 = 16;

#[derive(Clone, Debug)]
pub struct JetStreamOptions {
    /// Stream replicas; 3 on a production cluster, 1 on a single server.
    pub replicas: usize,
    pub storage_memory: bool,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            replicas: 1,
            storage_memory: false,
        }
    }
}

#[derive(Clone)]
pub struct JetStreamBus {
    client: async_nats::Client,
    context: jetstream::Context,
    kv: Arc<JetStreamKv>,
}

impl std::fmt::Debug for JetStreamBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBus").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// Creates a stream unless it exists with this config. A replica losing a creation race
/// sees "already in use", and a retry settles it.
async fn create_stream(
    context: &jetstream::Context,
    config: stream::Config,
) -> Result<(), BusError> {
    for attempt in 0..3 {
        match context.get_or_create_stream(config.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < 2 => {
                debug!(stream = %config.name, error = %e, "stream creation raced, retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(unavailable(format!("stream {}: {e}", config.name))),
        }
    }
    Ok(())
}

fn retention_policy(retention: Retention) -> stream::RetentionPolicy {
    match retention {
        Retention::Limits => stream::RetentionPolicy::Limits,
        Retention::WorkQueue => stream::RetentionPolicy::WorkQueue,
    }
}

fn discard_policy(discard: Discard) -> stream::DiscardPolicy {
    match discard {
        Discard::New => stream::DiscardPolicy::New,
        Discard::Old => stream::DiscardPolicy::Old,
    }
}

impl JetStreamBus {
    /// Connects (retrying in the background if the server is not up yet) and creates the
    /// streams and the KV bucket if they are missing. Safe to run from many replicas at
    /// once: creation races end with every replica seeing the same streams.
    pub async fn connect(url: &str, options: JetStreamOptions) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("firebreak")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Disconnected => warn!("nats disconnected"),
                    async_nats::Event::Connected => info!("nats connected"),
                    other => debug!(event = %other, "nats event"),
                }
            })
            .connect(url)
            .await
            .map_err(unavailable)?;
        let context = jetstream::ContextBuilder::new()
            .timeout(PUBLISH_ACK_TIMEOUT)
            .max_ack_inflight(16_384)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let bus = JetStreamBus {
            kv: Arc::new(JetStreamKv {
                context: context.clone(),
                store: tokio::sync::OnceCell::new(),
                replicas: options.replicas,
            }),
            client,
            context,
        };
        bus.ensure_topology(&options).await?;
        Ok(bus)
    }

    async fn ensure_topology(&self, options: &JetStreamOptions) -> Result<(), BusError> {
        for spec in topology::streams() {
            self.ensure_stream(&spec, options).await?;
        }
        self.kv.store().await?;
        Ok(())
    }

    async fn ensure_stream(
        &self,
        spec: &StreamSpec,
        options: &JetStreamOptions,
    ) -> Result<(), BusError> {
        let config = stream::Config {
            name: spec.name.to_string(),
            subjects: spec.subjects.clone(),
            max_age: spec.max_age,
            max_bytes: spec.max_bytes,
            duplicate_window: spec.duplicate_window,
            retention: retention_policy(spec.retention),
            discard: discard_policy(spec.discard),
            storage: if options.storage_memory {
                stream::StorageType::Memory
            } else {
                stream::StorageType::File
            },
            num_replicas: options.replicas,
            ..Default::default()
        };
        create_stream(&self.context, config).await?;
        self.align_stream(spec).await
    }

    /// A stream made by an older release keeps its config through `create_stream`.
    /// Limits and discard policy can be changed in place, so they are; the retention
    /// cannot move to or from work-queue on a live stream (JetStream refuses), so a
    /// stream still on the old retention is reported for the documented migration.
    async fn align_stream(&self, spec: &StreamSpec) -> Result<(), BusError> {
        let mut stream = self
            .context
            .get_stream(spec.name)
            .await
            .map_err(unavailable)?;
        let mut config = stream.info().await.map_err(unavailable)?.config.clone();
        if config.retention != retention_policy(spec.retention) {
            warn!(
                stream = spec.name,
                found = ?config.retention,
                expected = ?spec.retention,
                "stream retention differs from this release; see docs/operations.md, streams"
            );
        }
        let discard = discard_policy(spec.discard);
        if config.discard != discard
            || config.max_age != spec.max_age
            || config.max_bytes != spec.max_bytes
        {
            info!(stream = spec.name, "updating stream limits");
            config.discard = discard;
            config.max_age = spec.max_age;
            config.max_bytes = spec.max_bytes;
            self.context
                .update_stream(&config)
                .await
                .map_err(|e| unavailable(format!("stream {}: {e}", spec.name)))?;
        }
        Ok(())
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }
}

#[async_trait]
impl Bus for JetStreamBus {
    async fn publish(&self, envelope: Envelope) -> Result<AckFuture, BusError> {
        // While disconnected the client would buffer the publish and we would answer
        // only after a timeout; refusing at once lets ingest say 503 quickly.
        if !self.is_connected() {
            return Err(BusError::Unavailable("not connected to nats".into()));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &envelope.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        let mut message = PublishMessage::build()
            .payload(envelope.payload)
            .headers(headers);
        if let Some(id) = &envelope.msg_id {
            message = message.message_id(id);
        }
        let pending = self
            .context
            .send_publish(envelope.subject, message)
            .await
            .map_err(unavailable)?;
        Ok(Box::pin(async move {
            let ack = pending.await.map_err(|e| {
                let text = e.to_string();
                if text.contains("maximum") || text.contains("resource limits") {
                    BusError::Full(text)
                } else {
                    BusError::Unavailable(text)
                }
            })?;
            Ok(PublishAck {
                stream: ack.stream,
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            })
        }))
    }

    async fn consumer(
        &self,
        stream: &str,
        durable: &str,
        options: ConsumerOptions,
    ) -> Result<Box<dyn Consumer>, BusError> {
        let stream = self.context.get_stream(stream).await.map_err(unavailable)?;
        let config = pull::Config {
            durable_name: Some(durable.to_string()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_deliver: options.max_deliver,
            ack_wait: options.ack_wait,
            max_ack_pending: options.max_ack_pending,
            filter_subject: options.filter_subject.clone().unwrap_or_default(),
            ..Default::default()
        };
        // Create or update: an older release's durable takes the current options.
        let consumer = stream.create_consumer(config).await.map_err(unavailable)?;
        Ok(Box::new(JetStreamConsumer { consumer }))
    }

    async fn delete_consumer(&self, stream: &str, durable: &str) -> Result<bool, BusError> {
        let stream = self.context.get_stream(stream).await.map_err(unavailable)?;
        if let Err(e) = stream.consumer_info(durable).await {
            let gone = e.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound;
            return if gone { Ok(false) } else { Err(unavailable(e)) };
        }
        stream.delete_consumer(durable).await.map_err(unavailable)?;
        Ok(true)
    }

    async fn ready(&self) -> Result<(), BusError> {
        if !self.is_connected() {
            return Err(BusError::Unavailable("not connected to nats".into()));
        }
        for spec in topology::streams() {
            self.context
                .get_stream_no_info(spec.name)
                .await
                .map_err(unavailable)?
                .get_info()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    fn kv(&self) -> Arc<dyn Kv> {
        self.kv.clone()
    }

    async fn stream_len(&self, stream: &str) -> Result<u64, BusError> {
        let mut stream = self.context.get_stream(stream).await.map_err(unavailable)?;
        let info = stream.info().await.map_err(unavailable)?;
        Ok(info.state.messages)
    }

    async fn consumer_backlog(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<ConsumerBacklog, BusError> {
        let stream = self.context.get_stream(stream).await.map_err(unavailable)?;
        let info = match stream.consumer_info(durable).await {
            Ok(info) => info,
            Err(e) if e.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => {
                return Ok(ConsumerBacklog::default());
            }
            Err(e) => return Err(unavailable(e)),
        };
        Ok(ConsumerBacklog {
            pending: info.num_pending,
            ack_pending: info.num_ack_pending as u64,
            redelivered: info.num_redelivered as u64,
        })
    }

    async fn stream_usage(&self, stream: &str) -> Result<StreamUsage, BusError> {
        let mut stream = self.context.get_stream(stream).await.map_err(unavailable)?;
        let info = stream.info().await.map_err(unavailable)?;
        Ok(StreamUsage {
            bytes: info.state.bytes,
            max_bytes: u64::try_from(info.config.max_bytes).unwrap_or(0),
        })
    }

    async fn stream_bounds(&self, stream: &str) -> Result<StreamBounds, BusError> {
        let mut stream = self.context.get_stream(stream).await.map_err(unavailable)?;
        let info = stream.info().await.map_err(unavailable)?;
        // A stream that never held a message reports first 0; report every empty
        // stream the same way, as one past its last sequence.
        let last = info.state.last_sequence;
        let first = if info.state.messages == 0 {
            last + 1
        } else {
            info.state.first_sequence
        };
        Ok(StreamBounds { first, last })
    }

    /// Reads message by message with the stream's get API: no consumer state to create
    /// or clean up, and a page is a handful of requests kept in flight together.
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredMessage>, BusError> {
        let mut handle = self.context.get_stream(stream).await.map_err(unavailable)?;
        let state = handle.info().await.map_err(unavailable)?.state.clone();
        let start = from.max(state.first_sequence);
        if max == 0 || start > state.last_sequence {
            return Ok(Vec::new());
        }
        let mut messages = Vec::with_capacity(max);
        let mut next = start;
        // Sequences may have gaps (aged-out or deleted messages), so keep reading until
        // the page is full or the stream ends.
        while messages.len() < max && next <= state.last_sequence {
            let wanted = (max - messages.len()) as u64;
            let end = (next + wanted - 1).min(state.last_sequence);
            let handle = &handle;
            let page: Vec<_> = futures::stream::iter(next..=end)
                .map(|sequence| async move { handle.get_raw_message(sequence).await })
                .buffered(READ_CONCURRENCY)
                .collect()
                .await;
            for result in page {
                match result {
                    Ok(message) => messages.push(StoredMessage {
                        sequence: message.sequence,
                        subject: message.subject.to_string(),
                        payload: message.payload,
                        headers: message
                            .headers
                            .iter()
                            .flat_map(|(name, values)| {
                                values
                                    .iter()
                                    .map(move |v| (name.to_string(), v.as_str().to_string()))
                            })
                            .collect(),
                    }),
                    Err(e)
                        if e.kind()
                            == async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
            next = end + 1;
        }
        Ok(messages)
    }
}

struct JetStreamConsumer {
    consumer: jetstream::consumer::Consumer<pull::Config>,
}

#[async_trait]
impl Consumer for JetStreamConsumer {
    async fn fetch(&mut self, max: usize, expires: Duration) -> Result<Vec<Delivery>, BusError> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(expires)
            .messages()
            .await
            .map_err(unavailable)?;
        let mut deliveries = Vec::with_capacity(max);
        while let Some(next) = batch.next().await {
            let message = match next {
                Ok(message) => message,
                // A batch cut short (timeout, reconnect) still hands over what arrived.
                Err(e) => {
                    debug!(error = %e, "fetch ended early");
                    break;
                }
            };
            let (delivered, stream_sequence) = match message.info() {
                Ok(info) => (info.delivered.max(1) as u64, info.stream_sequence),
                Err(_) => (1, 0),
            };
            let headers = message
                .headers
                .as_ref()
                .map(|h| {
                    h.iter()
                        .flat_map(|(name, values)| {
                            values
                                .iter()
                                .map(move |v| (name.to_string(), v.as_str().to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            deliveries.push(Delivery {
                subject: message.subject.to_string(),
                payload: message.payload.clone(),
                headers,
                delivered,
                stream_sequence,
                acker: Box::new(JetStreamAcker { message }),
            });
        }
        Ok(deliveries)
    }
}

struct JetStreamAcker {
    message: jetstream::Message,
}

#[async_trait]
impl DeliveryAcker for JetStreamAcker {
    async fn ack(&self) -> Result<(), BusError> {
        // A double ack waits for the server's confirmation, so "acked" means the
        // consumer really moved on, not that a packet left this process.
        self.message.double_ack().await.map_err(unavailable)
    }

    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(unavailable)
    }

    async fn term(&self) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Term)
            .await
            .map_err(unavailable)
    }

    async fn progress(&self) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(unavailable)
    }
}

struct JetStreamKv {
    context: jetstream::Context,
    store: tokio::sync::OnceCell<jetstream::kv::Store>,
    replicas: usize,
}

impl JetStreamKv {
    async fn store(&self) -> Result<&jetstream::kv::Store, BusError> {
        self.store.get_or_try_init(|| self.open_bucket()).await
    }

    /// Opens the control bucket, creating it when missing. A replica that loses the
    /// creation race opens the one the winner made.
    ///
    /// The bucket's stream is created directly rather than with `create_key_value`, which
    /// first asks for the account info and fails on servers whose answer async-nats
    /// cannot parse (nats-server 2.9). The config is the one `create_key_value` builds.
    async fn open_bucket(&self) -> Result<jetstream::kv::Store, BusError> {
        let bucket = firebreak_core::subjects::KV_CONTROL;
        if let Ok(store) = self.context.get_key_value(bucket).await {
            return Ok(store);
        }
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: KV_HISTORY,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            discard: stream::DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            ..Default::default()
        };
        create_stream(&self.context, config).await?;
        self.context
            .get_key_value(bucket)
            .await
            .map_err(|e| unavailable(format!("kv bucket {bucket}: {e}")))
    }
}

#[async_trait]
impl Kv for JetStreamKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError> {
        let entry = self.store().await?.entry(key).await.map_err(unavailable)?;
        Ok(entry
            .filter(|e| e.operation == jetstream::kv::Operation::Put)
            .map(|e| KvEntry {
                key: e.key,
                value: e.value,
                revision: e.revision,
            }))
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.store()
            .await?
            .put(key, value)
            .await
            .map_err(unavailable)
    }

    async fn put_if(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
    ) -> Result<Option<u64>, BusError> {
        use async_nats::jetstream::kv::UpdateErrorKind;
        match self.store().await?.update(key, value, expected).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, BusError> {
        let mut all = self.store().await?.keys().await.map_err(unavailable)?;
        let mut keys = Vec::new();
        while let Some(key) = all.next().await {
            let key = key.map_err(unavailable)?;
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn watch(&self, key: &str) -> Result<BoxStream<'static, KvEntry>, BusError> {
        let watch = self
            .store()
            .await?
            .watch_with_history(key)
            .await
            .map_err(unavailable)?;
        Ok(watch
            .filter_map(|entry| async move {
                let entry = entry.ok()?;
                (entry.operation == jetstream::kv::Operation::Put).then(|| KvEntry {
                    key: entry.key,
                    value: entry.value,
                    revision: entry.revision,
                })
            })
            .boxed())
    }
}
