//! The playbook the cluster runs: the built-in one with the scenario's budgets, in
//! crisis mode and out of it, so the report can hold the replies against the budgets
//! the reply workers actually had.

use std::path::Path;

use anyhow::Context as _;
use firebreak_triage::Playbook;
use firebreak_triage::playbook::BUILTIN_YAML;
use serde_norway::Value;

use crate::surge_scenario::Budgets;

/// Writes the harness playbook to `path` and returns it, validated as the servers will.
pub fn write(budgets: &Budgets, path: &Path) -> anyhow::Result<Playbook> {
    let yaml = with_budgets(budgets)?;
    let playbook = Playbook::load(&yaml).context("the harness playbook")?;
    std::fs::write(path, &yaml).with_context(|| format!("writing {}", path.display()))?;
    Ok(playbook)
}

fn with_budgets(budgets: &Budgets) -> anyhow::Result<String> {
    let mut doc: Value = serde_norway::from_str(BUILTIN_YAML)?;
    let per_channel: serde_norway::Mapping = budgets
        .per_channel_per_sec
        .iter()
        .map(|(c, b)| (Value::from(c.as_str()), Value::from(*b)))
        .collect();
    for crisis in [false, true] {
        let section = if crisis {
            &mut doc["crisis"]["budgets"]
        } else {
            &mut doc["budgets"]
        };
        section["global_per_sec"] = Value::from(budgets.global_per_sec);
        // In place of the built-in channels, not merged over them: a channel the
        // scenario does not name takes its `default`, as the report assumes.
        section["per_channel_per_sec"] = Value::Mapping(per_channel.clone());
    }
    Ok(serde_norway::to_string(&doc)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_core::Channel;

    #[test]
    fn the_scenario_budgets_are_in_force_in_crisis_mode() {
        let budgets = Budgets {
            global_per_sec: 4321.0,
            per_channel_per_sec: [
                ("default".to_string(), 1500.0),
                ("telegram".to_string(), 77.0),
            ]
            .into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let playbook = write(&budgets, &dir.path().join("p.yaml")).unwrap();
        for crisis in [true, false] {
            let b = &playbook.mode(crisis).budgets;
            assert_eq!(b.global_per_sec, 4321.0);
            assert_eq!(b.channel_per_sec(Channel::Telegram), 77.0);
            assert_eq!(b.channel_per_sec(Channel::Messenger), 1500.0);
        }
        // The built-in key questions are still there.
        assert!(!playbook.mode(true).key_questions.is_empty());
    }
}
