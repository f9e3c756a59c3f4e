//! One conformance suite for the case store: every body runs against the in-memory
//! adapter and against a real `redis-server`, through the case service.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use common::{Fixture, classification, private, public};
use firebreak_core::Priority;
use firebreak_escalation::{BreachKind, CaseError, CaseEventKind, CaseStatus, Pointer};
use futures::StreamExt;
use time::OffsetDateTime;

conformance!(
    escalations_of_one_thread_share_one_case,
    five_hundred_escalations_on_twenty_threads_make_twenty_cases,
    escalating_the_same_message_again_changes_nothing,
    an_authors_escalations_in_other_threads_join_their_recent_case,
    racing_moderators_claim_a_case_exactly_once,
    the_workflow_moves_open_claimed_acknowledged_resolved_and_is_audited,
    acknowledging_needs_the_claim_and_release_needs_the_holder,
    resolving_clears_the_open_private_case_of_its_author,
    the_author_writing_again_reopens_the_resolved_thread_case,
    a_due_deadline_fires_once_even_with_racing_timers,
    unresolved_cases_list_p1_first,
    watch_from_zero_sends_open_cases_p1_first_then_live_events,
    watch_resumes_after_a_cursor_without_missing_an_event,
    unknown_case_is_not_found,
);

async fn escalations_of_one_thread_share_one_case(f: &Fixture) -> anyhow::Result<()> {
    let first = public("post-1", "ann", "m1");
    let second = public("post-1", "bob", "m2");
    let a = f
        .cases
        .escalate(&first, &classification(Priority::P3, &["complaint"]))
        .await?;
    let b = f
        .cases
        .escalate(&second, &classification(Priority::P2, &["hostility"]))
        .await?;
    ensure!(a == b, "one thread, one case");
    let case = f.cases.get(&a).await?;
    assert_eq!(case.message_ids, [first.id, second.id]);
    assert_eq!(case.priority, Priority::P2, "the most urgent priority wins");
    assert_eq!(case.reasons, ["complaint", "hostility"]);
    assert_eq!(case.status, CaseStatus::Open);
    assert!(case.claim_due.is_some(), "an SLA clock runs from opening");
    Ok(())
}

async fn five_hundred_escalations_on_twenty_threads_make_twenty_cases(
    f: &Fixture,
) -> anyhow::Result<()> {
    const THREADS: usize = 20;
    const MESSAGES: usize = 500;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..MESSAGES {
        let cases = f.cases.clone();
        tasks.spawn(async move {
            let thread = format!("post-{}", n % THREADS);
            // Distinct authors, so only thread grouping applies.
            let m = public(&thread, &format!("user-{n}"), &format!("m-{n}"));
            let case = cases
                .escalate(&m, &classification(Priority::P3, &["pile_on"]))
                .await?;
            anyhow::Ok((thread, case))
        });
    }
    let mut by_thread: HashMap<String, HashSet<String>> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (thread, case) = done??;
        by_thread.entry(thread).or_default().insert(case);
    }
    assert_eq!(by_thread.len(), THREADS);
    for (thread, cases) in &by_thread {
        assert_eq!(cases.len(), 1, "thread {thread} split over {cases:?}");
        let case = f.cases.get(cases.iter().next().unwrap()).await?;
        assert_eq!(
            case.message_count as usize,
            MESSAGES / THREADS,
            "thread {thread}"
        );
    }
    let open = f.cases.list(&[CaseStatus::Open], 1000).await?;
    assert_eq!(open.len(), THREADS, "20 cases, not 500");
    Ok(())
}

async fn escalating_the_same_message_again_changes_nothing(f: &Fixture) -> anyhow::Result<()> {
    let m = public("post-1", "ann", "m1");
    let c = classification(Priority::P2, &["legal"]);
    let first = f.cases.escalate(&m, &c).await?;
    let head = f.repo.head().await?;
    let again = f.cases.escalate(&m, &c).await?;
    assert_eq!(first, again);
    assert_eq!(f.repo.head().await?, head, "a redelivery logs no event");
    assert_eq!(f.cases.get(&first).await?.message_count, 1);
    Ok(())
}

