//! The settings every role applies live: crisis mode and the active playbook (with the
//! triage engine built from it). The control role writes them to the KV bucket; every
//! role follows the bucket and swaps them in within a second.

use std::sync::Arc;

use bytes::Bytes;
use firebreak_bus::{BusError, Kv};
use firebreak_core::CrisisMode;
use firebreak_core::crisis::{KV_CRISIS_KEY, KV_PLAYBOOK_KEY};
use firebreak_triage::{Playbook, TriageEngine};
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// One consistent snapshot: readers never see a crisis flag from one change and a
/// playbook from another.
#[derive(Debug)]
pub struct Settings {
    pub crisis: CrisisMode,
    pub engine: Arc<TriageEngine>,
}

impl Settings {
    pub fn playbook(&self) -> &Playbook {
        self.engine.playbook()
    }

    pub fn crisis_active(&self) -> bool {
        self.crisis.is_active_at(time::OffsetDateTime::now_utc())
    }
}

#[derive(Clone, Debug)]
pub struct LiveSettings {
    sender: Arc<watch::Sender<Arc<Settings>>>,
}

impl LiveSettings {
    pub fn new(engine: TriageEngine) -> Self {
        let settings = Settings {
            crisis: CrisisMode::off(),
            engine: Arc::new(engine),
        };
        LiveSettings {
            sender: Arc::new(watch::channel(Arc::new(settings)).0),
        }
    }

    pub fn current(&self) -> Arc<Settings> {
        self.sender.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Settings>> {
        self.sender.subscribe()
    }

    pub fn apply_crisis(&self, crisis: CrisisMode) {
        self.sender.send_modify(|current| {
            // Ignore a stale revision arriving after a newer one.
            if crisis.revision == 0 || crisis.revision >= current.crisis.revision {
                *current = Arc::new(Settings {
                    crisis,
                    engine: current.engine.clone(),
                });
            }
        });
    }

    pub fn apply_engine(&self, engine: TriageEngine) {
        self.sender.send_modify(|current| {
            *current = Arc::new(Settings {
                crisis: current.crisis.clone(),
                engine: Arc::new(engine),
            });
        });
    }

    /// Applies one KV entry. An entry that does not parse is refused and the settings
    /// in force stay (the control role validates before writing, so this only guards
    /// against a hand-edited bucket).
    pub fn apply_entry(&self, key: &str, value: &Bytes, revision: u64) -> Result<(), String> {
        match key {
            KV_CRISIS_KEY => {
                let mut crisis: CrisisMode =
                    serde_json::from_slice(value).map_err(|e| format!("crisis: {e}"))?;
                crisis.revision = revision;
                info!(active = crisis.active, revision, "crisis mode applied");
                self.apply_crisis(crisis);
                Ok(())
            }
            KV_PLAYBOOK_KEY => {
                let source = std::str::from_utf8(value).map_err(|e| format!("playbook: {e}"))?;
                let playbook = Playbook::load(source).map_err(|e| e.to_string())?;
                info!(version = playbook.version(), revision, "playbook applied");
                self.apply_engine(TriageEngine::new(playbook));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Follows the control bucket until shutdown, re-subscribing if the watch breaks.
    pub async fn follow(self, kv: Arc<dyn Kv>, shutdown: CancellationToken) {
        for key in [KV_CRISIS_KEY, KV_PLAYBOOK_KEY] {
            let this = self.clone();
            let kv = kv.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { this.follow_key(kv, key, shutdown).await });
        }
    }

    async fn follow_key(self, kv: Arc<dyn Kv>, key: &'static str, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match kv.watch(key).await {
                Ok(mut changes) => loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        change = changes.next() => match change {
                            Some(entry) => {
                                if let Err(why) = self.apply_entry(&entry.key, &entry.value, entry.revision) {
                                    warn!(key, revision = entry.revision, why, "refused control entry");
                                }
                            }
                            None => break,
                        },
                    }
                },
                Err(BusError::Unavailable(e) | BusError::Other(e) | BusError::Full(e)) => {
                    warn!(key, error = e, "cannot watch control bucket, retrying");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> LiveSettings {
        LiveSettings::new(TriageEngine::new(Playbook::builtin()))
    }

    #[test]
    fn an_invalid_playbook_entry_is_refused_and_the_running_one_stays() {
        let settings = live();
        let before = settings.current().playbook().version().to_string();
        let broken = Bytes::from_static(
            b"name: broken\nkey_questions: [{id: x, patterns: {en: ['(unclosed']}}]\n",
        );
        let refused = settings.apply_entry(KV_PLAYBOOK_KEY, &broken, 7);
        assert!(refused.is_err());
        assert_eq!(settings.current().playbook().version(), before);
    }

    #[test]
    fn crisis_entries_apply_in_revision_order() {
        let settings = live();
        let on = CrisisMode {
            active: true,
            reason: "recall".into(),
            ..CrisisMode::off()
        };
        let json = Bytes::from(serde_json::to_vec(&on).unwrap());
        settings.apply_entry(KV_CRISIS_KEY, &json, 5).unwrap();
        assert!(settings.current().crisis_active());
        // A stale revision delivered late must not switch crisis mode back off.
        let off = Bytes::from(serde_json::to_vec(&CrisisMode::off()).unwrap());
        settings.apply_entry(KV_CRISIS_KEY, &off, 3).unwrap();
        assert!(settings.current().crisis_active());
        settings.apply_entry(KV_CRISIS_KEY, &off, 6).unwrap();
        assert!(!settings.current().crisis_active());
    }

    #[test]
    fn garbage_crisis_entry_is_refused() {
        let settings = live();
        assert!(
            settings
                .apply_entry(KV_CRISIS_KEY, &Bytes::from_static(b"{nope"), 1)
                .is_err()
        );
        assert!(!settings.current().crisis_active());
    }
}
