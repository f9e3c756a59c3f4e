//! Crisis mode and playbook activation through the control service, against the
//! embedded bus and a real NATS JetStream server: changes are stored, watched and
//! audited with their actor; invalid playbooks change nothing; expiry switches the mode
//! off by itself, also after a restart; another process applies a change within 1 s.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use firebreak_control::{ControlError, ModeChange, ModeEventKind};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_testkit::wait_until;
use firebreak_triage::{Playbook, TriageEngine};
use futures::StreamExt;
use support::{Fixture, PATIENCE, calm_playbook, control_on, invalid_playbook};
use tokio_util::sync::CancellationToken;

both_adapters!(
    a_change_shows_in_the_mode_the_watch_and_the_audit_with_its_actor,
    an_invalid_or_unknown_playbook_changes_nothing,
    an_uploaded_playbook_is_activated_with_the_mode,
    expiry_switches_crisis_off_by_itself_and_is_audited,
    a_change_after_the_deadline_is_not_expired_by_a_late_expiry,
);

fn on(reason: &str) -> ModeChange {
    ModeChange {
        active: true,
        reason: reason.into(),
        ..ModeChange::default()
    }
}

async fn a_change_shows_in_the_mode_the_watch_and_the_audit_with_its_actor(
    f: Fixture,
) -> anyhow::Result<()> {
    let mut watch = f.control.watch().await?;
    let first = tokio::time::timeout(PATIENCE, watch.next()).await?.unwrap();
    assert_eq!(first.kind, ModeEventKind::Changed);
    assert!(!first.mode.active, "the current mode comes first");

    let set = f.control.set_mode("alice", on("product recall")).await?;
    assert!(set.active && set.revision > 0);

    let mode = f.control.mode().await?;
    assert!(mode.active);
    assert_eq!(
        (mode.actor.as_str(), mode.reason.as_str()),
        ("alice", "product recall")
    );
    assert_eq!(mode.playbook, Playbook::builtin().version());

    let event = tokio::time::timeout(PATIENCE, watch.next()).await?.unwrap();
    assert_eq!(event.kind, ModeEventKind::Changed);
    assert_eq!(event.mode.actor, "alice");
    assert!(event.mode.active);

    let audit = f.audit("crisis.").await?;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "crisis.on");
    assert_eq!(audit[0].actor, "alice");
    assert_eq!(audit[0].reason, "product recall");

    f.control.set_mode("bob", ModeChange::default()).await?;
    let event = tokio::time::timeout(PATIENCE, watch.next()).await?.unwrap();
    assert!(!event.mode.active && event.mode.actor == "bob");
    let audit = f.audit("crisis.").await?;
    assert_eq!(
        audit
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect::<Vec<_>>(),
        [("crisis.off", "bob"), ("crisis.on", "alice")]
    );
    Ok(())
}

async fn an_invalid_or_unknown_playbook_changes_nothing(f: Fixture) -> anyhow::Result<()> {
    f.control
        .upload_playbook("alice", "calm", &calm_playbook("calm"))
        .await?;
    f.control
        .set_mode(
            "alice",
            ModeChange {
                playbook: Some("calm".into()),
                ..on("drill")
            },
        )
        .await?;
    let running = f.control.active_playbook().await?.version().to_string();
    let before = f.control.mode().await?;

    let (yaml, line) = invalid_playbook();
    let err = f
        .control
        .upload_playbook("alice", "broken", &yaml)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ControlError::Invalid { .. }), "{message}");
    assert!(
        message.contains("surge.negative_rate_multiple")
            && message.contains(&format!("line {line}")),
        "names the field and line: {message}"
    );
    assert!(
        f.control
            .playbooks()
            .await?
            .iter()
            .all(|p| p.name != "broken")
    );

    let unknown = f
        .control
        .set_mode(
            "alice",
            ModeChange {
                playbook: Some("nope".into()),
                ..on("switch")
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, ControlError::UnknownPlaybook(_)));

    // A playbook stored behind the control service's back (a hand-edited bucket) is
    // validated again at activation.
    f.bus.kv().put("playbook.broken", yaml.into()).await?;
    let invalid = f
        .control
        .set_mode(
            "alice",
            ModeChange {
                playbook: Some("broken".into()),
                ..on("switch")
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(invalid, ControlError::Invalid { .. }));

    assert_eq!(f.control.active_playbook().await?.version(), running);
    assert_eq!(
        f.control.mode().await?,
        before,
        "the mode did not move either"
    );
    assert!(f.audit("playbook.activate").await?.len() == 1);
    Ok(())
}

