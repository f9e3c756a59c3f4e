use std::time::Duration;

use firebreak_core::{
    Author, Channel, Classification, Language, Message, MessageId, Priority, Route, Visibility,
};
use time::OffsetDateTime;

use super::*;

fn sla() -> SlaTarget {
    SlaTarget {
        claim: Duration::from_secs(60),
        ack: Duration::from_secs(300),
        tiers: vec!["oncall".into(), "lead".into(), "head".into()],
    }
}

fn message(external_id: &str) -> Message {
    let now = OffsetDateTime::now_utc();
    Message {
        id: MessageId::derive(Channel::Telegram, external_id),
        channel: Channel::Telegram,
        external_id: external_id.into(),
        thread_id: "t1".into(),
        visibility: Visibility::Private,
        author: Author {
            id: "u1".into(),
            ..Author::default()
        },
        text: String::new(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: now,
        received_at: now,
        mail: None,
        edit_of: None,
    }
}

fn classification(priority: Priority, reason: &str) -> Classification {
    Classification {
        language: Language::En,
        language_confidence: 1.0,
        sentiment: -0.5,
        route: Route::Escalate,
        priority,
        key_question: None,
        key_question_confidence: 0.0,
        flags: Vec::new(),
        reasons: vec![reason.into()],
        confidence: 1.0,
        linked_case_id: None,
        playbook_version: "test".into(),
        first_line: None,
    }
}

fn opened(now: OffsetDateTime) -> Case {
    open(
        "c1".into(),
        &message("m1"),
        &classification(Priority::P3, "complaint"),
        now,
        &sla(),
    )
    .case
}

#[test]
fn a_more_urgent_message_raises_priority_and_tightens_deadlines() {
    let t0 = OffsetDateTime::now_utc();
    let case = opened(t0);
    let later = t0 + time::Duration::seconds(30);
    let next = add_message(
        &case,
        &message("m2"),
        &classification(Priority::P1, "self_harm"),
        later,
        &sla(),
    );
    assert_eq!(next.case.priority, Priority::P1);
    assert_eq!(next.case.reasons, ["complaint", "self_harm"]);
    assert_eq!(next.case.message_count, 2);
    assert_eq!(
        next.case.claim_due, case.claim_due,
        "the earlier deadline stays"
    );
}

#[test]
fn only_the_holder_acknowledges_and_a_second_claimer_conflicts() {
    let now = OffsetDateTime::now_utc();
    let claimed = claim(&opened(now), "alice", now).unwrap().unwrap().case;
    assert!(matches!(
        claim(&claimed, "bob", now),
        Err(CaseError::Conflict(_))
    ));
    assert!(
        claim(&claimed, "alice", now).unwrap().is_none(),
        "a repeated claim is a no-op"
    );
    assert!(matches!(
        acknowledge(&claimed, "bob", now),
        Err(CaseError::Conflict(_))
    ));
    let acked = acknowledge(&claimed, "alice", now).unwrap().unwrap().case;
    assert_eq!(acked.status, CaseStatus::Acknowledged);
    assert_eq!(acked.next_deadline(), None);
}

#[test]
fn a_claim_breach_climbs_one_tier_per_deadline_until_the_last() {
    let t0 = OffsetDateTime::now_utc();
    let mut case = opened(t0);
    let mut tiers = Vec::new();
    let mut at = t0;
    for _ in 0..4 {
        at += time::Duration::seconds(61);
        if let Some((t, kind)) = on_deadline(&case, at, &sla()) {
            assert_eq!(kind, Some(BreachKind::Claim));
            tiers.push(t.case.tier);
            case = t.case;
        }
    }
    assert_eq!(
        tiers,
        [1, 2],
        "one breach per tier, then silence at the last tier"
    );
    assert!(on_deadline(&case, at, &sla()).is_none_or(|(_, k)| k != Some(BreachKind::Claim)));
}

#[test]
fn nothing_fires_before_the_deadline_or_after_a_claim() {
    let t0 = OffsetDateTime::now_utc();
    let case = opened(t0);
    assert!(on_deadline(&case, t0 + time::Duration::seconds(59), &sla()).is_none());
    let claimed = claim(&case, "alice", t0).unwrap().unwrap().case;
    assert!(on_deadline(&claimed, t0 + time::Duration::seconds(120), &sla()).is_none());
    let (ack, kind) = on_deadline(&claimed, t0 + time::Duration::seconds(301), &sla()).unwrap();
    assert_eq!(kind, Some(BreachKind::Ack));
    assert_eq!(ack.case.tier, 1);
}

#[test]
fn a_resolved_case_reopens_when_the_author_writes_again() {
    let now = OffsetDateTime::now_utc();
    let claimed = claim(&opened(now), "alice", now).unwrap().unwrap().case;
    let resolved = resolve(&claimed, "alice", "done", now).unwrap().case;
    let again = add_message(
        &resolved,
        &message("m3"),
        &classification(Priority::P4, "x"),
        now,
        &sla(),
    );
    assert_eq!(again.event, CaseEventKind::Reopened);
    assert_eq!(again.case.status, CaseStatus::Open);
    assert_eq!(again.case.assignee, None);
    assert!(again.case.claim_due.is_some());
}

#[test]
fn a_snoozed_case_wakes_when_its_time_is_up() {
    let now = OffsetDateTime::now_utc();
    let until = now + time::Duration::seconds(600);
    let snoozed = snooze(&opened(now), "alice", until, now).unwrap().case;
    assert_eq!(snoozed.next_deadline(), Some(until));
    let (woken, kind) = on_deadline(&snoozed, until, &sla()).unwrap();
    assert_eq!(kind, None);
    assert_eq!(woken.case.status, CaseStatus::Open);
}

#[test]
fn resolving_needs_the_claim_and_a_note() {
    let now = OffsetDateTime::now_utc();
    let open = opened(now);
    assert!(matches!(
        resolve(&open, "alice", "done", now),
        Err(CaseError::Conflict(_))
    ));
    let claimed = claim(&open, "alice", now).unwrap().unwrap().case;
    assert!(matches!(
        resolve(&claimed, "alice", "  ", now),
        Err(CaseError::Invalid(_))
    ));
    assert!(matches!(
        resolve(&claimed, "bob", "done", now),
        Err(CaseError::Conflict(_))
    ));
    assert_eq!(
        resolve(&claimed, "alice", "done", now).unwrap().case.status,
        CaseStatus::Resolved
    );
}

#[test]
fn a_resolved_case_reopens_by_hand_unassigned_with_a_fresh_sla() {
    let now = OffsetDateTime::now_utc();
    let claimed = claim(&opened(now), "alice", now).unwrap().unwrap().case;
    let resolved = resolve(&claimed, "alice", "done", now).unwrap().case;
    let later = now + time::Duration::minutes(5);
    let again = reopen(&resolved, later, &sla()).unwrap();
    assert_eq!(again.event, CaseEventKind::Reopened);
    assert_eq!(again.case.status, CaseStatus::Open);
    assert_eq!(again.case.assignee, None);
    assert_eq!(again.case.resolution_note, "");
    assert!(again.case.claim_due.is_some_and(|d| d > later));
    assert!(matches!(
        reopen(&opened(now), now, &sla()),
        Err(CaseError::Conflict(_))
    ));
}
