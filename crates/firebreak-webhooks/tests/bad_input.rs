//! Bad deliveries get a clear, safe error; unfamiliar but well-formed ones are
//! acknowledged and counted, so the platform stops retrying them.

use firebreak_core::ErrorCode;
use firebreak_core::FirebreakError;
use firebreak_webhooks::{ParseError, SkipReason, parse_line, parse_meta, parse_telegram, parse_x};

#[test]
fn invalid_utf8_is_its_own_error_for_every_parser() {
    let body = b"{\"object\":\"page\",\"entry\":[\xff\xfe]}";
    for result in [
        parse_meta(body),
        parse_telegram(body),
        parse_x(body, None),
        parse_line(body),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(err, ParseError::InvalidUtf8 { valid_up_to: 26 }),
            "{err:?}"
        );
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn garbage_json_is_a_400_with_a_location() {
    for body in [&b"not json at all"[..], b"{\"object\":", b"", b"[1,2,3]"] {
        let err = parse_meta(body).unwrap_err();
        assert!(matches!(err, ParseError::MalformedJson { .. }), "{err:?}");
        assert_eq!(err.http_status(), 400);
        assert_eq!(FirebreakError::from(err).code, ErrorCode::InvalidArgument);
    }
}

/// The one skip reason of a delivery whose only event broke the schema.
fn only_invalid(skipped: &[SkipReason]) -> &str {
    match skipped {
        [SkipReason::Invalid(why)] => why,
        other => panic!("expected one invalid event, got {other:?}"),
    }
}

#[test]
fn wrong_type_skips_that_event_naming_the_field_and_hiding_the_text() {
    let body = br#"{"object":"page","entry":[{"id":"1","messaging":[
        {"sender":{"id":"2"},"timestamp":"my refund please","message":{"mid":"m","text":"hi"}},
        {"sender":{"id":"3"},"timestamp":1,"message":{"mid":"m2","text":"still here"}}]}]}"#;
    let parsed = parse_meta(body).unwrap();
    assert_eq!(parsed.submissions.len(), 1, "the other event is kept");
    assert_eq!(parsed.submissions[0].text, "still here");
    let why = only_invalid(&parsed.skipped);
    assert!(why.contains("entry[0].messaging[0].timestamp"), "{why}");
    assert!(!why.contains("refund"), "message text leaked: {why}");
}

#[test]
fn error_inside_a_change_value_names_the_full_path() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
        {"field":"messages","value":{"messages":[{"from":"1","id":"w","type":"text","text":{"body":42}}]}}]}]}"#;
    let parsed = parse_meta(body).unwrap();
    let why = only_invalid(&parsed.skipped);
    assert!(
        why.contains("entry[0].changes[0].value.messages[0].text.body"),
        "{why}"
    );
}

#[test]
fn missing_required_field_is_named() {
    let parsed = parse_telegram(br#"{"update_id":1,"message":{"message_id":5,"date":1}}"#).unwrap();
    let why = only_invalid(&parsed.skipped);
    assert!(why.contains("missing field `chat`"), "{why}");
    assert!(why.contains("message"), "{why}");
}

#[test]
fn telegram_type_error_names_the_field() {
    let parsed = parse_telegram(
        br#"{"update_id":1,"message":{"message_id":"five","date":1,"chat":{"id":1,"type":"private"}}}"#,
    )
    .unwrap();
    assert!(only_invalid(&parsed.skipped).contains("message.message_id"));
}

#[test]
fn x_type_error_names_the_field() {
    let parsed = parse_x(
        br#"{"for_user_id":"1","tweet_create_events":[{"id_str":"2","user":{"followers_count":"lots"}}]}"#,
        None,
    )
    .unwrap();
    assert!(only_invalid(&parsed.skipped).contains("tweet_create_events[0].user.followers_count"));
}

#[test]
fn a_line_event_that_breaks_the_schema_is_skipped_alone() {
    let body = br#"{"destination":"U1","events":[
        {"type":"message","mode":"active","timestamp":"soon","webhookEventId":"01A",
         "source":{"type":"user","userId":"U2"},"message":{"id":"1","type":"text","text":"private words"}},
        {"type":"message","mode":"active","timestamp":1,"webhookEventId":"01B",
         "source":{"type":"user","userId":"U2"},"message":{"id":"2","type":"text","text":"kept"}}]}"#;
    let parsed = parse_line(body).unwrap();
    assert_eq!(parsed.submissions.len(), 1);
    assert_eq!(parsed.submissions[0].text, "kept");
    let why = only_invalid(&parsed.skipped);
    assert!(why.contains("events[0].timestamp"), "{why}");
    assert!(!why.contains("private"), "{why}");
}

