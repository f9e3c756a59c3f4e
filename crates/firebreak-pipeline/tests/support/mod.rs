//! What the pipeline's integration tests share: a plain inbound message and its
//! publication on the embedded bus, as ingest would publish it.

#![allow(dead_code)] // each test file uses its own part of this module

use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, Envelope};
use firebreak_core::wire::{Submission, encode_message};
use firebreak_core::{Author, Channel, Message, Visibility, subjects};
use firebreak_pipeline::MESSAGE_ID_HEADER;
use time::OffsetDateTime;

/// A private "hello" on `channel`, accepted at `accepted_at`.
pub fn message_at(channel: Channel, external_id: &str, accepted_at: OffsetDateTime) -> Message {
    Submission {
        channel,
        external_id: external_id.into(),
        thread_id: "t".into(),
        visibility: Visibility::Private,
        author: Author {
            id: "a".into(),
            ..Author::default()
        },
        text: "hello".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: None,
        mail: None,
        edit_of: None,
    }
    .into_message(accepted_at)
    .unwrap()
}

/// A private Telegram "hello", accepted now.
pub fn message(external_id: &str) -> Message {
    message_at(Channel::Telegram, external_id, OffsetDateTime::now_utc())
}

/// Publishes `message` on its inbound subject, with the id header ingest sets.
pub async fn publish(bus: &MemoryBus, message: &Message) {
    let envelope = Envelope::new(subjects::inbound(message.channel), encode_message(message))
        .with_header(MESSAGE_ID_HEADER, message.id.to_string());
    bus.publish(envelope).await.unwrap().await.unwrap();
}
