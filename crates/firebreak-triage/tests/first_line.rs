//! The first line on the built-in playbook: what is neither sensitive nor a key
//! question is acknowledged, held or ignored with a reason, and only what needs a person
//! reaches one.

use std::sync::LazyLock;

use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::{Classification, FirstLine, Priority, Route, Visibility};
use firebreak_triage::{TriageEngine, dry_run_message, is_complaint};

static ENGINE: LazyLock<TriageEngine> = LazyLock::new(TriageEngine::builtin);

fn classify(text: &str, visibility: Visibility, context: &TriageContext) -> Classification {
    ENGINE.classify(&dry_run_message(text, visibility), context)
}

fn crisis() -> TriageContext {
    TriageContext {
        crisis_active: true,
        ..TriageContext::default()
    }
}

fn after_acknowledgement(messages: u32) -> TriageContext {
    TriageContext {
        recent_first_line: messages,
        ..TriageContext::default()
    }
}

#[test]
fn public_venting_is_ignored_with_a_reason_and_still_counts_as_a_complaint() {
    for text in [
        "you knew for weeks and said nothing, shameful",
        "plus jamais j'achète vos biscuits, c'est fini",
        "bravo la com, on l'apprend par la télé 👏",
    ] {
        let d = classify(text, Visibility::Public, &crisis());
        assert_eq!(d.route, Route::Ignore, "{text}: {:?}", d.reasons);
        assert!(
            d.reasons[0].contains("without risk"),
            "{text}: {:?}",
            d.reasons
        );
    }
    let d = classify(
        "absolutely disgusting, you hid the recall for weeks, shame on you",
        Visibility::Public,
        &crisis(),
    );
    assert_eq!(d.route, Route::Ignore, "{:?}", d.reasons);
    assert!(
        is_complaint(&d),
        "venting counts towards the repeat-complainer window: {}",
        d.sentiment
    );
}

#[test]
fn hostile_words_alone_do_not_open_a_case_but_stay_as_evidence() {
    let d = classify(
        "bande de connards, rendez l'argent",
        Visibility::Public,
        &crisis(),
    );
    assert_ne!(d.route, Route::Escalate, "{:?}", d.reasons);
    assert!(d.has_flag("hostility"), "{:?}", d.flags);
}

#[test]
fn public_questions_outside_the_playbook_are_held_in_crisis_and_ignored_otherwise() {
    let text = "are you hiring at the factory?";
    let held = classify(text, Visibility::Public, &crisis());
    assert_eq!(
        (held.route, held.first_line),
        (Route::Reply, Some(FirstLine::Holding))
    );
    let ignored = classify(text, Visibility::Public, &TriageContext::default());
    assert_eq!(ignored.route, Route::Ignore);
    assert!(
        ignored.reasons[0].contains("no holding reply"),
        "{:?}",
        ignored.reasons
    );
}

#[test]
fn a_private_message_not_understood_is_acknowledged_then_counted_then_escalated() {
    let text = "bonjour, vous faites aussi des gâteaux sans gluten ?";
    let first = classify(text, Visibility::Private, &after_acknowledgement(0));
    assert_eq!(
        (first.route, first.first_line),
        (Route::Reply, Some(FirstLine::Acknowledgement))
    );
    assert_eq!(first.priority, Priority::P4);
    let second = classify(text, Visibility::Private, &after_acknowledgement(1));
    assert_eq!(second.route, Route::Ignore);
    assert!(
        second.reasons[0].starts_with("already acknowledged"),
        "{:?}",
        second.reasons
    );
    assert!(firebreak_triage::first_line::counts_towards_human(&second));
    // The acknowledgement and two more: the fourth message reaches a person.
    let fourth = classify(text, Visibility::Private, &after_acknowledgement(3));
    assert_eq!(
        (fourth.route, fourth.priority),
        (Route::Escalate, Priority::P3)
    );
    assert!(
        fourth.reasons[0].contains("since the acknowledgement"),
        "{:?}",
        fourth.reasons
    );
}

