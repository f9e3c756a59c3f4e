//! Conversions between domain types and the `firebreak.v1` wire types. Validation of
//! anything that came from outside happens here, once, with the field named.

use firebreak_proto::v1 as pb;
use prost::Message as _;
use time::OffsetDateTime;

use crate::message::limits::{self, check_len};
use crate::{
    Attachment, Author, Channel, Classification, FirebreakError, FirstLine, Flag, Language,
    MailHeaders, Message, MessageId, Priority, Route, Visibility,
};

pub fn channel_from_pb(value: i32) -> Option<Channel> {
    Some(match pb::Channel::try_from(value).ok()? {
        pb::Channel::Messenger => Channel::Messenger,
        pb::Channel::Instagram => Channel::Instagram,
        pb::Channel::Whatsapp => Channel::Whatsapp,
        pb::Channel::Telegram => Channel::Telegram,
        pb::Channel::X => Channel::X,
        pb::Channel::Facebook => Channel::Facebook,
        pb::Channel::Email => Channel::Email,
        pb::Channel::Web => Channel::Web,
        pb::Channel::Line => Channel::Line,
        pb::Channel::Unspecified => return None,
    })
}

pub fn channel_to_pb(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Messenger => pb::Channel::Messenger,
        Channel::Instagram => pb::Channel::Instagram,
        Channel::Whatsapp => pb::Channel::Whatsapp,
        Channel::Telegram => pb::Channel::Telegram,
        Channel::X => pb::Channel::X,
        Channel::Facebook => pb::Channel::Facebook,
        Channel::Email => pb::Channel::Email,
        Channel::Web => pb::Channel::Web,
        Channel::Line => pb::Channel::Line,
    }
}

pub fn visibility_to_pb(v: Visibility) -> pb::Visibility {
    match v {
        Visibility::Public => pb::Visibility::Public,
        Visibility::Private => pb::Visibility::Private,
    }
}

pub fn visibility_from_pb(value: i32) -> Option<Visibility> {
    match pb::Visibility::try_from(value).ok()? {
        pb::Visibility::Public => Some(Visibility::Public),
        pb::Visibility::Private => Some(Visibility::Private),
        pb::Visibility::Unspecified => None,
    }
}

pub fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// A submission before Firebreak assigns its id: the shape every ingest path builds,
/// whether from JSON, gRPC or a platform webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub channel: Channel,
    pub external_id: String,
    pub thread_id: String,
    pub visibility: Visibility,
    pub author: Author,
    pub text: String,
    pub language_hint: String,
    pub attachments: Vec<Attachment>,
    pub sent_at: Option<OffsetDateTime>,
    pub mail: Option<MailHeaders>,
    pub edit_of: Option<String>,
}

impl Submission {
    /// Checks the limits every source must respect, naming the field at fault.
    pub fn validate(&self) -> Result<(), FirebreakError> {
        let id_field = |name: &str, value: &str| {
            if value.trim().is_empty() {
                Err(FirebreakError::invalid(name, "must not be empty"))
            } else if value.len() > limits::MAX_ID_BYTES {
                Err(FirebreakError::invalid(
                    name,
                    format!("longer than {} bytes", limits::MAX_ID_BYTES),
                ))
            } else {
                Ok(())
            }
        };
        id_field("external_id", &self.external_id)?;
        id_field("thread_id", &self.thread_id)?;
        id_field("author.id", &self.author.id)?;
        check_len(
            "author.handle",
            &self.author.handle,
            limits::MAX_HANDLE_BYTES,
        )?;
        check_len("author.name", &self.author.name, limits::MAX_NAME_BYTES)?;
        check_len("text", &self.text, limits::MAX_TEXT_BYTES)?;
        check_len(
            "language_hint",
            &self.language_hint,
            limits::MAX_LANGUAGE_HINT_BYTES,
        )?;
        if let Some(edit_of) = &self.edit_of {
            check_len("edit_of", edit_of, limits::MAX_ID_BYTES)?;
        }
        if self.attachments.len() > limits::MAX_ATTACHMENTS {
            return Err(FirebreakError::invalid(
                "attachments",
                format!("more than {}", limits::MAX_ATTACHMENTS),
            ));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            check_len(
                &format!("attachments[{i}].kind"),
                &a.kind,
                limits::MAX_ATTACHMENT_KIND_BYTES,
            )?;
            check_len(
                &format!("attachments[{i}].url"),
                &a.url,
                limits::MAX_ATTACHMENT_URL_BYTES,
            )?;
        }
        if let Some(mail) = &self.mail {
            let return_path = mail.return_path.as_deref().unwrap_or("");
            for (field, value) in [
                ("mail.auto_submitted", mail.auto_submitted.as_str()),
                ("mail.precedence", mail.precedence.as_str()),
                ("mail.return_path", return_path),
            ] {
                check_len(field, value, limits::MAX_MAIL_HEADER_BYTES)?;
            }
        }
        Ok(())
    }

