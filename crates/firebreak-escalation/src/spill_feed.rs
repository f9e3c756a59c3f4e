//! Keeps the pipeline's spill-over index ([`SpillIndex`]: ingest's urgent-lane hint,
//! classify's way to skip a lookup) in step with the moderation cases: a snapshot of
//! the unresolved cases, then every event after the log's head at that moment, read
//! from the durable case log as the moderators' feed reads it. Each read that finds
//! everything tells the index when it began ([`SpillIndex::caught_up`]); on a store
//! error the index is cleared and rebuilt from a new snapshot.

use std::sync::Arc;
use std::time::Duration;

use firebreak_pipeline::spill_index::{CaseView, MAX_CASES, SpillIndex};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::model::{Case, CaseStatus};
use crate::service::Cases;

/// Pause before reading the feed again after it failed.
const RETRY: Duration = Duration::from_secs(1);
/// Events read per round trip while catching up.
const BATCH: usize = 500;
/// A safety net for a missed change signal, as in the moderators' feed.
const POLL: Duration = Duration::from_millis(500);

/// Follows the cases into `index` until `shutdown`.
pub fn spawn(
    tasks: &mut JoinSet<()>,
    cases: &Arc<Cases>,
    index: &Arc<SpillIndex>,
    shutdown: &CancellationToken,
) {
    tasks.spawn(run(cases.clone(), index.clone(), shutdown.clone()));
}

fn view(case: &Case) -> CaseView<'_> {
    CaseView {
        id: &case.id,
        channel: case.channel,
        visibility: case.visibility,
        author: &case.author_id,
        thread: &case.thread_id,
        resolved: case.is_resolved(),
        p1: case.priority == firebreak_core::Priority::P1,
    }
}

/// Follows the cases into `index` until `shutdown`, starting again from a snapshot
/// after any error.
pub async fn run(cases: Arc<Cases>, index: Arc<SpillIndex>, shutdown: CancellationToken) {
    loop {
        let followed = tokio::select! {
            _ = shutdown.cancelled() => return,
            followed = follow(&cases, &index) => followed,
        };
        if let Err(e) = followed {
            warn!(error = %e, "the case feed of the spill-over index failed; reading a new snapshot");
        }
        index.clear();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

async fn follow(cases: &Cases, index: &SpillIndex) -> Result<(), String> {
    let repo = cases.repo();
    let mut changes = repo.changes();
    // The head is read before the snapshot: an event racing with it is read again
    // after it, never missed.
    let mut position = repo.head().await.map_err(|e| e.to_string())?;
    let snapshot = cases
        .list(&CaseStatus::UNRESOLVED, MAX_CASES)
        .await
        .map_err(|e| e.to_string())?;
    for case in &snapshot {
        index.observe(view(case));
    }
    index.snapshot_read(snapshot.len() < MAX_CASES);
    loop {
        changes.borrow_and_update();
        let as_of = OffsetDateTime::now_utc();
        let events = repo
            .events_after(position, BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let caught_up = events.len() < BATCH;
        for event in &events {
            position = event.cursor;
            index.observe(view(&event.case));
        }
        if caught_up {
            index.caught_up(as_of);
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(POLL).await;
                    }
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
