//! Crisis mode: the switch crisis teams flip, as stored in the control KV bucket.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// KV key of the current crisis mode (JSON [`CrisisMode`]).
pub const KV_CRISIS_KEY: &str = "crisis";
/// KV key of the active playbook (its YAML source).
pub const KV_PLAYBOOK_KEY: &str = "playbook";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrisisMode {
    pub active: bool,
    pub reason: String,
    /// The token name that made the change, or `system` for expiry and surge.
    pub actor: String,
    /// The playbook version in force when the change was made.
    pub playbook: String,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The KV revision this state was read at (0 before it was ever stored).
    #[serde(default)]
    pub revision: u64,
}

impl CrisisMode {
    /// The state before anyone switched anything.
    pub fn off() -> Self {
        CrisisMode {
            active: false,
            reason: String::new(),
            actor: "system".into(),
            playbook: String::new(),
            changed_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            revision: 0,
        }
    }

    /// Active and not past its expiry. Checked at read time, so an expiry takes effect
    /// on every replica at the same moment, even before the switch-off is written.
    pub fn is_active_at(&self, now: OffsetDateTime) -> bool {
        self.active && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_switches_crisis_off_by_itself() {
        let now = OffsetDateTime::now_utc();
        let mode = CrisisMode {
            active: true,
            expires_at: Some(now + time::Duration::seconds(60)),
            ..CrisisMode::off()
        };
        assert!(mode.is_active_at(now));
        assert!(!mode.is_active_at(now + time::Duration::seconds(61)));
        assert!(!CrisisMode::off().is_active_at(now));
    }
}
