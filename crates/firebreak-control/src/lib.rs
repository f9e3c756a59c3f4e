//! The control role: crisis mode and the active playbook, written to the control KV
//! bucket that every role follows; the audit log on `FB_AUDIT`; the expiry that switches
//! crisis mode off by itself; and surge alerts on the rate of negative messages.
//!
//! - [`audit`]: the [`audit::Audit`] port and its bus adapter, shared with the case
//!   service.
//! - [`mode`]: [`Control`], which validates, writes and audits mode and playbook changes;
//!   [`cache`]: the parsed playbooks it keeps, by source digest.
//! - [`events`]: what `WatchMode` streams, and the expiry loop.
//! - [`surge`]: the surge detector and monitor; [`notify`]: the chat webhook.
//! - [`insights`]: the classify replicas' insights, merged, for the API and alerts.
//! - [`versions`]: every uploaded playbook version with its uploader, and how one is
//!   named; [`lifecycle`]: activation, rollback and the way back from crisis mode;
//!   [`diff`]: a line diff between two versions; [`rehearsal`]: a draft replayed on
//!   recent traffic beside the active playbook, and the archive it reads.

pub mod audit;
pub mod cache;
pub mod diff;
pub mod events;
pub mod insights;
pub mod lifecycle;
pub mod mode;
pub mod notify;
pub mod rehearsal;
pub mod surge;
pub mod versions;

pub use audit::{Audit, AuditEntry, AuditQuery, BusAudit};
pub use events::{ModeEvent, ModeEventKind, SurgeAlert};
pub use mode::{Control, ControlError, ModeChange, PlaybookInfo};
