//! One embedded stream: its messages, its bounds and its durable consumers' positions.
//! Everything here runs under the bus's lock and never waits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::subject;
use crate::port::{BusError, ConsumerBacklog, ConsumerOptions, Envelope, PublishAck};
use crate::topology::{self, Discard, Retention, StreamSpec};

/// How much one embedded stream may hold. A server keeps streams on disk; the embedded
/// bus keeps them in the process's memory, so `firebreak run` holds each stream to far
/// less than its JetStream byte limit. Past a bound the stream's discard policy applies:
/// refuse (ingest answers 503) or drop the oldest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedLimits {
    pub max_messages: usize,
    pub max_bytes: u64,
    /// Caps every stream's own age limit (none: the topology's ages apply).
    pub max_age: Option<Duration>,
}

impl Default for EmbeddedLimits {
    fn default() -> Self {
        EmbeddedLimits {
            max_messages: 1_000_000,
            max_bytes: 512 * 1024 * 1024,
            max_age: None,
        }
    }
}

pub(super) struct Stored {
    pub subject: String,
    pub payload: Bytes,
    pub headers: Vec<(String, String)>,
    at: Instant,
    size: u64,
}

pub(super) struct ConsumerState {
    pub options: ConsumerOptions,
    /// The first sequence never looked at for this consumer.
    pub next_sequence: u64,
    /// Delivered and not yet settled: sequence → (deliveries so far, redeliver at).
    pub pending: BTreeMap<u64, (u64, Instant)>,
}

impl ConsumerState {
    fn wants(&self, subject: &str) -> bool {
        self.options
            .filter_subject
            .as_deref()
            .is_none_or(|filter| subject::matches(filter, subject))
    }
}

pub(super) struct StreamState {
    pub name: String,
    patterns: Vec<String>,
    pub retention: Retention,
    discard: Discard,
    duplicate_window: Duration,
    max_age: Duration,
    max_messages: usize,
    pub max_bytes: u64,
    pub messages: BTreeMap<u64, Stored>,
    /// Payload bytes held, kept as messages come and go.
    pub bytes: u64,
    pub last_sequence: u64,
    /// `Nats-Msg-Id`s within the dedup window, and the same ids oldest first, so
    /// expiring them costs only the expired ones.
    recent_ids: HashMap<String, u64>,
    recent_order: VecDeque<(Instant, String)>,
    pub consumers: HashMap<String, ConsumerState>,
}

impl StreamState {
    pub fn new(spec: &StreamSpec, limits: EmbeddedLimits) -> Self {
        StreamState {
            name: spec.name.to_string(),
            patterns: spec.subjects.clone(),
            retention: spec.retention,
            discard: spec.discard,
            duplicate_window: spec.duplicate_window,
            max_age: limits
                .max_age
                .map_or(spec.max_age, |cap| cap.min(spec.max_age)),
            max_messages: limits.max_messages,
            max_bytes: limits.max_bytes.min(spec.max_bytes as u64),
            messages: BTreeMap::new(),
            bytes: 0,
            last_sequence: 0,
            recent_ids: HashMap::new(),
            recent_order: VecDeque::new(),
            consumers: HashMap::new(),
        }
    }

    pub fn captures(&self, subject: &str) -> bool {
        self.patterns.iter().any(|p| subject::matches(p, subject))
    }

    pub fn remove(&mut self, sequence: u64) {
        if let Some(stored) = self.messages.remove(&sequence) {
            self.bytes -= stored.size;
        }
    }

    /// Drops what is past the stream's age, as JetStream's `max_age` does (work not yet
    /// done included: a work-queue message older than its stream's age is gone there too).
    pub fn expire(&mut self, now: Instant) {
        while let Some((&sequence, stored)) = self.messages.first_key_value() {
            if now.duration_since(stored.at) < self.max_age {
                break;
            }
            self.remove(sequence);
        }
        while let Some((at, _)) = self.recent_order.front() {
            if now.duration_since(*at) < self.duplicate_window {
                break;
            }
            if let Some((_, id)) = self.recent_order.pop_front() {
                self.recent_ids.remove(&id);
            }
        }
    }

