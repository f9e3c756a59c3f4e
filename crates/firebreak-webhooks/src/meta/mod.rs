//! Meta's webhook deliveries: one envelope `{"object", "entry": [...]}` shared by
//! Messenger and Facebook Pages (`object: "page"`), Instagram (`"instagram"`) and the
//! WhatsApp Cloud API (`"whatsapp_business_account"`).
//!
//! Inside an entry, chat events come as `messaging[]` and everything else as
//! `changes[]` of `{field, value}`, where the shape of `value` depends on `field`. Each
//! `value` is therefore kept raw until its field is known, so one unfamiliar field is a
//! counted skip and never a 400 that Meta would redeliver for days.

mod changes;
mod messaging;
mod whatsapp;

use firebreak_core::Channel;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::parsed::{self, ParseError, Parsed, SkipReason};

/// Parses one Meta webhook POST body. Check [`crate::verify_meta_signature`] first.
pub fn parse_meta(body: &[u8]) -> Result<Parsed, ParseError> {
    let json = parsed::utf8(body)?;
    let coercions = crate::lenient::Coercions::start();
    let envelope: Envelope = parsed::decode(json, "")?;
    let mut out = Parsed::default();
    let product = match envelope.object.as_str() {
        "page" => Product::Page,
        "instagram" => Product::Instagram,
        "whatsapp_business_account" => Product::Whatsapp,
        other => {
            out.skip(SkipReason::unknown(other));
            return Ok(out);
        }
    };
    for (i, raw) in envelope.entry.iter().enumerate() {
        let at = format!("entry[{i}]");
        if let Some(entry) = parsed::decode_event::<Entry>(raw.get(), &at, &mut out) {
            parse_entry(product, i, &entry, &mut out);
        }
    }
    out.coerced = coercions.finish();
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Product {
    /// Messenger conversations and Facebook Page feed.
    Page,
    Instagram,
    Whatsapp,
}

impl Product {
    /// The channel private conversations of this product belong to.
    fn messaging_channel(self) -> Channel {
        match self {
            Product::Page => Channel::Messenger,
            Product::Instagram => Channel::Instagram,
            Product::Whatsapp => Channel::Whatsapp,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    object: String,
    #[serde(default)]
    entry: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Entry {
    /// The Page, Instagram account or WhatsApp Business Account the event is for: the
    /// brand itself.
    #[serde(default, deserialize_with = "crate::lenient::string_or_number")]
    id: String,
    /// Seconds for Instagram and feed changes, milliseconds for Messenger.
    time: Option<i64>,
    /// Each event is read on its own, so one that breaks the schema is skipped alone.
    messaging: Option<Vec<Box<RawValue>>>,
    /// Handover protocol: events in conversations another app currently owns.
    standby: Option<Vec<IgnoredAny>>,
    changes: Option<Vec<Change>>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    value: Box<RawValue>,
}

fn parse_entry(product: Product, index: usize, entry: &Entry, out: &mut Parsed) {
    for (j, raw) in entry.messaging.iter().flatten().enumerate() {
        let at = format!("entry[{index}].messaging[{j}]");
        if let Some(event) = parsed::decode_event(raw.get(), &at, out) {
            messaging::parse(product.messaging_channel(), entry, &event, out);
        }
    }
    for _ in entry.standby.iter().flatten() {
        out.skip(SkipReason::Standby);
    }
    for (j, change) in entry.changes.iter().flatten().enumerate() {
        let at = format!("entry[{index}].changes[{j}].value");
        let json = change.value.get();
        match (product, change.field.as_str()) {
            (Product::Page, "feed") => {
                if let Some(value) = parsed::decode_event(json, &at, out) {
                    changes::parse_feed(entry, value, out);
                }
            }
            (Product::Instagram, "comments" | "live_comments") => {
                if let Some(value) = parsed::decode_event(json, &at, out) {
                    changes::parse_instagram_comment(entry, value, out);
                }
            }
            (Product::Whatsapp, "messages") => {
                if let Some(value) = parsed::decode_event(json, &at, out) {
                    whatsapp::parse(value, &at, out);
                }
            }
            // Coexistence mode: messages the business sent from the WhatsApp app itself.
            (Product::Whatsapp, "smb_message_echoes") => out.skip(SkipReason::Echo),
            (_, field) => out.skip(SkipReason::unknown(field)),
        }
    }
}
