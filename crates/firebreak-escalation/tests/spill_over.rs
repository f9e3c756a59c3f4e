//! The spill-over lookup by author, on both adapters: an open private case is found
//! for its author only within its channel's family (Messenger and Facebook are one
//! Meta audience; the same id on X or Telegram is someone else), including a case
//! opened before the family was part of the key. And the pipeline's copy of the open
//! private cases (`spill_feed` into `SpillIndex`), which classify trusts in place of the
//! lookup only once it has caught up past a message.

mod common;

use common::{Fixture, classification, message, private};
use firebreak_core::{Channel, Priority, Visibility};
use firebreak_escalation::repo::{Commit, Expect};
use firebreak_escalation::{CaseEventKind, Pointer};
use time::OffsetDateTime;

conformance!(
    a_private_case_is_found_for_its_author_within_its_channel_family,
    a_case_keyed_by_author_alone_is_still_found_on_its_own_family,
    the_spill_feed_mirrors_open_private_cases_for_classify,
);

/// Polls `check` for up to five seconds.
async fn eventually(what: &str, check: impl Fn() -> bool) -> anyhow::Result<()> {
    for _ in 0..100 {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting until {what}")
}

async fn the_spill_feed_mirrors_open_private_cases_for_classify(f: &Fixture) -> anyhow::Result<()> {
    use firebreak_pipeline::spill_index::{SpillIndex, TRUST_MARGIN};
    let c = classification(Priority::P2, &["refund"]);
    // A case open before the feed starts comes with its snapshot.
    let before = f.cases.escalate(&private("dm-1", "1234", "m1"), &c).await?;
    let index = std::sync::Arc::new(SpillIndex::new());
    let feed = tokio::spawn(firebreak_escalation::spill_feed::run(
        f.cases.clone(),
        index.clone(),
        f.shutdown.clone(),
    ));
    let public = |author: &str, external_id: &str| {
        let mut m = message(
            Channel::Facebook,
            "post-1",
            author,
            external_id,
            Visibility::Public,
        );
        // Accepted a while ago: the feed has caught up past it once it reads the log.
        m.received_at = OffsetDateTime::now_utc() - TRUST_MARGIN * 3;
        m
    };
    let (author, stranger) = (public("1234", "p1"), public("999", "p2"));
    eventually("the stranger is ruled out", || {
        index.rules_out_open_private_case(&stranger)
    })
    .await?;
    assert!(index.spills(&author), "the snapshot's case is known");
    assert!(!index.rules_out_open_private_case(&author));
    // A message accepted just now is looked up whatever the index holds.
    let mut fresh = public("999", "p3");
    fresh.received_at = OffsetDateTime::now_utc() + TRUST_MARGIN;
    assert!(!index.rules_out_open_private_case(&fresh));

    // A case opened while the feed runs, and its resolution, come as events.
    let other = public("555", "p4");
    let opened = f.cases.escalate(&private("dm-2", "555", "m2"), &c).await?;
    eventually("the new case is known", || index.spills(&other)).await?;
    for id in [&before, &opened] {
        f.cases.claim(id, "alice").await?;
        f.cases.resolve(id, "alice", "done", None).await?;
    }
    eventually("the resolved cases are forgotten", || {
        !index.spills(&author) && !index.spills(&other)
    })
    .await?;
    f.shutdown.cancel();
    feed.await?;
    Ok(())
}

async fn a_private_case_is_found_for_its_author_within_its_channel_family(
    f: &Fixture,
) -> anyhow::Result<()> {
    let c = classification(Priority::P2, &["refund"]);
    let messenger = f.cases.escalate(&private("dm-1", "1234", "m1"), &c).await?;
    let lookup = |channel| f.cases.open_private_case_of_author(channel, "1234");
    assert_eq!(lookup(Channel::Facebook).await?, Some(messenger.clone()));
    assert_eq!(lookup(Channel::Messenger).await?, Some(messenger.clone()));
    for other in [
        Channel::X,
        Channel::Telegram,
        Channel::Whatsapp,
        Channel::Line,
    ] {
        assert_eq!(lookup(other).await?, None, "{other} is another platform");
    }
    // The same id in a Telegram private chat is another person, with a case of its own.
    let telegram = message(Channel::Telegram, "tg-1", "1234", "t1", Visibility::Private);
    let tg_case = f.cases.escalate(&telegram, &c).await?;
    assert_eq!(lookup(Channel::Telegram).await?, Some(tg_case.clone()));
    assert_eq!(lookup(Channel::Facebook).await?, Some(messenger.clone()));

    f.cases.claim(&messenger, "alice").await?;
    f.cases.resolve(&messenger, "alice", "done", None).await?;
    assert_eq!(lookup(Channel::Facebook).await?, None);
    assert_eq!(lookup(Channel::Telegram).await?, Some(tg_case), "untouched");
    Ok(())
}

/// Cases opened by a release before the family pointed at them by author id alone.
async fn a_case_keyed_by_author_alone_is_still_found_on_its_own_family(
    f: &Fixture,
) -> anyhow::Result<()> {
    let c = classification(Priority::P2, &["refund"]);
    let id = f.cases.escalate(&private("dm-2", "777", "m2"), &c).await?;
    // Make it look like an old case: only the unscoped pointer leads to it.
    let case = f.cases.get(&id).await?;
    let commit = Commit::new(
        case.clone(),
        Some(&case),
        CaseEventKind::Updated,
        OffsetDateTime::now_utc(),
    )
    .clear(Pointer::private(Channel::Messenger, "777"))
    .set(Pointer::UnscopedPrivate("777".into()), Expect::Any, None);
    f.repo.commit(&commit).await?;
    let lookup = |channel| f.cases.open_private_case_of_author(channel, "777");
    assert_eq!(lookup(Channel::Facebook).await?, Some(id.clone()));
    assert_eq!(
        lookup(Channel::X).await?,
        None,
        "the case is a Messenger one"
    );

    f.cases.claim(&id, "alice").await?;
    f.cases.resolve(&id, "alice", "done", None).await?;
    assert_eq!(
        lookup(Channel::Facebook).await?,
        None,
        "resolving clears it"
    );
    Ok(())
}
