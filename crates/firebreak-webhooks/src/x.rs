//! X Account Activity API deliveries: `{"for_user_id", "<kind>_events": [...], "users"}`.
//!
//! `tweet_create_events` (mentions and replies: public) and `direct_message_events`
//! (private) become submissions. Everything the subscribed account, the brand, wrote
//! itself comes back through the same webhook and is skipped, or Firebreak would answer
//! its own replies.
//!
//! X escapes `&`, `<` and `>` in the text of tweets and DMs as HTML entities; they are
//! unescaped here, so the words stored are the words written.

use std::collections::{BTreeMap, HashMap};

use firebreak_core::wire::Submission;
use firebreak_core::{Attachment, Author, Channel, Visibility};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::lenient;
use crate::parsed::{self, ParseError, Parsed, SkipReason, from_unix_millis, numeric_string};

/// Parses one X webhook POST body. Check [`crate::verify_x_signature`] first.
///
/// `brand_user_id` is the brand's X user id. When `None`, the delivery's own
/// `for_user_id`, the subscribed account, is taken as the brand.
pub fn parse_x(body: &[u8], brand_user_id: Option<&str>) -> Result<Parsed, ParseError> {
    let json = parsed::utf8(body)?;
    let coercions = lenient::Coercions::start();
    let activity: Activity = parsed::decode(json, "")?;
    let brand = brand_user_id
        .or(activity.for_user_id.as_deref())
        .unwrap_or("");
    let mut out = Parsed::default();
    // Each event is read on its own, so one that breaks the schema is skipped alone.
    for (i, raw) in activity.tweet_create_events.iter().enumerate() {
        let at = format!("tweet_create_events[{i}]");
        if let Some(tweet) = parsed::decode_event::<Tweet>(raw.get(), &at, &mut out) {
            parse_tweet(&tweet, brand, &mut out);
        }
    }
    // A profile that does not parse only loses the author's details, never the DM.
    let users: HashMap<String, User> = activity
        .users
        .iter()
        .filter_map(|(id, raw)| Some((id.clone(), serde_json::from_str(raw.get()).ok()?)))
        .collect();
    for (i, raw) in activity.direct_message_events.iter().enumerate() {
        let at = format!("direct_message_events[{i}]");
        if let Some(event) = parsed::decode_event(raw.get(), &at, &mut out) {
            parse_direct_message(&event, brand, &users, &mut out);
        }
    }
    for key in activity.other.keys() {
        match key.as_str() {
            "direct_message_mark_read_events" => out.skip(SkipReason::Read),
            "direct_message_indicate_typing_events" => out.skip(SkipReason::NoContent),
            "tweet_delete_events" => out.skip(SkipReason::Deleted),
            // Likes, follows, blocks, mutes, revokes: nothing to answer.
            other if other.ends_with("_events") || other == "user_event" => {
                out.skip(SkipReason::unknown(other));
            }
            // Envelope fields such as `user_has_blocked` or `apps`.
            _ => {}
        }
    }
    out.coerced = coercions.finish();
    Ok(out)
}

#[derive(Deserialize)]
struct Activity {
    for_user_id: Option<String>,
    #[serde(default)]
    tweet_create_events: Vec<Box<RawValue>>,
    #[serde(default)]
    direct_message_events: Vec<Box<RawValue>>,
    /// Profiles of the people in `direct_message_events`, keyed by user id.
    #[serde(default)]
    users: HashMap<String, Box<RawValue>>,
    #[serde(flatten)]
    other: BTreeMap<String, IgnoredAny>,
}

/// A v1.1 Tweet object.
#[derive(Deserialize)]
struct Tweet {
    #[serde(default)]
    id_str: String,
    #[serde(default)]
    text: String,
    /// Present instead of, or as well as, `text` in extended mode.
    full_text: Option<String>,
    /// Holds the whole text when `text` was cut at 140 characters.
    extended_tweet: Option<ExtendedTweet>,
    user: Option<User>,
    in_reply_to_status_id_str: Option<String>,
    conversation_id_str: Option<String>,
    /// Milliseconds since the epoch, as a decimal string.
    timestamp_ms: Option<String>,
    lang: Option<String>,
    retweeted_status: Option<IgnoredAny>,
    extended_entities: Option<Entities>,
}

#[derive(Deserialize)]
struct ExtendedTweet {
    #[serde(default)]
    full_text: String,
    extended_entities: Option<Entities>,
}

#[derive(Deserialize)]
struct Entities {
    #[serde(default)]
    media: Vec<Media>,
}

#[derive(Deserialize)]
struct Media {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    media_url_https: String,
}

#[derive(Deserialize)]
struct User {
    /// Tweets' users have it; the DM `users` map is keyed by it instead.
    id_str: Option<String>,
    /// The same id as a number; some payloads carry only this one.
    #[serde(default, deserialize_with = "lenient::opt_id_of_either_type")]
    id: Option<String>,
    #[serde(default)]
    screen_name: String,
    #[serde(default)]
    name: String,
    followers_count: Option<u64>,
    verified: Option<bool>,
}

#[derive(Deserialize)]
struct DirectMessageEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    id: String,
    /// Milliseconds since the epoch, as a decimal string.
    created_timestamp: Option<String>,
    message_create: Option<MessageCreate>,
}

#[derive(Deserialize)]
struct MessageCreate {
    target: Option<Target>,
    #[serde(default)]
    sender_id: String,
    message_data: Option<MessageData>,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    recipient_id: String,
}

#[derive(Deserialize)]
struct MessageData {
    #[serde(default)]
    text: String,
    attachment: Option<DmAttachment>,
}

