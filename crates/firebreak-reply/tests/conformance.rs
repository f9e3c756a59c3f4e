//! One conformance suite for the reply state ports, run against the in-memory adapter
//! and against a real redis-server from the testkit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_reply::{
    Claim, ClaimState, Grant, MemoryReplyState, Rate, RedisReplyState, ReplyState, Ticket,
};
use firebreak_testkit::RedisServer;

#[path = "conformance/merged.rs"]
mod merged;

trait State: ReplyState {}
impl<T: ReplyState> State for T {}

fn ticket(member: &str, age_us: u64) -> Ticket {
    Ticket {
        member: member.into(),
        age_us,
    }
}

fn claim(text: &str) -> Claim {
    Claim {
        state: ClaimState::Sending,
        variant: "refund.en.1".into(),
        text: text.into(),
        claimed_at_ms: 1_700_000_000_123,
        connector: String::new(),
    }
}

async fn a_budget_grants_at_most_its_rate(state: Arc<dyn State>) {
    let rate = Rate::per_second(20.0, 1).unwrap();
    let started = Instant::now();
    let mut granted = 0;
    while started.elapsed() < Duration::from_millis(500) {
        if state.acquire("t1", rate).await.unwrap() == Grant::Granted {
            granted += 1;
        }
    }
    // 20/s for half a second, strictly spaced: 10, plus the one at t=0.
    assert!((9..=11).contains(&granted), "granted {granted}");
}

async fn a_denial_says_when_to_come_back(state: Arc<dyn State>) {
    let rate = Rate::per_second(1.0, 1).unwrap();
    assert_eq!(state.acquire("t2", rate).await.unwrap(), Grant::Granted);
    match state.acquire("t2", rate).await.unwrap() {
        Grant::Wait(wait) => assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        ),
        Grant::Granted => panic!("second request within a second was granted"),
    }
    // A refund gives the slot back.
    state.refund("t2", rate).await.unwrap();
    assert_eq!(state.acquire("t2", rate).await.unwrap(), Grant::Granted);
}

