//! The conversation kept with a case, through both adapters: texts and authors stored
//! with the case, the reply recorded, texts gone after the retention period or an
//! admin purge while the case itself stays, reopen and bulk resolve as noise.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use async_trait::async_trait;
use common::{Fixture, classification, private, public, sla};
use firebreak_core::{Flag, Priority};
use firebreak_escalation::{
    Case, CaseError, CaseStatus, Cases, CasesConfig, ConversationEntry, FixedSla, ModeratorReply,
};

conformance!(
    a_case_keeps_each_message_text_and_author,
    a_reply_sent_with_resolve_is_recorded_on_the_case_and_audited,
    texts_are_gone_after_the_retention_period_while_the_case_remains,
    an_admin_purge_removes_texts_now_and_is_audited,
    resolving_needs_a_claim_and_a_note,
    a_resolved_case_reopens_by_hand_and_keeps_its_texts,
    bulk_resolve_as_noise_resolves_each_case_and_audits_it,
    an_entry_is_stored_with_its_commit_and_never_without_it,
);

struct Recorded;

#[async_trait]
impl ModeratorReply for Recorded {
    async fn send(&self, _case: &Case, _who: &str, _text: &str) -> Result<String, CaseError> {
        Ok("dry-run".into())
    }
}

fn service(f: &Fixture, text_retention: Duration) -> Arc<Cases> {
    Arc::new(
        Cases::new(
            f.repo.clone(),
            Arc::new(FixedSla(sla(60))),
            f.audit.clone(),
            f.metrics.clone(),
        )
        .with_replies(Arc::new(Recorded))
        .with_config(CasesConfig {
            text_retention,
            ..CasesConfig::default()
        }),
    )
}

fn texts(entries: &[ConversationEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match e {
            ConversationEntry::Message(m) => m.text.clone(),
            ConversationEntry::Reply(r) => format!("reply: {}", r.text),
        })
        .collect()
}

async fn a_case_keeps_each_message_text_and_author(f: &Fixture) -> anyhow::Result<()> {
    let mut first = public("post-9", "ann", "1001");
    first.text = "I can't go on like this".into();
    first.author.handle = "ann_h".into();
    first.author.name = "Ann H".into();
    first.author.followers = 1234;
    first.author.verified = true;
    let mut flagged = classification(Priority::P1, &["self_harm"]);
    flagged.flags = vec![Flag::new("self_harm", "can't go on", 0.9)];
    let id = f.cases.escalate(&first, &flagged).await?;
    let mut second = public("post-9", "bob", "1002");
    second.received_at += time::Duration::seconds(1);
    second.text = "me too".into();
    f.cases
        .escalate(&second, &classification(Priority::P3, &["x"]))
        .await?;
    // A redelivery stores the message once.
    f.cases.escalate(&first, &flagged).await?;
    let conversation = f.cases.conversation(&id).await?;
    assert_eq!(texts(&conversation), ["I can't go on like this", "me too"]);
    let ConversationEntry::Message(m) = &conversation[0] else {
        anyhow::bail!("expected a message first");
    };
    assert_eq!(m.author.handle, "ann_h");
    assert_eq!(m.author.name, "Ann H");
    assert_eq!(m.author.followers, 1234);
    assert!(m.author.verified);
    assert_eq!(m.channel, firebreak_core::Channel::X);
    assert_eq!(m.link.as_deref(), Some("https://x.com/ann_h/status/1001"));
    assert_eq!(m.flags[0].evidence, "can't go on");
    // The event log carries the case, never the text.
    let events = f.repo.events_after(0, 100).await?;
    let logged = serde_json::to_string(&events.iter().map(|e| &e.case).collect::<Vec<_>>())?;
    ensure!(
        !logged.contains("go on like this"),
        "text reached the event log"
    );
    Ok(())
}

