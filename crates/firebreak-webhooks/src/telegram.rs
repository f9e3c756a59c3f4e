//! Telegram Bot API `Update` objects, one per webhook POST.
//!
//! `message` and `channel_post` are new messages; `edited_message` and
//! `edited_channel_post` are edits, turned into new events linked to the original with
//! `edit_of`. A private chat is a private conversation; groups, supergroups and channels
//! are public. Message ids are only unique within a chat, so every id is prefixed with
//! the chat id, which is also the thread.
//!
//! A message sent on behalf of a chat names that chat in `sender_chat`, and `from` is
//! then a placeholder (`GroupAnonymousBot` for anonymous group admins, `777000` for a
//! channel post forwarded into its discussion group): the author is the chat. A post
//! forwarded automatically from the linked channel is the brand's own post, skipped.

use std::collections::BTreeMap;

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::parsed::{self, ParseError, Parsed, SkipReason, from_unix_seconds};

/// Parses one Telegram webhook POST body. Check [`crate::verify_telegram_secret`] first.
pub fn parse_telegram(body: &[u8]) -> Result<Parsed, ParseError> {
    let json = parsed::utf8(body)?;
    // Only a body that is not JSON at all refuses the delivery: an update that breaks
    // the schema is skipped and counted, or Telegram would resend it for a day.
    let _object: BTreeMap<String, IgnoredAny> = parsed::decode(json, "")?;
    let mut out = Parsed::default();
    let Some(update) = parsed::decode_event::<Update>(json, "", &mut out) else {
        return Ok(out);
    };
    let (message, is_edit) = match (
        &update.message,
        &update.channel_post,
        &update.edited_message,
        &update.edited_channel_post,
    ) {
        (Some(m), _, _, _) | (_, Some(m), _, _) => (m, false),
        (_, _, Some(m), _) | (_, _, _, Some(m)) => (m, true),
        _ => {
            // Callback queries, membership changes, polls…: acknowledged and counted.
            let kind = update
                .other
                .keys()
                .find(|k| k.as_str() != "update_id")
                .map_or("update", String::as_str);
            out.skip(SkipReason::unknown(kind));
            return Ok(out);
        }
    };
    parse_message(message, is_edit, &mut out);
    Ok(out)
}

#[derive(Deserialize)]
struct Update {
    message: Option<Message>,
    edited_message: Option<Message>,
    channel_post: Option<Message>,
    edited_channel_post: Option<Message>,
    /// Every other key, kept only to name an update type this parser skips.
    #[serde(flatten)]
    other: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    from: Option<User>,
    /// Set when the message is sent on behalf of a chat: channel posts, anonymous group
    /// admins, a linked channel's posts in its discussion group.
    sender_chat: Option<Chat>,
    /// A channel post forwarded by Telegram itself into the channel's discussion group.
    #[serde(default)]
    is_automatic_forward: bool,
    chat: Chat,
    date: i64,
    edit_date: Option<i64>,
    text: Option<String>,
    caption: Option<String>,
    /// Sizes of one photo, smallest first.
    photo: Option<Vec<File>>,
    document: Option<File>,
    video: Option<File>,
    voice: Option<File>,
    audio: Option<File>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    last_name: Option<String>,
    username: Option<String>,
    /// The user's interface language: a hint, not the language of the message.
    language_code: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    title: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct File {
    file_id: String,
}

fn parse_message(message: &Message, is_edit: bool, out: &mut Parsed) {
    let visibility = match message.chat.kind.as_str() {
        "private" => Visibility::Private,
        "group" | "supergroup" | "channel" => Visibility::Public,
        other => return out.skip(SkipReason::unknown(&format!("chat.{other}"))),
    };
    let text = message
        .text
        .clone()
        .or_else(|| message.caption.clone())
        .unwrap_or_default();
    let attachments = attachments(message);
    if text.is_empty() && attachments.is_empty() {
        // Stickers, service messages (joins, pins, title changes) and the like.
        return out.skip(SkipReason::NoContent);
    }
    if message.is_automatic_forward {
        return out.skip(SkipReason::OwnEvent);
    }
    let Some((author, language_hint)) = author(message) else {
        return out.skip(SkipReason::Invalid("from: missing".into()));
    };
    let original_id = format!("{}:{}", message.chat.id, message.message_id);
    let (external_id, edit_of, sent_at) = match (is_edit, message.edit_date) {
        (true, edit_date) => {
            let version = edit_date.unwrap_or(message.date);
            (
                format!("{original_id}:edit:{version}"),
                Some(original_id),
                from_unix_seconds(version),
            )
        }
        (false, _) => (original_id, None, from_unix_seconds(message.date)),
    };
    out.accept(Submission {
        channel: Channel::Telegram,
        external_id,
        thread_id: message.chat.id.to_string(),
        visibility,
        author,
        text,
        language_hint,
        attachments,
        sent_at,
        mail: None,
        edit_of,
    });
}

/// The sender, and the language of their Telegram client.
fn author(message: &Message) -> Option<(Author, String)> {
    if let Some(chat) = &message.sender_chat {
        // The chat speaks; `from`, if any, is a placeholder account.
        let author = Author {
            id: chat.id.to_string(),
            handle: chat.username.clone().unwrap_or_default(),
            name: chat.title.clone().unwrap_or_default(),
            ..Author::default()
        };
        return Some((author, String::new()));
    }
    let user = message.from.as_ref()?;
    let name = match &user.last_name {
        Some(last) if !last.is_empty() => format!("{} {last}", user.first_name),
        _ => user.first_name.clone(),
    };
    let author = Author {
        id: user.id.to_string(),
        handle: user.username.clone().unwrap_or_default(),
        name,
        is_bot: user.is_bot,
        ..Author::default()
    };
    Some((author, user.language_code.clone().unwrap_or_default()))
}

/// Telegram files are fetched by `file_id` through `getFile`; the id is kept under a
/// scheme of its own in the attachment's `url`.
fn attachments(message: &Message) -> Vec<Attachment> {
    let largest_photo = message.photo.as_ref().and_then(|sizes| sizes.last());
    [
        ("photo", largest_photo),
        ("document", message.document.as_ref()),
        ("video", message.video.as_ref()),
        ("voice", message.voice.as_ref()),
        ("audio", message.audio.as_ref()),
    ]
    .into_iter()
    .filter_map(|(kind, file)| {
        file.map(|f| Attachment {
            kind: kind.into(),
            url: format!("telegram-file:{}", f.file_id),
        })
    })
    .collect()
}