    /// Validates and assigns the message its derived id.
    pub fn into_message(self, received_at: OffsetDateTime) -> Result<Message, FirebreakError> {
        self.validate()?;
        Ok(Message {
            id: MessageId::derive(self.channel, &self.external_id),
            channel: self.channel,
            external_id: self.external_id,
            thread_id: self.thread_id,
            visibility: self.visibility,
            author: self.author,
            text: self.text,
            language_hint: self.language_hint,
            attachments: self.attachments,
            sent_at: self.sent_at.unwrap_or(received_at),
            received_at,
            mail: self.mail,
            edit_of: self.edit_of,
        })
    }
}

impl TryFrom<pb::SubmitMessage> for Submission {
    type Error = FirebreakError;

    fn try_from(m: pb::SubmitMessage) -> Result<Self, Self::Error> {
        let channel = channel_from_pb(m.channel)
            .ok_or_else(|| FirebreakError::invalid("channel", "missing or unknown"))?;
        let visibility = visibility_from_pb(m.visibility)
            .ok_or_else(|| FirebreakError::invalid("visibility", "missing or unknown"))?;
        let author = m
            .author
            .ok_or_else(|| FirebreakError::invalid("author", "missing"))?;
        let sent_at = match &m.sent_at {
            Some(t) => Some(
                from_timestamp(t)
                    .ok_or_else(|| FirebreakError::invalid("sent_at", "out of range"))?,
            ),
            None => None,
        };
        let submission = Submission {
            channel,
            external_id: m.external_id,
            thread_id: m.thread_id,
            visibility,
            author: author_from_pb(author),
            text: m.text,
            language_hint: m.language_hint,
            attachments: m
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    kind: a.kind,
                    url: a.url,
                })
                .collect(),
            sent_at,
            mail: m.mail.map(|h| MailHeaders {
                auto_submitted: h.auto_submitted,
                precedence: h.precedence,
                return_path: h.return_path,
            }),
            edit_of: Some(m.edit_of).filter(|e| !e.is_empty()),
        };
        submission.validate()?;
        Ok(submission)
    }
}

/// A moderator's resolution of a case: a note, and optionally a reply to the author.
/// HTTP and gRPC both build it here, so both refuse the same sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub note: String,
    pub reply: Option<String>,
}

impl Resolution {
    pub fn new(note: String, reply: Option<String>) -> Result<Self, FirebreakError> {
        check_len("note", &note, limits::MAX_NOTE_BYTES)?;
        let reply = reply.filter(|r| !r.is_empty());
        if let Some(reply) = &reply {
            check_len("reply", reply, limits::MAX_NOTE_BYTES)?;
        }
        Ok(Resolution { note, reply })
    }
}

impl TryFrom<pb::ResolveRequest> for Resolution {
    type Error = FirebreakError;

    fn try_from(r: pb::ResolveRequest) -> Result<Self, Self::Error> {
        Resolution::new(r.note, Some(r.reply))
    }
}

fn author_from_pb(a: pb::Author) -> Author {
    Author {
        id: a.id,
        handle: a.handle,
        name: a.name,
        followers: a.followers,
        verified: a.verified,
        is_bot: a.is_bot,
    }
}