async fn an_uploaded_playbook_is_activated_with_the_mode(f: Fixture) -> anyhow::Result<()> {
    let info = f
        .control
        .upload_playbook("alice", "recall", &calm_playbook("recall"))
        .await?;
    assert!(!info.active, "uploading does not activate");
    assert!(info.version.starts_with("recall@"));
    let mode = f
        .control
        .set_mode(
            "alice",
            ModeChange {
                playbook: Some("recall".into()),
                ..on("recall day")
            },
        )
        .await?;
    assert_eq!(mode.playbook, info.version);
    assert_eq!(f.control.active_playbook().await?.version(), info.version);
    let listed = f.control.playbooks().await?;
    // The upload, and the built-in playbook, listed as `default`.
    assert_eq!(listed.len(), 2);
    assert!(listed[0].builtin && !listed[0].active && listed[0].name == "default");
    assert!(listed[1].active && listed[1].name == "recall");
    // Uploaded, activated, read and listed: parsed once. Listing again parses nothing.
    assert_eq!(f.control.playbook_parses(), 1);
    for _ in 0..5 {
        assert_eq!(f.control.playbooks().await?, listed);
    }
    assert_eq!(f.control.playbook_parses(), 1);
    let audit = f.audit("playbook.").await?;
    assert_eq!(
        audit.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["playbook.activate", "playbook.upload"]
    );
    Ok(())
}

async fn expiry_switches_crisis_off_by_itself_and_is_audited(f: Fixture) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(f.control.clone().run_expiry(shutdown.clone()));
    let mut watch = f.control.watch().await?;
    watch.next().await;
    f.control
        .set_mode(
            "alice",
            ModeChange {
                expires_in_secs: Some(1),
                ..on("one second crisis")
            },
        )
        .await?;
    let on_event = tokio::time::timeout(PATIENCE, watch.next()).await?.unwrap();
    assert!(on_event.mode.active && on_event.mode.expires_at.is_some());
    let expired = tokio::time::timeout(PATIENCE, watch.next()).await?.unwrap();
    assert_eq!(expired.kind, ModeEventKind::Expired);
    assert!(!expired.mode.active);
    assert_eq!(expired.mode.actor, "system");

    let stored = f.control.stored().await?;
    assert!(
        !stored.mode.active,
        "the switch-off is written, not only read as off"
    );
    let audit = f.audit("crisis.").await?;
    assert_eq!(audit[0].action, "crisis.expired");
    assert_eq!(audit[0].actor, "system");
    assert!(audit[0].reason.contains("one second crisis"));
    Ok(())
}

async fn a_change_after_the_deadline_is_not_expired_by_a_late_expiry(
    f: Fixture,
) -> anyhow::Result<()> {
    f.control
        .set_mode(
            "alice",
            ModeChange {
                expires_in_secs: Some(1),
                ..on("short")
            },
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Before any expiry ran, a person switches crisis mode on again, with no expiry.
    f.control.set_mode("bob", on("still burning")).await?;
    let late = f
        .control
        .expire_if_due(time::OffsetDateTime::now_utc())
        .await?;
    assert_eq!(late, None, "the newer change has no deadline");
    let mode = f.control.mode().await?;
    assert!(mode.active && mode.actor == "bob");
    assert!(f.audit("crisis.expired").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_expiry_due_while_the_control_role_was_down_is_written_at_start() -> anyhow::Result<()> {
    let f = Fixture::real().await?;
    f.control
        .set_mode(
            "alice",
            ModeChange {
                expires_in_secs: Some(1),
                ..on("short")
            },
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        f.control.stored().await?.mode.active,
        "nobody has written the switch-off yet"
    );
    // A control role starting now, on a fresh connection, finds the overdue expiry.
    let restarted = control_on(&f.other_process_bus().await?);
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(restarted.run_expiry(shutdown.clone()));
    wait_until(PATIENCE, Duration::from_millis(50), || async {
        f.control
            .stored()
            .await
            .is_ok_and(|s| !s.mode.active && s.mode.actor == "system")
    })
    .await?;
    assert_eq!(f.audit("crisis.expired").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn another_process_applies_a_crisis_change_within_a_second() -> anyhow::Result<()> {
    let f = Fixture::real().await?;
    let other = f.other_process_bus().await?;
    let settings = LiveSettings::new(TriageEngine::new(Playbook::builtin()));
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    settings.clone().follow(other.kv(), shutdown.clone()).await;
    let mut changes = settings.subscribe();
    // Let the follower subscribe before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.control
        .upload_playbook("alice", "recall", &calm_playbook("recall"))
        .await?;

    let mut worst = Duration::ZERO;
    for (i, active) in [true, false, true].into_iter().enumerate() {
        let started = Instant::now();
        f.control
            .set_mode(
                "alice",
                ModeChange {
                    active,
                    reason: format!("change {i}"),
                    playbook: (i == 2).then(|| "recall".to_string()),
                    ..ModeChange::default()
                },
            )
            .await?;
        tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                changes.changed().await.expect("settings live");
                let current = changes.borrow().clone();
                if current.crisis.reason == format!("change {i}")
                    && (i < 2 || current.playbook().version().starts_with("recall@"))
                {
                    break;
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("change {i} not applied within 1 s"))?;
        worst = worst.max(started.elapsed());
        assert_eq!(settings.current().crisis_active(), active);
    }
    println!("slowest crisis change applied by another process: {worst:?}");
    Ok(())
}