async fn an_authors_escalations_in_other_threads_join_their_recent_case(
    f: &Fixture,
) -> anyhow::Result<()> {
    let c = classification(Priority::P2, &["hostility"]);
    let a = f
        .cases
        .escalate(&public("post-1", "troll", "m1"), &c)
        .await?;
    let b = f
        .cases
        .escalate(&public("post-2", "troll", "m2"), &c)
        .await?;
    let other = f
        .cases
        .escalate(&public("post-3", "someone-else", "m3"), &c)
        .await?;
    ensure!(a == b, "the same author within the window joins one case");
    ensure!(
        a != other,
        "another author in another thread is another case"
    );
    // The second thread now belongs to that case too.
    let c2 = f
        .cases
        .escalate(&public("post-2", "bystander", "m4"), &c)
        .await?;
    assert_eq!(c2, a);
    Ok(())
}

async fn racing_moderators_claim_a_case_exactly_once(f: &Fixture) -> anyhow::Result<()> {
    for round in 0..5 {
        let id = f
            .cases
            .escalate(
                &public(&format!("race-{round}"), "ann", &format!("r{round}")),
                &classification(Priority::P1, &["self_harm"]),
            )
            .await?;
        let mut tasks = tokio::task::JoinSet::new();
        for moderator in ["alice", "bob", "carol", "dave"] {
            let cases = f.cases.clone();
            let id = id.clone();
            tasks.spawn(async move { (moderator, cases.claim(&id, moderator).await) });
        }
        let mut winners = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done? {
                (who, Ok(_)) => winners.push(who),
                (_, Err(CaseError::Conflict(why))) => ensure!(why.contains("claimed by"), "{why}"),
                (_, Err(e)) => anyhow::bail!("unexpected error {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let case = f.cases.get(&id).await?;
        assert_eq!(case.assignee.as_deref(), Some(winners[0]));
        assert_eq!(case.status, CaseStatus::Claimed);
    }
    Ok(())
}

async fn the_workflow_moves_open_claimed_acknowledged_resolved_and_is_audited(
    f: &Fixture,
) -> anyhow::Result<()> {
    let id = f
        .cases
        .escalate(
            &private("dm-1", "ann", "m1"),
            &classification(Priority::P2, &["legal"]),
        )
        .await?;
    let claimed = f.cases.claim(&id, "alice").await?;
    assert_eq!(claimed.status, CaseStatus::Claimed);
    assert_eq!(
        claimed.next_deadline(),
        claimed.ack_due,
        "only the ack deadline is left"
    );
    let acked = f.cases.acknowledge(&id, "alice").await?;
    assert_eq!(acked.status, CaseStatus::Acknowledged);
    assert_eq!(acked.next_deadline(), None);
    let resolved = f.cases.resolve(&id, "alice", "called back", None).await?;
    assert_eq!(resolved.status, CaseStatus::Resolved);
    assert_eq!(resolved.resolution_note, "called back");
    let kinds: Vec<_> = f
        .repo
        .events_after(0, 100)
        .await?
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            CaseEventKind::Opened,
            CaseEventKind::Claimed,
            CaseEventKind::Acknowledged,
            CaseEventKind::Resolved
        ]
    );
    let audit: Vec<_> = f
        .audit
        .entries()
        .into_iter()
        .map(|e| (e.actor, e.action, e.subject))
        .collect();
    assert_eq!(
        audit,
        ["case.claim", "case.ack", "case.resolve"].map(|a| (
            "alice".to_string(),
            a.to_string(),
            id.clone()
        ))
    );
    ensure!(
        matches!(f.cases.claim(&id, "bob").await, Err(CaseError::Conflict(_))),
        "a resolved case cannot be claimed"
    );
    Ok(())
}

