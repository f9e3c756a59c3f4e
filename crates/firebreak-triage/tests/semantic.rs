//! Triage by meaning: the phrasings the lexicons of the first engine missed, figures of
//! speech that must stay calm, cross-lingual key questions, and the evidence a moderator
//! reads. These are the issue's own examples; the held-out figures are in the README.

use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::{Classification, Language, Priority, Route, Visibility};
use firebreak_triage::{Playbook, TriageEngine, dry_run_message};
use std::sync::LazyLock;

static ENGINE: LazyLock<TriageEngine> = LazyLock::new(TriageEngine::builtin);

fn classify(text: &str) -> Classification {
    ENGINE.classify(
        &dry_run_message(text, Visibility::Private),
        &TriageContext::default(),
    )
}

fn flagged(decision: &Classification, kind: &str) -> bool {
    decision.flags.iter().any(|f| f.kind == kind)
}

#[test]
fn self_harm_in_everyday_words_is_p1() {
    for text in [
        "I took all my pills an hour ago",
        "j'ai avalé toutes mes pilules",
        "thinking about ending it all tonight tbh",
        "je veux disparaître pour de bon",
    ] {
        let d = classify(text);
        assert!(
            flagged(&d, "self_harm") && d.priority == Priority::P1,
            "{text:?}: {:?}",
            d.reasons
        );
        assert_eq!(d.route, Route::Escalate);
    }
}

#[test]
fn threats_in_everyday_words_are_p1_and_never_answered() {
    for text in [
        "Je vais mettre le feu à votre agence",
        "on arrive armés demain devant le siège",
        "ça va finir en bain de sang si vous ne remboursez pas",
    ] {
        let d = classify(text);
        assert!(
            flagged(&d, "threat") && d.priority == Priority::P1,
            "{text:?}: {:?}",
            d.reasons
        );
        assert_eq!(
            d.route,
            Route::Escalate,
            "{text:?} must not be auto-replied"
        );
    }
}

#[test]
fn a_health_incident_with_a_child_is_p1() {
    let d = classify("my child got sick after eating your product");
    assert!(flagged(&d, "health_incident"), "{:?}", d.reasons);
    assert_eq!(d.priority, Priority::P1, "{:?}", d.reasons);
    let adult = classify("I was sick all night after eating your lasagna");
    assert!(flagged(&adult, "health_incident"), "{:?}", adult.reasons);
    assert_eq!(adult.priority, Priority::P2, "{:?}", adult.reasons);
}

#[test]
fn figures_of_speech_do_not_reach_p1() {
    for text in [
        "this burger is killer",
        "je meurs de rire 😂",
        "shoot me an email when it ships",
        "I'd kill for a refund lol",
    ] {
        let d = classify(text);
        assert_ne!(d.priority, Priority::P1, "{text:?}: {:?}", d.reasons);
    }
}

#[test]
fn a_short_french_order_question_is_answered() {
    let d = classify("Il est où mon colis ???");
    assert_eq!(d.route, Route::Reply, "{:?}", d.reasons);
    assert_eq!(d.key_question.as_deref(), Some("order_status"));
    assert_eq!(d.language, Language::Fr);
}

#[test]
fn detector_reasons_name_the_detector_its_score_and_evidence() {
    let d = classify("thinking about ending it all tonight tbh");
    let reason = d
        .reasons
        .iter()
        .find(|r| r.starts_with("self_harm"))
        .expect("a self_harm reason");
    assert!(
        reason.contains("pattern") || reason.contains("term") || reason.contains("model"),
        "{reason}"
    );
    let flag = d.flags.iter().find(|f| f.kind == "self_harm").unwrap();
    assert!(flag.score > 0.0 && flag.score <= 1.0);
}

#[test]
fn the_second_stage_decides_what_no_term_or_pattern_catches() {
    // No lexicon term, no phrase family: the fast path finds a threat plausible and the
    // exact network confirms it, so the moderator sees both scores and an example.
    let d = classify("the last thing your manager will see is my face");
    assert_eq!(d.priority, Priority::P1, "{:?}", d.reasons);
    let threat = d.flags.iter().find(|f| f.kind == "threat").expect("threat");
    assert!(
        threat.evidence.contains("exact model"),
        "{}",
        threat.evidence
    );
    assert!(
        threat.evidence.contains("nearest example"),
        "{}",
        threat.evidence
    );
    // An everyday message the fast path finds faintly alarming is read again and
    // cleared: no flag, and the key question is answered.
    let d = classify(
        "Bonjour, ça fait maintenant trois semaines que j'attends ma commande et toujours \
         rien, le suivi ne bouge plus depuis le dépôt. Je commence vraiment à perdre \
         patience, est-ce que quelqu'un peut enfin me dire où est mon colis ?",
    );
    assert!(d.flags.is_empty(), "{:?}", d.reasons);
    assert_eq!(d.key_question.as_deref(), Some("order_status"));
}

