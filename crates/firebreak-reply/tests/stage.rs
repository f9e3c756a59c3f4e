//! The reply stage on the embedded adapters: what gets answered, what is deferred,
//! ignored or escalated, and that a redelivery never answers twice.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, BusError, ConsumerOptions, Delivery, DeliveryAcker};
use firebreak_connectors::{Connector, DryRunConnector};
use firebreak_core::wire::encode_classified;
use firebreak_core::{
    Author, Channel, Classification, Language, MailHeaders, Message, MessageId, Outcome, Priority,
    Route, Stage, Visibility, subjects,
};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_pipeline::worker::{HandleError, Handler};
use firebreak_reply::{
    Claim, ClaimState, Ledger, MemoryReplyState, ReplyConfig, ReplyEngine, ReplyStage,
};
use firebreak_store::MessageLog;
use firebreak_store::memory::MemoryStore;
use firebreak_telemetry::Metrics;
use firebreak_triage::{Playbook, TriageEngine};
use time::OffsetDateTime;

struct NoAck;

#[async_trait]
impl DeliveryAcker for NoAck {
    async fn ack(&self) -> Result<(), BusError> {
        Ok(())
    }
    async fn nak(&self, _: Option<Duration>) -> Result<(), BusError> {
        Ok(())
    }
    async fn term(&self) -> Result<(), BusError> {
        Ok(())
    }
    async fn progress(&self) -> Result<(), BusError> {
        Ok(())
    }
}

struct Fixture {
    stage: ReplyStage,
    state: Arc<MemoryReplyState>,
    log: Arc<MemoryStore>,
    bus: Arc<MemoryBus>,
    sent: Arc<DryRunConnector>,
}

fn fixture(brand: &[&str]) -> Fixture {
    let state = Arc::new(MemoryReplyState::new());
    let log = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let sent = Arc::new(DryRunConnector::new(100));
    let settings = LiveSettings::new(TriageEngine::new(Playbook::builtin()));
    let config = ReplyConfig::new(
        brand.iter().map(|s| s.to_string()).collect(),
        Duration::from_secs(30),
    );
    let engine = Arc::new(ReplyEngine::new(state.clone(), settings, config));
    let stage = ReplyStage {
        engine,
        bus: bus.clone(),
        log: log.clone(),
        connector: sent.clone() as Arc<dyn Connector>,
        metrics: Metrics::new(),
    };
    Fixture {
        stage,
        state,
        log,
        bus,
        sent,
    }
}

fn message(external_id: &str, channel: Channel, visibility: Visibility) -> Message {
    let now = OffsetDateTime::now_utc();
    Message {
        id: MessageId::derive(channel, external_id),
        channel,
        external_id: external_id.into(),
        thread_id: format!("thread-{external_id}"),
        visibility,
        author: Author {
            id: format!("user-{external_id}"),
            handle: "jane_d".into(),
            name: "Jane Doe".into(),
            ..Author::default()
        },
        text: "Where is my refund? mail me at jane.doe@example.com or +33 6 12 34 56 78".into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: now,
        received_at: now,
        mail: None,
        edit_of: None,
    }
}

fn refund() -> Classification {
    Classification {
        language: Language::En,
        language_confidence: 1.0,
        sentiment: 0.0,
        route: Route::Reply,
        priority: Priority::P4,
        key_question: Some("refund".into()),
        key_question_confidence: 1.0,
        flags: Vec::new(),
        reasons: Vec::new(),
        confidence: 1.0,
        linked_case_id: None,
        playbook_version: String::new(),
        first_line: None,
    }
}

impl Fixture {
    async fn handle(&self, message: &Message, delivered: u64) -> Result<(), HandleError> {
        self.log.record_accepted(message).await.unwrap();
        let delivery = Delivery {
            subject: subjects::reply(message.channel),
            payload: encode_classified(message, &refund()).into(),
            headers: Vec::new(),
            delivered,
            stream_sequence: 1,
            acker: Box::new(NoAck),
        };
        self.stage.handle(&delivery).await
    }

