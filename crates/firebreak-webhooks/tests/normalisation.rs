//! Each platform's documented payload shape becomes the one message model with the
//! right channel, visibility, author, thread and text.

mod common;

use common::{fixture, only};
use firebreak_core::{Channel, Visibility};
use firebreak_webhooks::{SkipReason, parse_meta, parse_telegram, parse_x};
use time::OffsetDateTime;

fn at_millis(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn at_seconds(s: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s).ok()
}

#[test]
fn messenger_text_is_a_private_message_threaded_by_psid() {
    let parsed = parse_meta(&fixture("messenger_text.json")).unwrap();
    assert_eq!(parsed.submissions.len(), 2, "message and postback");
    let m = &parsed.submissions[0];
    assert_eq!(m.channel, Channel::Messenger);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.external_id, "m_AbCdEf123");
    assert_eq!(m.thread_id, "6871234567890123");
    assert_eq!(m.author.id, "6871234567890123");
    assert_eq!(m.text, "Where is my refund?");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].kind, "image");
    assert_eq!(m.attachments[0].url, "https://scontent.example/refund.jpg");
    assert_eq!(m.sent_at, at_millis(1_718_007_189_000));
}

#[test]
fn messenger_postback_uses_the_button_title_the_user_saw() {
    let parsed = parse_meta(&fixture("messenger_text.json")).unwrap();
    let postback = &parsed.submissions[1];
    assert_eq!(postback.external_id, "m_Postback1");
    assert_eq!(postback.text, "Talk to a human");
    assert_eq!(postback.thread_id, "6871234567890123");
}

#[test]
fn messenger_echo_delivery_and_read_are_counted_not_submitted() {
    let parsed = parse_meta(&fixture("messenger_text.json")).unwrap();
    assert_eq!(
        parsed.skipped,
        vec![SkipReason::Echo, SkipReason::Delivery, SkipReason::Read]
    );
}