#[test]
fn a_lone_term_in_a_report_of_what_happened_is_read_at_p2_not_p1() {
    // The exact network reads the sentence: news and other people's tragedies name the
    // act without intending it. A person still reads them, at P2.
    for (text, kind) in [
        (
            "Someone got stabbed near your shop on High St last night, is the store open today or closed for the police?",
            "threat",
        ),
        (
            "I watched your founder's interview about his brother's suicide, really moving. Please do better for your own staff's mental health",
            "self_harm",
        ),
    ] {
        let d = classify(text);
        assert!(flagged(&d, kind), "{text:?}: {:?}", d.reasons);
        assert_eq!(d.priority, Priority::P2, "{text:?}: {:?}", d.reasons);
        assert_eq!(d.route, Route::Escalate);
    }
    // The same term with intent stays P1.
    let d = classify("I'm going to stab your manager when he leaves tonight");
    assert!(
        flagged(&d, "threat") && d.priority == Priority::P1,
        "{:?}",
        d.reasons
    );
}

#[test]
fn a_hospital_named_without_a_harm_is_no_health_incident() {
    let d = classify(
        "My mum is in intensive care and I need my phone line working, any ETA on the outage?",
    );
    assert!(!flagged(&d, "health_incident"), "{:?}", d.reasons);
    assert_ne!(d.priority, Priority::P1, "{:?}", d.reasons);
    // With a harm the product caused, the hospital makes it P1.
    let d = classify("my son was rushed to hospital after eating your nuggets");
    assert!(
        flagged(&d, "health_incident") && d.priority == Priority::P1,
        "{:?}",
        d.reasons
    );
}

#[test]
fn threats_against_people_for_who_they_are_are_p1() {
    // The HateCheck kind of threat, in words of our own.
    for text in [
        "I'll slaughter any immigrant like you who works in that shop",
        "on va tous les pendre, ces gens-là, un par un",
    ] {
        let d = classify(text);
        assert!(
            flagged(&d, "threat") && d.priority == Priority::P1,
            "{text:?}: {:?}",
            d.reasons
        );
    }
}

#[test]
fn a_few_words_alone_never_page_on_the_model_alone() {
    // "goodbye", "j'en peux plus": a person reads them (P2), nobody is paged at P1 for
    // two words the model finds dark; a phrase that says it outright still is.
    for text in ["goodbye", "j'en peux plus", "c'est fini"] {
        let d = classify(text);
        assert_ne!(d.priority, Priority::P1, "{text:?}: {:?}", d.reasons);
    }
    let d = classify("je veux mourir");
    assert_eq!(d.priority, Priority::P1, "{:?}", d.reasons);
}

/// The built-in playbook with its key questions replaced by one in English only.
fn english_only() -> String {
    let builtin = firebreak_triage::playbook::BUILTIN_YAML;
    let start = builtin.find("key_questions:").unwrap();
    let end = builtin.find("sensitivity:").unwrap();
    let questions = r#"key_questions:
  - id: refund
    link: https://example.com/refund
    examples:
      en:
        - how do I get a refund
        - when will I get my money back
        - I want to be reimbursed
    replies:
      en:
        - "Hi {{ handle }}, refunds are at {{ link }}."
        - "Hello {{ handle }}, you can get your money back at {{ link }}."
        - "Thanks {{ handle }}, please use {{ link }} for refunds."

"#;
    // The crisis list names the normal order_status question by its YAML anchor, which
    // goes with it.
    format!("{}{questions}{}", &builtin[..start], &builtin[end..])
        .replace("    - *order_status\n", "")
}

#[test]
fn a_playbook_in_one_language_answers_another_by_meaning() {
    let playbook = Playbook::load(&english_only()).expect("an English-only playbook is valid");
    let engine = TriageEngine::new(playbook);
    let message = dry_run_message("quand est-ce que je serai remboursé ?", Visibility::Private);
    let d = engine.classify(&message, &TriageContext::default());
    assert_eq!(d.route, Route::Reply, "{:?}", d.reasons);
    assert_eq!(d.key_question.as_deref(), Some("refund"));
    let variants = engine
        .playbook()
        .reply_variants(false, "refund", d.language);
    assert!(
        variants
            .iter()
            .all(|v| v.contains("refund") || v.contains("money")),
        "{variants:?}"
    );
    assert_eq!(variants.len(), 3);
}

#[test]
fn the_same_questions_asked_about_our_orders_are_answered() {
    for text in [
        "vous livrez encore ou c'est mort ? ma commande du 28 a pas bougé",
        "On m'a remboursé le produit mais pas les frais de port, ils arrivent à part ?",
        "where is my order? it's been two weeks",
    ] {
        let d = classify(text);
        assert!(d.key_question.is_some(), "{text:?}: {:?}", d.reasons);
    }
}

#[test]
fn look_alike_questions_are_not_answered() {
    for text in [
        "when will I get my tax refund from the IRS?",
        "is flight AF1234 on time today?",
        "la sécu m'a pas encore remboursé mes lunettes",
        // An order not placed yet, another company's matter, a settled one, an
        // instruction, a loan: the words of a key question, not the question.
        "if I order today, will it arrive by Friday?",
        "si je commande maintenant je suis livré quand ?",
        "my AliExpress parcel is stuck too, nothing to do with you, just ranting",
        "refund came through today, all sorted, thanks!",
        "colis bien reçu, merci",
        "tracking says out for delivery, can the driver leave it with a neighbour?",
        "combien il me reste à rembourser sur mon crédit ?",
    ] {
        let d = classify(text);
        // The first line may acknowledge it; no key question's answer may go out.
        assert!(
            d.route != Route::Reply || d.first_line.is_some(),
            "{text:?}: {:?}",
            d.reasons
        );
    }
}
