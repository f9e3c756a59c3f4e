use super::*;

fn sample() -> Message {
    Submission {
        channel: Channel::Telegram,
        external_id: "42".into(),
        thread_id: "chat-7".into(),
        visibility: Visibility::Private,
        author: Author {
            id: "u1".into(),
            handle: "jane".into(),
            ..Default::default()
        },
        text: "où est mon remboursement ?".into(),
        language_hint: "fr".into(),
        attachments: vec![],
        sent_at: None,
        mail: None,
        edit_of: None,
    }
    .into_message(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap())
    .unwrap()
}

fn submission() -> Submission {
    Submission {
        channel: Channel::Telegram,
        external_id: "42".into(),
        thread_id: "chat-7".into(),
        visibility: Visibility::Private,
        author: Author {
            id: "u1".into(),
            ..Default::default()
        },
        text: "hello".into(),
        language_hint: String::new(),
        attachments: vec![],
        sent_at: None,
        mail: None,
        edit_of: None,
    }
}

#[test]
fn every_outside_field_has_a_limit_named_without_its_value() {
    let long = |n: usize| "é".repeat(n / 2 + 1);
    type Spoil = Box<dyn Fn(&mut Submission)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "author.name",
            Box::new(move |s| s.author.name = long(limits::MAX_NAME_BYTES)),
        ),
        (
            "author.handle",
            Box::new(move |s| s.author.handle = long(limits::MAX_HANDLE_BYTES)),
        ),
        (
            "language_hint",
            Box::new(move |s| s.language_hint = long(limits::MAX_LANGUAGE_HINT_BYTES)),
        ),
        (
            "attachments",
            Box::new(|s| {
                let one = Attachment {
                    kind: "image".into(),
                    url: "u".into(),
                };
                s.attachments = vec![one; limits::MAX_ATTACHMENTS + 1]
            }),
        ),
        (
            "attachments[0].url",
            Box::new(move |s| {
                s.attachments = vec![Attachment {
                    kind: "image".into(),
                    url: long(limits::MAX_ATTACHMENT_URL_BYTES),
                }]
            }),
        ),
        (
            "mail.precedence",
            Box::new(move |s| {
                s.mail = Some(MailHeaders {
                    precedence: long(limits::MAX_MAIL_HEADER_BYTES),
                    ..Default::default()
                })
            }),
        ),
        (
            "edit_of",
            Box::new(move |s| s.edit_of = Some(long(limits::MAX_ID_BYTES))),
        ),
    ];
    for (field, spoil) in cases {
        let mut s = submission();
        spoil(&mut s);
        let err = s.validate().unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::InvalidArgument);
        assert!(err.message.starts_with(field), "{field}: {}", err.message);
        assert!(!err.message.contains("éé"), "{}", err.message);
    }
    assert!(submission().validate().is_ok());
}

#[test]
fn the_grpc_conversion_applies_the_same_limits() {
    let m = pb::SubmitMessage {
        channel: pb::Channel::Telegram as i32,
        external_id: "1".into(),
        thread_id: "t".into(),
        visibility: pb::Visibility::Private as i32,
        author: Some(pb::Author {
            id: "u".into(),
            name: "n".repeat(200 * 1024),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = Submission::try_from(m).unwrap_err();
    assert!(err.message.starts_with("author.name"), "{}", err.message);
}

#[test]
fn a_resolution_note_or_reply_over_the_limit_is_refused_from_either_side() {
    let long = "n".repeat(limits::MAX_NOTE_BYTES + 1);
    let err = Resolution::new(long.clone(), None).unwrap_err();
    assert!(err.message.starts_with("note"), "{}", err.message);
    let err = Resolution::try_from(pb::ResolveRequest {
        id: "c".into(),
        note: "ok".into(),
        reply: long,
    })
    .unwrap_err();
    assert!(err.message.starts_with("reply"), "{}", err.message);
    let fine = Resolution::new("done".into(), Some(String::new())).unwrap();
    assert_eq!(fine.reply, None);
}

#[test]
fn message_round_trips_through_the_bus_encoding() {
    let m = sample();
    assert_eq!(decode_message(&encode_message(&m)).unwrap(), m);
}

#[test]
fn garbage_on_the_bus_is_an_error_not_a_panic() {
    assert!(decode_message(b"\xff\xff\xffnot protobuf").is_err());
    assert!(decode_classified(&[0x0a, 0x02, 0xff]).is_err());
}

#[test]
fn same_platform_message_gets_same_id() {
    assert_eq!(
        MessageId::derive(Channel::X, "1"),
        MessageId::derive(Channel::X, "1")
    );
    assert_ne!(
        MessageId::derive(Channel::X, "1"),
        MessageId::derive(Channel::Telegram, "1")
    );
}

proptest::proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = decode_message(&bytes);
        let _ = decode_classified(&bytes);
    }
}

#[test]
fn every_channel_round_trips_through_the_wire_enum_and_its_name() {
    for channel in Channel::ALL {
        assert_eq!(
            channel_from_pb(channel_to_pb(channel) as i32),
            Some(channel)
        );
        assert_eq!(Channel::parse(channel.as_str()), Some(channel));
    }
    assert_eq!(Channel::parse("line"), Some(Channel::Line));
    assert_eq!(channel_to_pb(Channel::Line) as i32, 9);
}

#[test]
fn a_line_reply_token_is_found_among_the_attachments() {
    use crate::Attachment;
    let attachments = [
        Attachment {
            kind: "image".into(),
            url: "line-content:1".into(),
        },
        Attachment {
            kind: Attachment::REPLY_TOKEN_KIND.into(),
            url: format!("{}abc123", Attachment::LINE_REPLY_TOKEN_SCHEME),
        },
    ];
    assert_eq!(Attachment::line_reply_token(&attachments), Some("abc123"));
    assert_eq!(Attachment::line_reply_token(&attachments[..1]), None);
}