#[test]
fn instagram_dm_is_private_on_the_instagram_channel() {
    let parsed = parse_meta(&fixture("instagram_dm.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.channel, Channel::Instagram);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.author.id, "1254477777772919");
    assert_eq!(m.thread_id, "1254477777772919");
    assert_eq!(m.text, "Your app charged me twice");
    assert_eq!(m.sent_at, at_millis(1_718_007_200_123));
}

#[test]
fn instagram_comment_is_public_and_threaded_by_media() {
    let parsed = parse_meta(&fixture("instagram_comment.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.channel, Channel::Instagram);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.external_id, "17865799348089039");
    assert_eq!(m.thread_id, "18000000000000123");
    assert_eq!(m.author.id, "232323232");
    assert_eq!(m.author.handle, "angry_customer");
    assert_eq!(m.text, "Still no answer from support?");
    assert_eq!(m.sent_at, at_seconds(1_718_007_300));
}

#[test]
fn instagram_brand_reply_and_unknown_field_are_skipped() {
    let parsed = parse_meta(&fixture("instagram_comment.json")).unwrap();
    assert_eq!(
        parsed.skipped,
        vec![
            SkipReason::OwnEvent,
            SkipReason::UnknownEvent("story_insights".into())
        ]
    );
}

#[test]
fn page_comment_is_public_on_facebook_threaded_by_post() {
    let parsed = parse_meta(&fixture("page_comment.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.channel, Channel::Facebook);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.external_id, "200000000000002_300000000000003");
    assert_eq!(m.thread_id, "107000000000001_200000000000002");
    assert_eq!(m.author.id, "5123456789012345");
    assert_eq!(m.author.name, "Jane Doe");
    assert_eq!(m.text, "This is a scandal, I want my money back");
    assert_eq!(m.sent_at, at_seconds(1_718_007_400));
    assert_eq!(parsed.skipped.len(), 1, "the reaction");
    assert_eq!(parsed.skipped[0].as_str(), "unknown_event");
}

#[test]
fn whatsapp_text_carries_the_contact_profile_name() {
    let parsed = parse_meta(&fixture("whatsapp_text.json")).unwrap();
    assert_eq!(parsed.submissions.len(), 2);
    let m = &parsed.submissions[0];
    assert_eq!(m.channel, Channel::Whatsapp);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.thread_id, "16505551234");
    assert_eq!(m.author.id, "16505551234");
    assert_eq!(m.author.name, "Sheena Nelson");
    assert_eq!(m.text, "Is the product recall affecting my order?");
    assert_eq!(m.sent_at, at_seconds(1_749_416_383));
}

#[test]
fn whatsapp_image_keeps_caption_as_text_and_media_id() {
    let parsed = parse_meta(&fixture("whatsapp_text.json")).unwrap();
    let image = &parsed.submissions[1];
    assert_eq!(image.text, "Look at this label");
    assert_eq!(image.attachments.len(), 1);
    assert_eq!(image.attachments[0].kind, "image");
    assert_eq!(image.attachments[0].url, "whatsapp-media:1003383421387256");
}

#[test]
fn whatsapp_statuses_are_counted_as_receipts() {
    let parsed = parse_meta(&fixture("whatsapp_text.json")).unwrap();
    assert_eq!(parsed.skipped, vec![SkipReason::Delivery, SkipReason::Read]);
}

#[test]
fn whatsapp_interactive_replies_become_the_chosen_title() {
    let parsed = parse_meta(&fixture("whatsapp_interactive.json")).unwrap();
    let texts: Vec<&str> = parsed.submissions.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["Refund status", "Cancel my order"]);
    for m in &parsed.submissions {
        assert_eq!(m.channel, Channel::Whatsapp);
        assert_eq!(m.visibility, Visibility::Private);
        assert_eq!(m.thread_id, "16505559999");
        assert_eq!(m.author.name, "Pablo Morales");
    }
}

#[test]
fn telegram_private_chat_is_private() {
    let parsed = parse_telegram(&fixture("telegram_private.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.channel, Channel::Telegram);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.external_id, "1111111:1365");
    assert_eq!(m.thread_id, "1111111");
    assert_eq!(m.author.id, "1111111");
    assert_eq!(m.author.handle, "testuser");
    assert_eq!(m.author.name, "Test Lastname");
    assert_eq!(m.language_hint, "fr");
    assert_eq!(m.text, "Bonjour, où est ma commande ?");
    assert_eq!(m.sent_at, at_seconds(1_441_645_532));
}

#[test]
fn telegram_group_is_public_and_threaded_by_chat() {
    let parsed = parse_telegram(&fixture("telegram_group.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.thread_id, "-1001234567890");
    assert_eq!(m.external_id, "-1001234567890:77");
    assert_eq!(m.author.id, "2222222");
    assert_eq!(m.author.handle, "alex_k");
    assert_eq!(m.text, "Anyone else got the broken device?");
}

#[test]
fn telegram_edit_is_a_new_event_linked_to_the_original() {
    let parsed = parse_telegram(&fixture("telegram_edited.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.external_id, "-1001234567890:77:edit:1441645660");
    assert_eq!(m.edit_of.as_deref(), Some("-1001234567890:77"));
    assert_eq!(m.sent_at, at_seconds(1_441_645_660));
    assert!(m.text.ends_with("Mine caught fire"));
}

#[test]
fn telegram_channel_post_is_public_and_speaks_for_the_channel() {
    let parsed = parse_telegram(&fixture("telegram_channel_post.json")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.author.id, "-1009876543210");
    assert_eq!(m.author.handle, "consumerwatch");
    assert_eq!(m.author.name, "Consumer watch");
}

#[test]
fn x_mention_is_public_with_followers_and_verified() {
    let parsed = parse_x(&fixture("x_mention.json"), None).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.channel, Channel::X);
    assert_eq!(m.visibility, Visibility::Public);
    assert_eq!(m.external_id, "1800000000000000001");
    assert_eq!(
        m.thread_id, "1800000000000000001",
        "a fresh mention is its own thread"
    );
    assert_eq!(m.author.id, "6253282");
    assert_eq!(m.author.handle, "loudcustomer");
    assert_eq!(m.author.name, "Loud Customer");
    assert_eq!(m.author.followers, 125_000);
    assert!(m.author.verified);
    assert_eq!(m.language_hint, "en");
    assert_eq!(m.text, "@brand my order never arrived and nobody answers");
    assert_eq!(m.sent_at, at_millis(1_718_007_600_000));
}

#[test]
fn x_brand_reply_is_skipped_as_own_event() {
    let parsed = parse_x(&fixture("x_mention.json"), None).unwrap();
    assert_eq!(parsed.skipped, vec![SkipReason::OwnEvent]);
}

#[test]
fn x_dm_is_private_threaded_by_the_pair_of_users() {
    let parsed = parse_x(&fixture("x_dm.json"), Some("4337869213")).unwrap();
    let m = only(&parsed.submissions);
    assert_eq!(m.channel, Channel::X);
    assert_eq!(m.visibility, Visibility::Private);
    assert_eq!(m.external_id, "954491830116155396");
    assert_eq!(m.thread_id, "3001969357-4337869213");
    assert_eq!(m.author.id, "3001969357");
    assert_eq!(m.author.handle, "furiouscamper");
    assert_eq!(m.author.name, "Jordan Brinks");
    assert_eq!(m.author.followers, 22);
    assert_eq!(m.text, "Hello, I need help with my account");
    assert_eq!(m.sent_at, at_millis(1_516_403_560_557));
    assert_eq!(
        parsed.skipped,
        vec![SkipReason::OwnEvent],
        "the brand's own DM"
    );
}

#[test]
fn every_fixture_submission_passes_core_validation() {
    let meta = [
        "messenger_text.json",
        "instagram_dm.json",
        "instagram_comment.json",
        "page_comment.json",
        "whatsapp_text.json",
        "whatsapp_interactive.json",
    ];
    let telegram = [
        "telegram_private.json",
        "telegram_group.json",
        "telegram_edited.json",
        "telegram_channel_post.json",
    ];
    let mut all = Vec::new();
    for name in meta {
        all.extend(parse_meta(&fixture(name)).unwrap().submissions);
    }
    for name in telegram {
        all.extend(parse_telegram(&fixture(name)).unwrap().submissions);
    }
    for name in ["x_mention.json", "x_dm.json"] {
        all.extend(parse_x(&fixture(name), None).unwrap().submissions);
    }
    assert_eq!(all.len(), 15);
    for s in all {
        s.validate().unwrap();
    }
}

#[test]
fn line_delivery_mixes_private_and_group_messages_and_counts_the_follow() {
    let parsed = firebreak_webhooks::parse_line(&fixture("line_text.json")).unwrap();
    assert_eq!(parsed.submissions.len(), 2);
    let user = &parsed.submissions[0];
    assert_eq!(user.channel, Channel::Line);
    assert_eq!(user.visibility, Visibility::Private);
    assert_eq!(user.external_id, "468789577898262530");
    assert_eq!(user.thread_id, "U4af4980629c0d1e2f3a4b5c6d7e8f901");
    assert_eq!(user.text, "Is my order part of the recall?");
    assert_eq!(user.sent_at, at_millis(1_764_235_200_000));
    let group = &parsed.submissions[1];
    assert_eq!(group.visibility, Visibility::Public);
    assert_eq!(group.thread_id, "Ca56f94637cc4347f90a25382909b24b9");
    assert_eq!(group.author.id, "U9bb04f22e1c0d1e2f3a4b5c6d7e8f902");
    assert_eq!(parsed.skipped, vec![SkipReason::Follow]);
}