    /// Handles a message like the worker would, waiting out deferrals.
    async fn settle(&self, message: &Message) {
        for delivered in 1..50 {
            match self.handle(message, delivered).await {
                Ok(()) => return,
                Err(HandleError::Retry {
                    delay: Some(delay), ..
                }) => tokio::time::sleep(delay).await,
                Err(other) => panic!("{other:?}"),
            }
        }
        panic!("never settled");
    }

    async fn outcome(&self, message: &Message) -> Option<Outcome> {
        self.log
            .get(message.id)
            .await
            .unwrap()
            .and_then(|r| r.outcome)
    }

    async fn escalated(&self) -> usize {
        self.bus
            .stream_len(subjects::STREAM_ESCALATE)
            .await
            .unwrap() as usize
    }
}

#[tokio::test]
async fn a_key_question_is_answered_once_without_echoing_personal_data() {
    let f = fixture(&[]);
    let m = message("1", Channel::Telegram, Visibility::Private);
    f.handle(&m, 1).await.unwrap();
    let sent = f.sent.sent();
    assert_eq!(sent.len(), 1);
    let text = &sent[0].text;
    assert!(text.contains("refund"), "{text}");
    assert!(text.contains("@jane_d") || text.contains("Jane"), "{text}");
    for personal in ["jane.doe@example.com", "12 34 56", "+33"] {
        assert!(!text.contains(personal), "echoed {personal}: {text}");
    }
    assert!(matches!(f.outcome(&m).await, Some(Outcome::Replied { .. })));

    // A redelivery (after the ack was lost) sends nothing more.
    f.handle(&m, 2).await.unwrap();
    assert_eq!(f.sent.sent().len(), 1);
}

#[tokio::test]
async fn personal_data_in_the_author_name_is_not_echoed() {
    let f = fixture(&[]);
    let mut m = message("2", Channel::Telegram, Visibility::Private);
    m.author.handle = String::new();
    m.author.name = "jane.doe@example.com +33 6 12 34 56 78".into();
    f.handle(&m, 1).await.unwrap();
    let text = &f.sent.sent()[0].text;
    assert!(
        !text.contains("jane.doe") && !text.contains("12 34"),
        "{text}"
    );
    assert!(text.starts_with("Hi,"), "{text}");
}

#[tokio::test]
async fn bots_brand_accounts_and_bulk_mail_are_ignored() {
    let f = fixture(&["telegram:brand-1"]);
    let mut bot = message("3", Channel::Telegram, Visibility::Public);
    bot.author.is_bot = true;
    let mut brand = message("4", Channel::Telegram, Visibility::Public);
    brand.author.id = "brand-1".into();
    let mut bulk = message("5", Channel::Email, Visibility::Private);
    bulk.mail = Some(MailHeaders {
        precedence: "bulk".into(),
        ..MailHeaders::default()
    });
    for m in [&bot, &brand, &bulk] {
        f.handle(m, 1).await.unwrap();
        assert!(
            matches!(f.outcome(m).await, Some(Outcome::Ignored { .. })),
            "{:?}",
            f.outcome(m).await
        );
    }
    assert!(f.sent.sent().is_empty());
}

#[tokio::test]
async fn a_private_message_past_the_24_hour_window_is_escalated() {
    let f = fixture(&[]);
    let mut late = message("6", Channel::Messenger, Visibility::Private);
    late.sent_at = OffsetDateTime::now_utc() - time::Duration::hours(25);
    f.handle(&late, 1).await.unwrap();
    assert_eq!(f.escalated().await, 1);
    assert!(f.sent.sent().is_empty());
    // The same age on Telegram has no such window.
    let mut telegram = message("7", Channel::Telegram, Visibility::Private);
    telegram.sent_at = late.sent_at;
    f.settle(&telegram).await;
    assert_eq!(f.sent.sent().len(), 1);
}

