//! What a connector is asked to deliver, and what it reports back.

use firebreak_core::{Attachment, Channel, Message, Visibility};
use serde::{Deserialize, Serialize};

/// One reply ready to leave Firebreak, built by the reply service or by a moderator's
/// manual reply.
///
/// The target fields mean different things per platform, because each platform
/// addresses a reply differently:
///
/// | channel | `recipient_id` | `in_reply_to_external_id` |
/// |---|---|---|
/// | telegram | chat id | message id in that chat (`123`, or `<chat>:<123>`); optional |
/// | messenger, facebook (private) | page-scoped user id (PSID) | unused |
/// | instagram (private) | Instagram-scoped user id | unused |
/// | instagram, facebook (public) | author id (informational) | comment id replied to |
/// | whatsapp | user's phone or business-scoped user id (groups: `thread_id`) | incoming `wamid`, shown as quoted; optional |
/// | x (public) | author id (informational) | tweet id replied to |
/// | x (private) | user id of the DM participant | unused |
/// | line | user id (pushes go to `thread_id`: the user, group or room) | message id; the reply token rides in `reply_token` |
/// | email, web | author id | platform id of the message replied to |
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundReply {
    /// Firebreak's id of the message being answered.
    pub message_id: String,
    pub channel: Channel,
    pub thread_id: String,
    pub recipient_id: String,
    pub in_reply_to_external_id: String,
    pub visibility: Visibility,
    pub text: String,
    /// Stable across every retry and redelivery of the same reply, so a receiver that
    /// deduplicates (the outbound webhook, WhatsApp's callback data) can drop repeats.
    pub idempotency_key: String,
    /// A platform's short-lived handle for answering the message (LINE's reply token).
    #[serde(default)]
    pub reply_token: Option<ReplyToken>,
}

/// A reply token and when Firebreak received the event that carried it: LINE honours
/// a token only for about a minute after its webhook, and only once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyToken {
    pub token: String,
    /// Unix milliseconds.
    pub received_at_ms: i64,
}

impl ReplyToken {
    /// The reply token ingest kept with `message`, if it has one.
    pub fn of(message: &Message) -> Option<Self> {
        let token = Attachment::line_reply_token(&message.attachments)?;
        let received_at_ms = message.received_at.unix_timestamp_nanos() / 1_000_000;
        Some(ReplyToken {
            token: token.to_owned(),
            received_at_ms: i64::try_from(received_at_ms).unwrap_or(i64::MAX),
        })
    }
}

/// The token is a credential for one reply: never printed.
impl std::fmt::Debug for ReplyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyToken")
            .field("token", &"***")
            .field("received_at_ms", &self.received_at_ms)
            .finish()
    }
}

impl OutboundReply {
    /// The idempotency key for the automatic reply to a message: one message gets at
    /// most one automatic reply, so the message id alone identifies it.
    pub fn auto_reply_key(message_id: &str) -> String {
        format!("firebreak-reply-{message_id}")
    }
}

/// Written by hand so that `{:?}` in a log line can never leak the reply text (personal
/// data and pre-approved wording alike); the length is enough to debug truncation.
impl std::fmt::Debug for OutboundReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundReply")
            .field("message_id", &self.message_id)
            .field("channel", &self.channel)
            .field("thread_id", &self.thread_id)
            .field("recipient_id", &self.recipient_id)
            .field("in_reply_to_external_id", &self.in_reply_to_external_id)
            .field("visibility", &self.visibility)
            .field("text_chars", &self.text.chars().count())
            .field("idempotency_key", &self.idempotency_key)
            .field("reply_token", &self.reply_token)
            .finish()
    }
}

/// Proof that the platform accepted a reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The connector that delivered it (a [`crate::Router`] reports the one it chose).
    pub connector: String,
    /// The platform's id for the sent message, when the platform returns one. `None`
    /// still means delivered: a 2xx with an unexpected body must not be retried.
    pub platform_message_id: Option<String>,
}

impl SendReceipt {
    pub fn new(connector: &str, platform_message_id: Option<String>) -> Self {
        SendReceipt {
            connector: connector.to_owned(),
            platform_message_id,
        }
    }
}
