//! The triage port: what classify asks of the engine (`firebreak-triage` implements it),
//! and the context it gathers for it.

use crate::{Classification, Message};

/// What the classifier knows beyond the message itself, gathered from thread and author
/// memory by the classify service.
#[derive(Clone, Debug, Default)]
pub struct TriageContext {
    pub crisis_active: bool,
    /// An open private case for this author or thread, for spill-over detection.
    pub open_private_case: Option<String>,
    /// How many complaints the author made recently.
    pub recent_complaints: u32,
    /// How many of the author's private messages the first line took (acknowledged, or
    /// counted after an acknowledgement) within the acknowledgement window.
    pub recent_first_line: u32,
}

/// Decides what happens to a message. Pure: no I/O, so it can be benchmarked and
/// property-tested on its own.
pub trait Triage: Send + Sync + 'static {
    fn classify(&self, message: &Message, context: &TriageContext) -> Classification;
    fn version(&self) -> String;
}
