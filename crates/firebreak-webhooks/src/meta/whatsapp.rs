//! WhatsApp Cloud API `messages` changes: inbound user messages in `value.messages[]`,
//! the senders' profile names in `value.contacts[]`, and receipts for the business's own
//! messages in `value.statuses[]`, which are counted and skipped.
//!
//! A one-to-one conversation is private, one per user, threaded by the user's id: the
//! phone number (`from`) or, for a user known only by username, the business-scoped
//! user id (`from_user_id`, `US.1234…`). A message with a `group_id` belongs to that
//! group: public within it, as Telegram groups are, and answered in the group.
//! `edit` events are new events linked to the original with `edit_of`; `revoke` is a
//! deletion.

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;
use serde::de::IgnoredAny;

use serde_json::value::RawValue;

use crate::lenient;
use crate::parsed::{self, Parsed, SkipReason, from_unix_seconds, numeric_string};

/// Each message and status is read on its own, so one that breaks the schema is
/// skipped alone.
#[derive(Deserialize)]
pub(super) struct Value {
    #[serde(default)]
    contacts: Vec<Box<RawValue>>,
    #[serde(default)]
    messages: Vec<Box<RawValue>>,
    #[serde(default)]
    statuses: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default, deserialize_with = "lenient::string_or_number")]
    wa_id: String,
    /// The business-scoped user id.
    #[serde(default)]
    user_id: String,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct Message {
    /// The sender's phone number; absent for a user known only by username.
    #[serde(default, deserialize_with = "lenient::string_or_number")]
    from: String,
    /// The sender's business-scoped user id.
    #[serde(default)]
    from_user_id: String,
    /// Set when the message was sent in a group.
    #[serde(default)]
    group_id: String,
    #[serde(default)]
    id: String,
    /// Unix seconds, as a decimal string.
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    timestamp: Option<String>,
    edit: Option<Edit>,
    /// The user deleted `revoke.original_message_id`.
    revoke: Option<IgnoredAny>,
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

/// A user's edit of an earlier message: the new version, shaped as a message of its own.
#[derive(Deserialize)]
struct Edit {
    #[serde(default)]
    original_message_id: String,
    message: Option<Box<Message>>,
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

pub(super) fn parse(value: Value, at: &str, out: &mut Parsed) {
    for (i, raw) in value.statuses.iter().enumerate() {
        let at = format!("{at}.statuses[{i}]");
        if let Some(status) = parsed::decode_event::<Status>(raw.get(), &at, out) {
            out.skip(match status.status.as_str() {
                "sent" | "delivered" => SkipReason::Delivery,
                "read" => SkipReason::Read,
                _ => SkipReason::Status,
            });
        }
    }
    // A contact that does not parse only loses its profile name, never the message.
    let contacts: Vec<Contact> = value
        .contacts
        .iter()
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect();
    for (i, raw) in value.messages.iter().enumerate() {
        let at = format!("{at}.messages[{i}]");
        if let Some(message) = parsed::decode_event::<Message>(raw.get(), &at, out) {
            parse_message(&message, &contacts, out);
        }
    }
}

fn parse_message(message: &Message, contacts: &[Contact], out: &mut Parsed) {
    let (body, edit_of) = match (message.kind.as_str(), &message.edit, &message.revoke) {
        ("revoke", _, _) | (_, _, Some(_)) => return out.skip(SkipReason::Deleted),
        (
            "edit",
            Some(Edit {
                original_message_id,
                message: Some(body),
            }),
            _,
        ) => {
            let original = Some(original_message_id.clone()).filter(|id| !id.is_empty());
            (body.as_ref(), original)
        }
        ("edit", _, _) => return out.skip(SkipReason::Invalid("edit.message: missing".into())),
        _ => (message, None),
    };
    let Some((text, attachments)) = content(body) else {
        return match body.kind.as_str() {
            "reaction" | "unsupported" | "sticker" => out.skip(SkipReason::NoContent),
            other => out.skip(SkipReason::unknown(&format!("whatsapp.{other}"))),
        };
    };
    let sender = [&message.from, &message.from_user_id]
        .into_iter()
        .find(|id| !id.is_empty());
    let Some(sender) = sender.cloned() else {
        return out.skip(SkipReason::Invalid("from: missing".into()));
    };
    // One delivery may batch several senders; match the profile to this one.
    let profile = contacts
        .iter()
        .find(|c| {
            (!c.wa_id.is_empty() && c.wa_id == message.from)
                || (!c.user_id.is_empty() && c.user_id == message.from_user_id)
        })
        .or_else(|| contacts.first().filter(|_| contacts.len() == 1))
        .and_then(|c| c.profile.as_ref());
    let (thread_id, visibility) = if message.group_id.is_empty() {
        (sender.clone(), Visibility::Private)
    } else {
        (message.group_id.clone(), Visibility::Public)
    };
    out.accept(Submission {
        channel: Channel::Whatsapp,
        external_id: message.id.clone(),
        thread_id,
        visibility,
        author: Author {
            id: sender,
            name: profile.map(|p| p.name.clone()).unwrap_or_default(),
            handle: profile.map(|p| p.username.clone()).unwrap_or_default(),
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
        edit_of,
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