#[tokio::test]
async fn a_thread_past_its_cap_goes_to_a_human_and_never_repeats_a_variant() {
    let f = fixture(&[]);
    // The built-in playbook caps a thread at 2 automatic replies.
    let mut variants = Vec::new();
    for n in 0..3 {
        let mut m = message(&format!("t{n}"), Channel::Telegram, Visibility::Public);
        m.thread_id = "one-thread".into();
        f.settle(&m).await;
        if let Some(Outcome::Replied { variant, .. }) = f.outcome(&m).await {
            variants.push(variant);
        }
    }
    assert_eq!(variants.len(), 2);
    assert_ne!(variants[0], variants[1]);
    assert_eq!(f.escalated().await, 1);
}

#[tokio::test]
async fn one_author_gets_one_reply_per_question_and_cooldown() {
    let f = fixture(&[]);
    let first = message("a1", Channel::Telegram, Visibility::Public);
    let mut second = message("a2", Channel::Telegram, Visibility::Public);
    second.author = first.author.clone();
    f.settle(&first).await;
    f.settle(&second).await;
    assert_eq!(f.sent.sent().len(), 1);
    assert!(matches!(
        f.outcome(&second).await,
        Some(Outcome::Ignored { .. })
    ));
}

#[tokio::test]
async fn over_budget_is_deferred_with_a_delay_and_recorded() {
    let f = fixture(&[]);
    // The built-in X budget is 0.15 replies/s: the second reply must wait.
    let first = message("x1", Channel::X, Visibility::Public);
    let second = message("x2", Channel::X, Visibility::Public);
    f.handle(&first, 1).await.unwrap();
    let deferred = f.handle(&second, 1).await;
    match deferred {
        Err(HandleError::Retry {
            delay: Some(delay), ..
        }) => {
            assert!(delay > Duration::from_secs(1), "{delay:?}")
        }
        other => panic!("expected a deferral, got {other:?}"),
    }
    let record = f.log.get(second.id).await.unwrap().unwrap();
    assert!(record.outcome.is_none());
    assert!(record.history.iter().any(|h| h.stage == Stage::Deferred));
    // Many deferrals never count as failures: the stage keeps deferring, it does not
    // give up and dead-letter the message.
    for delivered in 2..20 {
        assert!(matches!(
            f.handle(&second, delivered).await,
            Err(HandleError::Retry { delay: Some(_), .. })
        ));
    }
    assert_eq!(f.sent.sent().len(), 1);
}

