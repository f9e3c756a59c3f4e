//! What moderators and admins do beyond the single-case workflow of
//! [`crate::service`]: read a case's conversation, reopen a case, resolve a filtered
//! set as noise, and purge a case's texts on request. Each change is audited.

use firebreak_core::{Classification, Message};
use tracing::info;

use crate::conversation::{ConversationEntry, WrittenMessage};
use crate::machine;
use crate::model::{Case, CaseError};
use crate::service::Cases;

/// Most cases one bulk action takes.
pub const MAX_BULK: usize = 500;

/// How one case of a bulk action ended.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkOutcome {
    pub case_id: String,
    pub result: Result<Case, CaseError>,
}

impl Cases {
    /// Stores what was written in `message` with its case. The conversation of an open
    /// case never expires, so a reopened one is kept again.
    pub(crate) async fn keep_message(
        &self,
        case_id: &str,
        message: &Message,
        classification: &Classification,
    ) -> Result<(), CaseError> {
        let entry = ConversationEntry::Message(WrittenMessage::new(message, classification));
        self.repo().put_entry(case_id, &entry).await?;
        let resolved = self
            .repo()
            .get(case_id)
            .await?
            .is_some_and(|c| c.is_resolved());
        if !resolved {
            self.repo().expire_entries(case_id, None).await?;
        }
        Ok(())
    }

    /// The case's messages and replies, oldest first; empty once its texts were purged.
    pub async fn conversation(&self, case_id: &str) -> Result<Vec<ConversationEntry>, CaseError> {
        Ok(self.repo().entries(case_id).await?)
    }

    /// Takes a resolved case back into the queue, or wakes a snoozed one now.
    pub async fn reopen(&self, id: &str, who: &str) -> Result<Case, CaseError> {
        let (case, _) = self
            .mutate(id, |c, now| {
                let sla = self.sla_for(c);
                Ok(Some(Self::commit_of(
                    c,
                    machine::reopen(c, now, &sla)?,
                    now,
                )))
            })
            .await?;
        self.repo().expire_entries(id, None).await?;
        self.audited(who, "case.reopen", &case, "").await?;
        Ok(case)
    }

    /// Resolves every case of `ids` as noise with `reason`: each is claimed by `who`
    /// (unless someone else holds it, which is reported, not overridden) and resolved
    /// with the note `noise: <reason>`. Each case is audited as `case.bulk_resolve`.
    pub async fn resolve_as_noise(
        &self,
        ids: &[String],
        who: &str,
        reason: &str,
    ) -> Result<Vec<BulkOutcome>, CaseError> {
        if reason.trim().is_empty() {
            return Err(CaseError::Invalid(
                "reason: a bulk resolve needs a reason".into(),
            ));
        }
        if ids.len() > MAX_BULK {
            return Err(CaseError::Invalid(format!(
                "ids: at most {MAX_BULK} cases at once"
            )));
        }
        let note = format!("noise: {}", reason.trim());
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids {
            let result = match self.claim(id, who).await {
                Ok(_) => self.resolve_quietly(id, who, &note).await,
                Err(e) => Err(e),
            };
            if let Ok(case) = &result {
                self.audited_with(
                    who,
                    "case.bulk_resolve",
                    case,
                    reason,
                    serde_json::json!({"batch": ids.len()}),
                )
                .await?;
            }
            outcomes.push(BulkOutcome {
                case_id: id.clone(),
                result,
            });
        }
        info!(
            cases = ids.len(),
            resolved = outcomes.iter().filter(|o| o.result.is_ok()).count(),
            "bulk resolve as noise"
        );
        Ok(outcomes)
    }

    async fn resolve_quietly(&self, id: &str, who: &str, note: &str) -> Result<Case, CaseError> {
        self.resolve(id, who, note, None).await
    }

    /// Deletes the case's texts now (a data-protection request). The case, its ids,
    /// flags and outcome stay. Audited as `case.purge_texts`; true when texts existed.
    pub async fn purge_texts(&self, id: &str, who: &str, reason: &str) -> Result<bool, CaseError> {
        let case = self.get(id).await?;
        let purged = self.repo().purge_entries(id).await?;
        self.audited_with(
            who,
            "case.purge_texts",
            &case,
            reason,
            serde_json::json!({"purged": purged}),
        )
        .await?;
        info!(case_id = id, purged, "case texts purged");
        Ok(purged)
    }
}
