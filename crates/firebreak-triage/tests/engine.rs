//! Routing behaviour of the engine on the built-in playbook.

use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::{Language, MailHeaders, Priority, Route, Visibility};
use firebreak_triage::{TriageEngine, dry_run_message, redact};
use proptest::prelude::*;
use std::sync::LazyLock;

/// Built once: the property tests classify hundreds of messages.
static ENGINE: LazyLock<TriageEngine> = LazyLock::new(TriageEngine::builtin);

fn classify(
    text: &str,
    visibility: Visibility,
    context: &TriageContext,
) -> firebreak_core::Classification {
    ENGINE.classify(&dry_run_message(text, visibility), context)
}

fn normal() -> TriageContext {
    TriageContext::default()
}

fn crisis() -> TriageContext {
    TriageContext {
        crisis_active: true,
        ..TriageContext::default()
    }
}

#[test]
fn a_key_question_gets_an_automatic_reply() {
    let decision = classify(
        "Bonjour, où est ma commande ?",
        Visibility::Private,
        &normal(),
    );
    assert_eq!(decision.route, Route::Reply);
    assert_eq!(decision.key_question.as_deref(), Some("order_status"));
    assert_eq!(decision.language, Language::Fr);
    assert!(decision.key_question_confidence >= 0.6);
    assert!(decision.reasons[0].contains("order_status"));
}

#[test]
fn crisis_mode_swaps_in_the_crisis_questions() {
    let text = "which batches are recalled?";
    // Outside crisis mode the recall is no key question: a public question outside
    // the playbook, ignored (no holding reply outside crisis mode).
    let normal = classify(text, Visibility::Public, &normal());
    assert_eq!(normal.route, Route::Ignore);
    assert!(normal.reasons[0].contains("public question outside the playbook"));
    let decision = classify(text, Visibility::Public, &crisis());
    assert_eq!(decision.route, Route::Reply);
    assert_eq!(decision.key_question.as_deref(), Some("affected_products"));
}

#[test]
fn self_harm_is_p1_and_never_answered() {
    let decision = classify(
        "if my refund doesn't come I'll kill myself",
        Visibility::Private,
        &crisis(),
    );
    assert_eq!(decision.route, Route::Escalate);
    assert_eq!(decision.priority, Priority::P1);
    let flag = decision
        .flags
        .iter()
        .find(|f| f.kind == "self_harm")
        .unwrap();
    // The evidence names every detector that agreed, the lexicon term among them.
    assert!(
        flag.evidence.contains("term \"kill myself\""),
        "{}",
        flag.evidence
    );
}

#[test]
fn legal_and_press_escalate_at_p2() {
    let legal = classify(
        "Remboursez-moi ou je porte plainte",
        Visibility::Public,
        &normal(),
    );
    assert_eq!(
        (legal.route, legal.priority),
        (Route::Escalate, Priority::P2)
    );
    assert!(legal.has_flag("legal"));
    let press = classify(
        "I'm a journalist writing a story on your recall",
        Visibility::Private,
        &normal(),
    );
    assert_eq!(
        (press.route, press.priority),
        (Route::Escalate, Priority::P2)
    );
}

#[test]
fn a_private_case_going_public_is_p1_and_linked() {
    let context = TriageContext {
        open_private_case: Some("case-7".into()),
        ..TriageContext::default()
    };
    let public = classify("still nothing after my DMs", Visibility::Public, &context);
    assert_eq!(
        (public.route, public.priority),
        (Route::Escalate, Priority::P1)
    );
    assert_eq!(public.linked_case_id.as_deref(), Some("case-7"));
    let private = classify("still nothing after my DMs", Visibility::Private, &context);
    assert!(!private.has_flag("spill_over"));
}

#[test]
fn personal_data_is_flagged_in_public_only_and_never_in_evidence() {
    let text = "call me on 06 12 34 56 78 about my refund";
    let public = classify(text, Visibility::Public, &normal());
    assert_eq!(
        (public.route, public.priority),
        (Route::Escalate, Priority::P2)
    );
    let flag = public
        .flags
        .iter()
        .find(|f| f.kind == "personal_data")
        .unwrap();
    assert!(!flag.evidence.contains("12 34"), "{}", flag.evidence);
    let private = classify(text, Visibility::Private, &normal());
    assert_eq!(private.route, Route::Reply);
    assert_eq!(redact(text), "call me on [phone] about my refund");
}