#[test]
fn explicit_requests_for_a_human_open_a_case() {
    for text in [
        "je veux parler à quelqu'un",
        "real person please",
        "can I talk to an actual human?",
        "passez-moi un conseiller svp",
        "arrêtez avec vos réponses automatiques",
    ] {
        let d = classify(text, Visibility::Private, &TriageContext::default());
        assert_eq!(d.route, Route::Escalate, "{text}: {:?}", d.reasons);
        assert!(d.has_flag("human_request"), "{text}: {:?}", d.flags);
    }
    // A complaint that nobody answers is not a request.
    let d = classify(
        "personne ne répond jamais chez vous",
        Visibility::Public,
        &crisis(),
    );
    assert!(!d.has_flag("human_request"), "{:?}", d.flags);
}

#[test]
fn a_long_specific_private_message_goes_to_a_person() {
    let text = "Bonjour, ma commande n°48213 du 12/03 (59,90 €) est arrivée avec deux boîtes \
                écrasées et il manque le coffret de palets. J'ai été débitée deux fois sur ma \
                carte. Pouvez-vous rembourser le doublon et renvoyer le coffret au 12 rue des Lilas ?";
    let d = classify(text, Visibility::Private, &TriageContext::default());
    assert_eq!(d.route, Route::Escalate, "{:?}", d.reasons);
}

#[test]
fn noise_is_ignored_with_the_reason() {
    for text in [
        "a",
        "😡😡😡",
        &"a".repeat(5000),
        "!!!",
        "Wo finde ich Ihre Filiale in Berlin? Ich möchte dort einkaufen.",
    ] {
        let d = classify(text, Visibility::Private, &TriageContext::default());
        assert_eq!(d.route, Route::Ignore, "{text:.40}: {:?}", d.reasons);
        assert!(
            d.reasons[0].starts_with("noise"),
            "{text:.40}: {:?}",
            d.reasons
        );
        assert!(!is_complaint(&d));
    }
}

#[test]
fn an_influencer_venting_reaches_a_person() {
    let mut message = dry_run_message(
        "you knew for weeks and said nothing, shameful",
        Visibility::Public,
    );
    message.author.followers = 250_000;
    let d = ENGINE.classify(&message, &crisis());
    assert_eq!(d.route, Route::Escalate);
    assert!(d.has_flag("influencer"));
}

#[test]
fn threats_in_a_refund_request_are_never_answered() {
    let d = classify(
        "ça va finir en bain de sang si vous ne remboursez pas",
        Visibility::Public,
        &crisis(),
    );
    assert_eq!(
        (d.route, d.priority),
        (Route::Escalate, Priority::P1),
        "{:?}",
        d.reasons
    );
    let veiled = classify("ça va mal finir pour vous", Visibility::Private, &crisis());
    assert_eq!(
        (veiled.route, veiled.priority),
        (Route::Escalate, Priority::P2),
        "{:?}",
        veiled.reasons
    );
    assert!(veiled.has_flag("threat"));
}

#[test]
fn low_confidence_private_key_questions_follow_the_playbook() {
    let yaml = firebreak_triage::playbook::BUILTIN_YAML.replace(
        "  low_confidence_private: acknowledge\n  low_confidence_floor: 0.45",
        "  low_confidence_private: escalate\n  low_confidence_floor: 0.2",
    );
    let engine = TriageEngine::new(firebreak_triage::Playbook::load(&yaml).unwrap());
    // 0.50 for order_status: between the floor and the 0.60 threshold.
    let message = dry_run_message("any news about the delivery", Visibility::Private);
    let d = engine.classify(&message, &TriageContext::default());
    assert_eq!(d.key_question, None, "{:?}", d.reasons);
    assert_eq!(d.route, Route::Escalate, "{:?}", d.reasons);
    assert!(
        d.reasons[0].contains("low-confidence key question order_status"),
        "{:?}",
        d.reasons
    );
    // The built-in playbook acknowledges the same message instead.
    let d = ENGINE.classify(&message, &TriageContext::default());
    assert_eq!(
        d.first_line,
        Some(FirstLine::Acknowledgement),
        "{:?}",
        d.reasons
    );
}
