//! The embedded case store forgets what Redis expires: resolved cases after their
//! retention, with the pointers that led to them, so a long-running `firebreak run`
//! holds the open cases and the recently resolved ones, not every case ever made.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, classification, private};
use firebreak_core::Priority;
use firebreak_escalation::memory::MemoryCases;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn resolved_cases_past_their_retention_are_dropped_and_open_ones_stay() -> anyhow::Result<()>
{
    let repo = Arc::new(MemoryCases::new().with_resolved_retention(Duration::from_secs(3)));
    let f = Fixture::over(repo.clone(), None, CancellationToken::new());
    let c = classification(Priority::P3, &["refund"]);
    let mut resolved = Vec::new();
    for i in 0..300 {
        let id = f
            .cases
            .escalate(
                &private(
                    &format!("dm-{i}"),
                    &format!("author-{i}"),
                    &format!("m-{i}"),
                ),
                &c,
            )
            .await?;
        f.cases.claim(&id, "alice").await?;
        f.cases.resolve(&id, "alice", "done", None).await?;
        resolved.push(id);
    }
    let open = f
        .cases
        .escalate(&private("dm-open", "author-open", "m-open"), &c)
        .await?;
    assert_eq!(repo.held().cases, 301);

    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let fresh = f
        .cases
        .escalate(&private("dm-fresh", "author-fresh", "m-fresh"), &c)
        .await?;
    let held = repo.held();
    assert_eq!(held.cases, 2, "{held:?}");
    assert!(
        held.pointers <= 10,
        "pointers to dropped cases go too: {held:?}"
    );
    assert!(
        f.cases.get(&resolved[0]).await.is_err(),
        "a dropped case is not found"
    );
    assert_eq!(f.cases.get(&open).await?.id, open, "open cases stay");
    assert_eq!(f.cases.get(&fresh).await?.id, fresh);
    Ok(())
}
