//! Moderation cases: escalated messages grouped into one case per thread (and per
//! author within a short window), the open → claimed → acknowledged → resolved
//! workflow, SLA deadlines that re-escalate through the playbook's tiers, the durable
//! case event log behind `Watch`, and the breach notifier.
//!
//! - [`machine`]: the workflow rules, pure.
//! - [`repo`]: the storage port; [`memory::MemoryCases`] and
//!   [`redis_repo::RedisCases`] implement it and pass one conformance suite.
//! - [`service::Cases`]: the rules over a repo, with optimistic concurrency and audit;
//!   [`actions`] adds reopen, bulk resolve as noise and the texts purge;
//!   [`audit_retry`]: each change's audit entry, retried until it lands.
//! - [`conversation`]: what people wrote and the replies sent, stored with the case
//!   apart from its record, under the text retention.
//! - [`stage::EscalateStage`], [`sla::SlaTimer`]: what the escalation role runs.

pub mod actions;
pub mod audit_retry;
pub mod conversation;
pub mod machine;
pub mod memory;
pub mod model;
pub mod notify;
pub mod ports;
mod redis_conversation;
pub mod redis_repo;
pub mod repo;
pub mod service;
pub mod sla;
pub mod spill_feed;
pub mod stage;
mod watch;
pub mod wire;

pub use conversation::{AuthorView, ConversationEntry, SentReply, WrittenMessage};
pub use machine::{BreachKind, SlaTarget};
pub use model::{Case, CaseError, CaseEvent, CaseEventKind, CaseStatus};
pub use ports::{
    AuditRecord, AuditSink, ControlAudit, FixedSla, MemoryAudit, ModeratorReply, SlaPolicy,
};
pub use repo::{CaseRepo, Pointer};
pub use service::{Breach, Cases, CasesConfig};

use async_trait::async_trait;
use firebreak_store::{OpenCases, StoreError};

/// The pointers a spill-over subject is found by, each with the channel whose family
/// its case must share: an author's pointer keyed by family needs no check, the pointer
/// written before families were part of the key names the id on any platform.
fn subject_pointers(
    subject: firebreak_store::CaseSubject<'_>,
) -> Vec<(Pointer, Option<firebreak_core::Channel>)> {
    match subject {
        firebreak_store::CaseSubject::Author(channel, author) => vec![
            (Pointer::private(channel, author), None),
            (Pointer::UnscopedPrivate(author.to_string()), Some(channel)),
        ],
        firebreak_store::CaseSubject::Thread(channel, thread) => {
            vec![(Pointer::Thread(channel, thread.to_string()), None)]
        }
    }
}

/// Spill-over lookups for classify, answered from the case store.
#[async_trait]
impl OpenCases for Cases {
    async fn open_private_case_for(
        &self,
        subject: firebreak_store::CaseSubject<'_>,
    ) -> Result<Option<String>, StoreError> {
        OpenCases::first_open_private_case(self, &[subject]).await
    }

    async fn first_open_private_case(
        &self,
        subjects: &[firebreak_store::CaseSubject<'_>],
    ) -> Result<Option<String>, StoreError> {
        let pointers: Vec<_> = subjects
            .iter()
            .copied()
            .flat_map(subject_pointers)
            .collect();
        Cases::first_open_private_case_within(self, &pointers)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}