async fn older_messages_are_served_first(state: Arc<dyn State>) {
    let rate = Rate::per_second(10.0, 1).unwrap();
    // Take the slot, so the next message has to wait in line.
    assert_eq!(
        state
            .acquire_queued("q1", rate, &ticket("first", 10), 1)
            .await
            .unwrap(),
        Grant::Granted
    );
    let old = state
        .acquire_queued("q1", rate, &ticket("old", 100), 1)
        .await
        .unwrap();
    assert!(matches!(old, Grant::Wait(_)), "slot just taken: {old:?}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    // A younger message finds an older one waiting and is sent to the back.
    match state
        .acquire_queued("q1", rate, &ticket("young", 200), 1)
        .await
        .unwrap()
    {
        Grant::Wait(wait) => assert!(wait >= rate.emission(), "{wait:?}"),
        Grant::Granted => panic!("younger message overtook an older one"),
    }
    tokio::time::sleep(Duration::from_millis(110)).await;
    assert_eq!(
        state
            .acquire_queued("q1", rate, &ticket("old", 100), 1)
            .await
            .unwrap(),
        Grant::Granted
    );
    tokio::time::sleep(Duration::from_millis(110)).await;
    assert_eq!(
        state
            .acquire_queued("q1", rate, &ticket("young", 200), 1)
            .await
            .unwrap(),
        Grant::Granted
    );
}

async fn a_message_that_left_the_line_holds_no_one_back(state: Arc<dyn State>) {
    let rate = Rate::per_second(10.0, 1).unwrap();
    state
        .acquire_queued("q2", rate, &ticket("a", 1), 1)
        .await
        .unwrap();
    let waiting = state
        .acquire_queued("q2", rate, &ticket("gone", 5), 1)
        .await
        .unwrap();
    assert!(matches!(waiting, Grant::Wait(_)));
    state.leave_queue("q2", &ticket("gone", 5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(110)).await;
    assert_eq!(
        state
            .acquire_queued("q2", rate, &ticket("next", 9), 1)
            .await
            .unwrap(),
        Grant::Granted
    );
}

async fn an_author_gets_one_reply_per_cooldown(state: Arc<dyn State>) {
    let cooldown = Duration::from_millis(300);
    assert!(state.reserve_author("a1", "m1", cooldown).await.unwrap());
    assert!(
        state.reserve_author("a1", "m1", cooldown).await.unwrap(),
        "idempotent"
    );
    assert!(!state.reserve_author("a1", "m2", cooldown).await.unwrap());
    state.release_author("a1", "m2").await.unwrap();
    assert!(
        !state.reserve_author("a1", "m2", cooldown).await.unwrap(),
        "not the holder"
    );
    state.release_author("a1", "m1").await.unwrap();
    assert!(state.reserve_author("a1", "m2", cooldown).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        state.reserve_author("a1", "m3", cooldown).await.unwrap(),
        "cooldown over"
    );
}

async fn a_thread_holds_at_most_its_cap(state: Arc<dyn State>) {
    assert!(state.reserve_thread("th1", "m1", 2).await.unwrap());
    assert!(state.reserve_thread("th1", "m2", 2).await.unwrap());
    assert!(
        state.reserve_thread("th1", "m1", 2).await.unwrap(),
        "idempotent"
    );
    assert!(!state.reserve_thread("th1", "m3", 2).await.unwrap());
    state.release_thread("th1", "m2").await.unwrap();
    state.release_thread("th1", "m2").await.unwrap();
    assert!(state.reserve_thread("th1", "m3", 2).await.unwrap());
    assert!(
        !state.reserve_thread("th1", "m4", 2).await.unwrap(),
        "double release counted once"
    );
}

async fn a_claim_is_made_once(state: Arc<dyn State>) {
    assert_eq!(state.claim("c1", &claim("hello")).await.unwrap(), None);
    let existing = state.claim("c1", &claim("other")).await.unwrap().unwrap();
    assert_eq!(
        Claim {
            claimed_at_ms: 0,
            ..existing
        },
        Claim {
            claimed_at_ms: 0,
            ..claim("hello")
        },
        "the first claim stands (stamped by the ledger)"
    );
    state.mark_sent("c1", "telegram").await.unwrap();
    let sent = state.get_claim("c1").await.unwrap().unwrap();
    assert_eq!(sent.state, ClaimState::Sent);
    assert_eq!(sent.connector, "telegram");
    assert_eq!(sent.text, "hello");
    state.drop_claim("c2").await.unwrap();
    assert_eq!(state.get_claim("c2").await.unwrap(), None);
    assert_eq!(state.claim("c3", &claim("x")).await.unwrap(), None);
    state.drop_claim("c3").await.unwrap();
    assert_eq!(
        state.claim("c3", &claim("y")).await.unwrap(),
        None,
        "dropped claims free the message"
    );
}

/// Replicas' clocks differ: the ledger stamps a claim with its own clock, whatever
/// the claiming replica believes the time is, and ages it by the same clock.
async fn a_claim_is_stamped_by_the_ledgers_clock(state: Arc<dyn State>) {
    let before = state.clock_ms().await.unwrap();
    // A replica whose clock is years behind (the fixture's time is 2023).
    assert_eq!(state.claim("skewed", &claim("hi")).await.unwrap(), None);
    let after = state.clock_ms().await.unwrap();
    let stamped = state.get_claim("skewed").await.unwrap().unwrap();
    assert!(
        (before..=after).contains(&stamped.claimed_at_ms),
        "{before} <= {} <= {after}",
        stamped.claimed_at_ms
    );
}

async fn deferrals_are_counted(state: Arc<dyn State>) {
    assert_eq!(state.deferrals("d1").await.unwrap(), 0);
    assert_eq!(state.count_deferral("d1").await.unwrap(), 1);
    assert_eq!(state.count_deferral("d1").await.unwrap(), 2);
    assert_eq!(state.deferrals("d1").await.unwrap(), 2);
}

async fn a_thread_variant_belongs_to_one_message(state: Arc<dyn State>) {
    assert!(
        state
            .use_thread_variant("th2", "refund.en", 1, "m1")
            .await
            .unwrap()
    );
    assert!(
        state
            .use_thread_variant("th2", "refund.en", 1, "m1")
            .await
            .unwrap()
    );
    assert!(
        !state
            .use_thread_variant("th2", "refund.en", 1, "m2")
            .await
            .unwrap()
    );
    assert!(
        state
            .use_thread_variant("th2", "refund.fr", 1, "m2")
            .await
            .unwrap()
    );
    let mut used = state.thread_variants("th2", "refund.en").await.unwrap();
    used.sort();
    assert_eq!(used, vec![(1, "m1".to_string())]);
}

async fn the_ring_swaps_only_at_the_expected_version(state: Arc<dyn State>) {
    let empty = state.recent("r1").await.unwrap();
    assert_eq!(empty.variants, Vec::<usize>::new());
    assert!(state.swap_recent("r1", empty.version, &[2]).await.unwrap());
    assert!(
        !state.swap_recent("r1", empty.version, &[1]).await.unwrap(),
        "stale version"
    );
    let now = state.recent("r1").await.unwrap();
    assert_eq!(now.variants, vec![2]);
    assert!(state.swap_recent("r1", now.version, &[0, 2]).await.unwrap());
    assert_eq!(state.recent("r1").await.unwrap().variants, vec![0, 2]);
}

async fn run_suite(make: impl AsyncFn() -> Arc<dyn State>) {
    a_budget_grants_at_most_its_rate(make().await).await;
    a_denial_says_when_to_come_back(make().await).await;
    older_messages_are_served_first(make().await).await;
    a_message_that_left_the_line_holds_no_one_back(make().await).await;
    an_author_gets_one_reply_per_cooldown(make().await).await;
    a_thread_holds_at_most_its_cap(make().await).await;
    a_claim_is_made_once(make().await).await;
    a_claim_is_stamped_by_the_ledgers_clock(make().await).await;
    deferrals_are_counted(make().await).await;
    a_thread_variant_belongs_to_one_message(make().await).await;
    the_ring_swaps_only_at_the_expected_version(make().await).await;
    merged::reserving_both_holds_nothing_for_a_full_thread(make().await).await;
    merged::acquiring_several_budgets_answers_each(make().await).await;
    merged::a_take_claims_once_and_a_lost_race_leaves_no_claim(make().await).await;
    merged::a_global_refusal_keeps_neither_the_channel_nor_the_pace(make().await).await;
    merged::a_pace_refusal_keeps_neither_the_channel_nor_the_global(make().await).await;
    merged::a_line_refusal_keeps_nothing_and_waits_in_line(make().await).await;
    merged::a_lookup_reserves_only_for_a_message_that_goes_on(make().await).await;
}

#[tokio::test]
async fn memory_adapter_conforms() {
    run_suite(async || Arc::new(MemoryReplyState::new()) as Arc<dyn State>).await;
}

#[tokio::test]
async fn redis_adapter_conforms() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let url = redis.url();
    run_suite(async || {
        // A fresh database per case would need FLUSHDB; distinct keys per case suffice.
        let state = RedisReplyState::connect(&url).await.expect("connects");
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
        Arc::new(state) as Arc<dyn State>
    })
    .await;
}
