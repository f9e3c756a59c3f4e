//! WhatsApp Cloud API `messages` changes: inbound user messages in `value.messages[]`,
//! the senders' profile names in `value.contacts[]`, and receipts for the business's own
//! messages in `value.statuses[]`, which are counted and skipped.
//!
//! Every WhatsApp conversation is private, one per user, so the thread is the `wa_id`.

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;

use crate::parsed::{Parsed, SkipReason, from_unix_seconds, numeric_string};

#[derive(Deserialize)]
pub(super) struct Value {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: String,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    from: String,
    #[serde(default)]
    id: String,
    /// Unix seconds, as a decimal string.
    timestamp: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    text: Option<Text>,
    interactive: Option<Interactive>,
    /// A quick-reply button of a template message.
    button: Option<Button>,
    image: Option<Media>,
    video: Option<Media>,
    audio: Option<Media>,
    document: Option<Media>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Text {
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<Choice>,
    list_reply: Option<Choice>,
}

/// A row or button the user picked. The `title` is what they saw and tapped.
#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
struct Button {
    #[serde(default)]
    text: String,
}

/// Media arrives as an id to fetch from the Graph API, not as a URL.
#[derive(Deserialize)]
struct Media {
    #[serde(default)]
    id: String,
    #[serde(default)]
    caption: String,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
}

pub(super) fn parse(value: Value, out: &mut Parsed) {
    for status in &value.statuses {
        out.skip(match status.status.as_str() {
            "sent" | "delivered" => SkipReason::Delivery,
            "read" => SkipReason::Read,
            _ => SkipReason::Status,
        });
    }
    for message in &value.messages {
        parse_message(message, &value.contacts, out);
    }
}

fn parse_message(message: &Message, contacts: &[Contact], out: &mut Parsed) {
    let Some((text, attachments)) = content(message) else {
        return match message.kind.as_str() {
            "reaction" | "unsupported" | "sticker" => out.skip(SkipReason::NoContent),
            other => out.skip(SkipReason::unknown(&format!("whatsapp.{other}"))),
        };
    };
    // One delivery may batch several senders; match the profile to this one.
    let name = contacts
        .iter()
        .find(|c| c.wa_id == message.from)
        .or_else(|| contacts.first().filter(|_| contacts.len() == 1))
        .and_then(|c| c.profile.as_ref())
        .map(|p| p.name.clone())
        .unwrap_or_default();
    out.accept(Submission {
        channel: Channel::Whatsapp,
        external_id: message.id.clone(),
        thread_id: message.from.clone(),
        visibility: Visibility::Private,
        author: Author {
            id: message.from.clone(),
            name,
            ..Author::default()
        },
        text,
        language_hint: String::new(),
        attachments,
        sent_at: message
            .timestamp
            .as_deref()
            .and_then(numeric_string)
            .and_then(from_unix_seconds),
        mail: None,
        edit_of: None,
    });
}

/// The words and attachments of a message, or `None` when its type carries nothing to
/// answer or is one this parser does not know.
fn content(message: &Message) -> Option<(String, Vec<Attachment>)> {
    let media = |kind: &str, media: &Option<Media>| {
        media.as_ref().map(|m| {
            let attachment = Attachment {
                kind: kind.to_owned(),
                url: media_reference(&m.id),
            };
            (m.caption.clone(), vec![attachment])
        })
    };
    match message.kind.as_str() {
        "text" => message.text.as_ref().map(|t| (t.body.clone(), Vec::new())),
        "interactive" => {
            let interactive = message.interactive.as_ref()?;
            let choice = interactive
                .button_reply
                .as_ref()
                .or(interactive.list_reply.as_ref())?;
            Some((choice.title.clone(), Vec::new()))
        }
        "button" => message
            .button
            .as_ref()
            .map(|b| (b.text.clone(), Vec::new())),
        "image" => media("image", &message.image),
        "video" => media("video", &message.video),
        "audio" => media("audio", &message.audio),
        "document" => media("document", &message.document),
        // A sticker alone says nothing a template could answer.
        "sticker" => None,
        "location" => {
            let location = message.location.as_ref()?;
            let text = [location.name.as_str(), location.address.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let url = match (location.latitude, location.longitude) {
                (Some(lat), Some(lon)) => format!("geo:{lat},{lon}"),
                _ => String::new(),
            };
            let attachment = Attachment {
                kind: "location".into(),
                url,
            };
            Some((text, vec![attachment]))
        }
        _ => None,
    }
}

/// WhatsApp media has an id, not a URL; keep the id in the attachment's `url` under a
/// scheme of its own, so a connector can fetch it later from the Graph API.
fn media_reference(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("whatsapp-media:{id}")
    }
}