#[tokio::test]
async fn a_short_budget_wait_is_slept_in_the_worker_not_deferred() {
    let f = fixture(&[]);
    // The built-in Facebook budget is 10 replies/s: back to back, the second reply
    // waits about a tenth of a second for its turn, in the worker, and is sent.
    let first = message("fb1", Channel::Facebook, Visibility::Public);
    let second = message("fb2", Channel::Facebook, Visibility::Public);
    f.handle(&first, 1).await.unwrap();
    let started = std::time::Instant::now();
    f.handle(&second, 1).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.sent.sent().len(), 2);
    let record = f.log.get(second.id).await.unwrap().unwrap();
    assert!(matches!(record.outcome, Some(Outcome::Replied { .. })));
    assert!(record.history.iter().all(|h| h.stage != Stage::Deferred));
    // The wait still shows as budget pressure, without a deferral.
    let metrics = f.stage.metrics.render_text();
    assert!(
        metrics.contains(r#"firebreak_reply_budget_waits_total{channel="facebook"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"firebreak_reply_deferrals_total{channel="facebook"} 0"#));
}

#[tokio::test]
async fn a_claim_left_by_a_crash_is_escalated_not_sent_again() {
    let f = fixture(&[]);
    let m = message("c1", Channel::Telegram, Visibility::Private);
    // A worker claimed the reply a minute ago and died before recording the result.
    let claim = Claim {
        state: ClaimState::Sending,
        variant: "refund.en.0".into(),
        text: "hello".into(),
        claimed_at_ms: 0,
        connector: String::new(),
    };
    f.state.claim(&m.id.to_string(), &claim).await.unwrap();
    f.state.advance_clock(Duration::from_secs(60));
    f.handle(&m, 2).await.unwrap();
    assert!(
        f.sent.sent().is_empty(),
        "dry-run does not deduplicate: at most once"
    );
    assert_eq!(f.escalated().await, 1);
}

#[tokio::test]
async fn a_claim_within_its_lease_by_the_ledgers_clock_waits_for_its_sender() {
    let f = fixture(&[]);
    let m = message("c3", Channel::Telegram, Visibility::Private);
    // The claiming replica's clock is an hour behind; the ledger stamps its own time.
    let claim = Claim {
        state: ClaimState::Sending,
        variant: "refund.en.0".into(),
        text: "hello".into(),
        claimed_at_ms: (OffsetDateTime::now_utc().unix_timestamp() as u64 - 3600) * 1000,
        connector: String::new(),
    };
    f.state.claim(&m.id.to_string(), &claim).await.unwrap();
    assert!(
        matches!(
            f.handle(&m, 2).await,
            Err(HandleError::Retry { delay: Some(_), .. })
        ),
        "deferred while its sender may still be sending"
    );
    assert!(f.sent.sent().is_empty());
    assert_eq!(f.escalated().await, 0, "not taken for a crash");
}

#[tokio::test]
async fn a_reply_sent_before_a_crash_is_recorded_on_redelivery() {
    let f = fixture(&[]);
    let m = message("c2", Channel::Telegram, Visibility::Private);
    let claim = Claim {
        state: ClaimState::Sent,
        variant: "refund.en.1".into(),
        text: "hello".into(),
        claimed_at_ms: 0,
        connector: "telegram".into(),
    };
    f.state.claim(&m.id.to_string(), &claim).await.unwrap();
    f.handle(&m, 2).await.unwrap();
    assert!(f.sent.sent().is_empty());
    assert!(
        matches!(f.outcome(&m).await, Some(Outcome::Replied { variant, .. }) if variant == "refund.en.1")
    );
}

#[tokio::test]
async fn the_reply_consumer_never_dead_letters_a_deferred_message() {
    let config = ReplyConfig::default();
    let worker = config.worker_config();
    assert!(worker.consumer.max_deliver > 10_000);
    assert!(worker.max_attempts > 10_000);
    assert_eq!(worker.stream, subjects::STREAM_REPLY);
    let _ = ConsumerOptions::default();
}

/// The stage reserves with its first read, under the settings of that moment; if the
/// message then stops before using the reservation (a playbook or crisis swapped in
/// between turns it away), what it holds is freed, so the author's next message is not
/// told "already answered".
#[tokio::test]
async fn a_reservation_the_message_does_not_use_is_freed() {
    use firebreak_reply::{Budget, Decision, Reserved};
    let f = fixture(&[]);
    let now = OffsetDateTime::now_utc();
    let first = message("held-1", Channel::Messenger, Visibility::Private);
    let reservation = f
        .stage
        .engine
        .reservation(&first, &refund(), now)
        .expect("a refund question reserves");
    let reserved = f.state.reserve_both(&reservation.reserve()).await.unwrap();
    assert_eq!(reserved, Reserved::Both);
    // What the decision sees: the message no longer goes to an automatic reply.
    let mut stopped = refund();
    stopped.route = Route::Escalate;
    let decision = f
        .stage
        .engine
        .decide_with(&first, &stopped, now, None, Some(reserved))
        .await
        .unwrap();
    assert!(matches!(decision, Decision::Escalate(_)), "{decision:?}");
    // The same author asks again on the same thread: nothing of the first is held.
    let mut again = message("held-2", Channel::Messenger, Visibility::Private);
    again.author.id = first.author.id.clone();
    again.thread_id = first.thread_id.clone();
    let next = f
        .stage
        .engine
        .reservation(&again, &refund(), now)
        .expect("a refund question reserves");
    assert_eq!(
        f.state.reserve_both(&next.reserve()).await.unwrap(),
        Reserved::Both
    );
}