async fn acknowledging_needs_the_claim_and_release_needs_the_holder(
    f: &Fixture,
) -> anyhow::Result<()> {
    let id = f
        .cases
        .escalate(
            &public("p", "ann", "m1"),
            &classification(Priority::P3, &["x"]),
        )
        .await?;
    ensure!(matches!(
        f.cases.acknowledge(&id, "alice").await,
        Err(CaseError::Conflict(_))
    ));
    f.cases.claim(&id, "alice").await?;
    ensure!(matches!(
        f.cases.release(&id, "bob").await,
        Err(CaseError::Conflict(_))
    ));
    let released = f.cases.release(&id, "alice").await?;
    assert_eq!(released.status, CaseStatus::Open);
    assert_eq!(released.assignee, None);
    assert!(released.claim_due.is_some(), "the claim clock restarts");
    f.cases.claim(&id, "bob").await?;
    Ok(())
}

async fn resolving_clears_the_open_private_case_of_its_author(f: &Fixture) -> anyhow::Result<()> {
    let author = Pointer::private(firebreak_core::Channel::Messenger, "ann");
    assert_eq!(f.cases.open_private_case_for(&author).await?, None);
    let id = f
        .cases
        .escalate(
            &private("dm-1", "ann", "m1"),
            &classification(Priority::P2, &["refund"]),
        )
        .await?;
    assert_eq!(
        f.cases.open_private_case_for(&author).await?,
        Some(id.clone())
    );
    let thread = Pointer::Thread(firebreak_core::Channel::Messenger, "dm-1".into());
    assert_eq!(
        f.cases.open_private_case_for(&thread).await?,
        Some(id.clone())
    );
    // A public case never counts as a private one.
    f.cases
        .escalate(
            &public("post", "bob", "m2"),
            &classification(Priority::P3, &["x"]),
        )
        .await?;
    assert_eq!(
        f.cases
            .open_private_case_for(&Pointer::private(firebreak_core::Channel::X, "bob"))
            .await?,
        None
    );
    f.cases.claim(&id, "alice").await?;
    f.cases.resolve(&id, "alice", "refunded", None).await?;
    assert_eq!(
        f.cases.open_private_case_for(&author).await?,
        None,
        "no spill-over risk after resolve"
    );
    assert_eq!(f.cases.open_private_case_for(&thread).await?, None);
    Ok(())
}

async fn the_author_writing_again_reopens_the_resolved_thread_case(
    f: &Fixture,
) -> anyhow::Result<()> {
    let c = classification(Priority::P2, &["refund"]);
    let id = f.cases.escalate(&private("dm-1", "ann", "m1"), &c).await?;
    f.cases.claim(&id, "alice").await?;
    f.cases.resolve(&id, "alice", "done", None).await?;
    let again = f.cases.escalate(&private("dm-1", "ann", "m2"), &c).await?;
    assert_eq!(again, id, "within the reopen window the same case reopens");
    let case = f.cases.get(&id).await?;
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(case.assignee, None);
    let last = f.repo.events_after(0, 100).await?.pop().context("events")?;
    assert_eq!(last.kind, CaseEventKind::Reopened);
    assert_eq!(
        f.cases
            .open_private_case_for(&Pointer::private(firebreak_core::Channel::Messenger, "ann"))
            .await?,
        Some(id)
    );
    Ok(())
}

async fn a_due_deadline_fires_once_even_with_racing_timers(f: &Fixture) -> anyhow::Result<()> {
    let id = f
        .cases
        .escalate(
            &public("p", "ann", "m1"),
            &classification(Priority::P1, &["threat"]),
        )
        .await?;
    let early = OffsetDateTime::now_utc() + time::Duration::seconds(30);
    assert!(
        f.cases.fire_due(early).await?.is_empty(),
        "nothing is due before the claim deadline"
    );
    let late = OffsetDateTime::now_utc() + time::Duration::seconds(61);
    let (a, b) = tokio::join!(f.cases.fire_due(late), f.cases.fire_due(late));
    let breaches: Vec<_> = a?.into_iter().chain(b?).collect();
    assert_eq!(breaches.len(), 1, "one breach, whichever timer won");
    assert_eq!(breaches[0].kind, BreachKind::Claim);
    assert_eq!(breaches[0].tier_name, "lead");
    let case = f.cases.get(&id).await?;
    assert_eq!((case.tier, case.breaches), (1, 1));
    assert!(
        case.claim_due.is_some_and(|d| d > late),
        "re-armed for the next tier"
    );
    assert!(
        f.cases.fire_due(late).await?.is_empty(),
        "firing again changes nothing"
    );
    // Registered at 0 from the start: the breach must have moved it.
    assert!(
        !f.metrics
            .render()
            .contains("firebreak_events_total{kind=\"sla_breach\"} 0")
    );
    Ok(())
}

