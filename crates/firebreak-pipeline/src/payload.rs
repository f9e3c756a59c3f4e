//! Reading the message back out of a pipeline payload, whatever stream it came from,
//! for the paths that only hold a raw delivery (dead-lettering).

use firebreak_core::Message;
use firebreak_core::wire::{decode_classified, decode_message};

/// The message a payload carries: classified (reply and escalation streams) or raw
/// (inbound). None for garbage. Protobuf decodes leniently, so callers check the id
/// against the delivery's message id header before trusting it.
pub fn message_of(payload: &[u8]) -> Option<Message> {
    decode_classified(payload)
        .map(|(message, _)| message)
        .or_else(|_| decode_message(payload))
        .ok()
}