#[derive(Deserialize)]
struct DmAttachment {
    media: Option<Media>,
}

fn parse_tweet(tweet: &Tweet, brand: &str, out: &mut Parsed) {
    let Some(user) = &tweet.user else {
        return out.skip(SkipReason::Invalid("user: missing".into()));
    };
    let Some(author_id) = [&user.id_str, &user.id]
        .into_iter()
        .flatten()
        .find(|id| !id.is_empty())
        .cloned()
    else {
        return out.skip(SkipReason::Invalid("user.id_str: missing".into()));
    };
    if !brand.is_empty() && author_id == brand {
        return out.skip(SkipReason::OwnEvent);
    }
    if tweet.retweeted_status.is_some() {
        return out.skip(SkipReason::Retweet);
    }
    let extended = tweet.extended_tweet.as_ref();
    let text = extended
        .map(|e| e.full_text.as_str())
        .or(tweet.full_text.as_deref())
        .unwrap_or(&tweet.text);
    let text = unescape_html(text);
    let media = extended
        .and_then(|e| e.extended_entities.as_ref())
        .or(tweet.extended_entities.as_ref());
    let attachments = media.map(|m| m.media.iter().map(attachment).collect());
    // A reply belongs to the conversation it answers; a fresh mention starts its own.
    let thread_id = [&tweet.conversation_id_str, &tweet.in_reply_to_status_id_str]
        .into_iter()
        .flatten()
        .find(|id| !id.is_empty())
        .cloned()
        .unwrap_or_else(|| tweet.id_str.clone());
    let language_hint = match tweet.lang.as_deref() {
        None | Some("und") => String::new(),
        Some(lang) => lang.to_owned(),
    };
    out.accept(Submission {
        channel: Channel::X,
        external_id: tweet.id_str.clone(),
        thread_id,
        visibility: Visibility::Public,
        author: author(author_id, user),
        text,
        language_hint,
        attachments: attachments.unwrap_or_default(),
        sent_at: tweet
            .timestamp_ms
            .as_deref()
            .and_then(numeric_string)
            .and_then(from_unix_millis),
        mail: None,
        edit_of: None,
    });
}

fn parse_direct_message(
    event: &DirectMessageEvent,
    brand: &str,
    users: &HashMap<String, User>,
    out: &mut Parsed,
) {
    if event.kind != "message_create" {
        return out.skip(SkipReason::unknown(&format!("dm.{}", event.kind)));
    }
    let Some(create) = &event.message_create else {
        return out.skip(SkipReason::Invalid("message_create: missing".into()));
    };
    let sender = create.sender_id.as_str();
    // The brand's own DMs, sent from X or by Firebreak, are echoed to the webhook.
    if !brand.is_empty() && sender == brand {
        return out.skip(SkipReason::OwnEvent);
    }
    let recipient = create
        .target
        .as_ref()
        .map_or("", |t| t.recipient_id.as_str());
    let data = create.message_data.as_ref();
    let text = data.map(|d| unescape_html(&d.text)).unwrap_or_default();
    let attachments: Vec<Attachment> = data
        .and_then(|d| d.attachment.as_ref())
        .and_then(|a| a.media.as_ref())
        .map(attachment)
        .into_iter()
        .collect();
    let author = match users.get(sender) {
        Some(user) => author(sender.to_owned(), user),
        None => Author {
            id: sender.to_owned(),
            ..Author::default()
        },
    };
    out.accept(Submission {
        channel: Channel::X,
        external_id: event.id.clone(),
        thread_id: dm_thread_id(sender, recipient),
        visibility: Visibility::Private,
        author,
        text,
        language_hint: String::new(),
        attachments,
        sent_at: event
            .created_timestamp
            .as_deref()
            .and_then(numeric_string)
            .and_then(from_unix_millis),
        mail: None,
        edit_of: None,
    });
}

/// Undoes the three entities X writes (`&amp;`, `&lt;`, `&gt;`) in one pass, so an
/// escaped entity (`&amp;lt;`) comes back as the literal text the user typed (`&lt;`).
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')]
            .into_iter()
            .find(|(name, _)| rest.starts_with(name));
        match entity {
            Some((name, c)) => {
                out.push(c);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A one-to-one DM conversation is the same whoever writes, so its id is the two user
/// ids in a fixed order.
fn dm_thread_id(a: &str, b: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}-{high}")
}

fn author(id: String, user: &User) -> Author {
    Author {
        id,
        handle: user.screen_name.clone(),
        name: user.name.clone(),
        followers: user.followers_count.unwrap_or(0),
        verified: user.verified.unwrap_or(false),
        is_bot: false,
    }
}

fn attachment(media: &Media) -> Attachment {
    Attachment {
        kind: if media.kind.is_empty() {
            "media".into()
        } else {
            media.kind.clone()
        },
        url: media.media_url_https.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{dm_thread_id, unescape_html};

    #[test]
    fn dm_thread_is_the_same_in_both_directions() {
        assert_eq!(dm_thread_id("10", "9"), dm_thread_id("9", "10"));
    }

    #[test]
    fn html_entities_are_undone_once() {
        assert_eq!(unescape_html("R&amp;D &lt;3 &gt;:("), "R&D <3 >:(");
        assert_eq!(unescape_html("&amp;lt; stays &lt;"), "&lt; stays <");
        assert_eq!(unescape_html("AT&T & co &quot;"), "AT&T & co &quot;");
        assert_eq!(unescape_html("été &amp; 🎉"), "été & 🎉");
    }
}
