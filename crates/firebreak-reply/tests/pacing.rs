//! Per-recipient pacing holds across replicas: two reply engines, each with its own
//! connection and its own in-process limiters, share one real redis-server, and one
//! chat still gets no more than its pace (Telegram: one reply a second to a private
//! chat). A limiter per process would have let each engine send its own share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_core::{Channel, Visibility};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_reply::engine::Recipient;
use firebreak_reply::{Grant, RedisReplyState, ReplyConfig, ReplyEngine, Ticket};
use firebreak_testkit::RedisServer;
use firebreak_triage::playbook::Budgets;
use firebreak_triage::{Playbook, TriageEngine};

async fn engine(url: &str) -> anyhow::Result<ReplyEngine> {
    let state = Arc::new(RedisReplyState::connect(url).await?);
    Ok(ReplyEngine::new(
        state,
        LiveSettings::new(TriageEngine::new(Playbook::builtin())),
        ReplyConfig::default(),
    ))
}

fn ticket(n: u32) -> Ticket {
    Ticket {
        member: format!("m{n}"),
        age_us: u64::from(n),
    }
}

#[tokio::test]
async fn two_replicas_together_keep_one_chat_to_its_pace() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let engines = [engine(&redis.url()).await?, engine(&redis.url()).await?];
    // Channel and global budgets far above the pace, so only the pace can say no.
    let budgets = Budgets {
        global_per_sec: 10_000.0,
        per_channel_per_sec: [("telegram".to_string(), 10_000.0)].into_iter().collect(),
        author_cooldown_secs: 0,
        thread_cap: 100,
    };
    let chat = Recipient {
        channel: Channel::Telegram,
        visibility: Visibility::Private,
        chat: "user-1".into(),
    };
    let other = Recipient {
        chat: "user-2".into(),
        ..chat.clone()
    };
    let window = Duration::from_millis(2_500);
    let started = Instant::now();
    let (mut granted, mut n) = ([0u32; 2], 0u32);
    let mut other_granted = 0u32;
    while started.elapsed() < window {
        for (i, engine) in engines.iter().enumerate() {
            n += 1;
            let grant = engine
                .take_budget(&budgets, Channel::Telegram, &chat, &ticket(n))
                .await?;
            if grant == Some(Grant::Granted) {
                granted[i] += 1;
            }
        }
        n += 1;
        if engines[0]
            .take_budget(&budgets, Channel::Telegram, &other, &ticket(n))
            .await?
            == Some(Grant::Granted)
        {
            other_granted += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = granted[0] + granted[1];
    // One a second over 2.5 s, strictly spaced on Redis time: at 0, 1 and 2 s.
    assert!(
        total <= 3,
        "the chat got {total} replies in 2.5 s: {granted:?}"
    );
    assert!(total >= 2, "the pace starved the chat: {granted:?}");
    // Another chat has its own pace, untouched by the first one's.
    assert!((2..=3).contains(&other_granted), "{other_granted}");
    Ok(())
}
