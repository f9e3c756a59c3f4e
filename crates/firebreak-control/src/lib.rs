//! The control role: crisis mode and the active playbook, written to the control KV
//! bucket that every role follows; the audit log on `FB_AUDIT`; the expiry that switches
//! crisis mode off by itself; and surge alerts on the rate of negative messages.
//!
//! - [`audit`]: the [`audit::Audit`] port and its bus adapter, shared with the case
//!   service.

pub mod audit;