fn author_to_pb(a: &Author) -> pb::Author {
    pb::Author {
        id: a.id.clone(),
        handle: a.handle.clone(),
        name: a.name.clone(),
        followers: a.followers,
        verified: a.verified,
        is_bot: a.is_bot,
    }
}

impl From<&Message> for pb::Message {
    fn from(m: &Message) -> Self {
        pb::Message {
            id: m.id.to_string(),
            channel: channel_to_pb(m.channel) as i32,
            external_id: m.external_id.clone(),
            thread_id: m.thread_id.clone(),
            visibility: visibility_to_pb(m.visibility) as i32,
            author: Some(author_to_pb(&m.author)),
            text: m.text.clone(),
            language_hint: m.language_hint.clone(),
            attachments: m
                .attachments
                .iter()
                .map(|a| pb::Attachment {
                    kind: a.kind.clone(),
                    url: a.url.clone(),
                })
                .collect(),
            sent_at: Some(timestamp(m.sent_at)),
            received_at: Some(timestamp(m.received_at)),
            mail: m.mail.as_ref().map(|h| pb::MailHeaders {
                auto_submitted: h.auto_submitted.clone(),
                precedence: h.precedence.clone(),
                return_path: h.return_path.clone(),
            }),
            edit_of: m.edit_of.clone().unwrap_or_default(),
        }
    }
}

impl TryFrom<pb::Message> for Message {
    type Error = FirebreakError;

    fn try_from(m: pb::Message) -> Result<Self, Self::Error> {
        let id =
            MessageId::parse(&m.id).ok_or_else(|| FirebreakError::invalid("id", "not a uuid"))?;
        let channel = channel_from_pb(m.channel)
            .ok_or_else(|| FirebreakError::invalid("channel", "unknown"))?;
        let visibility = visibility_from_pb(m.visibility)
            .ok_or_else(|| FirebreakError::invalid("visibility", "unknown"))?;
        let time_field = |name: &str, t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .and_then(from_timestamp)
                .ok_or_else(|| FirebreakError::invalid(name, "missing or out of range"))
        };
        Ok(Message {
            id,
            channel,
            sent_at: time_field("sent_at", &m.sent_at)?,
            received_at: time_field("received_at", &m.received_at)?,
            external_id: m.external_id,
            thread_id: m.thread_id,
            visibility,
            author: author_from_pb(
                m.author
                    .ok_or_else(|| FirebreakError::invalid("author", "missing"))?,
            ),
            text: m.text,
            language_hint: m.language_hint,
            attachments: m
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    kind: a.kind,
                    url: a.url,
                })
                .collect(),
            mail: m.mail.map(|h| MailHeaders {
                auto_submitted: h.auto_submitted,
                precedence: h.precedence,
                return_path: h.return_path,
            }),
            edit_of: Some(m.edit_of).filter(|e| !e.is_empty()),
        })
    }
}

pub fn language_to_pb(l: Language) -> pb::Language {
    match l {
        Language::Fr => pb::Language::Fr,
        Language::En => pb::Language::En,
        Language::Other => pb::Language::Other,
    }
}

pub fn route_to_pb(r: Route) -> pb::Route {
    match r {
        Route::Reply => pb::Route::Reply,
        Route::Escalate => pb::Route::Escalate,
        Route::Ignore => pb::Route::Ignore,
    }
}

pub fn priority_to_pb(p: Priority) -> pb::Priority {
    match p {
        Priority::P1 => pb::Priority::P1,
        Priority::P2 => pb::Priority::P2,
        Priority::P3 => pb::Priority::P3,
        Priority::P4 => pb::Priority::P4,
    }
}

pub fn priority_from_pb(value: i32) -> Option<Priority> {
    match pb::Priority::try_from(value).ok()? {
        pb::Priority::P1 => Some(Priority::P1),
        pb::Priority::P2 => Some(Priority::P2),
        pb::Priority::P3 => Some(Priority::P3),
        pb::Priority::P4 => Some(Priority::P4),
        pb::Priority::Unspecified => None,
    }
}

