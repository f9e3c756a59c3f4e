//! What people wrote, kept with their case: each escalated message's text and author,
//! and the replies moderators sent. Stored apart from the case record (and so never in
//! the case event log), so it can expire after resolution and be purged on request
//! while the case's ids, flags and outcome stay.

use firebreak_core::{Author, Channel, Classification, Flag, Message, MessageId, Visibility};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The author as a moderator needs to see them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorView {
    pub id: String,
    #[serde(default)]
    pub handle: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub followers: u64,
    #[serde(default)]
    pub verified: bool,
}

impl From<&Author> for AuthorView {
    fn from(a: &Author) -> Self {
        AuthorView {
            id: a.id.clone(),
            handle: a.handle.clone(),
            name: a.name.clone(),
            followers: a.followers,
            verified: a.verified,
        }
    }
}

/// One escalated message as it was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WrittenMessage {
    pub message_id: MessageId,
    pub external_id: String,
    pub channel: Channel,
    pub visibility: Visibility,
    pub text: String,
    pub author: AuthorView,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The post on the platform, where its URL can be derived from the ids.
    #[serde(default)]
    pub link: Option<String>,
    /// The flags raised on this message, with the evidence found in its text.
    #[serde(default)]
    pub flags: Vec<Flag>,
}

impl WrittenMessage {
    pub fn new(message: &Message, classification: &Classification) -> Self {
        WrittenMessage {
            message_id: message.id,
            external_id: message.external_id.clone(),
            channel: message.channel,
            visibility: message.visibility,
            text: message.text.clone(),
            author: AuthorView::from(&message.author),
            at: message.received_at,
            link: post_link(message),
            flags: classification.flags.clone(),
        }
    }
}

/// A reply a moderator sent to the author.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentReply {
    /// The message it answers.
    pub message_id: Option<MessageId>,
    pub text: String,
    pub by: String,
    /// The connector that delivered it.
    pub connector: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// One entry of a case's conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationEntry {
    Message(WrittenMessage),
    Reply(SentReply),
}

impl ConversationEntry {
    /// Its field in the store: a message once per id (redeliveries overwrite it), a
    /// reply once per moment.
    pub fn key(&self) -> String {
        match self {
            ConversationEntry::Message(m) => format!("m:{}", m.message_id),
            ConversationEntry::Reply(r) => format!("r:{}", r.at.unix_timestamp_nanos()),
        }
    }

    pub fn at(&self) -> OffsetDateTime {
        match self {
            ConversationEntry::Message(m) => m.at,
            ConversationEntry::Reply(r) => r.at,
        }
    }
}

/// Puts entries in the order they happened.
pub fn in_order(mut entries: Vec<ConversationEntry>) -> Vec<ConversationEntry> {
    entries.sort_by_key(ConversationEntry::at);
    entries
}

/// The public URL of a post, for the platforms whose ids make one: an X status, a
/// Facebook post or comment (`<post>_<comment>`). Private messages have none.
pub fn post_link(message: &Message) -> Option<String> {
    if message.visibility != Visibility::Public {
        return None;
    }
    let id = &message.external_id;
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match message.channel {
        Channel::X if safe(id) && safe(&message.author.handle) => Some(format!(
            "https://x.com/{}/status/{id}",
            message.author.handle
        )),
        Channel::Facebook if safe(id) => Some(format!("https://www.facebook.com/{id}")),
        _ => None,
    }
}

/// The first characters of a text, on one line, for listings.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let mut cut: String = flat.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_line_and_cut_on_characters() {
        assert_eq!(excerpt("a\n b   c", 10), "a b c");
        assert_eq!(excerpt("ééééé", 3), "éé…");
    }

    #[test]
    fn only_public_posts_with_safe_ids_get_a_link() {
        let now = OffsetDateTime::now_utc();
        let mut m = Message {
            id: MessageId::derive(Channel::X, "123"),
            channel: Channel::X,
            external_id: "123".into(),
            thread_id: "t".into(),
            visibility: Visibility::Public,
            author: Author {
                id: "9".into(),
                handle: "jane".into(),
                ..Author::default()
            },
            text: String::new(),
            language_hint: String::new(),
            attachments: Vec::new(),
            sent_at: now,
            received_at: now,
            mail: None,
            edit_of: None,
        };
        assert_eq!(
            post_link(&m).as_deref(),
            Some("https://x.com/jane/status/123")
        );
        m.author.handle = "ja/ne".into();
        assert_eq!(post_link(&m), None);
        m.visibility = Visibility::Private;
        m.author.handle = "jane".into();
        assert_eq!(post_link(&m), None);
    }
}
