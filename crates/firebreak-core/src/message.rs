//! The one message model every platform is normalised into.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Firebreak's id for a message. It is derived from `(channel, external_id)`, so a
/// platform's retry of the same delivery maps to the same id on every replica without a
/// lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub Uuid);

/// Namespace for v5 message ids; fixed forever, since ids are stored.
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_2b0e_57c4_4d8e_9a51_3c7e_f0b2_d94a);

impl MessageId {
    pub fn derive(channel: Channel, external_id: &str) -> Self {
        let name = format!("{}:{}", channel.as_str(), external_id);
        MessageId(Uuid::new_v5(&MESSAGE_ID_NAMESPACE, name.as_bytes()))
    }

    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(MessageId)
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Messenger,
    Instagram,
    Whatsapp,
    Telegram,
    X,
    Facebook,
    Email,
    Web,
    Line,
}

impl Channel {
    pub const ALL: [Channel; 9] = [
        Channel::Messenger,
        Channel::Instagram,
        Channel::Whatsapp,
        Channel::Telegram,
        Channel::X,
        Channel::Facebook,
        Channel::Email,
        Channel::Web,
        Channel::Line,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Messenger => "messenger",
            Channel::Instagram => "instagram",
            Channel::Whatsapp => "whatsapp",
            Channel::Telegram => "telegram",
            Channel::X => "x",
            Channel::Facebook => "facebook",
            Channel::Email => "email",
            Channel::Web => "web",
            Channel::Line => "line",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The platform an author id belongs to: an id names one person only within it.
    /// Messenger conversations and Facebook comments reach one page's audience with the
    /// same Meta ids, so they are one family; every other channel is its own.
    pub fn family(self) -> &'static str {
        match self {
            Channel::Messenger | Channel::Facebook => "facebook",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    #[serde(default)]
    pub handle: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub followers: u64,
    #[serde(default)]
    pub verified: bool,
    /// The platform says this is a bot, or it is one of the brand's own accounts.
    #[serde(default)]
    pub is_bot: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: String,
    #[serde(default)]
    pub url: String,
}

impl Attachment {
    /// Kind of the attachment that carries a platform's short-lived reply handle from
    /// ingest to the connector: LINE's reply token, in a `url` of
    /// [`Attachment::LINE_REPLY_TOKEN_SCHEME`] followed by the token.
    pub const REPLY_TOKEN_KIND: &'static str = "reply_token";
    pub const LINE_REPLY_TOKEN_SCHEME: &'static str = "line-reply-token:";

    /// The LINE reply token among `attachments`, if any.
    pub fn line_reply_token(attachments: &[Attachment]) -> Option<&str> {
        attachments
            .iter()
            .filter(|a| a.kind == Self::REPLY_TOKEN_KIND)
            .find_map(|a| a.url.strip_prefix(Self::LINE_REPLY_TOKEN_SCHEME))
            .filter(|token| !token.is_empty())
    }
}

/// Email headers that forbid an automatic answer (RFC 3834).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailHeaders {
    #[serde(default)]
    pub auto_submitted: String,
    #[serde(default)]
    pub precedence: String,
    /// `Some("")` is an explicitly empty return path (`Return-Path: <>`).
    #[serde(default)]
    pub return_path: Option<String>,
}

impl MailHeaders {
    /// True when RFC 3834 and common practice say no automatic reply may be sent.
    pub fn forbids_auto_reply(&self) -> bool {
        let auto = self.auto_submitted.trim().to_ascii_lowercase();
        let precedence = self.precedence.trim().to_ascii_lowercase();
        (!auto.is_empty() && auto != "no")
            || matches!(precedence.as_str(), "bulk" | "list" | "junk")
            || self
                .return_path
                .as_deref()
                .is_some_and(|rp| rp.trim().trim_matches(|c| c == '<' || c == '>').is_empty())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub channel: Channel,
    pub external_id: String,
    pub thread_id: String,
    pub visibility: Visibility,
    pub author: Author,
    pub text: String,
    #[serde(default)]
    pub language_hint: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(default)]
    pub mail: Option<MailHeaders>,
    /// The external id of the message this event edits.
    #[serde(default)]
    pub edit_of: Option<String>,
}

/// Limits enforced on every inbound message, whatever its source: one set of field
/// limits for everything that arrives from outside, checked in the domain conversions
/// ([`crate::wire`]) that HTTP, gRPC and the webhooks share. Every bound sits well above
/// what any platform sends.
pub mod limits {
    /// Longest text accepted, in bytes. Platforms cap far below this (X: 280 chars,
    /// Messenger: 2000, WhatsApp: 4096); longer text is a malformed submission.
    pub const MAX_TEXT_BYTES: usize = 64 * 1024;
    /// Ids: external id, thread id, author id, the edited message's id.
    pub const MAX_ID_BYTES: usize = 512;
    pub const MAX_ATTACHMENTS: usize = 32;
    /// An author's handle (X: 15 characters, Telegram: 32).
    pub const MAX_HANDLE_BYTES: usize = 256;
    /// An author's display name (X: 50 characters, Telegram: two fields of 64).
    pub const MAX_NAME_BYTES: usize = 512;
    /// A BCP 47 language tag; 35 characters is the longest in practical use.
    pub const MAX_LANGUAGE_HINT_BYTES: usize = 35;
    /// An attachment's kind (`image`, `video`, a MIME type).
    pub const MAX_ATTACHMENT_KIND_BYTES: usize = 128;
    /// An attachment's URL or platform media id.
    pub const MAX_ATTACHMENT_URL_BYTES: usize = 2048;
    /// One mail header value (RFC 5322 caps a line at 998 characters).
    pub const MAX_MAIL_HEADER_BYTES: usize = 998;
    /// A moderator's resolution note, or the reply sent with it.
    pub const MAX_NOTE_BYTES: usize = 4096;

    /// `Err` naming `field` when `value` is longer than `max` bytes. The message gives
    /// the limit, never the value.
    pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), crate::FirebreakError> {
        if value.len() > max {
            Err(crate::FirebreakError::invalid(
                field,
                format!("longer than {max} bytes"),
            ))
        } else {
            Ok(())
        }
    }
}