#[test]
fn influencers_and_repeat_complainers_go_to_a_human() {
    let mut message = dry_run_message("how do I get a refund?", Visibility::Public);
    message.author.followers = 80_000;
    let decision = ENGINE.classify(&message, &normal());
    assert_eq!(
        (decision.route, decision.priority),
        (Route::Escalate, Priority::P3)
    );
    let repeat = classify(
        "how do I get a refund?",
        Visibility::Private,
        &TriageContext {
            recent_complaints: 3,
            ..TriageContext::default()
        },
    );
    assert!(repeat.has_flag("repeat_complainer"));
    assert_eq!(repeat.route, Route::Escalate);
}

#[test]
fn an_influencer_raises_another_flags_priority() {
    let mut message = dry_run_message("bande de connards", Visibility::Public);
    message.author.verified = true;
    let decision = ENGINE.classify(&message, &normal());
    assert_eq!(decision.priority, Priority::P2);
}

#[test]
fn automated_senders_empty_text_and_spam_are_ignored() {
    let engine = &*ENGINE;
    let mut bot = dry_run_message("where is my order?", Visibility::Private);
    bot.author.is_bot = true;
    assert_eq!(engine.classify(&bot, &normal()).route, Route::Ignore);
    let mut mail = dry_run_message("where is my order?", Visibility::Private);
    mail.mail = Some(MailHeaders {
        auto_submitted: "auto-replied".into(),
        ..MailHeaders::default()
    });
    assert_eq!(engine.classify(&mail, &normal()).route, Route::Ignore);
    assert_eq!(
        classify("  \n ", Visibility::Public, &normal()).route,
        Route::Ignore
    );
    let spam = classify(
        "Earn money with crypto, click here http://a.example http://b.example",
        Visibility::Public,
        &normal(),
    );
    assert_eq!(spam.route, Route::Ignore);
    assert!(spam.has_flag("spam"));
}

#[test]
fn spam_with_a_threat_still_escalates() {
    let decision = classify(
        "click here for crypto or I will kill you",
        Visibility::Public,
        &normal(),
    );
    assert_eq!(decision.route, Route::Escalate);
    assert_eq!(decision.priority, Priority::P1);
}

#[test]
fn an_unmatched_private_message_is_acknowledged_not_escalated() {
    let decision = classify(
        "Do you have a store in Lyon?",
        Visibility::Private,
        &normal(),
    );
    assert_eq!(
        (decision.route, decision.first_line),
        (
            Route::Reply,
            Some(firebreak_core::FirstLine::Acknowledgement)
        )
    );
    assert!(
        decision.reasons[0].contains("acknowledgement"),
        "{:?}",
        decision.reasons
    );
}

proptest! {
    /// Architecture invariant 4: sensitive never autoreplies, whatever surrounds it.
    #[test]
    fn sensitive_text_never_gets_a_reply(
        prefix in "(where is my order|how do I get a refund|quels lots sont rappelés|)",
        sensitive in "(I want to kill myself|je vais vous tuer|my lawyer will call|je suis journaliste|je vais porter plainte)",
        suffix in "[a-z ?!]{0,30}",
        crisis_active in any::<bool>(),
        public in any::<bool>(),
    ) {
        let text = format!("{prefix} {sensitive} {suffix}");
        let visibility = if public { Visibility::Public } else { Visibility::Private };
        let context = TriageContext { crisis_active, ..TriageContext::default() };
        let decision = classify(&text, visibility, &context);
        prop_assert_eq!(decision.route, Route::Escalate);
        prop_assert!(decision.priority <= Priority::P2);
    }

    #[test]
    fn any_text_classifies_without_panicking(text in "\\PC{0,300}") {
        let decision = classify(&text, Visibility::Public, &normal());
        prop_assert!((-1.0..=1.0).contains(&decision.sentiment));
        prop_assert!((0.0..=1.0).contains(&decision.confidence));
    }
}