    pub fn publish(&mut self, envelope: Envelope, now: Instant) -> Result<PublishAck, BusError> {
        self.expire(now);
        if let Some(id) = &envelope.msg_id
            && let Some(&sequence) = self.recent_ids.get(id)
        {
            return Ok(PublishAck {
                stream: self.name.clone(),
                sequence,
                duplicate: true,
            });
        }
        let size = envelope.payload.len() as u64;
        while self.messages.len() >= self.max_messages || self.bytes + size > self.max_bytes {
            match self.discard {
                Discard::Old if !self.messages.is_empty() => {
                    let oldest = *self.messages.keys().next().unwrap_or(&0);
                    self.remove(oldest);
                }
                _ => return Err(BusError::Full(self.name.clone())),
            }
        }
        self.last_sequence += 1;
        let sequence = self.last_sequence;
        if let Some(id) = envelope.msg_id {
            self.recent_ids.insert(id.clone(), sequence);
            self.recent_order.push_back((now, id));
        }
        self.bytes += size;
        self.messages.insert(
            sequence,
            Stored {
                subject: envelope.subject,
                payload: envelope.payload,
                headers: envelope.headers,
                at: now,
                size,
            },
        );
        Ok(PublishAck {
            stream: self.name.clone(),
            sequence,
            duplicate: false,
        })
    }

    /// Creates or updates a durable consumer. On a work-queue stream, as in JetStream,
    /// each message has one consumer: a filter that collides with another consumer's
    /// is refused.
    pub fn bind(&mut self, durable: &str, options: ConsumerOptions) -> Result<(), BusError> {
        if self.retention == Retention::WorkQueue
            && let Some(other) = self.consumers.iter().find(|(name, other)| {
                name.as_str() != durable
                    && subject::filters_overlap(
                        other.options.filter_subject.as_deref(),
                        options.filter_subject.as_deref(),
                    )
            })
        {
            return Err(BusError::Other(format!(
                "work-queue stream {}: the filter of {durable} overlaps that of consumer {}",
                self.name, other.0
            )));
        }
        // A rebinding with new options (an upgrade) applies them and keeps the position.
        self.consumers
            .entry(durable.to_string())
            .and_modify(|c| c.options = options.clone())
            .or_insert_with(|| ConsumerState {
                options,
                next_sequence: 1,
                pending: BTreeMap::new(),
            });
        Ok(())
    }

    /// Takes what is due for one consumer: timed-out or nak'd redeliveries first (oldest
    /// first), then new messages. Returns the sequences with their delivery counts, and
    /// when the next redelivery falls due otherwise.
    pub fn take(
        &mut self,
        durable: &str,
        max: usize,
        now: Instant,
    ) -> (Vec<(u64, u64)>, Option<Instant>) {
        self.expire(now);
        let messages = &self.messages;
        let Some(consumer) = self.consumers.get_mut(durable) else {
            return (Vec::new(), None);
        };
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
            if (limit > 0 && delivered >= limit as u64) || !messages.contains_key(&sequence) {
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
        // Messages the consumer's filter skips are passed over for good: they belong to
        // another consumer (or to none).
        let mut unseen = messages.range(consumer.next_sequence..);
        while taken.len() < max_new {
            let Some((&sequence, stored)) = unseen.next() else {
                consumer.next_sequence = self.last_sequence + 1;
                break;
            };
            consumer.next_sequence = sequence + 1;
            if consumer.wants(&stored.subject) {
                consumer
                    .pending
                    .insert(sequence, (1, now + consumer.options.ack_wait));
                taken.push((sequence, 1));
            }
        }
        (taken, next_due)
    }

    /// Settles a delivery: `redeliver_at` for a nak, none for an ack or term.
    pub fn settle(
        &mut self,
        durable: &str,
        sequence: u64,
        delivered: u64,
        redeliver_at: Option<Instant>,
    ) {
        let Some(consumer) = self.consumers.get_mut(durable) else {
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
                if self.retention == Retention::WorkQueue {
                    // Done work leaves a work-queue stream.
                    self.remove(sequence);
                }
            }
        }
    }

    /// Restarts a delivery's ack wait, if it is still the current delivery.
    pub fn extend(&mut self, durable: &str, sequence: u64, delivered: u64) {
        let Some(consumer) = self.consumers.get_mut(durable) else {
            return;
        };
        let ack_wait = consumer.options.ack_wait;
        if let Some((d, due)) = consumer.pending.get_mut(&sequence)
            && *d == delivered
        {
            *due = Instant::now() + ack_wait;
        }
    }

    pub fn backlog(&self, durable: &str) -> ConsumerBacklog {
        let Some(consumer) = self.consumers.get(durable) else {
            return ConsumerBacklog::default();
        };
        ConsumerBacklog {
            pending: self
                .messages
                .range(consumer.next_sequence..)
                .filter(|(_, m)| consumer.wants(&m.subject))
                .count() as u64,
            ack_pending: consumer.pending.len() as u64,
            redelivered: consumer.pending.values().filter(|(n, _)| *n > 1).count() as u64,
        }
    }
}

/// Every stream of the topology, empty.
pub(super) fn all(limits: EmbeddedLimits) -> HashMap<String, StreamState> {
    topology::streams()
        .iter()
        .map(|spec| (spec.name.to_string(), StreamState::new(spec, limits)))
        .collect()
}