impl From<&Classification> for pb::Classification {
    fn from(c: &Classification) -> Self {
        pb::Classification {
            language: language_to_pb(c.language) as i32,
            language_confidence: c.language_confidence,
            sentiment: c.sentiment,
            route: route_to_pb(c.route) as i32,
            priority: priority_to_pb(c.priority) as i32,
            key_question: c.key_question.clone().unwrap_or_default(),
            key_question_confidence: c.key_question_confidence,
            flags: c.flags.iter().map(flag_to_pb).collect(),
            reasons: c.reasons.clone(),
            confidence: c.confidence,
            linked_case_id: c.linked_case_id.clone().unwrap_or_default(),
            playbook_version: c.playbook_version.clone(),
            first_line: c
                .first_line
                .map(|f| f.as_str().to_string())
                .unwrap_or_default(),
        }
    }
}

pub fn flag_to_pb(f: &Flag) -> pb::Flag {
    pb::Flag {
        kind: f.kind.clone(),
        evidence: f.evidence.clone(),
        score: f.score,
    }
}

impl TryFrom<pb::Classification> for Classification {
    type Error = FirebreakError;

    fn try_from(c: pb::Classification) -> Result<Self, Self::Error> {
        let language = match pb::Language::try_from(c.language) {
            Ok(pb::Language::Fr) => Language::Fr,
            Ok(pb::Language::En) => Language::En,
            _ => Language::Other,
        };
        let route = match pb::Route::try_from(c.route) {
            Ok(pb::Route::Reply) => Route::Reply,
            Ok(pb::Route::Escalate) => Route::Escalate,
            Ok(pb::Route::Ignore) => Route::Ignore,
            _ => return Err(FirebreakError::invalid("classification.route", "unknown")),
        };
        Ok(Classification {
            language,
            language_confidence: c.language_confidence,
            sentiment: c.sentiment,
            route,
            priority: priority_from_pb(c.priority)
                .ok_or_else(|| FirebreakError::invalid("classification.priority", "unknown"))?,
            key_question: Some(c.key_question).filter(|k| !k.is_empty()),
            key_question_confidence: c.key_question_confidence,
            flags: c
                .flags
                .into_iter()
                .map(|f| Flag {
                    kind: f.kind,
                    evidence: f.evidence,
                    score: f.score,
                })
                .collect(),
            reasons: c.reasons,
            confidence: c.confidence,
            linked_case_id: Some(c.linked_case_id).filter(|k| !k.is_empty()),
            playbook_version: c.playbook_version,
            first_line: match c.first_line.as_str() {
                "" => None,
                other => Some(FirstLine::parse(other).ok_or_else(|| {
                    FirebreakError::invalid("classification.first_line", "unknown")
                })?),
            },
        })
    }
}

/// Encodes an inbound message for the bus.
pub fn encode_message(m: &Message) -> Vec<u8> {
    pb::Message::from(m).encode_to_vec()
}

/// Decodes an inbound message from the bus; garbage is a permanent error.
pub fn decode_message(bytes: &[u8]) -> Result<Message, FirebreakError> {
    let raw = pb::Message::decode(bytes).map_err(|e| FirebreakError::invalid("payload", e))?;
    Message::try_from(raw)
}

pub fn encode_classified(m: &Message, c: &Classification) -> Vec<u8> {
    pb::ClassifiedMessage {
        message: Some(m.into()),
        classification: Some(c.into()),
    }
    .encode_to_vec()
}

pub fn decode_classified(bytes: &[u8]) -> Result<(Message, Classification), FirebreakError> {
    let raw =
        pb::ClassifiedMessage::decode(bytes).map_err(|e| FirebreakError::invalid("payload", e))?;
    let message = raw
        .message
        .ok_or_else(|| FirebreakError::invalid("message", "missing"))?;
    let classification = raw
        .classification
        .ok_or_else(|| FirebreakError::invalid("classification", "missing"))?;
    Ok((
        Message::try_from(message)?,
        Classification::try_from(classification)?,
    ))
}

#[cfg(test)]
mod tests;
