//! A surge of negative messages raises a surge alert: an audit entry, a `WatchMode`
//! event, a call to the chat webhook (a fake HTTP server) and, when the playbook allows
//! it, crisis mode switched on by `system`. The rates come from the classify role's
//! own recorder and publisher, over real NATS JetStream.

mod support;

use std::sync::Arc;
use std::time::Duration;

use firebreak_control::notify::WebhookNotifier;
use firebreak_control::surge::SurgeMonitor;
use firebreak_control::{ModeChange, ModeEventKind};
use firebreak_pipeline::rates::{RateRecorder, publish_rates};
use firebreak_testkit::{FakeHttpServer, wait_until};
use futures::StreamExt;
use support::{Fixture, playbook_yaml};
use tokio_util::sync::CancellationToken;

/// Baseline 24 s, so the recent window is 2 s.
fn surge_playbook(auto_crisis: bool) -> String {
    playbook_yaml(
        "surge-test",
        &format!(
            "surge:\n  negative_rate_multiple: 3.0\n  baseline_window_secs: 24\n  min_messages: 20\n  auto_crisis: {auto_crisis}"
        ),
    )
}

struct Running {
    recorder: Arc<RateRecorder>,
    fake: FakeHttpServer,
    _stop: tokio_util::sync::DropGuard,
}

async fn start(f: &Fixture, auto_crisis: bool) -> anyhow::Result<Running> {
    f.control
        .upload_playbook("alice", "surge-test", &surge_playbook(auto_crisis))
        .await?;
    f.control
        .set_mode(
            "alice",
            ModeChange {
                active: false,
                playbook: Some("surge-test".into()),
                ..ModeChange::default()
            },
        )
        .await?;
    let fake = FakeHttpServer::start().await?;
    let shutdown = CancellationToken::new();
    let recorder = RateRecorder::new();
    tokio::spawn(publish_rates(
        recorder.clone(),
        f.bus.clone(),
        "classify-test".into(),
        shutdown.clone(),
    ));
    let monitor = SurgeMonitor {
        control: f.control.clone(),
        bus: f.bus.clone(),
        notifier: Arc::new(
            WebhookNotifier::new(format!("{}/hooks/chat", fake.url()))
                .map_err(anyhow::Error::msg)?,
        ),
    };
    tokio::spawn(monitor.run(shutdown.clone()));
    Ok(Running {
        recorder,
        fake,
        _stop: shutdown.drop_guard(),
    })
}

/// `seconds` seconds of traffic at `per_sec` messages, `negative` of them negative.
async fn traffic(recorder: &RateRecorder, seconds: u64, per_sec: u64, negative: u64) {
    for _ in 0..seconds * 4 {
        for i in 0..per_sec / 4 {
            recorder.record(if i < negative / 4 { -0.8 } else { 0.6 });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Three like messages and one other in a classify replica's insights snapshot.
async fn publish_themes(f: &Fixture) -> anyhow::Result<()> {
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let mut tracker = firebreak_insights::Tracker::default();
    for (id, vector) in [
        ("msg-1", [1.0f32, 0.0, 0.0]),
        ("msg-2", [0.99, 0.1, 0.0]),
        ("msg-3", [0.98, 0.0, 0.1]),
        ("msg-4", [0.0, 0.0, 1.0]),
    ] {
        tracker.observe(&firebreak_insights::Observation {
            channel: firebreak_core::Channel::X,
            at_ms: now_ms,
            message_id: id,
            negative: true,
            embedding: Some(&vector),
            near_key_question: None,
            handling: "ignored",
        });
    }
    let snapshot = serde_json::to_vec(&tracker.snapshot("classify-test", now_ms))?;
    f.bus
        .kv()
        .put("insights.classify-test", snapshot.into())
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_surge_of_negative_messages_alerts_and_switches_crisis_on() -> anyhow::Result<()> {
    let f = Fixture::real().await?;
    let running = start(&f, true).await?;
    let mut watch = f.control.watch().await?;
    watch.next().await;

    // Calm: 40 messages/s, 10% negative. No alert.
    traffic(&running.recorder, 4, 40, 4).await;
    assert!(
        f.audit("surge.").await?.is_empty(),
        "calm traffic raised an alert"
    );
    assert!(!f.control.mode().await?.active);

    // What the surge is about, as a classify replica's insights snapshot reports it.
    publish_themes(&f).await?;

    // Surge: 40 messages/s, 80% negative.
    traffic(&running.recorder, 3, 40, 32).await;
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { f.audit("surge.alert").await.is_ok_and(|a| !a.is_empty()) },
    )
    .await?;
    let alert = &f.audit("surge.alert").await?[0];
    assert_eq!(alert.actor, "system");
    assert!(alert.reason.contains("negative share"), "{}", alert.reason);
    assert!(
        alert.reason.contains("top themes: 3 messages") && alert.reason.contains("msg-1"),
        "the alert says what the surge is about: {}",
        alert.reason
    );
    let recent = alert.detail["recent_share"].as_f64().unwrap();
    let baseline = alert.detail["baseline_share"].as_f64().unwrap();
    assert!(
        (0.05..0.2).contains(&baseline),
        "the calm 10% baseline: {baseline}"
    );
    assert!(recent >= 3.0 * baseline, "{recent} vs {baseline}");

    let mode = f.control.mode().await?;
    assert!(mode.active, "auto_crisis switched crisis mode on");
    assert_eq!(mode.actor, "system");
    assert!(mode.reason.starts_with("surge alert: negative share"));
    let on = &f.audit("crisis.on").await?[0];
    assert_eq!(on.actor, "system");

    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = watch.next().await.expect("watch open");
            if event.kind == ModeEventKind::SurgeAlert {
                return event;
            }
        }
    })
    .await?;
    assert!(event.detail.contains("negative share"));
    assert!(event.mode.active);

    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async { running.fake.requests().len() == 1 },
    )
    .await?;
    let request = &running.fake.requests()[0];
    assert_eq!(request.path, "/hooks/chat");
    let body = request.body_json()?;
    assert!(body["text"].as_str().unwrap().contains("surge alert"));
    assert_eq!(body["firebreak"]["event"], "surge_alert");
    assert_eq!(body["firebreak"]["crisis_active"], true);

    // The surge goes on: still one alert, not one per evaluation.
    traffic(&running.recorder, 2, 40, 32).await;
    assert_eq!(f.audit("surge.alert").await?.len(), 1);
    assert_eq!(running.fake.requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn without_auto_crisis_a_surge_alerts_once_and_leaves_the_mode_alone() -> anyhow::Result<()> {
    let f = Fixture::embedded().await?;
    let running = start(&f, false).await?;
    // A second control replica watching the same samples must not alert again.
    let second = CancellationToken::new();
    let _second = second.clone().drop_guard();
    let replica = SurgeMonitor {
        control: f.control.clone(),
        bus: f.bus.clone(),
        notifier: Arc::new(
            WebhookNotifier::new(format!("{}/hooks/chat", running.fake.url()))
                .map_err(anyhow::Error::msg)?,
        ),
    };
    tokio::spawn(replica.run(second));
    traffic(&running.recorder, 3, 40, 36).await;
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { running.fake.requests().len() == 1 },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(f.audit("surge.alert").await?.len(), 1);
    assert_eq!(running.fake.requests().len(), 1);
    assert!(!f.control.mode().await?.active);
    assert_eq!(
        running.fake.requests()[0].body_json()?["firebreak"]["crisis_active"],
        false
    );
    Ok(())
}
