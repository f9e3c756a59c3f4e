//! The spill-over lookup by author, on both adapters: an open private case is found
//! for its author only within its channel's family (Messenger and Facebook are one
//! Meta audience; the same id on X or Telegram is someone else), including a case
//! opened before the family was part of the key.

mod common;

use common::{Fixture, classification, message, private};
use firebreak_core::{Channel, Priority, Visibility};
use firebreak_escalation::repo::{Commit, Expect};
use firebreak_escalation::{CaseEventKind, Pointer};
use time::OffsetDateTime;

conformance!(
    a_private_case_is_found_for_its_author_within_its_channel_family,
    a_case_keyed_by_author_alone_is_still_found_on_its_own_family,
);

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