async fn a_reply_sent_with_resolve_is_recorded_on_the_case_and_audited(
    f: &Fixture,
) -> anyhow::Result<()> {
    let cases = service(f, Duration::from_secs(3600));
    let id = cases
        .escalate(
            &private("dm-1", "ann", "m1"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    cases.claim(&id, "alice").await?;
    cases
        .resolve(&id, "alice", "answered", Some("We are on it, Ann."))
        .await?;
    let conversation = cases.conversation(&id).await?;
    let ConversationEntry::Reply(reply) = conversation.last().context("entries")? else {
        anyhow::bail!("the reply is not on the case: {conversation:?}");
    };
    assert_eq!(reply.text, "We are on it, Ann.");
    assert_eq!(reply.by, "alice");
    assert_eq!(reply.connector, "dry-run");
    let audit = f.audit.entries();
    let resolve = audit
        .iter()
        .find(|e| e.action == "case.resolve")
        .context("resolve audited")?;
    assert_eq!(resolve.detail["reply"]["connector"], "dry-run");
    assert_eq!(resolve.detail["reply"]["chars"], 18);
    ensure!(
        !resolve.detail.to_string().contains("on it"),
        "the audit holds the reply's words"
    );
    Ok(())
}

async fn texts_are_gone_after_the_retention_period_while_the_case_remains(
    f: &Fixture,
) -> anyhow::Result<()> {
    let cases = service(f, Duration::from_millis(300));
    let mut flagged = classification(Priority::P1, &["threat"]);
    flagged.flags = vec![Flag::new("threat", "hurt", 0.8)];
    let id = cases
        .escalate(&private("dm-2", "ann", "m2"), &flagged)
        .await?;
    cases.claim(&id, "alice").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(
        !cases.conversation(&id).await?.is_empty(),
        "an open case keeps its texts whatever the retention"
    );
    cases.resolve(&id, "alice", "handled", Some("ok")).await?;
    ensure!(cases.conversation(&id).await?.len() == 2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(cases.conversation(&id).await?, []);
    let case = cases.get(&id).await?;
    assert_eq!(case.status, CaseStatus::Resolved);
    assert_eq!(case.message_ids.len(), 1);
    assert_eq!(case.flags[0].kind, "threat");
    assert_eq!(case.resolution_note, "handled");
    Ok(())
}

async fn an_admin_purge_removes_texts_now_and_is_audited(f: &Fixture) -> anyhow::Result<()> {
    let id = f
        .cases
        .escalate(
            &private("dm-3", "ann", "m3"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    ensure!(
        f.cases
            .purge_texts(&id, "root", "erasure request 42")
            .await?
    );
    assert_eq!(f.cases.conversation(&id).await?, []);
    assert_eq!(f.cases.get(&id).await?.message_count, 1);
    let audit = f.audit.entries();
    let purge = audit.last().context("audited")?;
    assert_eq!(purge.action, "case.purge_texts");
    assert_eq!(purge.actor, "root");
    assert_eq!(purge.reason, "erasure request 42");
    ensure!(!f.cases.purge_texts(&id, "root", "again").await?);
    Ok(())
}

async fn resolving_needs_a_claim_and_a_note(f: &Fixture) -> anyhow::Result<()> {
    let id = f
        .cases
        .escalate(
            &private("dm-4", "ann", "m4"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    assert!(matches!(
        f.cases.resolve(&id, "alice", "done", None).await,
        Err(CaseError::Conflict(_))
    ));
    f.cases.claim(&id, "alice").await?;
    assert!(matches!(
        f.cases.resolve(&id, "alice", "", None).await,
        Err(CaseError::Invalid(_))
    ));
    assert_eq!(f.cases.get(&id).await?.status, CaseStatus::Claimed);
    Ok(())
}

async fn a_resolved_case_reopens_by_hand_and_keeps_its_texts(f: &Fixture) -> anyhow::Result<()> {
    let cases = service(f, Duration::from_millis(300));
    let id = cases
        .escalate(
            &private("dm-5", "ann", "m5"),
            &classification(Priority::P2, &["x"]),
        )
        .await?;
    cases.claim(&id, "alice").await?;
    cases.resolve(&id, "alice", "done", None).await?;
    let case = cases.reopen(&id, "alice").await?;
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(case.assignee, None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        cases.conversation(&id).await?.len(),
        1,
        "reopened texts stay"
    );
    assert!(f.audit.entries().iter().any(|e| e.action == "case.reopen"));
    assert!(matches!(
        cases.reopen(&id, "alice").await,
        Err(CaseError::Conflict(_))
    ));
    Ok(())
}

async fn bulk_resolve_as_noise_resolves_each_case_and_audits_it(f: &Fixture) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            f.cases
                .escalate(
                    &public(&format!("spam-{n}"), &format!("bot-{n}"), &format!("s{n}")),
                    &classification(Priority::P4, &["x"]),
                )
                .await?,
        );
    }
    // One held by someone else is reported, not taken over.
    f.cases.claim(&ids[2], "bob").await?;
    let outcomes = f.cases.resolve_as_noise(&ids, "alice", "spam wave").await?;
    assert!(outcomes[0].result.is_ok() && outcomes[1].result.is_ok());
    assert!(matches!(outcomes[2].result, Err(CaseError::Conflict(_))));
    for id in &ids[..2] {
        let case = f.cases.get(id).await?;
        assert_eq!(case.status, CaseStatus::Resolved);
        assert_eq!(case.resolution_note, "noise: spam wave");
    }
    let bulk: Vec<_> = f
        .audit
        .entries()
        .into_iter()
        .filter(|e| e.action == "case.bulk_resolve")
        .collect();
    assert_eq!(bulk.len(), 2);
    assert_eq!(bulk[0].reason, "spam wave");
    assert!(matches!(
        f.cases.resolve_as_noise(&ids, "alice", " ").await,
        Err(CaseError::Invalid(_))
    ));
    Ok(())
}

async fn an_entry_is_stored_with_its_commit_and_never_without_it(
    f: &Fixture,
) -> anyhow::Result<()> {
    use firebreak_escalation::repo::{Commit, Expect};
    use firebreak_escalation::{CaseEventKind, Pointer, WrittenMessage, machine};
    let m = private("dm-5", "cat", "501");
    let c = classification(Priority::P3, &["x"]);
    let entry = ConversationEntry::Message(WrittenMessage::new(&m, &c));
    let now = time::OffsetDateTime::now_utc();
    let open = |id: &str| machine::open(id.into(), &m, &c, now, &sla(60)).case;
    let thread = Pointer::Thread(m.channel, m.thread_id.clone());
    let commit = |case| {
        Commit::new(case, None, CaseEventKind::Opened, now).set(
            thread.clone(),
            Expect::Absent,
            None,
        )
    };
    f.repo
        .commit_with_entry(&commit(open("case-a")), &entry)
        .await?;
    ensure!(texts(&f.repo.entries("case-a").await?) == [m.text.as_str()]);
    // The thread pointer is taken now: this commit conflicts, and leaves no text behind.
    let lost = f
        .repo
        .commit_with_entry(&commit(open("case-b")), &entry)
        .await;
    ensure!(lost.is_err(), "the second commit must conflict");
    ensure!(f.repo.entries("case-b").await?.is_empty());
    ensure!(f.repo.get("case-b").await?.is_none());
    Ok(())
}