async fn unresolved_cases_list_p1_first(f: &Fixture) -> anyhow::Result<()> {
    let p3 = f
        .cases
        .escalate(
            &public("a", "u1", "m1"),
            &classification(Priority::P3, &["x"]),
        )
        .await?;
    let p1 = f
        .cases
        .escalate(
            &public("b", "u2", "m2"),
            &classification(Priority::P1, &["x"]),
        )
        .await?;
    let p2 = f
        .cases
        .escalate(
            &public("c", "u3", "m3"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    f.cases.claim(&p2, "alice").await?;
    let all: Vec<_> = f
        .cases
        .list(&[], 10)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, [p1.clone(), p2.clone(), p3.clone()]);
    let open: Vec<_> = f
        .cases
        .list(&[CaseStatus::Open], 10)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(open, [p1, p3]);
    Ok(())
}

async fn watch_from_zero_sends_open_cases_p1_first_then_live_events(
    f: &Fixture,
) -> anyhow::Result<()> {
    let p4 = f
        .cases
        .escalate(
            &public("a", "u1", "m1"),
            &classification(Priority::P4, &["x"]),
        )
        .await?;
    let p1 = f
        .cases
        .escalate(
            &public("b", "u2", "m2"),
            &classification(Priority::P1, &["x"]),
        )
        .await?;
    let mut watch = Box::pin(f.cases.watch(0));
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await?
        .context("ended")??;
    let second = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await?
        .context("ended")??;
    assert_eq!(
        (first.case.id.as_str(), second.case.id.as_str()),
        (p1.as_str(), p4.as_str())
    );
    let p2 = f
        .cases
        .escalate(
            &public("c", "u3", "m3"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    let live = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await?
        .context("ended")??;
    assert_eq!((live.kind, live.case.id), (CaseEventKind::Opened, p2));
    assert!(live.cursor > first.cursor);
    Ok(())
}

async fn watch_resumes_after_a_cursor_without_missing_an_event(f: &Fixture) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    let mut cursor = 0;
    let id = f
        .cases
        .escalate(
            &public("a", "u1", "m1"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    {
        let mut watch = Box::pin(f.cases.watch(f.repo.head().await?));
        f.cases.claim(&id, "alice").await?;
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await?
            .context("ended")??;
        seen.push(event.kind);
        cursor = cursor.max(event.cursor);
    } // disconnect
    // Changes while nobody watches.
    f.cases.acknowledge(&id, "alice").await?;
    f.cases
        .escalate(
            &public("a", "u2", "m2"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    let mut watch = Box::pin(f.cases.watch(cursor));
    f.cases.resolve(&id, "alice", "ok", None).await?;
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await?
            .context("ended")??;
        ensure!(
            event.cursor == cursor + 1,
            "gap: {} after {cursor}",
            event.cursor
        );
        cursor = event.cursor;
        seen.push(event.kind);
    }
    assert_eq!(
        seen,
        [
            CaseEventKind::Claimed,
            CaseEventKind::Acknowledged,
            CaseEventKind::Updated,
            CaseEventKind::Resolved
        ]
    );
    Ok(())
}

async fn unknown_case_is_not_found(f: &Fixture) -> anyhow::Result<()> {
    ensure!(matches!(
        f.cases.get("nope").await,
        Err(CaseError::NotFound(_))
    ));
    ensure!(matches!(
        f.cases.claim("nope", "alice").await,
        Err(CaseError::NotFound(_))
    ));
    Ok(())
}
