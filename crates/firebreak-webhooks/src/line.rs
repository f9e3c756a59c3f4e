//! LINE Messaging API webhook deliveries: `{"destination", "events": [...]}`.
//!
//! `message` events from a user, a group chat or a multi-person chat ("room") become
//! submissions. A one-to-one chat is private and threaded by the user's id; a group or
//! room is its own thread and public, as Telegram groups are, since every member reads
//! what is said and what the brand answers there. Everything else is counted:
//! `follow`/`join`/`memberJoined` as [`SkipReason::Follow`], `unfollow`/`leave`/
//! `memberLeft` as [`SkipReason::Unfollow`], `unsend` as [`SkipReason::Deleted`],
//! `postback` as [`SkipReason::Postback`], events in `standby` mode as
//! [`SkipReason::Standby`].
//!
//! The external id is the message id: a redelivered event (same `webhookEventId`,
//! `deliveryContext.isRedelivery`) carries the same message, so it is a duplicate. A
//! message's reply token travels as an attachment of kind [`REPLY_TOKEN_KIND`]; it is
//! worth nothing without the channel access token and expires within a minute.

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::parsed::{self, ParseError, Parsed, SkipReason, from_unix_millis};

/// Attachment kind under which a LINE message's reply token is kept, with the
/// [`REPLY_TOKEN_SCHEME`] prefix in its `url`.
pub const REPLY_TOKEN_KIND: &str = Attachment::REPLY_TOKEN_KIND;
/// Prefix of a reply token kept in an attachment's `url`.
pub const REPLY_TOKEN_SCHEME: &str = Attachment::LINE_REPLY_TOKEN_SCHEME;

/// Parses one LINE webhook POST body. Check [`crate::verify_line_signature`] first.
/// An empty `events` array is LINE's connectivity check, acknowledged with nothing in it.
pub fn parse_line(body: &[u8]) -> Result<Parsed, ParseError> {
    let json = parsed::utf8(body)?;
    let envelope: Envelope = parsed::decode(json, "")?;
    let mut out = Parsed::default();
    let brand = envelope.destination.as_deref().unwrap_or("");
    for (i, raw) in envelope.events.iter().enumerate() {
        let at = format!("events[{i}]");
        if let Some(event) = parsed::decode_event::<Event>(raw.get(), &at, &mut out) {
            parse_event(&event, brand, &mut out);
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Envelope {
    /// The bot's own user id.
    destination: Option<String>,
    #[serde(default)]
    events: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    mode: String,
    timestamp: Option<i64>,
    source: Option<Source>,
    reply_token: Option<String>,
    message: Option<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    #[serde(rename = "type")]
    kind: String,
    user_id: Option<String>,
    group_id: Option<String>,
    room_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    /// Text messages, and message stickers (text the user typed on a sticker).
    text: Option<String>,
    content_provider: Option<ContentProvider>,
    file_name: Option<String>,
    title: Option<String>,
    address: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContentProvider {
    #[serde(rename = "type", default)]
    kind: String,
    original_content_url: Option<String>,
}

fn parse_event(event: &Event, brand: &str, out: &mut Parsed) {
    if event.mode == "standby" {
        // Another module channel holds the chat; it answers, not us.
        return out.skip(SkipReason::Standby);
    }
    let skip = match event.kind.as_str() {
        "message" => None,
        "follow" | "join" | "memberJoined" => Some(SkipReason::Follow),
        "unfollow" | "leave" | "memberLeft" => Some(SkipReason::Unfollow),
        "unsend" => Some(SkipReason::Deleted),
        "postback" => Some(SkipReason::Postback),
        other => Some(SkipReason::unknown(&format!("line.{other}"))),
    };
    if let Some(reason) = skip {
        return out.skip(reason);
    }
    let (Some(message), Some(source)) = (&event.message, &event.source) else {
        return out.skip(SkipReason::Invalid("message or source: missing".into()));
    };
    let user = source.user_id.clone().filter(|u| !u.is_empty());
    if !brand.is_empty() && user.as_deref() == Some(brand) {
        return out.skip(SkipReason::OwnEvent);
    }
    let (thread, visibility) = match source.kind.as_str() {
        "user" => (user.clone(), Visibility::Private),
        "group" => (source.group_id.clone(), Visibility::Public),
        "room" => (source.room_id.clone(), Visibility::Public),
        other => return out.skip(SkipReason::unknown(&format!("line.source.{other}"))),
    };
    let Some(thread) = thread.filter(|t| !t.is_empty()) else {
        return out.skip(SkipReason::Invalid("source: id missing".into()));
    };
    const KNOWN: [&str; 7] = [
        "text", "image", "video", "audio", "file", "location", "sticker",
    ];
    if !KNOWN.contains(&message.kind.as_str()) {
        return out.skip(SkipReason::unknown(&format!(
            "line.message.{}",
            message.kind
        )));
    }
    let Some((text, mut attachments)) = content(message) else {
        return out.skip(SkipReason::NoContent);
    };
    if let Some(token) = event.reply_token.as_deref().filter(|t| !t.is_empty()) {
        attachments.push(Attachment {
            kind: REPLY_TOKEN_KIND.into(),
            url: format!("{REPLY_TOKEN_SCHEME}{token}"),
        });
    }
    out.accept(Submission {
        channel: Channel::Line,
        external_id: message.id.clone(),
        // A member who has not agreed to share their id speaks as the chat itself.
        author: Author {
            id: user.unwrap_or_else(|| thread.clone()),
            ..Author::default()
        },
        thread_id: thread,
        visibility,
        text,
        language_hint: String::new(),
        attachments,
        sent_at: event.timestamp.and_then(from_unix_millis),
        mail: None,
        edit_of: None,
    });
}

/// The words and media of a message of a known type; `None` when it carries nothing to
/// answer (a sticker without text).
fn content(message: &Message) -> Option<(String, Vec<Attachment>)> {
    let media = |kind: &str| {
        // LINE-hosted content is fetched by message id from the content endpoint.
        let url = match &message.content_provider {
            Some(p) if p.kind == "external" => p.original_content_url.clone(),
            _ => None,
        }
        .unwrap_or_else(|| format!("line-content:{}", message.id));
        vec![Attachment {
            kind: kind.to_owned(),
            url,
        }]
    };
    match message.kind.as_str() {
        "text" => Some((message.text.clone().unwrap_or_default(), Vec::new())),
        "image" | "video" | "audio" => Some((String::new(), media(&message.kind))),
        "file" => Some((message.file_name.clone().unwrap_or_default(), media("file"))),
        "location" => {
            let text = [&message.title, &message.address]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let url = match (message.latitude, message.longitude) {
                (Some(lat), Some(lon)) => format!("geo:{lat},{lon}"),
                _ => String::new(),
            };
            let location = Attachment {
                kind: "location".into(),
                url,
            };
            Some((text, vec![location]))
        }
        "sticker" => message
            .text
            .clone()
            .filter(|t| !t.trim().is_empty())
            .map(|t| (t, Vec::new())),
        _ => None,
    }
}
