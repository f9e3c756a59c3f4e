//! The playbook lifecycle through the control service, on the embedded bus and on a real
//! NATS JetStream server: versions kept with their uploader, shown and compared, any
//! version activated and rolled back, the built-in one always there, crisis mode
//! returning to the normal playbook it replaced, and a rehearsal that blocks a draft
//! which would answer a threat automatically.

#[macro_use]
mod support;

use firebreak_control::rehearsal::RecordedMessage;
use firebreak_control::{ControlError, ModeChange};
use firebreak_triage::Playbook;
use support::{Fixture, calm_playbook};

both_adapters!(
    two_versions_are_kept_compared_activated_and_rolled_back,
    crisis_off_returns_to_the_normal_playbook_it_replaced,
    the_builtin_playbook_is_listed_shown_and_reactivated,
    a_name_that_disagrees_with_the_file_is_refused,
    a_rehearsal_that_finds_a_threat_answered_blocks_activation_unless_forced,
);

async fn two_versions_are_kept_compared_activated_and_rolled_back(
    f: Fixture,
) -> anyhow::Result<()> {
    let first = f
        .control
        .upload_version("alice", "crisis", "recall", &calm_playbook("recall"))
        .await?;
    let edited = calm_playbook("recall").replace("thread_cap: 2", "thread_cap: 1");
    let second = f
        .control
        .upload_version("bob", "admin", "recall", &edited)
        .await?;
    assert_ne!(first.version, second.version);
    assert_eq!(
        (first.uploaded_by.as_str(), first.role.as_str()),
        ("alice", "crisis")
    );
    assert_eq!(
        (second.uploaded_by.as_str(), second.role.as_str()),
        ("bob", "admin")
    );

    let versions = f.control.versions("recall").await?;
    assert_eq!(
        versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        [first.version.as_str(), second.version.as_str()],
        "every version kept, oldest first"
    );
    // Any version reads back exactly as uploaded.
    let shown = f.control.resolve(&first.version).await?;
    assert_eq!(shown.source(), calm_playbook("recall"));
    assert_eq!(
        f.control.resolve("recall").await?.info.version,
        second.version
    );

    let from = f.control.resolve(&first.version).await?;
    let to = f.control.resolve(&second.version).await?;
    let diff = firebreak_control::diff::unified(
        &from.info.version,
        from.source(),
        &to.info.version,
        to.source(),
    );
    assert!(
        diff.contains("-  thread_cap: 2\n+  thread_cap: 1\n"),
        "{diff}"
    );

    f.control
        .activate("carol", &second.version, "tighter cap", false)
        .await?;
    assert_eq!(f.control.active_playbook().await?.version(), second.version);
    f.control
        .activate("carol", &first.version, "back to the first", false)
        .await?;
    assert_eq!(f.control.active_playbook().await?.version(), first.version);
    let rolled = f.control.rollback("dave", "undo").await?;
    assert_eq!(rolled.info.version, second.version);
    assert_eq!(f.control.active_playbook().await?.version(), second.version);
    let rolled = f.control.rollback("dave", "undo again").await?;
    assert_eq!(
        rolled.info.version,
        Playbook::builtin().version(),
        "back to what ran before any activation"
    );
    assert!(matches!(
        f.control.rollback("dave", "nothing left").await,
        Err(ControlError::Invalid { .. })
    ));

    let audit = f.audit("playbook.").await?;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("playbook.rollback", "dave"),
            ("playbook.rollback", "dave"),
            ("playbook.activate", "carol"),
            ("playbook.activate", "carol"),
            ("playbook.upload", "bob"),
            ("playbook.upload", "alice"),
        ]
    );
    Ok(())
}

fn on_with(playbook: &str) -> ModeChange {
    ModeChange {
        active: true,
        reason: "recall".into(),
        playbook: Some(playbook.into()),
        ..ModeChange::default()
    }
}

async fn crisis_off_returns_to_the_normal_playbook_it_replaced(f: Fixture) -> anyhow::Result<()> {
    let normal = f
        .control
        .upload_version("alice", "crisis", "everyday", &calm_playbook("everyday"))
        .await?;
    let outage = f
        .control
        .upload_version("alice", "crisis", "outage", &calm_playbook("outage"))
        .await?;
    f.control
        .activate("alice", "everyday", "normal", false)
        .await?;

    let mode = f.control.set_mode("bob", on_with("outage")).await?;
    assert!(mode.active);
    assert_eq!(mode.playbook, outage.version);
    assert_eq!(
        f.control.normal_playbook().await?,
        Some(normal.version.clone()),
        "crisis status shows what crisis off returns to"
    );

    let off = f
        .control
        .set_mode(
            "bob",
            ModeChange {
                active: false,
                reason: "over".into(),
                ..ModeChange::default()
            },
        )
        .await?;
    assert!(!off.active);
    assert_eq!(off.playbook, normal.version);
    assert_eq!(f.control.active_playbook().await?.version(), normal.version);
    assert_eq!(f.control.normal_playbook().await?, None);
    let restored = f.audit("playbook.restore").await?;
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].actor, "bob");

    // Crisis mode on first, its playbook chosen later in the crisis: off still returns
    // to the normal one.
    f.control
        .set_mode(
            "bob",
            ModeChange {
                active: true,
                reason: "surge".into(),
                ..ModeChange::default()
            },
        )
        .await?;
    f.control.set_mode("bob", on_with("outage")).await?;
    assert_eq!(f.control.active_playbook().await?.version(), outage.version);
    let off = f
        .control
        .set_mode(
            "bob",
            ModeChange {
                active: false,
                reason: "over again".into(),
                ..ModeChange::default()
            },
        )
        .await?;
    assert_eq!(off.playbook, normal.version);
    Ok(())
}

