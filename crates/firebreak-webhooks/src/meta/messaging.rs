//! Messenger and Instagram Direct `messaging[]` events. Both products share one event
//! shape: `{sender, recipient, timestamp (ms), message | postback | delivery | read ...}`.
//! These are private conversations; the thread is the user's page-scoped id (PSID or
//! IGSID), since Meta keeps exactly one conversation per user and Page.

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Entry;
use crate::lenient;
use crate::parsed::{Parsed, SkipReason, from_unix_millis};

#[derive(Deserialize)]
pub(super) struct Event {
    sender: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Message>,
    postback: Option<Postback>,
    message_edit: Option<MessageEdit>,
    delivery: Option<IgnoredAny>,
    read: Option<IgnoredAny>,
    reaction: Option<IgnoredAny>,
}

/// Older Graph payloads give ids as JSON numbers; they are read as strings.
#[derive(Deserialize)]
struct Party {
    #[serde(deserialize_with = "lenient::string_or_number")]
    id: String,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_unsupported: bool,
    #[serde(default)]
    attachments: Vec<MessageAttachment>,
}

#[derive(Deserialize)]
struct MessageAttachment {
    #[serde(rename = "type")]
    kind: Option<String>,
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    url: Option<String>,
}

/// A tap on a button the brand sent. `title` is what the user saw and chose; `payload`
/// is the brand's own code, not the user's words.
#[derive(Deserialize)]
struct Postback {
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    mid: Option<String>,
    title: Option<String>,
}

/// Messenger's notice that a user edited a message they sent. Meta's own example
/// gives `num_edit` as a string, so either JSON type is read.
#[derive(Deserialize)]
struct MessageEdit {
    #[serde(deserialize_with = "lenient::string_or_number")]
    mid: String,
    text: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_count")]
    num_edit: Option<u32>,
}

/// The text a story mention is stored with: the story itself is an image or video
/// Firebreak cannot read, but that someone tagged the brand in it is worth a look.
pub const STORY_MENTION_TEXT: &str = "[mentioned the brand in their Instagram story]";

pub(super) fn parse(channel: Channel, entry: &Entry, event: &Event, out: &mut Parsed) {
    if let Some(message) = &event.message
        && message.is_echo
    {
        return out.skip(SkipReason::Echo);
    }
    if event.delivery.is_some() {
        return out.skip(SkipReason::Delivery);
    }
    if event.read.is_some() {
        return out.skip(SkipReason::Read);
    }
    if event.reaction.is_some() {
        return out.skip(SkipReason::NoContent);
    }
    let Some(sender) = event.sender.as_ref().filter(|s| !s.id.is_empty()) else {
        return out.skip(SkipReason::Invalid("sender.id: missing".into()));
    };
    // Without `is_echo`, a message from the Page to a user still must never be answered.
    if sender.id == entry.id {
        return out.skip(SkipReason::OwnEvent);
    }
    let draft = Draft {
        channel,
        sender: &sender.id,
        timestamp: event.timestamp,
    };
    if let Some(message) = &event.message {
        parse_message(draft, message, out);
    } else if let Some(postback) = &event.postback {
        let fallback_id = format!("{}:{}:postback", sender.id, event.timestamp.unwrap_or(0));
        let external_id = postback.mid.clone().unwrap_or(fallback_id);
        let text = postback.title.clone().unwrap_or_default();
        out.accept(draft.build(external_id, text, Vec::new(), None));
    } else if let Some(edit) = &event.message_edit {
        let version = edit.num_edit.unwrap_or(1);
        let external_id = format!("{}:edit:{version}", edit.mid);
        let text = edit.text.clone().unwrap_or_default();
        out.accept(draft.build(external_id, text, Vec::new(), Some(edit.mid.clone())));
    } else {
        out.skip(SkipReason::unknown("messaging"));
    }
}

fn parse_message(draft: Draft<'_>, message: &Message, out: &mut Parsed) {
    if message.is_deleted {
        return out.skip(SkipReason::Deleted);
    }
    let mut text = message.text.clone().unwrap_or_default();
    let attachments: Vec<Attachment> = message
        .attachments
        .iter()
        .map(|a| Attachment {
            kind: a.kind.clone().unwrap_or_else(|| "unknown".into()),
            url: a
                .payload
                .as_ref()
                .and_then(|p| p.url.clone())
                .unwrap_or_default(),
        })
        .collect();
    if text.is_empty() && attachments.iter().any(|a| a.kind == "story_mention") {
        text = STORY_MENTION_TEXT.to_owned();
    }
    if message.is_unsupported || (text.is_empty() && attachments.is_empty()) {
        return out.skip(SkipReason::NoContent);
    }
    let Some(mid) = message.mid.clone().filter(|m| !m.is_empty()) else {
        return out.skip(SkipReason::Invalid("message.mid: missing".into()));
    };
    out.accept(draft.build(mid, text, attachments, None));
}

/// The parts every submission from one messaging event shares.
#[derive(Clone, Copy)]
struct Draft<'a> {
    channel: Channel,
    sender: &'a str,
    timestamp: Option<i64>,
}

impl Draft<'_> {
    fn build(
        self,
        external_id: String,
        text: String,
        attachments: Vec<Attachment>,
        edit_of: Option<String>,
    ) -> Submission {
        Submission {
            channel: self.channel,
            external_id,
            thread_id: self.sender.to_owned(),
            visibility: Visibility::Private,
            author: Author {
                id: self.sender.to_owned(),
                ..Author::default()
            },
            text,
            language_hint: String::new(),
            attachments,
            sent_at: self.timestamp.and_then(from_unix_millis),
            mail: None,
            edit_of,
        }
    }
}
