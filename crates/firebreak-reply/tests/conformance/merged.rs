//! The merged steps (several port operations at once) behave as their parts in order,
//! on both adapters.

use std::sync::Arc;
use std::time::Duration;

use firebreak_reply::{
    Claim, ClaimState, Grant, Line, Rate, Reserve, Reserved, Take, Taken, Ticket, VariantQuery,
};

use super::State;

fn reserve<'a>(message: &'a str, thread: &'a str, author: &'a str) -> Reserve<'a> {
    Reserve {
        message,
        thread,
        thread_cap: 1,
        author,
        cooldown: Duration::from_secs(60),
    }
}

pub async fn reserving_both_holds_nothing_for_a_full_thread(state: Arc<dyn State>) {
    assert_eq!(
        state
            .reserve_both(&reserve("m1", "tg:t1", "tg:a1:q"))
            .await
            .unwrap(),
        Reserved::Both
    );
    // Idempotent for the message holding both.
    assert_eq!(
        state
            .reserve_both(&reserve("m1", "tg:t1", "tg:a1:q"))
            .await
            .unwrap(),
        Reserved::Both
    );
    // The thread is full: the other author's reservation must not stay behind.
    assert_eq!(
        state
            .reserve_both(&reserve("m2", "tg:t1", "tg:a2:q"))
            .await
            .unwrap(),
        Reserved::ThreadFull
    );
    assert!(
        state
            .reserve_author("tg:a2:q", "m3", Duration::from_secs(60))
            .await
            .unwrap()
    );
    // A thread with room, an author cooling down: the thread slot is held.
    assert_eq!(
        state
            .reserve_both(&reserve("m4", "tg:t2", "tg:a1:q"))
            .await
            .unwrap(),
        Reserved::AuthorCooling
    );
    assert!(!state.reserve_thread("tg:t2", "m5", 1).await.unwrap());
}

pub async fn acquiring_several_budgets_answers_each(state: Arc<dyn State>) {
    let fast = Rate::per_second(1000.0, 1).unwrap();
    let slow = Rate::per_second(1.0, 1).unwrap();
    let first = state
        .acquire_all(&[("g", fast), ("chat", slow)])
        .await
        .unwrap();
    assert_eq!(first, vec![Grant::Granted, Grant::Granted]);
    let second = state
        .acquire_all(&[("g", fast), ("chat", slow)])
        .await
        .unwrap();
    assert!(
        matches!(second[1], Grant::Wait(w) if w > Duration::from_millis(900)),
        "{second:?}"
    );
}

fn claim(variant: &str) -> Claim {
    Claim {
        state: ClaimState::Sending,
        variant: variant.into(),
        text: "hello".into(),
        claimed_at_ms: 0,
        connector: String::new(),
    }
}

pub async fn a_take_claims_once_and_a_lost_race_leaves_no_claim(state: Arc<dyn State>) {
    let query = VariantQuery {
        thread: "tg:t9",
        group: "refund.en",
        ring: Some("tg:refund:en"),
    };
    let looked = state.lookup("m1", Some(query)).await.unwrap();
    assert_eq!(looked.claim, None);
    assert_ne!(looked.finished, Some(true));
    let view = looked.variants.expect("the view asked for");
    assert!(view.taken.is_empty());
    let first = claim("refund.en.1");
    let take = Take {
        message: "m1",
        query,
        variant: 1,
        ring_after: Some((view.recent.version, vec![1])),
        claim: &first,
    };
    assert_eq!(state.take_and_claim(&take).await.unwrap(), Taken::Claimed);
    // Another message of the thread, on a stale view: it loses, and holds no claim.
    let other = Take {
        message: "m2",
        ..take.clone()
    };
    assert_eq!(state.take_and_claim(&other).await.unwrap(), Taken::Lost);
    assert_eq!(state.get_claim("m2").await.unwrap(), None);
    // A redelivery of the first finds its claim.
    assert!(matches!(
        state.take_and_claim(&take).await.unwrap(),
        Taken::Existing(c) if c.variant == "refund.en.1"
    ));
    let looked = state.lookup("m1", Some(query)).await.unwrap();
    assert_eq!(
        looked.claim.map(|c| c.variant),
        Some("refund.en.1".to_string())
    );
    let view = looked.variants.unwrap();
    assert_eq!(view.taken, vec![(1, "m1".to_string())]);
    assert_eq!(view.recent.variants, vec![1]);
}

fn line<'a>(key: &'a str, rate: Rate, ticket: &'a Ticket) -> Line<'a> {
    Line {
        key,
        rate,
        ticket,
        ahead_limit: 1,
    }
}

fn ticket(member: &str, age_us: u64) -> Ticket {
    Ticket {
        member: member.into(),
        age_us,
    }
}

fn fast() -> Rate {
    Rate::per_second(1000.0, 1).unwrap()
}

fn slow() -> Rate {
    Rate::per_second(1.0, 1).unwrap()
}

