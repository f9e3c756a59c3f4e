//! No input, however hostile, panics a parser: arbitrary bytes, and arbitrary JSON built
//! from the platforms' own keys so the generator reaches deep into each schema.

mod common;

use firebreak_webhooks::{parse_line, parse_meta, parse_telegram, parse_x};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the parsers look for, so random documents hit real code paths.
const KEYS: &[&str] = &[
    "destination",
    "events",
    "source",
    "userId",
    "groupId",
    "roomId",
    "replyToken",
    "mode",
    "contentProvider",
    "group_id",
    "from_user_id",
    "edit",
    "sender_chat",
    "is_automatic_forward",
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "standby",
    "changes",
    "field",
    "value",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "is_echo",
    "is_deleted",
    "attachments",
    "type",
    "payload",
    "url",
    "postback",
    "title",
    "delivery",
    "read",
    "message_edit",
    "num_edit",
    "item",
    "verb",
    "from",
    "name",
    "post_id",
    "comment_id",
    "created_time",
    "media",
    "username",
    "contacts",
    "wa_id",
    "profile",
    "messages",
    "statuses",
    "status",
    "interactive",
    "button_reply",
    "list_reply",
    "image",
    "caption",
    "location",
    "latitude",
    "update_id",
    "edited_message",
    "channel_post",
    "message_id",
    "chat",
    "date",
    "edit_date",
    "sender_chat",
    "photo",
    "file_id",
    "for_user_id",
    "tweet_create_events",
    "direct_message_events",
    "users",
    "id_str",
    "user",
    "extended_tweet",
    "full_text",
    "timestamp_ms",
    "message_create",
    "sender_id",
    "message_data",
    "target",
    "recipient_id",
    "created_timestamp",
    "followers_count",
];

const WORDS: &[&str] = &[
    "page",
    "instagram",
    "whatsapp_business_account",
    "feed",
    "comments",
    "comment",
    "add",
    "edited",
    "remove",
    "text",
    "interactive",
    "image",
    "location",
    "private",
    "group",
    "channel",
    "message_create",
    "1",
    "",
    "sent",
    "read",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn parse_all(body: &[u8]) {
    let _ = parse_meta(body);
    let _ = parse_telegram(body);
    let _ = parse_x(body, None);
    let _ = parse_x(body, Some("1"));
    let _ = parse_line(body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        parse_all(value.to_string().as_bytes());
    }

    #[test]
    fn fixtures_with_one_value_replaced_never_panic(
        name in prop::sample::select(&[
            "messenger_text.json", "instagram_comment.json", "page_comment.json",
            "whatsapp_text.json", "whatsapp_interactive.json", "telegram_group.json",
            "telegram_edited.json", "x_mention.json", "x_dm.json", "line_text.json",
        ][..]),
        pick in any::<prop::sample::Index>(),
        replacement in json_value(),
    ) {
        let mut doc: Value = serde_json::from_slice(&common::fixture(name)).unwrap();
        replace_one(&mut doc, pick, replacement);
        parse_all(doc.to_string().as_bytes());
    }

    #[test]
    fn truncated_fixtures_never_panic(
        name in prop::sample::select(&["messenger_text.json", "telegram_private.json", "x_dm.json", "line_text.json"][..]),
        cut in any::<prop::sample::Index>(),
    ) {
        let body = common::fixture(name);
        parse_all(&body[..cut.index(body.len() + 1)]);
    }
}

/// Replaces the node at a random position (pre-order) with `replacement`.
fn replace_one(doc: &mut Value, pick: prop::sample::Index, replacement: Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, target: &mut usize, replacement: &mut Option<Value>) {
        if *target == 0 {
            if let Some(r) = replacement.take() {
                *v = r;
            }
            return;
        }
        *target -= 1;
        let children: Vec<&mut Value> = match v {
            Value::Array(a) => a.iter_mut().collect(),
            Value::Object(o) => o.values_mut().collect(),
            _ => return,
        };
        for child in children {
            if replacement.is_none() {
                return;
            }
            walk(child, target, replacement);
        }
    }
    let mut target = pick.index(count(doc));
    walk(doc, &mut target, &mut Some(replacement));
}
