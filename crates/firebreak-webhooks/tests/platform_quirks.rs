//! Payload shapes the platforms document but the first parsers dropped or misread:
//! each test names the shape and checks the normalised message (channel, visibility,
//! thread, author, text) or the skip it is counted under. The payloads are the
//! conformance corpus's.

use firebreak_core::wire::Submission;
use firebreak_core::{Channel, Visibility};
use firebreak_webhooks::{Parsed, SkipReason, parse_line, parse_meta, parse_telegram, parse_x};

/// The payload of corpus fixture `<platform>/<kind>.json`, as its exact bytes.
fn payload(platform: &str, kind: &str) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Fixture {
        payload: Box<serde_json::value::RawValue>,
    }
    let path = format!(
        "{}/tests/corpus/{platform}/{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    fixture.payload.get().as_bytes().to_vec()
}

fn one(parsed: &Parsed) -> &Submission {
    assert_eq!(parsed.submissions.len(), 1, "{:?}", parsed.skipped);
    &parsed.submissions[0]
}

#[test]
fn whatsapp_group_message_is_public_and_threaded_by_the_group() {
    let parsed = parse_meta(&payload("whatsapp", "group_text")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.channel, Channel::Whatsapp);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.thread_id, "Y2FwaV9ncm91cDoxNTU1MDEwMTIzNDo0NDAw");
    assert_eq!(m.author.id, "33612345678");
    assert_eq!(m.author.name, "Camille Martin");
    assert_eq!(m.text, "Same problem here, nobody answers");
}

#[test]
fn whatsapp_user_known_only_by_username_keeps_their_words() {
    let parsed = parse_meta(&payload("whatsapp", "username_user")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.author.id, "FR.7781200394456612");
    assert_eq!(m.thread_id, "FR.7781200394456612");
    assert_eq!(m.author.handle, "@jo.travels");
    assert_eq!(m.author.name, "Jo");
    assert_eq!(m.text, "Can I still cancel my booking?");
}

#[test]
fn whatsapp_edit_is_a_new_event_linked_to_the_original() {
    let parsed = parse_meta(&payload("whatsapp", "edit")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.external_id, "wamid.EDT01");
    assert_eq!(m.edit_of.as_deref(), Some("wamid.TXT01"));
    assert_eq!(m.thread_id, "33612345678");
    assert_eq!(m.text, "Has my order shipped yet? It's urgent");
}

#[test]
fn telegram_anonymous_admin_speaks_as_the_group_not_as_a_bot() {
    let parsed = parse_telegram(&payload("telegram", "anonymous_admin")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.author.id, "-1002233445566");
    assert_eq!(m.author.name, "Brand owners club");
    assert!(
        !m.author.is_bot,
        "the GroupAnonymousBot placeholder is not the author"
    );
    assert_eq!(m.text, "Admins: is there an official statement yet?");
}

#[test]
fn telegram_automatic_forward_of_the_channel_post_is_the_brands_own() {
    let parsed = parse_telegram(&payload("telegram", "automatic_forward")).unwrap();
    assert!(parsed.submissions.is_empty());
    assert_eq!(parsed.skipped, vec![SkipReason::OwnEvent]);
}

#[test]
fn x_text_is_unescaped_in_tweets_and_dms() {
    let tweet = parse_x(&payload("x", "escaped_text"), None).unwrap();
    assert_eq!(one(&tweet).text, "@brand Q&A was useless >:( <sigh>");
    let dm = parse_x(&payload("x", "dm_escaped"), None).unwrap();
    assert_eq!(one(&dm).text, "Fees & charges < 10 EUR?");
    assert_eq!(one(&dm).visibility, Visibility::Private);
}

#[test]
fn messenger_edit_with_a_string_num_edit_is_ingested() {
    let parsed = parse_meta(&payload("messenger", "message_edit")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.external_id, "m_Qx7dT0aLr2:edit:2");
    assert_eq!(m.edit_of.as_deref(), Some("m_Qx7dT0aLr2"));
    assert_eq!(m.text, "My parcel never arrived, who do I call??");
}

#[test]
fn messenger_numeric_ids_are_read_as_strings() {
    let parsed = parse_meta(&payload("messenger", "numeric_ids")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.author.id, "7312456601928374");
    assert_eq!(m.thread_id, "7312456601928374");
    assert_eq!(m.text, "Is the shop open on Sunday?");
}

#[test]
fn tweet_whose_user_has_only_a_numeric_id_is_kept() {
    let parsed = parse_x(&payload("x", "user_without_id_str"), None).unwrap();
    let m = one(&parsed);
    assert_eq!(m.author.id, "2244994945");
    assert_eq!(m.author.handle, "devperson");
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.text, "@brand still waiting");
}

#[test]
fn instagram_story_mention_is_stored_with_words_a_moderator_can_read() {
    let parsed = parse_meta(&payload("instagram", "story_mention")).unwrap();
    let m = one(&parsed);
    assert_eq!(m.channel, Channel::Instagram);
    assert!(!m.text.trim().is_empty(), "not dropped as empty text");
    assert_eq!(m.attachments[0].kind, "story_mention");
    assert_eq!(
        m.attachments[0].url,
        "https://lookaside.example.net/story/9911"
    );
}

#[test]
fn whatsapp_revoke_is_counted_as_a_deletion() {
    let parsed = parse_meta(&payload("whatsapp", "revoke")).unwrap();
    assert!(parsed.submissions.is_empty());
    assert_eq!(parsed.skipped, vec![SkipReason::Deleted]);
}

#[test]
fn line_user_and_group_messages_are_private_and_public() {
    let user = parse_line(&payload("line", "user_text")).unwrap();
    let m = one(&user);
    assert_eq!(m.channel, Channel::Line);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.thread_id, "U4af4980629c0d1e2f3a4b5c6d7e8f901");
    assert_eq!(m.author.id, "U4af4980629c0d1e2f3a4b5c6d7e8f901");
    let token = m
        .attachments
        .iter()
        .find(|a| a.kind == "reply_token")
        .unwrap();
    assert_eq!(
        token.url,
        "line-reply-token:38ef843bde154d9b91c21320ffd17a0f"
    );

    let group = parse_line(&payload("line", "group_text")).unwrap();
    let m = one(&group);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.thread_id, "Ca56f94637cc4347f90a25382909b24b9");
    assert_eq!(m.author.id, "U4af4980629c0d1e2f3a4b5c6d7e8f901");
    assert_eq!(m.text, "Did anyone get the recall letter?");
}

#[test]
fn line_redelivery_has_the_same_external_id_as_the_first_delivery() {
    let first = parse_line(&payload("line", "user_text")).unwrap();
    let again = parse_line(&payload("line", "redelivered")).unwrap();
    assert_eq!(one(&first).external_id, one(&again).external_id);
}

#[test]
fn coerced_fields_are_counted_and_documented_ones_are_not() {
    let old_style = parse_meta(&payload("messenger", "numeric_ids")).unwrap();
    assert_eq!(old_style.coerced, 2, "the entry id and the sender id");
    let edit = parse_meta(&payload("messenger", "message_edit")).unwrap();
    assert_eq!(edit.coerced, 1, "num_edit as a string");
    let documented = parse_meta(&payload("messenger", "text")).unwrap();
    assert_eq!(documented.coerced, 0);
    let tweet = parse_x(&payload("x", "user_without_id_str"), None).unwrap();
    assert_eq!(tweet.coerced, 0, "X documents the numeric id");
}