async fn the_builtin_playbook_is_listed_shown_and_reactivated(f: Fixture) -> anyhow::Result<()> {
    let builtin = Playbook::builtin();
    let listed = f.control.playbooks().await?;
    assert!(
        listed
            .iter()
            .any(|p| p.name == "default" && p.builtin && p.active),
        "{listed:?}"
    );
    let shown = f.control.resolve("default").await?;
    assert_eq!(shown.source(), firebreak_triage::playbook::BUILTIN_YAML);
    assert_eq!(shown.info.version, builtin.version());

    f.control
        .upload_version("alice", "crisis", "outage", &calm_playbook("outage"))
        .await?;
    f.control.set_mode("alice", on_with("outage")).await?;
    // `crisis on --playbook default` works, and so does activating it directly.
    let mode = f.control.set_mode("alice", on_with("default")).await?;
    assert_eq!(mode.playbook, builtin.version());
    f.control
        .activate("alice", "outage", "again", false)
        .await?;
    f.control
        .activate("alice", "default", "back", false)
        .await?;
    assert_eq!(
        f.control.active_playbook().await?.version(),
        builtin.version()
    );
    // It cannot be replaced.
    let refused = f
        .control
        .upload_version(
            "alice",
            "crisis",
            "default",
            firebreak_triage::playbook::BUILTIN_YAML,
        )
        .await;
    assert!(matches!(refused, Err(ControlError::Invalid { .. })));
    Ok(())
}

async fn a_name_that_disagrees_with_the_file_is_refused(f: Fixture) -> anyhow::Result<()> {
    let err = f
        .control
        .upload_version("alice", "crisis", "othername", &calm_playbook("outage"))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ControlError::Invalid { .. }));
    assert!(
        message.contains("name: outage") && message.contains("othername"),
        "{message}"
    );
    assert!(
        f.control
            .playbooks()
            .await?
            .iter()
            .all(|p| p.name != "othername" && p.name != "outage")
    );
    Ok(())
}

/// The built-in playbook with the normal `refund` question renamed and "bomb" taken
/// out of the threat lexicon.
pub fn careless_draft() -> String {
    let yaml = firebreak_triage::playbook::BUILTIN_YAML
        .replacen("name: default", "name: draft", 1)
        .replacen("  - id: refund\n", "  - id: money_back\n", 1)
        .replacen(
            "  lexicon:\n    legal:",
            "  lexicon:\n    threat:\n      remove: [bomb]\n    legal:",
            1,
        );
    assert!(yaml.contains("money_back") && yaml.contains("remove: [bomb]"));
    yaml
}

fn recorded() -> Vec<firebreak_core::Message> {
    let now = time::OffsetDateTime::now_utc();
    include_str!("fixtures/recall_messages.jsonl")
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<RecordedMessage>(line)
                .unwrap()
                .into_message(i, now)
                .unwrap()
        })
        .collect()
}

async fn a_rehearsal_that_finds_a_threat_answered_blocks_activation_unless_forced(
    f: Fixture,
) -> anyhow::Result<()> {
    let draft_yaml = careless_draft();
    let draft = f
        .control
        .upload_version("alice", "crisis", "draft", &draft_yaml)
        .await?;
    let report = f
        .control
        .rehearse(
            "alice",
            Playbook::load(&draft_yaml)?,
            recorded(),
            Some(false),
            true,
        )
        .await?;
    assert_eq!(report.messages, 6);
    // The refund questions now answer as `money_back`; the threat is now answered.
    assert_eq!(report.by_key_question.get("refund → money_back"), Some(&2));
    assert_eq!(report.by_route.get("escalate → reply"), Some(&1));
    assert_eq!(report.changed, 3);
    assert_eq!(report.examples["key question refund → money_back"].len(), 2);
    assert_eq!(report.examples["route escalate → reply"].len(), 1);
    assert_eq!(report.sensitive_auto_replies.len(), 1);
    let threat = &report.sensitive_auto_replies[0];
    assert!(threat.active.flags.contains(&"threat".to_string()));
    assert_eq!(threat.draft.route, "reply");
    assert!(threat.text.as_deref().unwrap().contains("bomb"));
    // Self-harm is still escalated by the draft: not a change.
    assert!(report.blocks_activation());
    // Five replies over 40 minutes, well within the draft's budget.
    assert_eq!(report.draft_replies, 5);
    assert!(report.needed_per_sec < report.budget_per_sec);

    let running = f.control.active_playbook().await?.version().to_string();
    let blocked = f
        .control
        .activate("alice", "draft", "try it", false)
        .await
        .unwrap_err();
    assert!(matches!(blocked, ControlError::Blocked(_)), "{blocked}");
    assert!(
        blocked.to_string().contains("1 sensitive message"),
        "{blocked}"
    );
    let via_crisis = f
        .control
        .set_mode("alice", on_with("draft"))
        .await
        .unwrap_err();
    assert!(matches!(via_crisis, ControlError::Blocked(_)));
    assert_eq!(f.control.active_playbook().await?.version(), running);
    assert!(!f.control.mode().await?.active, "nothing moved");

    f.control
        .activate("alice", "draft", "accepted risk", true)
        .await?;
    assert_eq!(f.control.active_playbook().await?.version(), draft.version);
    let forced = f.audit("playbook.force").await?;
    assert_eq!(forced.len(), 1);
    assert_eq!(forced[0].actor, "alice");
    assert_eq!(forced[0].detail["sensitive_auto_replies"], 1);
    let rehearsed = f.audit("playbook.rehearse").await?;
    assert_eq!(rehearsed[0].detail["changed"], 3);
    assert!(
        !rehearsed[0].detail.to_string().contains("bomb"),
        "no message text in the audit"
    );
    Ok(())
}
