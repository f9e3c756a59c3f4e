//! The bus port. Services publish and consume through the [`Bus`] trait; the binary wires
//! either [`jetstream::JetStreamBus`] (real NATS JetStream) or [`memory::MemoryBus`] (the
//! embedded default). One conformance suite (`tests/conformance.rs`) runs against both.

pub mod jetstream;
pub mod memory;
mod port;
pub mod topology;

pub use topology::{Discard, Retention};

pub use port::{
    AckFuture, Bus, BusError, Consumer, ConsumerBacklog, ConsumerOptions, Delivery, DeliveryAcker,
    Envelope, Kv, KvEntry, PublishAck, StoredMessage, StreamBounds, StreamUsage,
};