#[test]
fn a_body_that_is_not_json_still_refuses_the_delivery() {
    for body in [&b"{\"update_id\": 1, \"message\": {"[..], b"[]", b"42"] {
        assert!(
            parse_telegram(body).is_err(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert!(parse_line(body).is_err());
    }
}

#[test]
fn unknown_meta_object_is_acknowledged_and_counted() {
    let parsed = parse_meta(br#"{"object":"permissions","entry":[{"id":"1"}]}"#).unwrap();
    assert!(parsed.submissions.is_empty());
    assert_eq!(
        parsed.skipped,
        vec![SkipReason::UnknownEvent("permissions".into())]
    );
}

#[test]
fn unknown_messaging_event_and_standby_are_counted() {
    let body = br#"{"object":"page","entry":[{"id":"1","time":1,
        "messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"optin":{"ref":"x"}}],
        "standby":[{"sender":{"id":"2"},"message":{"mid":"m","text":"hi"}}]}]}"#;
    let parsed = parse_meta(body).unwrap();
    assert!(parsed.submissions.is_empty());
    assert_eq!(parsed.skipped[0].as_str(), "unknown_event");
    assert_eq!(parsed.skipped[1], SkipReason::Standby);
}

#[test]
fn unknown_telegram_update_is_counted_by_its_key() {
    let parsed =
        parse_telegram(br#"{"update_id":9,"callback_query":{"id":"1","data":"x"}}"#).unwrap();
    assert!(parsed.submissions.is_empty());
    assert_eq!(
        parsed.skipped,
        vec![SkipReason::UnknownEvent("callback_query".into())]
    );
}

#[test]
fn x_other_activity_is_counted() {
    let body = br#"{"for_user_id":"1","favorite_events":[{"id":"a"}],
        "direct_message_mark_read_events":[{"created_timestamp":"1"}],
        "direct_message_events":[{"type":"message_delete","id":"3"}]}"#;
    let parsed = parse_x(body, None).unwrap();
    assert!(parsed.submissions.is_empty());
    let labels: Vec<&str> = parsed.skipped.iter().map(SkipReason::as_str).collect();
    assert_eq!(labels, ["unknown_event", "read", "unknown_event"]);
}

#[test]
fn retweets_are_skipped() {
    let body = br#"{"for_user_id":"1","tweet_create_events":[{"id_str":"5","text":"RT @brand: hi",
        "user":{"id_str":"9"},"retweeted_status":{"id_str":"4"}}]}"#;
    let parsed = parse_x(body, None).unwrap();
    assert_eq!(parsed.skipped, vec![SkipReason::Retweet]);
}

#[test]
fn oversized_text_skips_that_message_alone() {
    let long = "a".repeat(firebreak_core::message::limits::MAX_TEXT_BYTES + 1);
    let body = format!(
        r#"{{"object":"page","entry":[{{"id":"1","messaging":[
            {{"sender":{{"id":"2"}},"timestamp":1,"message":{{"mid":"m1","text":"{long}"}}}},
            {{"sender":{{"id":"2"}},"timestamp":2,"message":{{"mid":"m2","text":"short"}}}}]}}]}}"#
    );
    let parsed = parse_meta(body.as_bytes()).unwrap();
    assert_eq!(parsed.submissions.len(), 1);
    assert_eq!(parsed.submissions[0].external_id, "m2");
    assert_eq!(parsed.skipped[0].as_str(), "invalid");
}

#[test]
fn trailing_garbage_after_the_document_is_malformed() {
    let err = parse_telegram(br#"{"update_id":1} trailing"#).unwrap_err();
    assert!(matches!(err, ParseError::MalformedJson { .. }));
}
