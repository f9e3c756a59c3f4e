//! The embedded reply state drops what Redis would have expired, so a long-running
//! `firebreak run` holds only live keys: claims, deferral counts and thread caps after
//! the state TTL, budgets once their theoretical arrival time is a second past.

use std::time::Duration;

use firebreak_reply::gcra::Rate;
use firebreak_reply::{Budget, Claim, ClaimState, Grant, Ledger, MemoryReplyState};

fn claim() -> Claim {
    Claim {
        state: ClaimState::Sending,
        variant: "v1".into(),
        text: String::new(),
        claimed_at_ms: 0,
        connector: String::new(),
    }
}

#[tokio::test]
async fn keys_past_their_ttl_are_dropped_and_recent_ones_stay() -> anyhow::Result<()> {
    // Long enough that writing the first keys is over before any expires.
    let state = MemoryReplyState::with_ttl(Duration::from_secs(3));
    for i in 0..5_000 {
        let message = format!("old-{i}");
        state.claim(&message, &claim()).await?;
        state.count_deferral(&message).await?;
        state
            .reserve_thread(&format!("thread-{i}"), &message, 3)
            .await?;
    }
    assert_eq!(state.keys_held(), 15_000);
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    for i in 0..10 {
        state.claim(&format!("new-{i}"), &claim()).await?;
    }
    assert_eq!(state.keys_held(), 10, "only the claims within the TTL");
    assert!(state.get_claim("old-0").await?.is_none());
    assert_eq!(state.deferrals("old-0").await?, 0);
    assert!(
        state.get_claim("new-9").await?.is_some(),
        "recent claims stay"
    );
    Ok(())
}

#[tokio::test]
async fn idle_budgets_are_dropped_without_changing_what_they_grant() -> anyhow::Result<()> {
    let state = MemoryReplyState::with_ttl(Duration::from_millis(300));
    let rate = Rate::per_second(1_000.0, 1).expect("a rate");
    for i in 0..1_000 {
        let granted = state.acquire(&format!("budget-{i}"), rate).await?;
        assert_eq!(granted, Grant::Granted);
    }
    // A budget key lives a second past its arrival time, as its Redis key does.
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    assert_eq!(state.keys_held(), 0);
    assert_eq!(state.acquire("budget-0", rate).await?, Grant::Granted);
    Ok(())
}
