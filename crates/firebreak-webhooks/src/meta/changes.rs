//! Public conversations delivered as `changes[]`: Facebook Page `feed` (comments and
//! visitor posts) and Instagram `comments` / `live_comments`.

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;

use super::Entry;
use crate::lenient;
use crate::parsed::{Parsed, SkipReason, from_unix_seconds, from_unix_seconds_or_millis};

/// `value` of a Page `feed` change. Only the fields Firebreak reads are declared.
#[derive(Deserialize)]
pub(super) struct FeedValue {
    item: Option<String>,
    verb: Option<String>,
    from: Option<FeedAuthor>,
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    post_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    comment_id: Option<String>,
    message: Option<String>,
    created_time: Option<i64>,
    photo: Option<String>,
    video: Option<String>,
}

#[derive(Deserialize)]
struct FeedAuthor {
    #[serde(deserialize_with = "lenient::string_or_number")]
    id: String,
    #[serde(default)]
    name: String,
}

/// `value` of an Instagram `comments` or `live_comments` change.
#[derive(Deserialize)]
pub(super) struct InstagramComment {
    #[serde(deserialize_with = "lenient::string_or_number")]
    id: String,
    #[serde(default)]
    text: String,
    from: Option<InstagramUser>,
    media: Option<InstagramMedia>,
}

#[derive(Deserialize)]
struct InstagramUser {
    #[serde(deserialize_with = "lenient::string_or_number")]
    id: String,
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct InstagramMedia {
    #[serde(deserialize_with = "lenient::string_or_number")]
    id: String,
}

pub(super) fn parse_feed(entry: &Entry, value: FeedValue, out: &mut Parsed) {
    let item = value.item.as_deref().unwrap_or("");
    // A visitor's post on the Page is as public, and as urgent, as a comment under one.
    if !matches!(item, "comment" | "post" | "status") {
        return out.skip(SkipReason::unknown(&format!("feed.{item}")));
    }
    let verb = value.verb.as_deref().unwrap_or("add");
    match verb {
        "add" | "edited" => {}
        "remove" => return out.skip(SkipReason::Deleted),
        other => return out.skip(SkipReason::unknown(&format!("feed.{item}.{other}"))),
    }
    let Some(from) = value.from.as_ref().filter(|f| !f.id.is_empty()) else {
        return out.skip(SkipReason::Invalid("from.id: missing".into()));
    };
    if from.id == entry.id {
        return out.skip(SkipReason::OwnEvent);
    }
    let Some(post_id) = value.post_id.clone().filter(|p| !p.is_empty()) else {
        return out.skip(SkipReason::Invalid("post_id: missing".into()));
    };
    let object_id = if item == "comment" {
        match value.comment_id.clone().filter(|c| !c.is_empty()) {
            Some(id) => id,
            None => return out.skip(SkipReason::Invalid("comment_id: missing".into())),
        }
    } else {
        post_id.clone()
    };
    let text = value.message.clone().unwrap_or_default();
    let attachments: Vec<Attachment> = [("photo", &value.photo), ("video", &value.video)]
        .into_iter()
        .filter_map(|(kind, url)| {
            url.clone().map(|url| Attachment {
                kind: kind.into(),
                url,
            })
        })
        .collect();
    if text.is_empty() && attachments.is_empty() {
        return out.skip(SkipReason::NoContent);
    }
    // An edit is a new event linked to the original; its time makes each edit distinct.
    let (external_id, edit_of) = if verb == "edited" {
        let version = value.created_time.or(entry.time).unwrap_or(0);
        (format!("{object_id}:edit:{version}"), Some(object_id))
    } else {
        (object_id, None)
    };
    out.accept(Submission {
        channel: Channel::Facebook,
        external_id,
        thread_id: post_id,
        visibility: Visibility::Public,
        author: Author {
            id: from.id.clone(),
            name: from.name.clone(),
            ..Author::default()
        },
        text,
        language_hint: String::new(),
        attachments,
        sent_at: value
            .created_time
            .and_then(from_unix_seconds)
            .or_else(|| entry.time.and_then(from_unix_seconds_or_millis)),
        mail: None,
        edit_of,
    });
}

pub(super) fn parse_instagram_comment(entry: &Entry, value: InstagramComment, out: &mut Parsed) {
    let Some(from) = value.from.as_ref().filter(|f| !f.id.is_empty()) else {
        return out.skip(SkipReason::Invalid("from.id: missing".into()));
    };
    // The brand's replies under its own media come back as comments too.
    if from.id == entry.id {
        return out.skip(SkipReason::OwnEvent);
    }
    let Some(media) = value.media.as_ref().filter(|m| !m.id.is_empty()) else {
        return out.skip(SkipReason::Invalid("media.id: missing".into()));
    };
    if value.text.is_empty() {
        return out.skip(SkipReason::NoContent);
    }
    out.accept(Submission {
        channel: Channel::Instagram,
        external_id: value.id.clone(),
        thread_id: media.id.clone(),
        visibility: Visibility::Public,
        author: Author {
            id: from.id.clone(),
            handle: from.username.clone(),
            ..Author::default()
        },
        text: value.text,
        language_hint: String::new(),
        attachments: Vec::new(),
        // Comments carry no time of their own; the entry's is when Meta sent it.
        sent_at: entry.time.and_then(from_unix_seconds_or_millis),
        mail: None,
        edit_of: None,
    });
}