async fn reply_budgets(
    state: &Arc<dyn State>,
    (channel, channel_rate): (&str, Rate),
    global_rate: Rate,
    (recipient, recipient_rate): (&str, Rate),
    member: &str,
) -> Grant {
    let ticket = ticket(member, 1);
    state
        .acquire_for_reply(
            &line(channel, channel_rate, &ticket),
            ("global", global_rate),
            (recipient, recipient_rate),
        )
        .await
        .unwrap()
}

pub async fn a_global_refusal_keeps_neither_the_channel_nor_the_pace(state: Arc<dyn State>) {
    let first = reply_budgets(
        &state,
        ("channel:a", slow()),
        slow(),
        ("recipient:a:1", fast()),
        "m1",
    );
    assert_eq!(first.await, Grant::Granted);
    // The global budget refuses the next one (another channel, another chat).
    let second = reply_budgets(
        &state,
        ("channel:b", slow()),
        slow(),
        ("recipient:b:1", slow()),
        "m2",
    );
    assert!(matches!(second.await, Grant::Wait(_)));
    // Neither channel b's slot nor the chat's pace was kept, and the message left
    // the line as it does after a grant.
    assert_eq!(
        state.acquire("recipient:b:1", slow()).await.unwrap(),
        Grant::Granted
    );
    assert_eq!(state.waiting("channel:b").await.unwrap(), 0);
    let ticket = ticket("m3", 3);
    assert_eq!(
        state
            .acquire_queued("channel:b", slow(), &ticket, 1)
            .await
            .unwrap(),
        Grant::Granted
    );
}

pub async fn a_pace_refusal_keeps_neither_the_channel_nor_the_global(state: Arc<dyn State>) {
    assert_eq!(
        state.acquire("recipient:c:1", slow()).await.unwrap(),
        Grant::Granted
    );
    let refused = reply_budgets(
        &state,
        ("channel:c", slow()),
        slow(),
        ("recipient:c:1", slow()),
        "m1",
    );
    assert!(matches!(refused.await, Grant::Wait(w) if w > Duration::from_millis(500)));
    // The channel's and the global slots were given back: both are slow, so a second
    // take within the second is granted only if the first was refunded.
    let next = reply_budgets(
        &state,
        ("channel:c", slow()),
        slow(),
        ("recipient:c:2", fast()),
        "m2",
    );
    assert_eq!(next.await, Grant::Granted);
}

pub async fn a_line_refusal_keeps_nothing_and_waits_in_line(state: Arc<dyn State>) {
    let first = reply_budgets(
        &state,
        ("channel:d", slow()),
        slow(),
        ("recipient:d:1", fast()),
        "m1",
    );
    assert_eq!(first.await, Grant::Granted);
    // The channel refuses: neither the global budget nor the pace is kept, and the
    // message waits in the line.
    let refused = reply_budgets(
        &state,
        ("channel:d", slow()),
        fast(),
        ("recipient:d:2", slow()),
        "m2",
    );
    assert!(matches!(refused.await, Grant::Wait(_)));
    assert_eq!(
        state.acquire("recipient:d:2", slow()).await.unwrap(),
        Grant::Granted
    );
    assert_eq!(state.waiting("channel:d").await.unwrap(), 1);
}

pub async fn a_lookup_reserves_only_for_a_message_that_goes_on(state: Arc<dyn State>) {
    // A new message: reserved with the lookup, or (an adapter that does not merge)
    // left to the caller.
    let new = reserve("m1", "tg:t1", "tg:a1:q");
    let (looked, reserved) = state
        .lookup_and_reserve("m1", None, Some(&new))
        .await
        .unwrap();
    assert_eq!(looked.claim, None);
    let reserved = match reserved {
        Some(reserved) => reserved,
        None => state.reserve_both(&new).await.unwrap(),
    };
    assert_eq!(reserved, Reserved::Both);
    assert!(!state.reserve_thread("tg:t1", "m9", 1).await.unwrap());

    // A claimed message that held nothing: nothing is left held.
    assert_eq!(
        state.claim("m2", &claim("refund.en.0")).await.unwrap(),
        None
    );
    let (looked, reserved) = state
        .lookup_and_reserve("m2", None, Some(&reserve("m2", "tg:t2", "tg:a2:q")))
        .await
        .unwrap();
    assert!(looked.claim.is_some());
    assert_eq!(reserved, None);
    assert!(state.reserve_thread("tg:t2", "m9", 1).await.unwrap());
    assert!(
        state
            .reserve_author("tg:a2:q", "m9", Duration::from_secs(60))
            .await
            .unwrap()
    );

    // A redelivery of a claimed message keeps what it held before.
    let held = reserve("m3", "tg:t3", "tg:a3:q");
    assert_eq!(state.reserve_both(&held).await.unwrap(), Reserved::Both);
    assert_eq!(
        state.claim("m3", &claim("refund.en.1")).await.unwrap(),
        None
    );
    let (_, reserved) = state
        .lookup_and_reserve("m3", None, Some(&held))
        .await
        .unwrap();
    assert_eq!(reserved, None);
    assert!(!state.reserve_thread("tg:t3", "m9", 1).await.unwrap());
    assert!(
        !state
            .reserve_author("tg:a3:q", "m9", Duration::from_secs(60))
            .await
            .unwrap()
    );
}
